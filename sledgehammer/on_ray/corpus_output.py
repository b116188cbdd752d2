"""
What a corpus job writes into its output folder, and the exit statistics of the whole corpus.

For each input file `NAME.EXT`, `NAME.predictions.jsonl`: one line per answered input row, in the file's order,

    {"file": "in.jsonl", "line": 3, "input": {...the input row...}, "prediction": {...}}

where the text of `prediction` is byte for byte what `allennlp predict` writes for that row. `errors.jsonl`
holds the rows that were not answered (`{"file", "line", "error"}`, the error naming the file and line), and
`exit_statistics.json` the corpus' statistics: rows per exit, mean layers, relative FLOPs (the model's own
`ExitStatistics`, added up from each forward pass's `model.exit_totals`), rows and errors per input file.

Every file is written through `atomic_output` and renamed into place only when the whole job has succeeded, so a
crashed or killed job leaves no half-written file under these names (only `.partial-*` temporaries, which the next
atomic write to the folder removes once stale).
"""
import contextlib
import json
import os
from typing import IO, Any, Dict, List, Optional, Sequence

from sledgehammer.common.atomic_files import atomic_output, write_bytes_atomically
from sledgehammer.metrics import ExitStatistics

ERRORS_FILE = "errors.jsonl"
STATISTICS_FILE = "exit_statistics.json"
PREDICTIONS_SUFFIX = ".predictions.jsonl"


def predictions_file_name(input_path: str) -> str:
    """`NAME.predictions.jsonl` for `.../NAME.EXT` (compression suffixes dropped too)."""
    name = os.path.basename(input_path.rstrip("/"))
    for suffix in (".gz", ".bz2", ".zst", ".lz4"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return stem + PREDICTIONS_SUFFIX


def check_output_names(inputs: Sequence[str]) -> Dict[str, str]:
    """
    The predictions file name of each input.

    # Raises

    `ValueError` when two inputs would write the same file, or one would be named like the errors or statistics.
    """
    names: Dict[str, str] = {}
    for path in inputs:
        name = predictions_file_name(path)
        clash = next((other for other, taken in names.items() if taken == name), None)
        if clash is not None:
            raise ValueError(f"the inputs {clash} and {path} would both write {name}; give files of different names")
        names[path] = name
    return names


class CorpusOutput:
    """
    Writes a corpus job's files into `output_dir` (see the module docstring). Use as a context manager: the files
    are renamed into place when the block ends without an exception, and removed otherwise.

    # Parameters

    output_dir : `str`
        The output folder (created if missing).
    inputs : `Sequence[str]`
        The input files, as the rows name them.
    """

    def __init__(self, output_dir: str, inputs: Sequence[str]) -> None:
        self.output_dir = output_dir
        self.names = check_output_names(inputs)
        self.inputs = list(inputs)
        self.rows = {path: 0 for path in inputs}
        self.errors = {path: 0 for path in inputs}
        self.first_errors: List[str] = []
        self.statistics: Optional[ExitStatistics] = None
        self._files: Dict[str, IO[bytes]] = {}
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> "CorpusOutput":
        os.makedirs(self.output_dir, exist_ok=True)
        for path, name in self.names.items():
            self._files[path] = self._stack.enter_context(atomic_output(os.path.join(self.output_dir, name)))
        self._files[ERRORS_FILE] = self._stack.enter_context(atomic_output(os.path.join(self.output_dir, ERRORS_FILE)))
        return self

    def __exit__(self, *failure) -> bool:
        return self._stack.__exit__(*failure)

    def write(self, batch: Dict[str, Sequence[Any]]) -> None:
        """Writes one batch of the actors' answers (`corpus_predictor.OUTPUT_COLUMNS`)."""
        for path, line, text, prediction, error, totals in zip(
            batch["path"], batch["line"], batch["text"], batch["prediction"], batch["error"], batch["totals"]
        ):
            path, line = str(path), int(line)
            if totals:
                self._add_totals(json.loads(totals))
            if error:
                self.errors[path] += 1
                if len(self.first_errors) < 20:
                    self.first_errors.append(str(error))
                entry = {"file": path, "line": line, "error": str(error)}
                self._files[ERRORS_FILE].write((json.dumps(entry) + "\n").encode("utf-8"))
                continue
            self.rows[path] += 1
            out = f'{{"file": {json.dumps(path)}, "line": {line}, "input": {text}, "prediction": {prediction}}}\n'
            self._files[path].write(out.encode("utf-8"))

    def _add_totals(self, totals: Dict[str, Any]) -> None:
        if self.statistics is None:
            self.statistics = ExitStatistics(totals["exit_layers"], full_layers=totals["full_layers"])
        self.statistics.add_totals(totals)

    def summary(self) -> Dict[str, Any]:
        """The corpus' statistics: what `exit_statistics.json` holds."""
        statistics: Dict[str, Any] = {}
        if self.statistics is not None and self.statistics.rows > 0:
            totals = self.statistics.totals()
            statistics = dict(self.statistics.get_metric())
            statistics["exit_counts"] = {str(layer): count
                                         for layer, count in zip(totals["exit_layers"], totals["exit_counts"])}
            statistics["counted"] = totals["rows"]
        return {
            "rows": sum(self.rows.values()),
            "errors": sum(self.errors.values()),
            "files": {path: {"output": self.names[path], "rows": self.rows[path], "errors": self.errors[path]}
                      for path in self.inputs},
            "exit_statistics": statistics,
            "first_errors": list(self.first_errors),
        }

    def write_summary(self, extra: Dict[str, Any]) -> Dict[str, Any]:
        """Writes `exit_statistics.json` (the summary and `extra`) atomically; returns what it wrote."""
        summary = {**self.summary(), **extra}
        content = json.dumps(summary, indent=2, sort_keys=True) + "\n"
        write_bytes_atomically(os.path.join(self.output_dir, STATISTICS_FILE), content.encode("utf-8"))
        return summary
