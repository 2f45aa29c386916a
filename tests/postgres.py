"""A real PostgreSQL server for the tests: Debian's binaries, a throwaway cluster in a temporary folder
owned by the `postgres` user (initdb refuses to run as root), listening on a free loopback port with
password authentication, stopped and deleted at the end.

initdb + pg_ctl by hand rather than pytest-postgresql's process fixture: that fixture runs initdb as
the current user, which fails as root (CI runs as root), and it would add three packages for what is
about sixty lines here.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

USER = "kpi"
PASSWORD = "pg-S3CRET-pw-42"  # a test fails if this ever shows up in a message


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def bin_dir() -> Path | None:
    """Where initdb and pg_ctl are: $KPIREPORT_PG_BIN, Debian's /usr/lib/postgresql/<newest>/bin (not on
    PATH: Debian wraps them), or PATH."""
    given = os.environ.get("KPIREPORT_PG_BIN")
    candidates = [Path(given)] if given else []

    def version(folder: Path) -> int:
        match = re.fullmatch(r"\d+", folder.parent.name)
        return int(match.group()) if match else -1

    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True)
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    return next((folder for folder in candidates if (folder / "initdb").exists() and (folder / "pg_ctl").exists()),
                None)


def _as_server_user(command: list[str]) -> list[str]:
    """The command run as `postgres` when we are root (initdb and postgres refuse root), else as we are."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@contextmanager
def postgres_server() -> Iterator[str]:
    """Start a server; yield the URL of its `postgres` database for the superuser USER (password
    PASSWORD, scram-sha-256 over TCP), pg_stat_statements on; stop it and delete its files afterwards."""
    binaries = bin_dir()
    if binaries is None:
        raise RuntimeError("PostgreSQL's initdb and pg_ctl are not installed: './dev test' installs Debian's "
                           "postgresql package (or set KPIREPORT_PG_BIN to the folder holding them)")
    folder = Path(tempfile.mkdtemp(prefix="kpireport-pg-"))
    data, log, password_file = folder / "data", folder / "server.log", folder / "password"
    password_file.write_text(PASSWORD + "\n")
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        for path in (folder, password_file):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    port = free_port()
    started = False
    try:
        try:
            subprocess.run(_as_server_user([
                str(binaries / "initdb"), "-D", str(data), "-U", USER, f"--pwfile={password_file}",
                "--auth-host=scram-sha-256", "--auth-local=peer", "-E", "UTF8", "--no-locale", "--no-sync",
            ]), check=True, capture_output=True, timeout=120)
            options = (f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={folder} "
                       "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=20 "
                       "-c shared_buffers=64MB -c TimeZone=UTC "
                       # counts the rows each statement returned (see rows_returned): Debian's server package has it
                       "-c shared_preload_libraries=pg_stat_statements")
            started = True
            subprocess.run(_as_server_user([
                str(binaries / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "60", "start",
            ]), check=True, capture_output=True, timeout=90)
        except subprocess.CalledProcessError as exc:
            server_log = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{exc.cmd[-1]} failed: {exc.stderr.decode(errors='replace')}\n{server_log}") from None
        yield f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{port}/postgres"
    finally:
        if started:
            subprocess.run(_as_server_user([str(binaries / "pg_ctl"), "-D", str(data), "-m", "fast", "-w",
                                            "-t", "60", "stop"]), capture_output=True, timeout=90)
        shutil.rmtree(folder, ignore_errors=True)


def rows_returned(url: str, statement_part: str) -> int:
    """How many rows the server sent back, over all runs, for the statements whose text holds
    `statement_part` (pg_stat_statements): what crossed the wire, whatever the client did with it."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        row = connection.execute("SELECT coalesce(sum(rows), 0) FROM pg_stat_statements WHERE query LIKE %s "
                                 "AND query NOT LIKE %s", [f"%{statement_part}%", "%pg_stat_statements%"]).fetchone()
    return int(row[0]) if row else 0
