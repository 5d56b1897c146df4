"""Beneficiary lists as files: CSV (any codec, or the TCVN3/VNI legacy fonts) and XLSX (openpyxl
read-only streaming: title blocks, merged header rows, one sheet per commune, totals rows).

Both read row by row, so memory does not grow with the file. A file that is not what its mapping
says — another encoding, a workbook handed in as CSV, no sheet or no header row, a required column
missing — raises ``FileRejected`` before a single row is kept.
"""

from __future__ import annotations

import codecs
import csv
import fnmatch
import hashlib
import itertools
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from adapters.welfare.port import Table
from mappings.engine import SourceSpec, header_key
from mappings.errors import FileRejected
from mappings.legacy_fonts import TCVN3_TABLE, from_vni, looks_like_utf8_mojibake

ZIP_MAGIC = b"PK\x03\x04"
SNIFF = 64 * 1024


def fingerprint(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def open_list(path: Path, spec: SourceSpec) -> CsvList | XlsxList | RefusedList:
    """The reader for a file, by its content (a zip is a workbook) and the mapping's format.
    A file of the wrong kind gives a reader that refuses it when read (so it is recorded)."""
    try:
        return _open(path, spec)
    except FileRejected as exc:
        return RefusedList(path, exc)


class RefusedList:
    kind = "file"

    def __init__(self, path: Path, error: FileRejected) -> None:
        self.path, self.name, self.error = path, path.name, error

    def fingerprint(self) -> str:
        return fingerprint(self.path)

    def tables(self) -> Iterator[Table]:
        raise self.error


def _open(path: Path, spec: SourceSpec) -> CsvList | XlsxList:
    with path.open("rb") as fh:
        head = fh.read(4)
    if head == ZIP_MAGIC or path.suffix.lower() in (".xlsx", ".xlsm"):
        if spec.format == "csv":
            raise FileRejected(
                "file.not_csv",
                f"{path.name} is a workbook, but the mapping reads CSV",
                f"{path.name} là tệp Excel, nhưng mapping đọc CSV",
            )
        return XlsxList(path, spec)
    if spec.format == "xlsx":
        raise FileRejected(
            "file.not_xlsx",
            f"{path.name} is not an XLSX workbook",
            f"{path.name} không phải tệp Excel XLSX",
        )
    return CsvList(path, spec)


class CsvList:
    kind = "csv"

    def __init__(self, path: Path, spec: SourceSpec) -> None:
        self.path, self.spec, self.name = path, spec, path.name

    def fingerprint(self) -> str:
        return fingerprint(self.path)

    def tables(self) -> Iterator[Table]:
        handle = self._open()
        try:
            encoding = self.spec.encoding
            reader = csv.reader(_lines(handle, encoding, self.name), delimiter=self.spec.delimiter)
            try:
                header = _find_header(reader, self.spec, self.name, None)
            except UnicodeDecodeError as exc:
                raise _not_encoded(self.name, encoding, reader.line_num + 1, exc) from None
            yield Table(None, header, _csv_cells(reader, self.name, encoding), _line)
        finally:
            handle.close()

    def _open(self) -> IO[str]:
        encoding = self.spec.encoding
        if encoding in ("tcvn3", "vni"):
            with self.path.open("rb") as fh:
                sample = fh.read(SNIFF)
            if not sample.isascii() and _is_utf8(sample):
                raise FileRejected(
                    "file.encoding",
                    f"{self.name} is UTF-8 (Unicode), but the mapping says {encoding.upper()}",
                    f"{self.name} là Unicode (UTF-8), nhưng mapping khai báo {encoding.upper()}",
                    encoding=encoding,
                )
            return self.path.open("r", encoding="latin-1", newline="")
        codecs.lookup(encoding)
        return self.path.open("r", encoding=encoding, errors="strict", newline="")


def _line(at: int) -> str:
    return f"line {at}"


def _csv_cells(reader: Any, name: str, encoding: str) -> Iterator[tuple[int, Sequence[object]]]:
    try:
        for cells in reader:  # blank rows too: the mapping's skip rule drops them
            yield reader.line_num, cells
    except UnicodeDecodeError as exc:
        raise _not_encoded(name, encoding, reader.line_num + 1, exc) from None


def _is_utf8(sample: bytes) -> bool:
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start > len(sample) - 4  # a character cut by the sample's end
    return True


def _lines(handle: IO[str], encoding: str, name: str) -> Iterator[str]:
    """Lines decoded, legacy fonts translated (at C speed: ``map``); a file that is UTF-8 read as
    another codec is caught on its first lines, a byte that is not the codec when it comes."""
    if encoding == "tcvn3":
        return map(str.translate, handle, itertools.repeat(TCVN3_TABLE))
    if encoding == "vni":
        return map(from_vni, handle)
    return itertools.chain(_first_lines(handle, encoding, name), handle)


def _first_lines(handle: IO[str], encoding: str, name: str) -> Iterator[str]:
    for number, line in enumerate(handle, start=1):
        if looks_like_utf8_mojibake(line) and encoding != "utf-8":
            raise FileRejected(
                "file.encoding",
                f"{name} is UTF-8, but the mapping says {encoding}",
                f"{name} là UTF-8, nhưng mapping khai báo {encoding}",
                encoding=encoding,
            )
        yield line
        if number == 3:
            return


def _not_encoded(name: str, encoding: str, line: int, exc: UnicodeDecodeError) -> FileRejected:
    return FileRejected(
        "file.encoding",
        f"{name} is not valid {encoding} near line {line} ({exc.reason}); "
        "check the export's encoding",
        f"{name} không đúng bảng mã {encoding} ở khoảng dòng {line}; "
        "hãy kiểm tra bảng mã khi xuất tệp",
        encoding=encoding,
        line=line,
    )


def _find_header(
    rows: Iterator[Sequence[object]], spec: SourceSpec, name: str, sheet: str | None
) -> list[object]:
    """Skip the title block to the header row; merge the rows of a multi-row header."""
    marker = header_key(spec.header_marker) if spec.header_marker else None
    for scanned, row in enumerate(rows):
        if scanned >= spec.max_header_scan:
            break
        cells = list(row)
        if not any(c not in (None, "") for c in cells):
            continue
        if marker is None or any(header_key(c) == marker for c in cells):
            extra = [list(next(rows, ())) for _ in range(spec.header_rows - 1)]
            return merge_header([cells, *extra])
    where = f"sheet {sheet!r} of {name}" if sheet else name
    where_vi = f"trang tính {sheet!r} của {name}" if sheet else name
    raise FileRejected(
        "header.missing",
        f"no header row containing {spec.header_marker!r} in {where}",
        f"không tìm thấy dòng tiêu đề có {spec.header_marker!r} trong {where_vi}",
        sheet=sheet,
    )


def merge_header(rows: list[list[object]]) -> list[object]:
    """Column names from stacked header rows. Merged cells arrive empty except the first, so each
    column is known by its lowest name *and* by the names above it joined with " / " ."""
    width = max(len(r) for r in rows)
    grid = [[_cell(r, i) for i in range(width)] for r in rows]
    for row in grid[:-1]:  # a merged group name spans the columns to its right
        carry = ""
        for i in range(width):
            if row[i]:
                carry = row[i]
            elif carry and any(grid[k][i] for k in range(grid.index(row) + 1, len(grid))):
                row[i] = carry
            else:
                carry = ""
    out: list[object] = []
    for i in range(width):
        parts = [grid[k][i] for k in range(len(grid)) if grid[k][i]]
        leaf = parts[-1] if parts else ""
        joined = " / ".join(dict.fromkeys(parts))
        out.append((leaf, joined) if joined != leaf else leaf)
    return out


def _cell(row: list[object], i: int) -> str:
    value = row[i] if i < len(row) else None
    return "" if value is None else " ".join(str(value).split())


class XlsxList:
    kind = "xlsx"

    def __init__(self, path: Path, spec: SourceSpec) -> None:
        self.path, self.spec, self.name = path, spec, path.name

    def fingerprint(self) -> str:
        return fingerprint(self.path)

    def tables(self) -> Iterator[Table]:
        import zipfile

        from openpyxl import load_workbook
        from openpyxl.utils.exceptions import InvalidFileException

        try:
            book = load_workbook(self.path, read_only=True, data_only=True)
        except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError) as exc:
            raise FileRejected(
                "file.not_xlsx",
                f"{self.name} cannot be read as an XLSX workbook ({type(exc).__name__})",
                f"không đọc được {self.name} như tệp Excel XLSX",
            ) from None
        try:
            yield from self._tables(book)
        finally:
            book.close()

    def _tables(self, book: object) -> Iterator[Table]:
        titles = [ws.title for ws in book.worksheets]  # type: ignore[attr-defined]
        chosen = [t for t in titles if any(fnmatch.fnmatch(t, p) for p in self.spec.sheets)]
        if not chosen:
            raise FileRejected(
                "sheet.missing",
                f"{self.name} has no sheet named {', '.join(self.spec.sheets)} "
                f"(it has: {', '.join(titles)})",
                f"{self.name} không có trang tính {', '.join(self.spec.sheets)} "
                f"(chỉ có: {', '.join(titles)})",
            )
        found = 0
        for title in chosen:
            rows = _Counted(book[title].iter_rows(values_only=True))  # type: ignore[index]
            try:
                header = _find_header(rows, self.spec, self.name, title)
            except FileRejected:
                if self.spec.sheets != ("*",):
                    raise  # a sheet the mapping names must hold the table
                continue  # instructions, notes: sheets that are not lists
            found += 1
            yield Table(title, header, _sheet_cells(rows), _sheet_place(title))
        if not found:
            raise FileRejected(
                "header.missing",
                f"no sheet of {self.name} has a header row containing {self.spec.header_marker!r}",
                f"không trang tính nào của {self.name} có dòng tiêu đề chứa "
                f"{self.spec.header_marker!r}",
            )


class _Counted:
    """An iterator of sheet rows that knows the spreadsheet row number it is at."""

    def __init__(self, rows: Iterator[tuple[object, ...]]) -> None:
        self._rows, self.at = rows, 0

    def __iter__(self) -> _Counted:
        return self

    def __next__(self) -> tuple[object, ...]:
        row = next(self._rows)
        self.at += 1
        return row


def _sheet_cells(rows: _Counted) -> Iterator[tuple[int, Sequence[object]]]:
    for cells in rows:
        if any(c is not None and c != "" for c in cells):
            yield rows.at, cells


def _sheet_place(title: str) -> Callable[[int], str]:
    return lambda at: f"sheet {title!r}, row {at}"
