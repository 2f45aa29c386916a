"""Writing files people keep: all or nothing (a temporary file renamed over the old one)."""

from __future__ import annotations

import contextlib
import glob
import os
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from .errors import KpiReportError


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path beside `path`; renamed onto it only if the block succeeds, so a crash or an
    error leaves the old file (or none), never a half-written one."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise KpiReportError(f"cannot write here: {exc.strerror}", file=str(path),
                             hint="choose a folder you can write to") from None
    os.close(handle)
    temporary = Path(name)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(temporary, 0o666 & ~umask)  # mkstemp's 0600 would make the kept file private
    try:
        yield temporary
        os.replace(temporary, path)
    except OSError as exc:
        raise KpiReportError(f"cannot write it: {exc.strerror}", file=str(path),
                             hint="check the free space and the folder's permissions") from None
    finally:
        temporary.unlink(missing_ok=True)
    _remove_left_over(path)


LEFT_OVER_AFTER = 3600  # seconds: a temporary file that old was left by a killed run, not being written


def _remove_left_over(path: Path) -> None:
    """Remove the temporary files an earlier run, killed before its rename, left beside `path`."""
    for temporary in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        with contextlib.suppress(OSError):  # gone already, or not ours to remove: no matter
            if time.time() - temporary.stat().st_mtime > LEFT_OVER_AFTER:
                temporary.unlink()


def write_text(path: Path, content: str) -> None:
    with atomic_path(path) as temporary:
        temporary.write_text(content, encoding="utf-8")


def safe_name(text: str) -> str:
    """A file-name part from an owner or domain: letters, digits, '-' only (no path can escape)."""
    cleaned = re.sub(r"[^A-Za-z0-9]+", "-", text.strip()).strip("-").lower()
    return cleaned or "x"


def paths_beside(output: Path, keys: list[str]) -> dict[str, Path]:
    """One file per key beside `output`: `<stem>-<key as a safe name><suffix>`. "Ventes" and "ventes"
    would share a name: the second is numbered."""
    slugs: dict[str, str] = {}
    taken: set[str] = set()
    for key in keys:
        slug = base = safe_name(key)
        number = 2
        while slug in taken:  # counted on until free: a key may itself read like a numbered one ('ventes 2')
            slug, number = f"{base}-{number}", number + 1
        slugs[key] = slug
        taken.add(slug)
    return {key: output.with_name(f"{output.stem}-{slug}{output.suffix}") for key, slug in slugs.items()}
