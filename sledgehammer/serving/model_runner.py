"""
The served model behind the batcher: one predictor, run on one inference thread.

`ModelRunner.run_batch` answers a batch of rows that share one settings key with one
`predictor.predict_batch_json` call, under `model.settings(window=..., exit_mode=...)` for a tagger's
non-default settings; each row keeps its own `"threshold"` in its JSON, so rows with different thresholds
share the forward pass. Its answers are what `allennlp predict` writes for the same inputs.
"""
import logging
from typing import List, Optional, Sequence, Tuple

import torch
from allennlp.common.checks import ConfigurationError
from allennlp.common.util import JsonDict
from allennlp.models.archival import Archive
from allennlp.predictors.predictor import Predictor

from sledgehammer.models import EarlyExitTagger
from sledgehammer.modules.token_halting import EXIT_MODES
from sledgehammer.serving.inputs import Row

logger = logging.getLogger(__name__)

# What the warm-up runs, by model kind.
WARMUP_TAGGER_INPUT = {"tokens": ["The", "server", "warms", "up", "."]}
WARMUP_CLASSIFIER_INPUT = {"sentence": "The server warms up."}


def threads_for_inference(num_threads: Optional[int]) -> int:
    """
    Call on the thread that will load the archive, before it does: returns the torch threads the inference thread
    is to use (`num_threads`, or torch's count now when `None`) and leaves the calling thread one.

    A model run on a second thread is much slower at batch size 1 once the thread that loaded it has run torch's
    parallel operations with more than one thread (OpenMP then keeps a team of threads for each of the two on the
    same cores); with one torch thread on the loading thread, the second runs as fast as the loading thread would
    (docs/serving.md, "One inference thread", and the server's batch times before and after on the serving
    results page).
    """
    threads = torch.get_num_threads() if num_threads is None else num_threads
    torch.set_num_threads(1)
    return threads


class ModelRunner:
    """
    Runs batches of rows through an early-exit predictor. Every method but the properties runs on the
    inference thread (the model is not safe to share between threads).

    # Parameters

    archive : `Archive`
        A loaded `sledgehammer_classifier` or `sledgehammer_tagger` archive; it is served with the model's
        default predictor (of the same name), as `allennlp predict` uses it.
    num_threads : `int`, optional (default = `None`)
        `torch.set_num_threads` for the inference thread (see `set_threads`); `None` keeps torch's. Get it from
        `threads_for_inference` before loading the archive.
    """

    def __init__(self, archive: Archive, num_threads: Optional[int] = None) -> None:
        self.predictor = Predictor.from_archive(archive)
        self.model = archive.model
        self.is_tagger = isinstance(self.model, EarlyExitTagger)
        self.num_threads = num_threads
        # The tagger's exit modes that the model accepts, found by the warm-up; `None` for a classifier.
        self.exit_modes: Optional[Tuple[str, ...]] = EXIT_MODES if self.is_tagger else None

    @property
    def exit_layers(self) -> List[int]:
        return self.model.exit_layers

    @property
    def kind(self) -> str:
        return "sledgehammer_tagger" if self.is_tagger else "sledgehammer_classifier"

    def set_threads(self) -> None:
        """Sets torch's intra-op threads in the calling thread (the inference thread's initializer)."""
        if self.num_threads is not None:
            torch.set_num_threads(self.num_threads)

    def run_batch(self, rows: Sequence[Row]) -> List[JsonDict]:
        """
        The answers to `rows`, in their order, from one forward pass.

        # Raises

        `ValueError` when the rows do not share one settings key (the batcher never mixes them).
        """
        settings = {row.settings for row in rows}
        if len(settings) != 1:
            raise ValueError(f"a batch needs rows with one settings key, got {sorted(settings, key=str)}")
        window, exit_mode = settings.pop()
        records = [row.record for row in rows]
        if window is None and exit_mode is None:
            return self.predictor.predict_batch_json(records)
        with self.model.settings(window=window, exit_mode=exit_mode):
            return self.predictor.predict_batch_json(records)

    def exit_layers_of(self, output: JsonDict) -> List[int]:
        """The exit layer of a classifier's answer, or of each word of a tagger's."""
        if self.is_tagger:
            return list(output.get("exit_layers", []))
        return [output["exit_layer"]] if "exit_layer" in output else []

    def warm_up(self, batch_size: int) -> None:
        """
        Runs the model once on one input and once on `batch_size` copies of it (so the first requests do not
        pay for first-call allocations), and for a tagger keeps in `exit_modes` the modes its encoder runs.
        """
        self.set_threads()
        sample = WARMUP_TAGGER_INPUT if self.is_tagger else WARMUP_CLASSIFIER_INPUT
        for size in sorted({1, max(1, batch_size)}):
            self.predictor.predict_batch_json([dict(sample) for _ in range(size)])
        if self.is_tagger:
            accepted = []
            for mode in EXIT_MODES:
                try:
                    with self.model.settings(exit_mode=mode):
                        self.predictor.predict_batch_json([dict(sample)])
                except ConfigurationError as error:
                    logger.info("exit_mode %r is not served: %s", mode, error)
                    continue
                accepted.append(mode)
            self.exit_modes = tuple(accepted)
        logger.info("warm-up done (%s, exit layers %s)", self.kind, self.exit_layers)
