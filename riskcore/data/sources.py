"""Where a file's bytes come from and what they are: format, encoding, delimiter, decimal mark.

The format is told by the file's first bytes, not its name, so uploaded bytes
work too; images, PDFs, archives and old ``.xls`` workbooks are refused with a
message saying what the file looks like and what to do. For CSV, the delimiter
is sniffed from the first lines and the decimal mark from the first rows.
"""

from __future__ import annotations

import csv
import io
import os
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd
import pyarrow as pa

from riskcore.data.table import FileFormat, Source
from riskcore.errors import DataFileError

HEAD_BYTES = 65536
SCAN_BYTES = 1 << 22
DECIMAL_SAMPLE = 200
_DELIMITERS = (",", ";", "\t", "|")
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive or an Excel workbook (.xlsx)"),
    (b"\xd0\xcf\x11\xe0", "an old Excel workbook (.xls)"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"SQLite format 3", "an SQLite database"),
)


@dataclass(frozen=True)
class ByteSource:
    """A path (read lazily) or bytes already in memory."""

    path: Path | None
    data: bytes | None
    size: int

    def open(self) -> IO[bytes]:
        """A fresh binary stream over the whole file."""
        return self.path.open("rb") if self.path is not None else io.BytesIO(self.data or b"")

    def head(self, n: int = HEAD_BYTES) -> bytes:
        """The first ``n`` bytes."""
        if self.data is not None:
            return self.data[:n]
        with self.open() as f:
            return f.read(n)

    def blocks(self, size: int = SCAN_BYTES) -> Iterator[bytes]:
        """The bytes in blocks (one block when they are in memory already)."""
        if self.data is not None:
            yield self.data
            return
        with self.open() as f:
            while block := f.read(size):
                yield block

    def read(self) -> bytes:
        """Every byte."""
        if self.data is not None:
            return self.data
        assert self.path is not None  # noqa: S101 - a ByteSource holds one or the other
        return self.path.read_bytes()


def open_source(source: Source, max_bytes: int | None) -> ByteSource:
    """Resolve what the caller gave, checking that it exists and is not over the size limit."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise DataFileError(f"no such file: {str(path)!r}. Check the path and try again.")
        if path.is_dir():
            raise DataFileError(f"{str(path)!r} is a folder, not a data file.")
        src = ByteSource(path, None, path.stat().st_size)
    else:
        if isinstance(source, (bytes, bytearray, memoryview)):
            data = bytes(source)
        else:
            raw = source.read()
            data = raw.encode("utf-8") if isinstance(raw, str) else bytes(raw)
        src = ByteSource(None, data, len(data))
    if max_bytes is not None and src.size > max_bytes:
        raise DataFileError(f"the file is {src.size / 1e6:,.1f} MB; the limit is {max_bytes / 1e6:,.0f} MB. "
                            "Split it into smaller files.")
    return src


def decode_text(data: bytes) -> tuple[str, str, list[str]]:
    """The text of a CSV, its encoding's name and notes: a byte-order mark, else UTF-8, else Windows-1252/Latin-1."""
    notes: list[str] = []
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data[3:].decode("utf-8", errors="strict"), "UTF-8 with BOM", notes
        except UnicodeDecodeError as err:
            notes.append(f"the file starts with a UTF-8 byte-order mark but is not UTF-8 (byte {err.start + 3}); "
                         "it was read as Windows-1252/Latin-1")
            data = data[3:]
            try:
                return data.decode("cp1252"), "Windows-1252", notes
            except UnicodeDecodeError:
                return data.decode("latin-1"), "Latin-1", notes
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16"), "UTF-16", notes
    try:
        return data.decode("utf-8"), "UTF-8", notes
    except UnicodeDecodeError as err:
        notes.append(f"the file is not UTF-8 (byte {err.start}); it was read as Windows-1252/Latin-1")
    try:
        return data.decode("cp1252"), "Windows-1252", notes
    except UnicodeDecodeError:
        return data.decode("latin-1"), "Latin-1", notes


_NOT_BLANK = re.compile(rb"[^ \t\r\n\xef\xbb\xbf]")


def _blank(data: bytes) -> bool:
    """True when the bytes hold nothing but spaces, line breaks and byte-order marks (without copying them)."""
    return _NOT_BLANK.search(data) is None


def _check_binary(head: bytes) -> None:
    for magic, what in _MAGIC:
        if head.startswith(magic):
            if "old Excel" in what:
                hint = " Save it as .xlsx or CSV (in Excel: File → Save As → Excel Workbook) and try again."
            elif "Excel" in what:
                hint = " Save it as CSV (in Excel: File → Save As → CSV UTF-8) and try again."
            else:
                hint = ""
            raise DataFileError(f"this file is not a CSV: it looks like {what}.{hint}")
    if b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        # a stray NUL in one cell of a text file is that row's problem; a binary file has no line breaks in its
        # first block, or NUL bytes all over it
        lines = b"\n" in head or b"\r" in head
        if not lines or head.count(b"\x00") > len(head) // 100 + 1:
            raise DataFileError("this file is not a CSV: it contains binary data. "
                                "Export the table as CSV and try again.")


def _is_workbook(src: ByteSource) -> bool:
    """A ZIP that holds a spreadsheet workbook (xlsx, xlsm, xlsb or OpenDocument)."""
    try:
        with src.open() as f, zipfile.ZipFile(f) as z:
            names = set(z.namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return False
    return bool({"xl/workbook.xml", "xl/workbook.bin"} & names) or ("content.xml" in names and "mimetype" in names)


def format_of(src: ByteSource) -> FileFormat:
    """The format told by the first bytes; an empty or binary file that is no table is refused."""
    head = src.head(8192)
    if _blank(head) and (src.size <= len(head) or all(_blank(b) for b in src.blocks())):
        raise DataFileError("the file is empty: it has no header and no rows. "
                            "Export the table again with a header row.")
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"PK\x03\x04") and _is_workbook(src):
        return "excel"
    _check_binary(head)
    return "csv"


def utf8_ok(buf: bytes | memoryview) -> bool:
    """Whether the bytes are valid UTF-8 (checked by Arrow, without decoding them into a Python string)."""
    offsets = pa.py_buffer(np.array([0, len(buf)], dtype=np.int64))
    arr = pa.Array.from_buffers(pa.large_string(), 1, [None, offsets, pa.py_buffer(buf)])
    try:
        arr.validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def sniff_delimiter(sample: str) -> str:
    """The delimiter that splits the first lines into the most consistent number of fields (comma when unsure)."""
    lines = sample.splitlines()[:60]
    if not lines:
        return ","
    best, best_score = ",", (-1.0, 0)
    text = "\n".join(lines)
    for d in _DELIMITERS:
        try:
            counts = [len(r) for r in csv.reader(io.StringIO(text), delimiter=d) if r]
        except csv.Error:
            continue
        if not counts:
            continue
        # the last sampled line may be cut in the middle
        body = counts[:-1] if len(counts) > 2 else counts
        modal = max(set(body), key=body.count)
        if modal < 2:
            continue
        score = (body.count(modal) / len(body), modal)
        if score > best_score:
            best, best_score = d, score
    return best


_DEC_COMMA = re.compile(r"^\s*[-+]?\d{1,3}(?:\.\d{3})*,\d+\s*$|^\s*[-+]?\d+,\d+\s*$")
_DEC_POINT = re.compile(r"^\s*[-+]?\d*\.\d+(?:[eE][-+]?\d+)?\s*$")


def sniff_decimal(frame: pd.DataFrame, delimiter: str) -> str:
    """The decimal mark: ``","`` when the first rows hold more decimal-comma numbers than decimal-point ones.

    Never a comma when the comma is the delimiter.
    """
    if delimiter == ",":
        return "."
    sample = frame.head(DECIMAL_SAMPLE)
    comma = point = 0
    for col in sample.columns:
        vals = sample[col].dropna().astype(str)
        comma += int(vals.str.match(_DEC_COMMA).sum())
        point += int(vals.str.match(_DEC_POINT).sum())
    return "," if comma > point else "."
