"""The one exception family: every user-facing failure carries where it happened and how to fix it."""

from __future__ import annotations

import difflib
import unicodedata
from collections.abc import Iterable

SHOWN_CHARS = 80  # of a value echoed in a message: enough to recognise it, never a whole 10 MB cell
LISTED = 10  # items of a list named in a one-line message (unused columns, a file's columns); past that, "…"
_LONGEST_LINE = 1_000  # a line of a message longer than this holds a value that escaped `clipped`


class KpiReportError(Exception):
    """A problem with the user's input: the CLI prints it (no traceback) and exits with code 2.

    `file`, `line`, `column` and `key` say where; `hint` says how to fix it.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: str | int | None = None,
        key: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.column = column
        self.key = key
        self.hint = hint

    def where(self) -> str:
        parts = [str(p) for p in (self.file, self.line, self.column) if p is not None]
        place = ":".join(parts)
        if self.key:
            place = f"{place}: {self.key}" if place else self.key
        return place

    def __str__(self) -> str:
        place = self.where()
        text = f"{place}: {self.message}" if place else self.message
        if self.hint:
            text += f"\n  hint: {self.hint}"
        # the last guard: a value from a file (a key, a sheet name…) that no message cut with `clipped`
        return "\n".join(clipped(line, _LONGEST_LINE) for line in text.split("\n"))


class ConfigError(KpiReportError):
    """The config file is not valid YAML or does not follow the schema."""


class FormulaError(KpiReportError):
    """A KPI formula cannot be parsed or refers to something that does not exist."""


class DataError(KpiReportError):
    """A data file is missing, unreadable, or holds a value that cannot be understood."""


class DatabaseError(KpiReportError):
    """A database source cannot be reached (driver, server, login) or refused a query; never shows a password."""


class EngineError(KpiReportError):
    """The engine a source's measures run on (Spark) is not installed, cannot start, or failed."""


def clipped(value: object, limit: int = SHOWN_CHARS) -> str:
    """A value from a file as a message shows it: cut to about `limit` characters, saying how long it is."""
    text = str(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit - 1]}… ({len(text)} characters)"


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """A 'did you mean …?' hint for a misspelt name, or None when nothing is close: first a choice that
    differs by case or accents only ('Gagnee' for 'Gagnée'), else the closest by difflib."""
    if len(word) > SHOWN_CHARS:  # no name is that long; and difflib's time grows with its square
        return None
    choices = list(choices)
    bare = folded(word)
    close = [choice for choice in choices if folded(choice) == bare][:1]
    close = close or difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None


def folded(text: str) -> str:
    """Text without case or accents: 'Gagnée', 'GAGNEE' and 'gagnee' fold alike."""
    return "".join(c for c in unicodedata.normalize("NFKD", text.casefold()) if not unicodedata.combining(c))


def listed(items: list[str]) -> str:
    """The first few of a list, for a one-line message."""
    more = ", …" if len(items) > LISTED else ""
    return ", ".join(items[:LISTED]) + more


def counted(count: int, noun: str) -> str:
    """`1 source`, `2 sources`: an English count with its noun."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
