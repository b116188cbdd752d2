"""
The actor of a corpus job: one archive load, then batches of numbered rows answered with the predictor.

Ray Data constructs one `CorpusPredictor` per actor of the pool (`map_batches(CorpusPredictor, concurrency=N)`),
so each actor loads the archive once, with the checks and safe loading of every sledgehammer command. A batch's
rows are checked with the predictor's `load_line`, as `allennlp predict` checks its input lines; a row it refuses
(or that could not be read) gets an `error` naming its file and line, and the others are answered with
`predictor.predict_batch_json`, in forward passes of at most `batch_size` rows: the batch in its order, as
`allennlp predict --batch-size` forms them, or with `min_fill`, groups of like length chosen by the server's
batching rule (`sledgehammer.serving.batch_selection`). Every answer is `predictor.dump_line`'s text, what
`allennlp predict` writes; each forward pass's exit totals (`model.exit_totals`) ride on its first row, so they
are counted exactly once however often Ray retries a batch.
"""
import json
from typing import Any, Dict, List, Optional, Sequence

import torch
from allennlp.common.checks import ConfigurationError

from sledgehammer.commands.archive_inputs import check_archive_config, load_checked_archive
from sledgehammer.common.cli_errors import one_line
from sledgehammer.dataset_readers.transformer_classification_reader import DatasetFormatError
from sledgehammer.models import EarlyExitClassifier, EarlyExitTagger
from sledgehammer.serving.batch_selection import select_batch
from sledgehammer.serving.inputs import input_length

COMMAND = "predict-corpus"
PREDICTED_MODELS = (EarlyExitClassifier, EarlyExitTagger)
# The columns of a batch the actor answers: the input's, then these.
OUTPUT_COLUMNS = ("path", "line", "text", "prediction", "error", "totals")


class CorpusPredictor:
    """
    Answers batches of corpus rows (columns `path`, `line`, `text`, `problem`; see `corpus_source`) with
    `prediction` (the `allennlp predict` line without its newline, or `""`), `error` (`"file, line N: ..."`, or
    `""`) and `totals` (a forward pass's exit totals as JSON on its first row, else `""`).

    # Parameters

    archive_file : `str`
        A `sledgehammer_classifier` or `sledgehammer_tagger` archive, readable where the actor runs.
    batch_size : `int`
        Most rows in one forward pass.
    overrides : `str`, optional (default = `""`)
        Overrides of the archived configuration, as for `allennlp predict`.
    num_threads : `int`, optional (default = `None`)
        `torch.set_num_threads` of the actor; `None` keeps torch's.
    min_fill : `float`, optional (default = `None`)
        `None` runs each batch in its order; a share in [0, 1] groups its rows by length (see the module docstring).
    cuda_device : `int`, optional (default = `-1`)
    """

    def __init__(
        self,
        archive_file: str,
        batch_size: int,
        overrides: str = "",
        num_threads: Optional[int] = None,
        min_fill: Optional[float] = None,
        cuda_device: int = -1,
    ) -> None:
        import sledgehammer  # noqa: F401  (registers the components, installs the safe loading)
        from allennlp.predictors import Predictor

        self.num_threads = num_threads
        self._use_threads()
        check_archive_config(archive_file, COMMAND, accepted=PREDICTED_MODELS)
        archive = load_checked_archive(archive_file, cuda_device, overrides, accepted=PREDICTED_MODELS)
        self.model = archive.model
        self.predictor = Predictor.from_archive(archive)
        self.batch_size = batch_size
        self.min_fill = min_fill

    def _use_threads(self) -> None:
        if self.num_threads is not None and torch.get_num_threads() != self.num_threads:
            torch.set_num_threads(self.num_threads)

    def __call__(self, batch: Dict[str, Sequence[Any]]) -> Dict[str, List[Any]]:
        self._use_threads()
        paths = [str(path) for path in batch["path"]]
        lines = [int(line) for line in batch["line"]]
        texts = [str(text) for text in batch["text"]]
        problems = [str(problem) for problem in batch["problem"]]
        predictions = [""] * len(paths)
        errors = [""] * len(paths)
        totals = [""] * len(paths)
        records: Dict[int, Dict[str, Any]] = {}
        for position, (path, line, text, problem) in enumerate(zip(paths, lines, texts, problems)):
            try:
                if problem:
                    raise ValueError(problem)
                records[position] = self.predictor.load_line(text)
            except (ConfigurationError, ValueError) as error:  # load_line's refusal, or the reading problem
                errors[position] = str(DatasetFormatError(path, line, one_line(error)))
        self.model.exit_totals(reset=True)
        waiting = sorted(records)
        while waiting:
            chosen = self._next_pass(waiting, records)
            for position, output in self._answers(chosen, records, paths, lines, errors):
                predictions[position] = self.predictor.dump_line(output).rstrip("\n")
                texts[position] = json.dumps(records[position])
            totals[chosen[0]] = json.dumps(self.model.exit_totals(reset=True))
            taken = set(chosen)
            waiting = [position for position in waiting if position not in taken]
        return {"path": paths, "line": lines, "text": texts, "prediction": predictions, "error": errors,
                "totals": totals}

    def _answers(self, chosen, records, paths, lines, errors):
        """`(position, output)` of the rows `chosen`, from one forward pass; if the pass refuses an input that
        `load_line` accepted, row by row, each refused row getting its error instead."""
        try:
            return list(zip(chosen, self.predictor.predict_batch_json([records[position] for position in chosen])))
        except (ConfigurationError, ValueError):
            pass
        answered = []
        for position in chosen:
            try:
                answered.append((position, self.predictor.predict_json(records[position])))
            except (ConfigurationError, ValueError) as error:
                errors[position] = str(DatasetFormatError(paths[position], lines[position], one_line(error)))
        return answered

    def _next_pass(self, waiting: List[int], records: Dict[int, Dict[str, Any]]) -> List[int]:
        """The positions of the next forward pass: the first `batch_size` waiting rows, or with `min_fill` the
        server's choice around the oldest waiting row."""
        if self.min_fill is None:
            return waiting[: self.batch_size]
        lengths = [input_length(records[position]) for position in waiting]
        chosen = select_batch(lengths, [None] * len(waiting), self.batch_size, self.min_fill)
        return [waiting[index] for index in chosen]
