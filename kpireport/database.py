"""The databases rows live in (PostgreSQL, DuckDB): a `database:` URL with `${NAME}` read from the
environment, one read-only connection, and queries with `$1, $2…` parameters and a time limit.

URLs: `postgresql://user:password@host:5432/db` (`postgres://` too; any libpq parameter in the query
string), `duckdb:///file.duckdb` (relative to the config's folder), `duckdb:////abs/file.duckdb`,
`duckdb:///:memory:`. A password is never shown: messages give the URL with `***` in its place, and
the drivers' own text is scrubbed of it. The drivers are optional extras, imported only when used.
"""

from __future__ import annotations

import importlib
import math
import os
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Literal
from urllib.parse import quote, unquote

from .errors import ConfigError, DatabaseError, clipped, did_you_mean

REDACTED = "***"
CONNECT_TIMEOUT = 10.0  # seconds to reach the server and log in
QUERY_TIMEOUT = 300.0  # seconds a query may run before it is cancelled
# the session's time zone unless a source gives its own (time_zone:): a timestamp with a time zone counts
# in the month of its date there, whatever the server's or the machine's zone (a database keeps the
# instant, not the offset it was written with)
TIME_ZONE = "UTC"

_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# scheme://user:password@rest, the password running to the last @ (a password may hold / or @ unencoded)
_USER_PASSWORD = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://[^:@/?#]*:)(.*)@([^@]*)$", re.DOTALL)
_QUERY_PASSWORD = re.compile(r"([?&]password=)([^&#]*)", re.IGNORECASE)

# kind: (module, extra)
DRIVERS = {"postgresql": ("psycopg", "postgres"), "duckdb": ("duckdb", "duckdb")}
_SCHEMES = {"postgresql": "postgresql", "postgres": "postgresql", "duckdb": "duckdb"}
_URL_HINT = ("write postgresql://user:${PASSWORD_VARIABLE}@host:5432/database, duckdb:///file.duckdb "
             "(relative to the config's folder) or duckdb:///:memory:")

_seen_passwords: set[str] = set()  # for the CLI's last guard over any message (see cli._redacted)


def passwords() -> frozenset[str]:
    """Every password a database URL held in this process: the CLI scrubs them from whatever it prints."""
    return frozenset(_seen_passwords)


@dataclass(frozen=True)
class DatabaseUrl:
    """A database URL as read from the config, `${NAME}` expanded. str() and repr() hide the password."""

    kind: Literal["postgresql", "duckdb"]
    url: str = field(repr=False)  # the expanded URL, password included: for the driver only
    path: Path | None = None  # DuckDB: the file (None: in memory)
    secrets: tuple[str, ...] = field(default=(), repr=False)  # the password, as written and decoded
    file: str | None = None  # where the URL was written, for messages
    key: str | None = None

    @property
    def redacted(self) -> str:
        return redact(self.url)

    def __str__(self) -> str:
        return self.redacted

    def __repr__(self) -> str:
        return f"DatabaseUrl({self.redacted!r})"

    def scrub(self, text: str) -> str:
        """`text` (a driver's message) without this URL's password in any spelling."""
        return scrub(text, self.secrets)


def expand(text: str, *, key: str | None = None, file: str | None = None,
           environ: Mapping[str, str] | None = None) -> str:
    """`text` with each `${NAME}` replaced by the environment variable NAME; a missing one is a ConfigError."""
    environ = os.environ if environ is None else environ
    if "${" in text and text.count("${") != len(_VARIABLE.findall(text)):
        raise ConfigError("a '${' without its closing '}'", file=file, key=key,
                          hint="write ${NAME} for the environment variable NAME")

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if not _NAME.fullmatch(name):
            raise ConfigError(f"'${{{clipped(name)}}}' is not an environment variable's name", file=file, key=key,
                              hint="a name is letters, digits and _, not starting with a digit: ${KPIREPORT_DB_URL}")
        if name not in environ:
            raise ConfigError(f"the environment variable {name} is not set", file=file, key=key,
                              hint=f"set it before running kpireport (export {name}=…): the URL reads it from the "
                                   "environment so that the password stays out of the config")
        if environ[name] == "":
            raise ConfigError(f"the environment variable {name} is empty", file=file, key=key,
                              hint=f"set {name} to the value the URL needs")
        return environ[name]

    return _VARIABLE.sub(value, text)


def password_of(url: str) -> str | None:
    """The password written in a URL (user:password@ or ?password=), percent-encoded as written."""
    match = _USER_PASSWORD.match(url)
    if match:
        return match.group(2)
    query = _QUERY_PASSWORD.search(url)
    return query.group(2) if query else None


def redact(url: str) -> str:
    """The URL as messages show it: its password (user:password@, ?password=) replaced by ***."""
    match = _USER_PASSWORD.match(url)
    if match:
        url = f"{match.group(1)}{REDACTED}@{match.group(3)}"
    return _QUERY_PASSWORD.sub(lambda m: m.group(1) + REDACTED, url)


def scrub(text: str, secrets: Sequence[str]) -> str:
    """`text` with every secret (and its percent-encoded form) replaced by ***, the longest first."""
    spellings = {spelling for secret in secrets if secret for spelling in (secret, quote(secret, safe=""))}
    for spelling in sorted(spellings, key=len, reverse=True):
        text = text.replace(spelling, REDACTED)
    return text


def parse_url(text: str, *, base: Path, key: str | None = None, file: str | None = None,
              environ: Mapping[str, str] | None = None) -> DatabaseUrl:
    """A `database:` value as a DatabaseUrl: variables expanded, the scheme known, a DuckDB path resolved
    against `base` (the config's folder). Bad URLs are ConfigErrors naming `key`, password hidden."""
    url = expand(text.strip(), key=key, file=file, environ=environ)
    written = password_of(url)
    secrets = tuple(dict.fromkeys(s for s in (written, unquote(written) if written else None) if s))
    _seen_passwords.update(secrets)
    scheme, separator, rest = url.partition("://")
    kind = _SCHEMES.get(scheme.lower()) if separator else None
    if kind is None:
        guess = did_you_mean(scheme.lower(), _SCHEMES) if separator else None
        shown = clipped(redact(url))
        raise ConfigError(f"'{shown}' is not a database URL kpireport can read"
                          + (f" (unknown scheme '{clipped(scheme)}')" if separator else ""),
                          file=file, key=key, hint=f"{guess} {_URL_HINT}" if guess else _URL_HINT)
    if kind == "postgresql":
        return DatabaseUrl("postgresql", url, secrets=secrets, file=file, key=key)
    if written or "?" in rest or not rest.startswith("/") or rest == "/":
        raise ConfigError(f"'{clipped(redact(url))}' is not a DuckDB URL", file=file, key=key,
                          hint="duckdb:///file.duckdb (relative to the config's folder), duckdb:////abs/file.duckdb "
                               "or duckdb:///:memory:")
    name = rest[1:]
    if name == ":memory:":
        return DatabaseUrl("duckdb", url, None, secrets=secrets, file=file, key=key)
    path = Path(name).expanduser()
    return DatabaseUrl("duckdb", url, path if path.is_absolute() else base / path, secrets=secrets, file=file, key=key)


@dataclass(frozen=True)
class Result:
    """A query's rows, as the driver gives them (dates as datetime.date, numeric as Decimal…)."""

    columns: list[str]
    rows: list[tuple[Any, ...]]
    types: list[str] = field(default_factory=list)  # each column's type name, lowercase (integer, date, text…)


def driver(url: DatabaseUrl) -> ModuleType:
    """The driver module for the URL's kind; a missing one is a DatabaseError naming the extra to install."""
    module, extra = DRIVERS[url.kind]
    try:
        return importlib.import_module(module)
    except ImportError:
        raise DatabaseError(f"reading {url.redacted} needs the {module} package, which is not installed",
                            file=url.file, key=url.key,
                            hint=f"pip install 'kpireport[{extra}]' (in kpireport's environment)") from None


class Database:
    """One read-only connection to a DuckDB file or a PostgreSQL database. Use as a context manager;
    `query(sql, params)` with `$1, $2…` placeholders, on either engine."""

    def __init__(self, url: DatabaseUrl, *, connect_timeout: float = CONNECT_TIMEOUT,
                 time_zone: str | None = None) -> None:
        self.url = url
        self.time_zone = time_zone or TIME_ZONE  # an IANA name (config.time_zone_named): no quoting needed
        self._driver = driver(url)
        self._connection: Any = None
        self._connection = (self._connect_postgresql(connect_timeout) if url.kind == "postgresql"
                            else self._connect_duckdb())

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Database({self.url.redacted!r})"

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _error(self, message: str, hint: str | None = None) -> DatabaseError:
        return DatabaseError(self.url.scrub(message), file=self.url.file, key=self.url.key, hint=hint)

    # --- PostgreSQL ---------------------------------------------------------------------------

    def _connect_postgresql(self, timeout: float) -> Any:
        psycopg = self._driver
        try:
            return psycopg.connect(self.url.url, connect_timeout=max(2, math.ceil(timeout)), autocommit=True,
                                   application_name="kpireport", cursor_factory=psycopg.RawCursor,
                                   options=f"-c default_transaction_read_only=on -c TimeZone={self.time_zone}")
        except psycopg.Error as exc:
            reason, hint = _connection_failure(self.url.scrub(str(exc)), timeout)
            raise self._error(f"cannot connect to {self.url.redacted}: {reason}", hint) from None

    def _query_postgresql(self, sql: str, params: Sequence[Any], timeout: float) -> Result:
        psycopg = self._driver
        try:
            with self._connection.cursor() as cursor:
                cursor.execute("SELECT set_config('statement_timeout', $1, false)", [str(math.ceil(timeout * 1000))])
                cursor.execute(sql, list(params))
                if cursor.description is None:
                    return Result([], [])
                names = [getattr(psycopg.postgres.types.get(column.type_code), "name", "unknown")
                         for column in cursor.description]
                return Result([column.name for column in cursor.description], cursor.fetchall(),
                              [name.lower() for name in names])
        except psycopg.errors.QueryCanceled:
            raise self._timeout(timeout) from None
        except psycopg.OperationalError as exc:
            raise self._error(f"the connection to {self.url.redacted} failed during a query: {one_line(exc)}",
                              "check that the server is up; run the command again") from None
        except psycopg.Error as exc:
            hint = getattr(getattr(exc, "diag", None), "message_hint", None)
            raise self._error(f"{self.url.redacted} refused the query: {one_line(exc)}", hint) from None

    # --- DuckDB -------------------------------------------------------------------------------

    def _connect_duckdb(self) -> Any:
        duckdb = self._driver
        path = self.url.path
        if path is not None and not path.is_file():
            raise self._error(f"no DuckDB file {path}",
                              "a duckdb:///file.duckdb URL is relative to the config's folder; "
                              "duckdb:////abs/file.duckdb is absolute")
        # no extension is downloaded at run time (none can be here); Parquet and CSV are built in
        config = {"autoinstall_known_extensions": False, "TimeZone": self.time_zone}
        try:
            if path is None:
                return duckdb.connect(":memory:", config=config)
            return duckdb.connect(str(path), read_only=True, config=config)
        except duckdb.Error as exc:
            raise self._error(f"cannot open {path}: {one_line(exc)}",
                              "is it a DuckDB database, of a version this duckdb package reads, "
                              "and not being written by another process?") from None

    def _query_duckdb(self, sql: str, params: Sequence[Any], timeout: float) -> Result:
        duckdb = self._driver
        timer = threading.Timer(timeout, self._connection.interrupt)
        timer.daemon = True
        timer.start()
        try:
            cursor = self._connection.execute(sql, list(params))
            if cursor.description is None:
                return Result([], [])
            return Result([column[0] for column in cursor.description], cursor.fetchall(),
                          [str(column[1]).lower() for column in cursor.description])
        except duckdb.InterruptException:
            raise self._timeout(timeout) from None
        except duckdb.Error as exc:
            raise self._error(f"{self.url.redacted} refused the query: {one_line(exc)}") from None
        finally:
            timer.cancel()

    # --- both ---------------------------------------------------------------------------------

    def _timeout(self, timeout: float) -> DatabaseError:
        return self._error(f"the query on {self.url.redacted} ran longer than {timeout:g} s and was cancelled",
                           "an index on the date column helps a large table; or give the query more time")

    def query(self, sql: str, params: Sequence[Any] = (), *, timeout: float = QUERY_TIMEOUT) -> Result:
        """Run one statement with `$1, $2…` parameters, cancelled after `timeout` seconds; its columns and rows."""
        if self._connection is None:
            raise ValueError("the connection is closed")
        if self.url.kind == "postgresql":
            return self._query_postgresql(sql, params, timeout)
        return self._query_duckdb(sql, params, timeout)


def connect(url: DatabaseUrl, *, connect_timeout: float = CONNECT_TIMEOUT, time_zone: str | None = None) -> Database:
    """A read-only connection (close it, or use it in a `with`) whose dates are those of `time_zone`
    (default UTC): DatabaseError when it cannot be had."""
    return Database(url, connect_timeout=connect_timeout, time_zone=time_zone)


def query(url: DatabaseUrl, sql: str, params: Sequence[Any] = (), *, timeout: float = QUERY_TIMEOUT,
          connect_timeout: float = CONNECT_TIMEOUT) -> Result:
    """Connect, run one statement (`$1, $2…` parameters, `timeout` seconds at most), close."""
    with connect(url, connect_timeout=connect_timeout) as database:
        return database.query(sql, params, timeout=timeout)


def one_line(exc: BaseException) -> str:
    """A driver's message on one line (its first: the others are context such as LINE 1: and a caret)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return clipped(lines[0] if lines else exc.__class__.__name__, 300)


# libpq's words for why a connection failed, and what to do about each
_FAILURES = [
    ("password authentication failed", "check the user name and the password (an environment variable, "
                                       "${NAME} in the URL, keeps it out of the config)"),
    ("no password supplied", "the server asks for a password: user:${PASSWORD_VARIABLE}@host in the URL"),
    ("does not exist", "check the name after the URL's last /: psql -l lists the databases; and the user name"),
    ("connection refused", "is the server running, and listening on that host and port (PostgreSQL's is 5432)?"),
    ("timeout expired", "the server did not answer in time: check the host, the port and any firewall"),
    ("could not translate host name", "check the host name in the URL"),
    ("name or service not known", "check the host name in the URL"),
    ("no pg_hba.conf entry", "the server refuses this user from this address: its pg_hba.conf must allow it"),
    ("ssl", "check sslmode in the URL (?sslmode=require) against what the server offers"),
]


def _connection_failure(message: str, timeout: float) -> tuple[str, str]:
    """One line saying why libpq could not connect, and a hint."""
    lines = [" ".join(line.split()) for line in message.splitlines() if line.strip()]
    # libpq: 'connection failed: connection to server at "h" (1.2.3.4), port 5432 failed: FATAL:  why'
    reasons = [re.sub(r"^.*failed:\s*(FATAL:\s*)?", "", line, count=1) if "failed:" in line else line
               for line in lines if not line.lower().startswith(("multiple connection attempts", "is the server"))]
    reason = next((r for r in reversed(reasons) if r), message.strip() or "no reason given")
    lower = reason.lower()
    hint = next((hint for words, hint in _FAILURES if words in lower), "check the URL's host, port, user and database")
    if "timeout expired" in lower:
        reason = f"no answer within {timeout:g} s"
    return clipped(reason, 300), hint
