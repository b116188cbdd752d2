"""
Input files of a corpus job as numbered rows, read by Ray Data's read tasks.

Ray Data's `read_json` fails a whole file on one bad line and drops line numbers, so a corpus job reads its files
through `CorpusFiles`, a Ray Data file datasource whose rows are `{"path", "line", "text", "problem"}`: `text` is
the input as a JSON object (the line itself for JSON lines), `line` its 1-based position in the file (the
physical line for JSON lines, blank lines counted, as `allennlp predict` numbers them; the line a CSV record
starts on; the row for Parquet), and `problem` a message when the row could not be read (undecodable bytes, a
CSV record of the wrong width), else `""`. Each file is read in order by one read task, in blocks of
`rows_per_block` rows, so batches of a size that divides it start where `allennlp predict`'s do.
"""
import csv
import io
import json
import os
from typing import Any, Dict, Iterator, List, Sequence

# The formats by file name ending (after removing a compression suffix Ray's file reading undoes itself).
JSON_LINES = (".jsonl", ".json", ".ndjson")
DELIMITED = {".csv": ",", ".tsv": "\t"}
PARQUET = (".parquet",)
COMPRESSION_SUFFIXES = (".gz", ".bz2", ".zst", ".lz4")
BYTE_ORDER_MARK = b"\xef\xbb\xbf"
COLUMNS = ("path", "line", "text", "problem")


def corpus_format(path: str) -> str:
    """
    `"jsonl"`, `"csv"`, `"tsv"` or `"parquet"` by the file's name.

    # Raises

    `ValueError` naming the file and the accepted endings for any other name.
    """
    name = path.lower()
    for suffix in COMPRESSION_SUFFIXES:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    if name.endswith(JSON_LINES):
        return "jsonl"
    for ending in DELIMITED:
        if name.endswith(ending):
            return ending[1:]
    if name.endswith(PARQUET):
        return "parquet"
    accepted = ", ".join(JSON_LINES + tuple(DELIMITED) + PARQUET)
    raise ValueError(f"{path}: expected a corpus file ending in one of {accepted} (optionally compressed)")


def json_lines_rows(stream: io.RawIOBase, path: str) -> Iterator[Dict[str, Any]]:
    """The non-blank lines of a JSON-lines file, each with its physical line number; a line that is not UTF-8
    is a row with a `problem` (the rest are still read)."""
    for number, raw in enumerate(stream, start=1):
        if number == 1 and raw.startswith(BYTE_ORDER_MARK):
            raw = raw[len(BYTE_ORDER_MARK):]
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            yield _row(path, number, "", f"expected UTF-8 text, found undecodable bytes ({error.reason})")
            continue
        if line.strip():
            yield _row(path, number, line.rstrip("\r\n"), "")


def delimited_rows(stream: io.RawIOBase, path: str, delimiter: str) -> Iterator[Dict[str, Any]]:
    """The records of a CSV or TSV file with a header row, as JSON objects of the header's fields, each with the
    line it starts on; a record with more or fewer fields than the header is a row with a `problem`."""
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    reader = csv.reader(text, delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        return
    start = reader.line_num + 1
    for values in reader:
        if any(value.strip() for value in values):
            if len(values) != len(header):
                yield _row(path, start, "", f"expected {len(header)} fields ({', '.join(header)}), "
                                            f"found {len(values)}")
            else:
                yield _row(path, start, json.dumps(dict(zip(header, values))), "")
        start = reader.line_num + 1


def parquet_rows(stream: Any, path: str) -> Iterator[Dict[str, Any]]:
    """The rows of a Parquet file as JSON objects, numbered from 1 (values JSON cannot hold are written as text)."""
    import pyarrow.parquet

    number = 0
    for batch in pyarrow.parquet.ParquetFile(stream).iter_batches():
        for record in batch.to_pylist():
            number += 1
            yield _row(path, number, json.dumps(record, default=str), "")


def read_rows(stream: Any, path: str) -> Iterator[Dict[str, Any]]:
    """Every row of one corpus file (see the module docstring), by its format."""
    kind = corpus_format(path)
    if kind == "jsonl":
        return json_lines_rows(stream, path)
    if kind == "parquet":
        return parquet_rows(stream, path)
    return delimited_rows(stream, path, DELIMITED["." + kind])


def _row(path: str, line: int, text: str, problem: str) -> Dict[str, Any]:
    return {"path": path, "line": line, "text": text, "problem": problem}


def columns_of(rows: Sequence[Dict[str, Any]]) -> Dict[str, List[Any]]:
    return {name: [row[name] for row in rows] for name in COLUMNS}


def corpus_datasource(paths: Sequence[str], rows_per_block: int):
    """
    A Ray Data datasource of the corpus files `paths` (for `ray.data.read_datasource`).

    # Parameters

    paths : `Sequence[str]`
        Local paths (every Ray node must see them at the same path) or URLs pyarrow opens.
    rows_per_block : `int`
        Rows per output block of a read task.
    """
    import pyarrow
    from ray.data.datasource import FileBasedDatasource

    class CorpusFiles(FileBasedDatasource):
        def _read_stream(self, f: "pyarrow.NativeFile", path: str):
            rows: List[Dict[str, Any]] = []
            if corpus_format(path) == "parquet":  # Parquet needs to seek; Ray gives a stream
                stream: Any = pyarrow.BufferReader(f.read_buffer())
            else:
                stream = io.BufferedReader(_Readable(f), buffer_size=1 << 20)
            for row in read_rows(stream, _display_name(path, paths)):
                rows.append(row)
                if len(rows) == rows_per_block:
                    yield pyarrow.table(columns_of(rows))
                    rows = []
            if rows:
                yield pyarrow.table(columns_of(rows))

    return CorpusFiles(list(paths))


def _display_name(path: str, given: Sequence[str]) -> str:
    """The path as the user gave it (Ray passes absolute ones), for messages and output rows."""
    for name in given:
        if os.path.abspath(name) == os.path.abspath(path) or name == path:
            return name
    return path


class _Readable(io.RawIOBase):
    """A pyarrow input stream as a Python binary file (lines, `TextIOWrapper`)."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def read(self, size: int = -1) -> bytes:
        return self._stream.read() if size is None or size < 0 else self._stream.read(size)

    def seekable(self) -> bool:
        return bool(getattr(self._stream, "seekable", lambda: False)())

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._stream.seek(offset, whence)

    def tell(self) -> int:
        return self._stream.tell()
