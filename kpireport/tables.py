"""Read a data file into a table of raw cells: CSV or TSV (encoding detected, delimiter sniffed), an
XLSX sheet, or Parquet. No meaning is given to the cells here; `sources` reads dates and numbers.

polars reads the CSV: it is multi-threaded and columnar, so a million-row export reads in a fraction
of a second, and the cell parsers in `cells` work on its columns whole.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import zipfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import polars as pl

from .cells import writes_decimal_commas
from .errors import DataError, clipped, did_you_mean

DELIMITERS = (",", ";", "\t")
# The encodings spreadsheets write for fr/en users. charset-normalizer chooses among them by how
# coherent the text reads; left free it takes short French text for cp1250 or Mac Roman ("Coűt").
ENCODINGS = ["utf_8", "utf_16", "utf_32", "cp1252", "latin_1", "iso8859_15"]
HEADER_SEARCH_ROWS = 30  # title lines some exports put above the header (ad platforms, Analytics)
_SAMPLE_BYTES = 1 << 16
_ZIP, _PARQUET, _OLE = b"PK\x03\x04", b"PAR1", b"\xd0\xcf\x11\xe0"  # the first bytes of each format
_OLE_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
CELL_CHARS = 32_767  # Excel's own limit on a cell's text: past it, a cell is no export's
# A workbook's parts, as their zip declares them (Python's zip reader stops at the declared size, so
# a part cannot unpack to more). openpyxl parses a part whole or row by row, at 10 to 50 times its
# size in memory for a whole workbook (templates are read that way): so a sheet of a data file may
# unpack to 200 MB (millions of cells), one of a template to 32 MB; the workbook's index
# (workbook.xml, relationships, content types) is kilobytes in any real file.
PART_BYTES = 200 << 20
TEMPLATE_PART_BYTES = 32 << 20
INDEX_BYTES = 1 << 20
PACKED_RATIO = 100  # unpacked / packed of a part over INDEX_BYTES: text compresses 5 to 20 times
MAX_CELLS = 10_000_000  # rows × columns of a sheet (to its last filled cell), read by openpyxl one by one


@dataclass(frozen=True)
class Table:
    """A file's cells, one column per header name (stripped, unique)."""

    frame: pl.DataFrame  # text for CSV; the typed cells (numbers, dates, text) for XLSX and Parquet
    first_row: int  # the row number, as a spreadsheet shows it, of the frame's first record
    comma_thousands: bool  # whether "1,234" means 1234 here (a comma-delimited file) rather than 1.234
    kind: str  # "csv", "xlsx" or "parquet", for messages

    @cached_property
    def reads_comma_thousands(self) -> bool:
        """comma_thousands, unless other cells of the file write decimal commas (a French export
        comma-separated: "1,250" beside "12 345,67" is 1.25)."""
        return self.comma_thousands and not writes_decimal_commas(self.frame.iter_columns())


def read_table(path: Path, *, sheet: str | None = None, header: str | None = None,
               comma_thousands: bool = False) -> Table:
    """Read `path` by its content (not its name). `header` is a column the header row holds (the date
    column): rows above it are titles, skipped. `comma_thousands` is the default for text cells of
    files with no delimiter to tell (workbooks, tab-separated files)."""
    file = str(path)
    try:
        with path.open("rb") as handle:
            start = handle.read(8)
    except FileNotFoundError:
        raise DataError("file not found", file=file,
                        hint="check the path under 'sources:' in the config (relative to the config file), "
                             "or the --data path") from None
    except OSError as exc:
        raise DataError(f"cannot read it: {exc.strerror}", file=file) from None
    if start.startswith(_ZIP):
        return _read_xlsx(path, sheet, header, comma_thousands)
    if sheet is not None:
        raise DataError(f"'sheet: {sheet}' is set but this is not an XLSX workbook", file=file,
                        hint="remove 'sheet:' from this source, or point it at the .xlsx file")
    if start.startswith(_PARQUET):
        return _read_parquet(path)
    if start.startswith(_OLE):
        raise ole_error(path)
    return _read_csv(path, header, comma_thousands)


def ole_error(path: Path) -> DataError:
    """An OLE2 file where a workbook is expected: Excel writes a password-protected .xlsx as one (an
    encrypted package), and the old .xls format is one too. kpireport reads neither."""
    return DataError("this workbook is password-protected (encrypted), or an old .xls workbook: "
                     "kpireport cannot read it", file=str(path),
                     hint="in Excel, save it without a password (File → Info → Protect Workbook → Encrypt "
                          "with Password: empty) as .xlsx (Excel Workbook), or export it as CSV UTF-8")


def is_ole(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(8) == _OLE_SIGNATURE
    except OSError:
        return False


# --- CSV ------------------------------------------------------------------------------------------


def _read_csv(path: Path, header: str | None, comma_thousands: bool) -> Table:
    file = str(path)
    data = utf8(path.read_bytes(), file)
    if data.isspace() or not data:  # isspace stops at the first other byte; strip would copy it all
        raise DataError("the file is empty", file=file, hint="export the data again, with a header row")
    lines = data[:_SAMPLE_BYTES].decode("utf-8", errors="ignore").splitlines()
    if len(data) > _SAMPLE_BYTES and len(lines) > 1:
        lines.pop()  # it may be cut short
    skip = _header_index(lines, header)
    delimiter = sniff_delimiter(lines[skip:])
    comma_thousands = delimiter == "," or (delimiter == "\t" and comma_thousands)
    # polars then reads 1234,5 as a number itself; what it leaves as text (1 234,5 €) goes to `cells`
    options = {"separator": delimiter, "skip_rows": skip, "quote_char": '"', "decimal_comma": not comma_thousands}
    try:
        try:
            frame = _typed_or_text(data, options)
        except pl.exceptions.ComputeError as exc:
            if "more fields" not in str(exc):
                raise
            _refuse_ragged(data, delimiter, skip, file)  # unless the extra fields are all empty:
            frame = _typed_or_text(data, {**options, "truncate_ragged_lines": True})  # a trailing delimiter
    except pl.exceptions.NoDataError:
        raise DataError("no header row where the data starts", file=file, line=skip + 1,
                        hint="export the data again, with a header row (e.g. date,visits)") from None
    except pl.exceptions.PolarsError as exc:
        raise DataError(f"cannot read it as CSV ({str(exc).splitlines()[0]})", file=file,
                        hint='look for a quote (") left open; or export it again as CSV UTF-8') from None
    table = Table(_tidy(frame), skip + 2, comma_thousands, "csv")
    _refuse_long_cells(table, file)
    return table


def _typed_or_text(data: bytes, options: dict) -> pl.DataFrame:  # type: ignore[type-arg]
    """Columns polars reads as plain numbers come typed (no text to parse after); when a cell past
    the sampled rows breaks the guess (`n/a`, `12,5`), the whole file is read again as text."""
    try:
        return pl.read_csv(data, infer_schema_length=10_000, **options)
    except pl.exceptions.ComputeError as exc:
        if "more fields" in str(exc):
            raise
    return pl.read_csv(data, infer_schema=False, **options)


def utf8(data: bytes, file: str) -> bytes:
    """The file's bytes as UTF-8, its encoding detected by charset-normalizer when it is not UTF-8."""
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8):]
    if data.isascii():  # most exports, and far faster to tell than decoding
        return data
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        return data
    from charset_normalizer import from_bytes  # only for the rare file that is not UTF-8

    match = from_bytes(data, cp_isolation=ENCODINGS).best()
    if match is None:
        raise DataError("cannot tell the file's text encoding", file=file,
                        hint="save it as CSV UTF-8 (in Excel: Save as → CSV UTF-8)")
    return str(match).encode("utf-8")


def _header_index(lines: list[str], header: str | None) -> int:
    """The line holding the header: the first one with the `header` column, else the first line of the
    table under any title lines."""
    if header is None:
        return 0
    for index, line in enumerate(lines[:HEADER_SEARCH_ROWS]):
        for delimiter in DELIMITERS:
            if delimiter in line and header in (c.strip() for c in _cells(line, delimiter)):
                return index
    # `header` is misspelt in the config: the table's header all the same, so that the caller names the
    # missing column with the closest one, rather than a title line read as the header blame a wide row
    return _table_start(lines)


def _table_start(lines: list[str]) -> int:
    """The first line as wide as the few lines after it (2 cells or more): a table's header under
    title lines; the first line when none is."""
    for index, line in enumerate(lines[:HEADER_SEARCH_ROWS]):
        following = [row for row in lines[index + 1:index + 6] if row.strip()]
        for delimiter in DELIMITERS:
            width = len(_cells(line, delimiter))
            if width >= 2 and following and all(len(_cells(row, delimiter)) == width for row in following):
                return index
    return 0


def _cells(line: str, delimiter: str) -> list[str]:
    return next(csv.reader([line], delimiter=delimiter), [])


def sniff_delimiter(lines: list[str]) -> str:
    """`,`, `;` or tab: the one that splits the header into most columns and the rows into as many."""
    sample = [line for line in lines[:50] if line.strip()]
    if not sample:
        return ","

    def score(delimiter: str) -> tuple[float, int]:
        widths = [len(row) for row in csv.reader(sample, delimiter=delimiter)]
        if widths[0] < 2:
            return (0.0, 1)
        return (sum(w == widths[0] for w in widths) / len(widths), widths[0])

    return max(DELIMITERS, key=score)  # ties go to the first: `,`


def _refuse_ragged(data: bytes, delimiter: str, skip: int, file: str) -> None:
    """A row with more cells than the header, some not empty: its values would land in the wrong
    columns (often a number written `1,234` in a comma-separated file)."""
    rows = csv.reader(io.StringIO(data.decode("utf-8"), newline=""), delimiter=delimiter)  # "\r" in a cell too
    width = 0
    try:
        for number, row in enumerate(rows, start=1):
            if number <= skip:
                continue
            if number == skip + 1:
                width = len(row)
            elif len(row) > width and any(cell.strip() for cell in row[width:]):
                raise DataError(f"this row has {len(row)} cells but the header has {width}", file=file,
                                line=number, hint=f"a value holds the delimiter '{delimiter}': quote it "
                                                  f'("1{delimiter}234"), or export with another delimiter')
    except csv.Error as exc:
        raise DataError(f"cannot read it as CSV ({exc})", file=file,
                        hint='look for a quote (") left open; or export it again as CSV UTF-8') from None


def _tidy(frame: pl.DataFrame, titles: list[str] | None = None) -> pl.DataFrame:
    """Header names stripped (of NUL characters too) and unique; a column with neither a name nor a
    cell (the trailing delimiter of some exports) dropped, one with cells but no name called `column N`."""
    names: list[str] = []
    taken: set[str] = set()  # `names` as a set: 200,000 columns took 165 s looked up in the list
    kept = []
    for position, (raw, title) in enumerate(zip(frame.columns, titles or frame.columns, strict=True), start=1):
        name = title.replace("\x00", "").strip()  # NUL is kpireport's own: its working columns start with it
        if not name or name.startswith("_duplicated_"):  # polars' name for a second blank header
            if frame[raw].null_count() == len(frame):
                continue
            name = f"column {position}"
        while name in taken:
            name += " (2)"
        names.append(name)
        taken.add(name)
        kept.append(raw)
    if not kept:
        return frame.select([])
    if len(kept) == frame.width:  # nothing dropped: renamed in place, positionally (no names parsed)
        tidy = frame.clone()
        tidy.columns = names
        return tidy
    # Series, not names: select("*") or a name like "^a$" would be read as a wildcard or a regex
    return pl.DataFrame([frame.get_column(raw).alias(name) for raw, name in zip(kept, names, strict=True)],
                        height=frame.height)


# --- XLSX -----------------------------------------------------------------------------------------


def check_workbook(path: Path, part_bytes: int = PART_BYTES) -> None:
    """Refuse a workbook with a part that would unpack to more than openpyxl can hold, before any is
    parsed: a zip bomb (a 300 KB file unpacking to 4 GB), a 2 GB cell, an index of megabytes."""
    try:
        with zipfile.ZipFile(path) as archive:
            parts = archive.infolist()
            kind = b""
            if "mimetype" in archive.namelist():
                with archive.open("mimetype") as mimetype:
                    kind = mimetype.read(100)
    except (zipfile.BadZipFile, OSError, ValueError):
        return  # openpyxl's own error says it better (damaged, cut short)
    if kind.startswith(b"application/vnd.oasis.opendocument"):  # LibreOffice's own format: a zip too
        raise DataError("this is an OpenDocument file (.ods), not an XLSX workbook", file=str(path),
                        hint="in LibreOffice: File → Save As… → Excel 2007-365 (.xlsx); or export it as CSV UTF-8")
    for part in parts:
        index = part.filename in ("[Content_Types].xml", "xl/workbook.xml") or part.filename.endswith(".rels")
        limit = INDEX_BYTES if index else part_bytes
        packed = max(part.compress_size, 1)
        if part.file_size > limit or (part.file_size > INDEX_BYTES and part.file_size / packed > PACKED_RATIO):
            raise unsafe_workbook(path, f"its part {clipped(part.filename)} would unpack to "
                                        f"{part.file_size:,} bytes from {part.compress_size:,}")


def unsafe_workbook(path: Path, why: str) -> DataError:
    return DataError(f"damaged or unsafe workbook: {why}", file=str(path),
                     hint="open it in Excel and save it as a new .xlsx, or export the data as CSV UTF-8; "
                          "if it came by e-mail or download, ask its sender for it again")


# What a part built to harm the reader raises: a parse error (expat and lxml stop entity expansion;
# defusedxml, which openpyxl uses when installed, refuses any entity declaration first).
def xml_errors() -> tuple[type[Exception], ...]:
    from defusedxml import DefusedXmlException

    return (SyntaxError, DefusedXmlException)


def clipped_xml_error(path: Path, exc: Exception) -> DataError:
    """An XML parse error as "damaged or unsafe"; any other error openpyxl raises as before."""
    cause = xml_error_in(exc)
    if cause is not None:
        return unsafe_workbook(path, f"its XML cannot be read ({cause.__class__.__name__}: {clipped(cause)})")
    return workbook_error(path, exc)


def xml_error_in(exc: BaseException) -> BaseException | None:
    """The XML parse error `exc` is, or wraps (openpyxl re-raises one as "Unable to read workbook")."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, xml_errors()):
            return seen
        seen = seen.__cause__
    return None


def _read_xlsx(path: Path, sheet: str | None, header: str | None, comma_thousands: bool) -> Table:
    from openpyxl import load_workbook  # slow to import, and only workbooks need it

    file = str(path)
    check_workbook(path)
    try:
        # from its bytes: openpyxl judges a path by its extension, and a workbook may be named .csv
        workbook = load_workbook(io.BytesIO(path.read_bytes()), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, SyntaxError) as exc:
        raise clipped_xml_error(path, exc) from None
    try:
        if sheet is not None and sheet not in workbook.sheetnames:
            raise DataError(f"no sheet '{sheet}'", file=file,
                            hint=did_you_mean(sheet, workbook.sheetnames)
                            or "sheets: " + ", ".join(workbook.sheetnames))
        worksheet = workbook[sheet] if sheet is not None else workbook.worksheets[0]
        rows = _rows(worksheet, path)
    except xml_errors() as exc:
        raise clipped_xml_error(path, exc) from None
    finally:
        workbook.close()
    top = _header_row(rows, header)
    if top is None:
        raise DataError("the sheet is empty", file=file, key=worksheet.title,
                        hint="choose the sheet with 'sheet:' in the source")
    titles = ["" if cell is None else str(cell) for cell in rows[top]]
    records = rows[top + 1:]
    width = max([len(titles), *(len(r) for r in records)])
    titles += [""] * (width - len(titles))
    frame = pl.DataFrame([_column(f"\x00{index}", [row[index] if index < len(row) else None for row in records])
                          for index in range(width)])
    table = Table(_tidy(frame, titles), top + 2, comma_thousands, "xlsx")
    _refuse_long_cells(table, file)
    return table


def _rows(worksheet, path: Path) -> list[list]:  # type: ignore[no-untyped-def, type-arg]
    """The sheet's values, row by row, to the last filled cell of each; at most MAX_CELLS in all."""
    # openpyxl pads every row to the sheet's <dimension>, which the file declares: 4 KB may claim
    # A1:XFD1048576, 17 billion cells. Without it, a row is as long as its last cell.
    worksheet.reset_dimensions()
    rows: list[list] = []  # type: ignore[type-arg]
    width = filled = 0
    for values in worksheet.iter_rows(values_only=True):
        row = list(values)
        while row and row[-1] is None:
            row.pop()
        rows.append(row)
        if row:
            width, filled = max(width, len(row)), len(rows)
            if width * filled > MAX_CELLS:  # the table built from it is that large
                raise DataError(f"the sheet holds more than {MAX_CELLS:,} cells ({filled:,} rows by {width:,} "
                                "columns, to its last filled cell)", file=str(path), key=worksheet.title,
                                hint="delete the unused rows and columns (a cell far right or far down), "
                                     "or export the data as CSV UTF-8")
    return rows[:filled]


def _refuse_long_cells(table: Table, file: str) -> None:
    """A cell's text longer than a spreadsheet cell can hold: no export writes one, and each reader
    after this would copy it (a 10 MB cell took 20 MB a copy, and was echoed whole in messages)."""
    longest = table.frame.select(pl.col(pl.String).str.len_bytes().max())  # one pass; chars <= bytes
    for name in (name for name, size in longest.row(0, named=True).items() if size is not None and size > CELL_CHARS) \
            if len(longest) else ():
        lengths = table.frame.get_column(name).str.len_chars()
        longest_chars = lengths.max()
        if longest_chars is not None and longest_chars > CELL_CHARS:  # type: ignore[operator]
            row = lengths.arg_max()
            raise DataError(f"a cell of {longest_chars} characters, more than a spreadsheet cell holds ({CELL_CHARS})",
                            file=file, line=table.first_row + (row or 0), column=name,
                            hint="the file is damaged, or not the export meant: export the data again")


def workbook_error(path: Path, exc: Exception) -> DataError:
    """A workbook openpyxl cannot open: cut short (a copy or download interrupted), or not an XLSX."""
    what = ("it is damaged or cut short (not a complete XLSX file)" if isinstance(exc, zipfile.BadZipFile)
            else f"cannot open it as an XLSX workbook ({exc.__class__.__name__})")
    return DataError(what, file=str(path),
                     hint="copy or download it again, or open it in Excel and save it as .xlsx "
                          "(or export it as CSV UTF-8)")


def _header_row(rows: list[list], header: str | None) -> int | None:  # type: ignore[type-arg]
    filled = [i for i, row in enumerate(rows) if any(cell not in (None, "") for cell in row)]
    if not filled:
        return None
    for index in filled[:HEADER_SEARCH_ROWS]:
        if header is not None and header in (str(c).strip() for c in rows[index] if c is not None):
            return index
    return filled[0]


def _column(name: str, cells: list) -> pl.Series:  # type: ignore[type-arg]
    """One column as one type: numbers, dates, or (when mixed) text as the cell shows it."""
    cells = [None if c == "" else c for c in cells]
    present = [c for c in cells if c is not None]
    if all(isinstance(c, int | float) and not isinstance(c, bool) for c in present):
        return pl.Series(name, cells, dtype=pl.Float64)
    if all(isinstance(c, dt.datetime) for c in present):
        return pl.Series(name, cells, dtype=pl.Datetime("us"))
    if all(isinstance(c, dt.date) for c in present):
        return pl.Series(name, [c.date() if isinstance(c, dt.datetime) else c for c in cells], dtype=pl.Date)
    return pl.Series(name, [_text(c) for c in cells], dtype=pl.String)


def _text(cell: object) -> str | None:
    if cell is None:
        return None
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    if isinstance(cell, dt.datetime):
        return cell.isoformat(sep=" ")
    return str(cell)


# --- Parquet --------------------------------------------------------------------------------------


def _read_parquet(path: Path) -> Table:
    try:
        frame = pl.read_parquet(path)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise _parquet_error(path, exc) from None
    columns = [_parquet_cast(pl.col(name), dtype, path) for name, dtype in frame.schema.items()]
    table = Table(_tidy(frame.select(columns)), 1, False, "parquet")
    _refuse_long_cells(table, str(path))
    return table


def scan_parquet(path: Path) -> pl.LazyFrame | None:
    """A Parquet file as a lazy scan of its columns in the types `_read_parquet` gives them, for rows
    read where they lie (streamed, never all in memory); None for a file of another format."""
    try:
        with path.open("rb") as handle:
            if not handle.read(8).startswith(_PARQUET):
                return None
        scan = pl.scan_parquet(path)
        schema = scan.collect_schema()
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise _parquet_error(path, exc) from None
    return scan.select(_parquet_cast(pl.col(name), dtype, path) for name, dtype in schema.items())


def _parquet_cast(column: pl.Expr, dtype: pl.DataType, path: Path) -> pl.Expr:
    """A column in a type kpireport reads: categorical text as text ("100" too), decimals as floats;
    lists, structs, durations and bytes refused, naming the column."""
    if isinstance(dtype, pl.Categorical | pl.Enum):
        return column.cast(pl.String)
    if isinstance(dtype, pl.Decimal):
        return column.cast(pl.Float64)
    if dtype.is_nested() or isinstance(dtype, pl.Duration | pl.Object | pl.Binary):
        name = column.meta.output_name()
        kind = type(dtype).__name__.lower() if not isinstance(dtype, type) else dtype.__name__.lower()
        raise DataError(f"the column '{clipped(name)}' holds {kind} values ({dtype}): kpireport reads "
                        "numbers, text and dates", file=str(path), column=clipped(name),
                        hint="write one number (or date) a cell: unnest the lists or fields into columns of "
                             "their own, durations as a number of seconds")
    return column


def _parquet_error(path: Path, exc: Exception) -> DataError:
    return DataError(f"cannot read it as Parquet: {clipped(str(exc).splitlines()[0])}", file=str(path),
                     hint="write it again, or export the data as CSV UTF-8")
