"""Hostile files: each is refused (exit 2, one error, no traceback) by the real CLI in a process held to
1 GB of memory and a few seconds, however much the file claims to unpack to or to expand into.

Every file is built here, none committed. A zip is written by hand so that a part can declare
gigabytes while the test only compresses one block of it (see `_deflated`).
"""

from __future__ import annotations

import io
import os
import resource
import struct
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pytest
from openpyxl import Workbook

from tests.test_bad_input import CONFIG, WEB, check_refused

MEMORY = 1 << 30  # the most memory (resident) any refusal may use
# And the address space, a hard stop: polars reserves about 1 GB of it in any run (VmPeak 1.08 GB
# for the example's compute, 100 MB resident), so a cap at MEMORY would fail its allocations, not ours.
ADDRESS_SPACE = 2 * MEMORY
SECONDS = 10  # and the longest it may take (the machine running the tests is slower than a laptop)
Segment = tuple[bytes, int]  # bytes, repeated this many times


# --- a zip written by hand: parts of any size, from few bytes of work ---------------------------------


def _deflated(segments: list[Segment]) -> tuple[bytes, int, int]:
    """Raw deflate data of the segments, their CRC and size. A block compressed after a full flush
    starts from an empty window, so one repeated segment is compressed once and its bytes repeated."""
    out, crc, size = [], 0, 0
    for data, count in segments:
        compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
        block = compressor.compress(data) + compressor.flush(zlib.Z_FULL_FLUSH)
        out.append(block * count)
        for _ in range(count):
            crc = zlib.crc32(data, crc)
        size += len(data) * count
    out.append(zlib.compressobj(9, zlib.DEFLATED, -15).flush(zlib.Z_FINISH))
    return b"".join(out), crc, size


def zip_bytes(parts: dict[str, list[Segment]]) -> bytes:
    """An XLSX (a zip, zip64 sizes for every part) of the given parts."""
    body, central = io.BytesIO(), io.BytesIO()
    for name, segments in parts.items():
        data, crc, size = _deflated(segments)
        encoded = name.encode()
        extra = struct.pack("<HHQQ", 1, 16, size, len(data))
        offset = body.tell()
        body.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, 8, 0, 0x21, crc, 0xFFFFFFFF, 0xFFFFFFFF,
                               len(encoded), len(extra)) + encoded + extra + data)
        central.write(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, 8, 0, 0x21, crc, 0xFFFFFFFF,
                                  0xFFFFFFFF, len(encoded), len(extra), 0, 0, 0, 0, offset) + encoded + extra)
    directory = central.getvalue()
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(parts), len(parts), len(directory), body.tell(), 0)
    return body.getvalue() + directory + end


def workbook_parts(rows: list[list[object]] | None = None) -> dict[str, list[Segment]]:
    """The parts of a small real workbook (openpyxl's), each as one segment, to replace some of."""
    import zipfile

    workbook = Workbook()
    for row in rows or [["date", "visits", "leads"], ["2026-01-05", 100, 5]]:
        workbook.active.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    with zipfile.ZipFile(buffer) as archive:
        return {name: [(archive.read(name), 1)] for name in archive.namelist()}


SHEET = "xl/worksheets/sheet1.xml"
SHEET_START = (b'<?xml version="1.0" encoding="UTF-8"?><worksheet '
               b'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">')


def sheet(*segments: Segment, head: bytes = b"") -> list[Segment]:
    return [(SHEET_START + head + b"<sheetData>", 1), *segments, (b"</sheetData></worksheet>", 1)]


def header_row() -> bytes:
    return (b'<row r="1"><c r="A1" t="inlineStr"><is><t>date</t></is></c>'
            b'<c r="B1" t="inlineStr"><is><t>visits</t></is></c></row>')


def dimension_bomb() -> bytes:
    """4 KB claiming the whole sheet (16,384 columns × 1,048,576 rows) is used; its one row has a bad cell."""
    row = (b'<row r="2"><c r="A2" t="inlineStr"><is><t>2026-01-05</t></is></c>'
           b'<c r="B2" t="inlineStr"><is><t>lots</t></is></c></row>')
    return zip_bytes({**workbook_parts(), SHEET: sheet((header_row() + row, 1),
                                                       head=b'<dimension ref="A1:XFD1048576"/>')})


def far_cell() -> bytes:
    """A few bytes of cells, each in the last column of its row: read as rows 16,384 cells wide."""
    rows = b"".join(b'<row r="%d"><c r="XFD%d"><v>1</v></c></row>' % (n, n) for n in range(2, 60_002))
    return zip_bytes({**workbook_parts(), SHEET: sheet((header_row() + rows, 1))})


def huge_cell() -> bytes:
    """A 2 MB workbook whose one cell unpacks to 2 GB."""
    return zip_bytes({**workbook_parts(), SHEET: sheet(
        (header_row() + b'<row r="2"><c r="A2" t="inlineStr"><is><t>', 1), (b"A" * (1 << 20), 2048),
        (b"</t></is></c></row>", 1))})


def huge_sheet() -> bytes:
    """A sheet of about 15 MB unpacking to 4 GB of rows."""
    row = b'<row><c t="inlineStr"><is><t>2026-01-05</t></is></c><c><v>100</v></c></row>'
    return zip_bytes({**workbook_parts(), SHEET: sheet((header_row(), 1), (row * ((1 << 20) // len(row)), 4096))})


def big_workbook_xml() -> bytes:
    """workbook.xml of 3 MB: tens of thousands of defined names."""
    parts = workbook_parts()
    names = b"".join(b'<definedName name="n%d">Sheet!$A$1:$XFD$1048576</definedName>' % n for n in range(50_000))
    xml = parts["xl/workbook.xml"][0][0]
    xml = xml.replace(b"</workbook>", b"<definedNames>" + names + b"</definedNames></workbook>")
    parts["xl/workbook.xml"] = [(xml, 1)]
    return zip_bytes(parts)


def xml_entities(kind: str) -> Callable[[Path], bytes]:
    """A sheet declaring entities: an external one (XXE, which would read a file) or nested ones (billion laughs)."""
    def make(_folder: Path) -> bytes:
        if kind == "external":
            dtd = b'<!DOCTYPE worksheet [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        else:
            dtd = b'<!DOCTYPE worksheet [<!ENTITY a0 "lol">' + b"".join(
                b'<!ENTITY a%d "%s">' % (n, b"&a%d;" % (n - 1) * 10) for n in range(1, 10)) + b"]>"
        xml = SHEET_START.replace(b"<worksheet", dtd + b"<worksheet") + b"<sheetData>" + header_row() + (
            b'<row r="2"><c r="A2" t="inlineStr"><is><t>%s</t></is></c></row>' % (b"&e;" if kind == "external"
                                                                                  else b"&a9;"))
        return zip_bytes({**workbook_parts(), SHEET: [(xml + b"</sheetData></worksheet>", 1)]})
    return make


def long_text_cell() -> bytes:
    """A workbook whose one cell holds 40,000 characters: more than Excel's own 32,767 (which openpyxl
    will not write: the sheet is written here)."""
    return zip_bytes({**workbook_parts(), SHEET: sheet((header_row() + b'<row r="2"><c r="A2" t="inlineStr"><is>'
                                                        b'<t>2026-01-05</t></is></c><c r="B2" t="inlineStr">'
                                                        b"<is><t>" + b"9" * 40_000 + b"</t></is></c></row>", 1))})


def parquet(column: pl.Series) -> Callable[[Path], bytes]:
    def make(_folder: Path) -> bytes:
        buffer = io.BytesIO()
        pl.DataFrame([pl.Series("date", [dt_value] * len(column)), column]).write_parquet(buffer)
        return buffer.getvalue()
    return make


dt_value = "2026-01-05"


def yaml_bomb() -> str:
    """501 bytes of nested aliases: nine lists of nine, nine deep (about 387 million strings)."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for n, name in enumerate("bcdefghi"):
        prev = "abcdefghi"[n]
        lines.append(f"{name}: &{name} [{','.join([f'*{prev}'] * 9)}]")
    return "\n".join(lines) + "\n"


# --- the cases ------------------------------------------------------------------------------------------


@dataclass
class Hostile:
    id: str
    expect: list[str]  # fragments of the message, the first on the error line
    config: str | None = None  # the whole config (default: test_bad_input's)
    files: dict[str, Callable[[Path], bytes]] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)  # after `compute CONFIG` ({dir}: the project)
    command: str = "compute"


def _data(name: str) -> list[str]:
    return ["--data", "{dir}/" + name]


def _with(old: str, new: str) -> str:
    assert old in CONFIG
    return CONFIG.replace(old, new)


CASES = [
    Hostile("yaml-billion-laughs", ["kpireport.yaml", "aliases", "write the values out"], yaml_bomb()),
    Hostile("yaml-alias-to-itself", ["kpireport.yaml", "refers to itself"], "title: &t [*t]\n"),
    Hostile("formula-nested-windows", ["kpireport.yaml:9: kpis.traffic.formula", "values a month",
                                       "another KPI"],
            _with("{formula: visits,", '{formula: "avg(avg(avg(avg(visits, 120), 120), 120), 120)",'),
            command="validate"),
    Hostile("formula-of-1-mb", ["kpireport.yaml:9: kpis.traffic.formula", "nests too deeply"],
            _with("{formula: visits,", '{formula: "' + "visits + " * 130_000 + 'visits",')),
    Hostile("csv-cell-of-10-mb", ["huge.csv:3:visits", "10485760 characters", "32767"],
            files={"huge.csv": lambda _f: b"date,visits\n2026-01-05,1\n2026-02-05," + b"9" * (10 << 20) + b"\n"},
            args=_data("huge.csv")),
    Hostile("xlsx-dimension-claims-the-whole-sheet", ["dim.xlsx:2:visits", "'lots' is not a number"],
            files={"dim.xlsx": lambda _f: dimension_bomb()}, args=_data("dim.xlsx")),
    Hostile("xlsx-cells-in-the-last-column", ["far.xlsx", "cells"], files={"far.xlsx": lambda _f: far_cell()},
            args=_data("far.xlsx")),
    Hostile("xlsx-cell-unpacking-to-2-gb", ["cell.xlsx", "damaged or unsafe", "xl/worksheets/sheet1.xml"],
            files={"cell.xlsx": lambda _f: huge_cell()}, args=_data("cell.xlsx")),
    Hostile("xlsx-sheet-unpacking-to-4-gb", ["sheet.xlsx", "damaged or unsafe", "xl/worksheets/sheet1.xml"],
            files={"sheet.xlsx": lambda _f: huge_sheet()}, args=_data("sheet.xlsx")),
    Hostile("xlsx-workbook-xml-of-3-mb", ["names.xlsx", "damaged or unsafe", "xl/workbook.xml"],
            files={"names.xlsx": lambda _f: big_workbook_xml()}, args=_data("names.xlsx")),
    Hostile("xlsx-external-entity", ["xxe.xlsx", "damaged or unsafe"], files={"xxe.xlsx": xml_entities("external")},
            args=_data("xxe.xlsx")),
    Hostile("xlsx-billion-laughs", ["lol.xlsx", "damaged or unsafe"], files={"lol.xlsx": xml_entities("nested")},
            args=_data("lol.xlsx")),
    Hostile("xlsx-cell-over-excel-limit", ["long.xlsx:2:visits", "40000 characters", "32767"],
            files={"long.xlsx": lambda _f: long_text_cell()}, args=_data("long.xlsx")),
    Hostile("template-unpacking-to-4-gb", ["t.xlsx", "damaged or unsafe"],
            _with("path: web.csv, date: date", "path: t.xlsx, layout: template"),
            files={"t.xlsx": lambda _f: huge_sheet()}),
    Hostile("output-unpacking-to-4-gb", ["out.xlsx", "damaged or unsafe"],
            files={"out.xlsx": lambda _f: huge_sheet()}, command="template"),
    Hostile("parquet-list-column", ["list.parquet", "'visits'", "list"],
            files={"list.parquet": parquet(pl.Series("visits", [[1, 2]]))}, args=_data("list.parquet")),
    Hostile("parquet-struct-column", ["struct.parquet", "'visits'", "struct"],
            files={"struct.parquet": parquet(pl.Series("visits", [{"a": 1}]))}, args=_data("struct.parquet")),
    Hostile("parquet-array-column", ["array.parquet", "'visits'", "array"],
            files={"array.parquet": parquet(pl.Series("visits", [[1, 2]], dtype=pl.Array(pl.Int64, 2)))},
            args=_data("array.parquet")),
    Hostile("parquet-duration-column", ["duration.parquet", "'visits'", "duration"],
            files={"duration.parquet": parquet(pl.Series("visits", [1000], dtype=pl.Duration("ms")))},
            args=_data("duration.parquet")),
]


def _cap_address_space() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def run_capped(folder: Path, command: str, *args: str) -> tuple[subprocess.CompletedProcess[str], float, int]:
    """The CLI in its own process, its address space capped; how long it took and its peak memory
    (resident, in bytes: wait4 gives this child's own, where RUSAGE_CHILDREN keeps the largest so far)."""
    out, err = folder.parent / "stdout", folder.parent / "stderr"
    started = time.monotonic()
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen([sys.executable, "-m", "kpireport", command, str(folder / "kpireport.yaml"),
                                    *args], stdout=stdout, stderr=stderr, preexec_fn=_cap_address_space)
    timer = threading.Timer(SECONDS * 3, process.kill)
    timer.start()
    try:
        _, status, usage = os.wait4(process.pid, 0)
    finally:
        timer.cancel()
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait for it again
    elapsed = time.monotonic() - started
    result = subprocess.CompletedProcess(process.args, process.returncode, out.read_text(), err.read_text())
    return result, elapsed, usage.ru_maxrss * 1024


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_a_hostile_file_is_refused_within_bounds(tmp_path: Path, case: Hostile) -> None:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "kpireport.yaml").write_text(case.config or CONFIG, encoding="utf-8")
    (folder / "web.csv").write_text(WEB, encoding="utf-8")
    for name, make in case.files.items():
        (folder / name).write_bytes(make(folder))
    args = [a.replace("{dir}", str(folder)) for a in case.args]
    if case.command == "template":
        args = ["-o", str(folder / "out.xlsx"), *args]
    result, elapsed, peak = run_capped(folder, case.command, *args)
    check_refused(result.stderr, result.returncode, case.expect)
    assert len(result.stderr) < 2_000, result.stderr[:2_000]  # no value echoed whole
    assert elapsed < SECONDS, elapsed
    assert peak < MEMORY, peak


def test_200_000_columns_read_in_seconds(tmp_path: Path) -> None:
    """A 2 MB CSV of 200,000 columns (each an unused one): read, warned about, in a few seconds."""
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "kpireport.yaml").write_text(CONFIG, encoding="utf-8")
    names = [f"c{n}" for n in range(200_000)]
    (folder / "web.csv").write_text("date,visits,leads," + ",".join(names) + "\n2026-01-05,100,5,"
                                    + ",".join("1" for _ in names) + "\n", encoding="utf-8")
    result, elapsed, _ = run_capped(folder, "compute")
    assert result.returncode == 0, result.stderr[-2_000:]
    assert "200000 columns map to no input" in result.stderr
    # a bound that the quadratic reading (117 s) breaks and a busy CI machine does not: about 4 s measured
    assert elapsed < 30, elapsed


def test_categorical_text_of_numbers_reads_as_numbers(tmp_path: Path) -> None:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "kpireport.yaml").write_text(CONFIG.replace("web.csv", "web.parquet"), encoding="utf-8")
    pl.DataFrame({"date": ["2026-01-05"], "visits": pl.Series(["100"], dtype=pl.Categorical),
                  "leads": pl.Series(["5"], dtype=pl.Enum(["5", "7"]))}).write_parquet(folder / "web.parquet")
    result, _, _ = run_capped(folder, "compute", "--month", "2026-01")
    assert result.returncode == 0, result.stderr
    assert "traffic,2026-01,100," in result.stdout
    assert "conversion,2026-01,0.05," in result.stdout
