"""Faults while writing: a command killed mid-write leaves the old file or the new one, never a broken
one; a folder that cannot be written to, or a write that fails (disk full, file size limit), is one
clear error (exit 2) that leaves the old file as it was and no temporary file behind.

The tests run as root on some machines, where chmod does not stop a write: so a folder nobody may
write to is /sys (the kernel refuses, root included), or a path under a regular file; a full disk is
a real failed write in a real process (RLIMIT_FSIZE), and ENOSPC itself is injected in-process.
"""

from __future__ import annotations

import errno
import os
import random
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook
from pypdf import PdfReader

from kpireport.cli import cli

CONFIG = """\
title: Test
locale: en
inputs:
  visits: {aggregate: sum}
  leads: {aggregate: sum}
kpis:
  traffic: {formula: visits, target: 1000}
  conversion: {formula: leads / visits, format: percent, target: 0.05}
sources:
  - {path: web.csv, date: date}
smtp: {host: 127.0.0.1, port: 9, from: kpi@example.com}
"""
WEB = "date,visits,leads\n2025-11-05,80,3\n2026-01-05,100,5\n2026-02-03,120,7\n2026-03-01,90,4\n"


def project(folder: Path) -> Path:
    folder.mkdir()
    (folder / "kpireport.yaml").write_text(CONFIG, encoding="utf-8")
    (folder / "web.csv").write_text(WEB, encoding="utf-8")
    return folder / "kpireport.yaml"


def run(*args: object):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, [str(a) for a in args])


def kpireport(*args: object, **options) -> subprocess.Popen:  # type: ignore[no-untyped-def,type-arg]
    return subprocess.Popen([sys.executable, "-m", "kpireport", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **options)


def first_month(path: Path) -> str:
    """The first month a template covers (history columns aside): tells the old file from the new."""
    workbook = load_workbook(path)
    return str(workbook["Inputs"]["D4"].value)[:7]


# --- killed mid-write -----------------------------------------------------------------------------------


def test_a_template_killed_at_any_moment_is_the_old_or_the_new_never_broken(tmp_path: Path) -> None:
    config = project(tmp_path / "p")
    out = tmp_path / "p" / "out.xlsx"
    assert run("template", config, "-o", out, "--year", "2025", "--blank").exit_code == 0
    old = out.read_bytes()
    started = time.monotonic()
    assert kpireport("template", config, "-o", out, "--year", "2026", "--force").wait(timeout=60) == 0
    duration = time.monotonic() - started
    new_month = first_month(out)
    seen = set()
    moments = random.Random(9)
    for attempt in range(6):
        out.write_bytes(old)
        process = kpireport("template", config, "-o", out, "--year", "2026", "--force")
        time.sleep(duration * (0.4 + 0.7 * moments.random()) if attempt else duration * 0.95)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        seen.add(first_month(out))  # loads: a complete workbook
        assert out.read_bytes() == old or first_month(out) == new_month
    assert seen <= {first_month_of(old, tmp_path), new_month}
    # a kill can leave the temporary file (the old file is untouched): the next run writes anew
    assert run("template", config, "-o", out, "--year", "2026", "--force").exit_code == 0


def first_month_of(data: bytes, folder: Path) -> str:
    copy = folder / "copy.xlsx"
    copy.write_bytes(data)
    return first_month(copy)


def test_a_review_killed_at_any_moment_is_the_old_pdf_or_the_new(tmp_path: Path) -> None:
    config = project(tmp_path / "p")
    out = tmp_path / "p" / "review.pdf"
    assert run("report", config, "-o", out, "--month", "2026-02").exit_code == 0
    old = out.read_bytes()
    started = time.monotonic()
    assert kpireport("report", config, "-o", out, "--month", "2026-03").wait(timeout=60) == 0
    duration = time.monotonic() - started
    moments = random.Random(9)
    for attempt in range(4):
        out.write_bytes(old)
        process = kpireport("report", config, "-o", out, "--month", "2026-03")
        time.sleep(duration * (0.5 + 0.6 * moments.random()) if attempt else duration * 0.95)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        text = "".join(page.extract_text() for page in PdfReader(out).pages)  # reads: a complete PDF
        assert out.read_bytes() == old or "March 2026" in text


# Runs the CLI with os.replace held at the rename onto `target`: it touches `marker`, then waits to be
# killed. So the kill lands exactly between the new file being written and the rename.
HELD_AT_RENAME = """
import os, sys, time
target, marker = sys.argv[1], sys.argv[2]
rename = os.replace
def held(source, destination, **options):
    if os.fspath(destination) == target:
        with open(marker, "w") as handle:
            handle.write(os.fspath(source))
        time.sleep(120)
    return rename(source, destination, **options)
os.replace = held
from kpireport.cli import cli
cli(sys.argv[3:], prog_name="kpireport")
"""


@pytest.mark.parametrize(("name", "command"), [
    ("out.xlsx", ["template", "--year", "2026", "--force"]),
    ("review.pdf", ["report", "--month", "2026-03"]),
])
def test_killed_after_writing_and_before_the_rename_the_old_file_is_intact(tmp_path: Path, name: str,
                                                                          command: list[str]) -> None:
    """The one moment a writer that writes straight to its target would leave a new (or half-new)
    file: here the old one must be there, byte for byte, and the new one complete beside it."""
    config = project(tmp_path / "p")
    out = tmp_path / "p" / name
    old_command = ["template", "--year", "2025", "--blank"] if name.endswith(".xlsx") else ["report", "--month",
                                                                                            "2026-02"]
    assert run(old_command[0], config, "-o", out, *old_command[1:]).exit_code == 0
    old = out.read_bytes()
    marker = tmp_path / "renaming"
    process = subprocess.Popen([sys.executable, "-c", HELD_AT_RENAME, str(out), str(marker), command[0], str(config),
                                "-o", str(out), *command[1:]], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 90
        while not marker.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), f"never renamed onto {name}: {process.communicate(timeout=30)}"
        time.sleep(0.1)  # the marker's content is written
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    assert out.read_bytes() == old
    written = Path(marker.read_text())
    assert written.parent == out.parent
    assert written.name.startswith(f".{name}.")
    if name.endswith(".xlsx"):
        assert first_month_of(written.read_bytes(), tmp_path) == "2025-12"  # the 2026 template, complete
    else:
        assert "March 2026" in "".join(page.extract_text() for page in PdfReader(written).pages)


def test_temporary_files_left_by_a_killed_run_are_removed_by_the_next_write(tmp_path: Path) -> None:
    """A kill between writing and renaming leaves a hidden `.review.pdf.<random>.tmp` (the old review
    intact): the next successful write of that file removes those older than an hour, and leaves a
    fresh one, which another run may be writing right now."""
    config = project(tmp_path / "p")
    out = tmp_path / "p" / "review.pdf"
    left = out.with_name(".review.pdf.k1ll3d.tmp")
    fresh = out.with_name(".review.pdf.wr1t1n.tmp")
    other = out.with_name(".other.pdf.k1ll3d.tmp")
    for path in (left, fresh, other):
        path.write_bytes(b"%PDF-1.7 half")
    hours_ago = time.time() - 2 * 3600
    for path in (left, other):
        os.utime(path, (hours_ago, hours_ago))
    assert run("report", config, "-o", out, "--month", "2026-03").exit_code == 0
    assert not left.exists()
    assert fresh.exists()
    assert other.exists()  # another file's: left for its own next write


# --- folders that cannot be written to ------------------------------------------------------------------------


def refused(result, fragments: list[str]) -> None:  # type: ignore[no-untyped-def]
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.output.startswith("error: ")
    for fragment in fragments:
        assert fragment in result.output


@pytest.mark.parametrize("command", ["template", "report", "html", "send"])
def test_an_output_folder_under_a_regular_file_is_a_clear_error(tmp_path: Path, command: str) -> None:
    config = project(tmp_path / "p")
    (tmp_path / "file").write_text("not a folder", encoding="utf-8")
    target = tmp_path / "file" / "out"
    args = {"template": ["template", config, "-o", target / "t.xlsx"],
            "report": ["report", config, "-o", target / "r.pdf"],
            "html": ["report", config, "-o", tmp_path / "r.pdf", "--html", target / "r.html"],
            "send": ["send", config, "--dry-run", target, "--per", "all", "--to", "me@example.com",
                     "--output-dir", tmp_path / "o"]}
    refused(run(*args[command]), ["cannot write here: Not a directory", "hint: choose a folder you can write to"])
    assert (tmp_path / "file").read_text(encoding="utf-8") == "not a folder"


def test_a_folder_nobody_may_write_to_is_a_clear_error(tmp_path: Path) -> None:
    """/sys: the kernel refuses to create a file there, to root too (chmod 555 would not stop root)."""
    config = project(tmp_path / "p")
    result = run("template", config, "-o", "/sys/kpi-template.xlsx")
    refused(result, ["/sys/kpi-template.xlsx: cannot write here:", "hint: choose a folder you can write to"])
    assert not Path("/sys/kpi-template.xlsx").exists()


# --- a write that fails half-way ------------------------------------------------------------------------------


@pytest.mark.parametrize(("command", "name"), [("template", "out.xlsx"), ("report", "out.pdf")])
def test_a_full_disk_is_a_clear_error_and_the_old_file_stays(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             command: str, name: str) -> None:
    config = project(tmp_path / "p")
    out = tmp_path / "p" / name
    out.write_bytes(b"old")
    write_bytes = Path.write_bytes

    def full(self: Path, data: bytes) -> int:
        write_bytes(self, data[:100])  # some bytes made it before the disk filled
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(Path, "write_bytes", full)
    refused(run(command, config, "-o", out, "--force" if command == "template" else "--month=2026-03"),
            [f"{name}: cannot write it: No space left on device", "hint: check the free space"])
    assert out.read_bytes() == b"old"
    assert sorted(p.name for p in out.parent.iterdir()) == ["kpireport.yaml", name, "web.csv"]


def _limit_file_size() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) instead of killing
    resource.setrlimit(resource.RLIMIT_FSIZE, (2_000, 2_000))


def test_a_write_the_system_refuses_half_way_is_a_clear_error_in_a_real_process(tmp_path: Path) -> None:
    """A real failed write (as with a full disk): the template is bigger than the process may write."""
    config = project(tmp_path / "p")
    out = tmp_path / "p" / "out.xlsx"
    out.write_bytes(b"old")  # not a template: --force replaces it
    process = kpireport("template", config, "-o", out, "--force", preexec_fn=_limit_file_size)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 2, stderr
    # openpyxl writes each sheet to a temporary file first: that is where the limit strikes
    assert stderr == (f"error: {out}: cannot write it: File too large (in the temporary folder)\n"
                      f"  hint: check the free space, also in {tempfile.gettempdir()}\n")
    assert "Traceback" not in stderr
    assert out.read_bytes() == b"old"
    assert sorted(p.name for p in out.parent.iterdir()) == ["kpireport.yaml", "out.xlsx", "web.csv"]
