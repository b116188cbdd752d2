import os
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple, Union

from allennlp.common.checks import ConfigurationError
from allennlp.data.dataset_readers.dataset_reader import DatasetReader

from sledgehammer.dataset_readers.transformer_classification_reader import (
    DatasetFormatError,
    Example,
    TransformerClassificationReader,
    read_delimited,
    read_jsonl,
    require_field,
    require_label,
    require_text,
)

FORMATS = ("jsonl", "tsv", "csv")
_EXTENSION_FORMATS = {".jsonl": "jsonl", ".json": "jsonl", ".tsv": "tsv", ".csv": "csv"}
_COMPRESSION_SUFFIXES = (".gz", ".bz2", ".xz")


def infer_format(file_path: str) -> str:
    """The table format given by a file's extension (ignoring a compression suffix)."""
    name = os.path.basename(file_path).lower()
    for suffix in _COMPRESSION_SUFFIXES:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    extension = os.path.splitext(name)[1]
    if extension not in _EXTENSION_FORMATS:
        raise ConfigurationError(
            f"cannot infer the format of {file_path} from its extension; "
            f"name files .jsonl/.json/.tsv/.csv or set format to one of {', '.join(FORMATS)}"
        )
    return _EXTENSION_FORMATS[extension]


@DatasetReader.register("sledgehammer_table")
class TableReader(TransformerClassificationReader):
    """
    Reads text (or text-pair) classification data from a JSON Lines, TSV or CSV file, one example per
    row, e.g. GLUE SST-2 (`sentence\\tlabel`), SNLI as CSV (`premise,hypothesis,label`) or SICK (TSV with
    `sentence_A`, `sentence_B`, `entailment_label`, `SemEval_set` columns).

    TSV rows are one line each and quote characters are ordinary text; CSV uses standard double-quote
    quoting, so a quoted field may span lines (errors then give the line the row starts on). Blank lines
    are ignored. Every row of a delimited file must have as many columns as the header (or, without a
    header, as the first row).

    Registered as a `DatasetReader` with name "sledgehammer_table".

    # Parameters

    transformer_model : `str`
        Name or path of the pretrained transformer whose tokenizer is used.
    format : `str`, optional (default = `None`)
        `"jsonl"` (one JSON object per line), `"tsv"` or `"csv"`. By default inferred from the file
        extension: `.jsonl`/`.json`, `.tsv`, `.csv` (optionally followed by `.gz`/`.bz2`/`.xz`).
    text_field : `str`, optional (default = `"sentence"`)
        JSON key or column holding the text (the first text of a pair).
    text_pair_field : `str`, optional (default = `None`)
        JSON key or column holding the second text; set it for sentence-pair tasks.
    label_field : `str`, optional (default = `"label"`)
        JSON key or column holding the label. Labels are read as strings (`"0"`, `"1"` for SST-2).
        `None` reads unlabeled data (instances without a `label` field).
    header : `bool`, optional (default = `None`)
        Whether the first row of a TSV/CSV file names the columns (default `True`). With `False`, the
        fields above are 0-based column indices, e.g. `text_field: "0"`. Not used for JSON Lines.
    label_map : `Dict[str, str]`, optional (default = `None`)
        Maps raw labels to label names (e.g. `{"0": "negative", "1": "positive"}`). When given, a raw
        label missing from it (and from `skip_labels`) is an error.
    skip_labels : `List[str]`, optional (default = `None`)
        Raw labels whose rows are skipped silently, e.g. `["-"]` for NLI rows without a gold label.
    filter_field : `str`, optional (default = `None`)
        JSON key or column used to keep only some rows, e.g. `"SemEval_set"` for SICK.
    filter_values : `List[str]`, optional (default = `None`)
        Keep only the rows whose `filter_field` value is one of these, e.g. `["TRAIN"]`.
    **kwargs
        Passed to `TransformerClassificationReader` (`max_length`, `split_fraction`, `split_part`,
        `split_seed`) and `DatasetReader` (`max_instances`).
    """

    def __init__(
        self,
        transformer_model: str,
        format: Optional[str] = None,
        text_field: Union[str, int] = "sentence",
        text_pair_field: Optional[Union[str, int]] = None,
        label_field: Optional[Union[str, int]] = "label",
        header: Optional[bool] = None,
        label_map: Optional[Dict[str, str]] = None,
        skip_labels: Optional[List[str]] = None,
        filter_field: Optional[Union[str, int]] = None,
        filter_values: Optional[List[str]] = None,
        **kwargs,
    ) -> None:
        super().__init__(transformer_model, **kwargs)
        if format is not None and format not in FORMATS:
            raise ConfigurationError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
        if format == "jsonl" and header is not None:
            raise ConfigurationError("header applies to TSV and CSV files only, not to JSON Lines")
        if (filter_field is None) != (filter_values is None):
            raise ConfigurationError("filter_field and filter_values must be given together")
        if filter_values is not None and not filter_values:
            raise ConfigurationError("filter_values must not be empty")
        if label_field is None and (label_map or skip_labels):
            raise ConfigurationError("label_map and skip_labels need a label_field")
        fields = {"text_field": text_field, "text_pair_field": text_pair_field}
        fields.update(label_field=label_field, filter_field=filter_field)
        if header is False:
            for name, value in fields.items():
                if value is not None and not str(value).isdigit():
                    raise ConfigurationError(
                        f"with header=False, {name} must be a 0-based column index such as \"0\", "
                        f"got {value!r}"
                    )
        self._format = format
        self._header = header
        self._text_field = str(text_field)
        self._text_pair_field = None if text_pair_field is None else str(text_pair_field)
        self._label_field = None if label_field is None else str(label_field)
        self._filter_field = None if filter_field is None else str(filter_field)
        self._filter_values = None if filter_values is None else {str(v) for v in filter_values}
        self._label_map = None if label_map is None else {str(k): v for k, v in label_map.items()}
        self._skip_labels = {str(label) for label in skip_labels or ()}

    def _wanted_fields(self) -> List[str]:
        fields = [self._text_field, self._text_pair_field, self._label_field, self._filter_field]
        return [field for field in fields if field is not None]

    def _read_examples(self, file_path: str) -> Iterable[Optional[Example]]:
        table_format = self._format or infer_format(file_path)
        if table_format == "jsonl":
            if self._header is not None:
                raise ConfigurationError(
                    f"header applies to TSV and CSV files only, but {file_path} is JSON Lines"
                )
            records: Iterator[Tuple[int, Dict[str, Any]]] = read_jsonl(file_path)
            noun = "field"
        else:
            records = self._delimited_records(file_path, table_format)
            noun = "column"
        for line, record in records:
            yield self._record_to_example(record, file_path, line, noun)

    def _delimited_records(
        self, file_path: str, table_format: str
    ) -> Iterator[Tuple[int, Dict[str, str]]]:
        """Rows of a TSV/CSV file as dicts from column name (or index, without header) to cell."""
        delimiter, kind = ("\t", "tab-separated") if table_format == "tsv" else (",", "comma-separated")
        header = self._header is not False
        columns: Optional[List[str]] = None
        for line, row in read_delimited(file_path, delimiter, quoted=table_format == "csv"):
            if columns is None:
                if header:
                    columns = [column.strip() for column in row]
                    missing = [f for f in self._wanted_fields() if f not in columns]
                    if missing:
                        raise DatasetFormatError(
                            file_path,
                            line,
                            f"expected a header with the column(s) {', '.join(missing)}, "
                            f"found columns: {', '.join(columns)}",
                        )
                    continue
                columns = [str(i) for i in range(len(row))]
                needed = max(int(field) for field in self._wanted_fields()) + 1
                if len(row) < needed:
                    raise DatasetFormatError(
                        file_path,
                        line,
                        f"expected at least {needed} {kind} columns (the reader uses column "
                        f"{needed - 1}), found {len(row)}",
                    )
            if len(row) != len(columns):
                names = f" ({', '.join(columns)})" if header else ""
                raise DatasetFormatError(
                    file_path,
                    line,
                    f"expected {len(columns)} {kind} columns{names}, found {len(row)}",
                )
            yield line, dict(zip(columns, row))

    def _record_to_example(
        self, record: Dict[str, Any], source: str, line: int, noun: str
    ) -> Optional[Example]:
        def get(field: str) -> Any:
            return require_field(record, field, source, line, f"{noun} {field!r}")

        if self._filter_field is not None:
            if str(get(self._filter_field)).strip() not in self._filter_values:  # type: ignore
                return None
        label = None
        if self._label_field is not None:
            what = f"{noun} {self._label_field!r}"
            label = require_label(get(self._label_field), source, line, what)
            if label in self._skip_labels:
                return None
            if self._label_map is not None:
                if label not in self._label_map:
                    raise DatasetFormatError(
                        source,
                        line,
                        f"expected a label in {what} that is one of "
                        f"{', '.join(map(repr, self._label_map))} (label_map), found {label!r}",
                    )
                label = self._label_map[label]
        text = require_text(get(self._text_field), source, line, f"{noun} {self._text_field!r}")
        text_pair = None
        if self._text_pair_field is not None:
            what = f"{noun} {self._text_pair_field!r}"
            text_pair = require_text(get(self._text_pair_field), source, line, what)
        return Example(text, text_pair, label)
