"""
The core both early-exit models share: exits on chosen encoder layers, the layer-by-layer runner, one
temperature per exit, the exit policy and its threshold, the cost model, the exit statistics, the runtime keys
an archive's config may override, and the public API other code runs a model with.

The public API (documented in `docs/api.md`):

* read-only properties: `exit_layers`, `num_exits`, `num_encoder_layers`, `encoder`, `cost`, `precision`,
  `label_namespace`, `num_labels`, `labels`;
* runtime settings, each checked when set: `threshold`, `temperatures`, `exit_policy`, `run_all_exit_heads`
  (and the tagger's `window`, `exit_mode`, `upper_uncertainty_factor`);
* `settings(...)`: a context manager that runs the model under other settings and restores them afterwards;
* `calibrated_probs(exit_logits)`: an exit's (or every exit's) probabilities after its temperature;
* per-row thresholds: a batch may carry a `threshold` tensor `(batch,)` (the predictors put one in each
  instance whose JSON input holds `"threshold"`), so that rows with different thresholds share one forward pass;
* the load-time key `quantize` (`"fp32"` or `"int8"`, see `sledgehammer.models.precision`).
"""
import contextlib
import copy
import math
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import torch
from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary
from allennlp.models.model import Model

from sledgehammer.metrics import ExitStatistics
from sledgehammer.modules.exit_layers import normalise_exit_layers
from sledgehammer.modules.exit_policies import (
    ConfidencePolicy,
    ExitPolicy,
    calibrated_probs,
    check_setting,
    check_threshold,
)
from sledgehammer.modules.inference_cost import InferenceCost
from sledgehammer.modules.layerwise_transformer import LayerwiseTransformer
from sledgehammer.models.archive_loading import ArchiveLoading
from sledgehammer.models.precision import FP32


class EarlyExitModel(ArchiveLoading, Model):
    """
    The base of `sledgehammer_classifier` and `sledgehammer_tagger` (registered as nothing itself): a pretrained
    transformer encoder run layer by layer (`LayerwiseTransformer`), with an exit on each of `exit_layers`. The
    subclasses add their heads, their exit loop and their outputs.

    # Parameters

    vocab : `Vocabulary`
    transformer_model : `str`
        Hugging Face name or local folder of the encoder.
    exit_layers : `List[int]`, optional (default = `None`)
        0-based encoder layers with an exit, negative indices counting from the end; `None` is every layer. The
        encoder is cut after the highest one.
    exit_policy : `ExitPolicy`, optional (default = `None`)
        How a row decides to answer at an exit; `None` is the `confidence` policy.
    threshold : `float`, optional (default = `None`)
        The exit policy's runtime knob in [0, 1]; replaces the policy's own threshold. With neither, 1.0.
    temperatures : `List[float]`, optional (default = `None`)
        One positive temperature per exit, in exit-layer order; `None` is 1.0 for all.
    label_namespace : `str`, optional (default = `"labels"`)
    load_weights : `bool`, optional (default = `True`)
        Whether to load the encoder's pretrained weights (off when loading an archive, whose weights replace them).
    """

    # Keys of an archive's top-level config (e.g. `--overrides '{"threshold": 0.9}'`) that are model settings,
    # moved into the model's parameters by `_load`.
    runtime_keys: Tuple[str, ...] = ("threshold", "temperatures", "exit_policy")
    # The names `settings` accepts.
    setting_names: Tuple[str, ...] = ("exit_policy", "threshold", "exit_thresholds", "temperatures", "all_heads")

    def __init__(
        self,
        vocab: Vocabulary,
        transformer_model: str,
        exit_layers: Optional[List[int]] = None,
        exit_policy: Optional[ExitPolicy] = None,
        threshold: Optional[float] = None,
        temperatures: Optional[List[float]] = None,
        label_namespace: str = "labels",
        load_weights: bool = True,
        **kwargs,
    ) -> None:
        super().__init__(vocab, **kwargs)
        total_layers = LayerwiseTransformer.count_layers(transformer_model)
        self._exit_layers = normalise_exit_layers(exit_layers, total_layers)
        self._encoder = LayerwiseTransformer(
            transformer_model, num_layers=self._exit_layers[-1] + 1, load_weights=load_weights
        )
        self._label_namespace = label_namespace
        self._num_labels = vocab.get_vocab_size(label_namespace)
        self.register_buffer("_temperatures", torch.ones(len(self._exit_layers)), persistent=False)
        self.temperatures = temperatures if temperatures is not None else [1.0] * len(self._exit_layers)
        self.exit_policy = exit_policy if exit_policy is not None else ConfidencePolicy()
        if threshold is not None:
            self.threshold = threshold
        # Whether every exit's head runs even when nothing needs it (no labels, threshold 1.0): offline analysis.
        self.run_all_exit_heads = False
        self._exit_statistics = ExitStatistics(self._exit_layers, full_layers=self._encoder.num_layers)
        self._cost: InferenceCost = None  # type: ignore[assignment]  (set by the subclass, which knows its heads)
        # The subclasses also set `self._exit_classifiers`, one head per exit (what `_quantize` quantizes with the
        # encoder).
        self._precision = FP32
        # The device `forward_on_instances` runs batches on, found once (see `_get_prediction_device`).
        self._prediction_device: Optional[int] = None

    # ---- what other code may read ------------------------------------------------------------------

    @property
    def exit_layers(self) -> List[int]:
        """The 0-based encoder layers with an exit, ascending."""
        return list(self._exit_layers)

    @property
    def num_exits(self) -> int:
        return len(self._exit_layers)

    @property
    def num_encoder_layers(self) -> int:
        """How many encoder layers the model runs at most (up to its highest exit)."""
        return self._encoder.num_layers

    @property
    def encoder(self) -> LayerwiseTransformer:
        """The layer-by-layer runner of the encoder."""
        return self._encoder

    @property
    def cost(self) -> InferenceCost:
        """The model's FLOP estimates (`InferenceCost`, `TaggingInferenceCost` for the tagger)."""
        return self._cost

    @property
    def precision(self) -> str:
        """`"fp32"`, or `"int8"` for a model loaded with `quantize: int8` (its linear layers quantized)."""
        return self._precision

    @property
    def label_namespace(self) -> str:
        return self._label_namespace

    @property
    def num_labels(self) -> int:
        return self._num_labels

    @property
    def labels(self) -> List[str]:
        """The label (or tag) strings by index."""
        index_to_label = self.vocab.get_index_to_token_vocabulary(self._label_namespace)
        return [index_to_label[i] for i in range(self._num_labels)]

    def exit_totals(self, reset: bool = False) -> Dict[str, Any]:
        """
        The sums behind the exit statistics of the inference batches run since the last reset (rows per exit,
        layers, FLOPs and full-model FLOPs: `ExitStatistics.totals`; a tagger counts words), with `reset` then
        cleared. Sums from several models of one archive add up with `ExitStatistics.add_totals`.
        """
        totals = self._exit_statistics.totals()
        if reset:
            self._exit_statistics.reset()
        return totals

    def calibrated_probs(self, exit_logits: torch.Tensor, exit_index: Optional[int] = None) -> torch.Tensor:
        """
        `softmax(logits / temperature)` (float32): of every exit for `(rows, exits, labels)` logits, or of exit
        `exit_index` for `(rows, labels)` logits.
        """
        temperatures = self._temperatures if exit_index is None else self._temperatures[exit_index]
        return calibrated_probs(exit_logits, temperatures)

    # ---- runtime settings ---------------------------------------------------------------------------

    @property
    def threshold(self) -> float:
        """The exit policy's runtime knob, in [0, 1]."""
        return self.exit_policy.threshold

    @threshold.setter
    def threshold(self, value: float) -> None:
        self.exit_policy.threshold = value

    @property
    def exit_thresholds(self) -> Optional[Tuple[float, ...]]:
        """The exit policy's per-exit thresholds (one per exit), or `None` when `threshold` applies to every exit."""
        return self.exit_policy.exit_thresholds

    @exit_thresholds.setter
    def exit_thresholds(self, values: Optional[Sequence[float]]) -> None:
        if values is not None:
            check_setting(tuple(values), self.num_exits)
        self.exit_policy.exit_thresholds = values

    @property
    def temperatures(self) -> List[float]:
        return self._temperatures.tolist()

    @temperatures.setter
    def temperatures(self, values: Sequence[float]) -> None:
        values = list(values)
        if len(values) != len(self._exit_layers):
            raise ConfigurationError(
                f"expected {len(self._exit_layers)} temperatures (one per exit layer {self._exit_layers}), "
                f"got {len(values)}: {values}"
            )
        for value in values:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or math.isinf(value):
                raise ConfigurationError(f"temperatures must be positive finite numbers, got {values}")
        self._temperatures.copy_(torch.tensor(values, dtype=torch.float))

    @property
    def exit_policy(self) -> ExitPolicy:
        return self._exit_policy

    @exit_policy.setter
    def exit_policy(self, policy: ExitPolicy) -> None:
        if not isinstance(policy, ExitPolicy):
            raise ConfigurationError(f"exit_policy must be an ExitPolicy, got {type(policy).__name__}")
        if policy.exit_thresholds is not None:
            check_setting(policy.exit_thresholds, len(self._exit_layers))
        self._exit_policy = policy

    @contextlib.contextmanager
    def settings(self, **changes: Any) -> Iterator["EarlyExitModel"]:
        """
        Runs the model under other settings inside a `with` block and restores the previous ones when the block
        ends, however it ends. A setting given as `None` (or not given) is left as it is.

        ```
        with model.settings(threshold=0.8, exit_policy=policy, all_heads=True):
            outputs = model.forward_on_instances(instances)
        ```

        # Parameters

        exit_policy : `ExitPolicy`, optional
            The policy to decide with. With `threshold` too, the model uses a copy of it with that threshold
            (the given object is not changed).
        threshold : `float`, optional
            In [0, 1] (it clears the policy's per-exit thresholds for the block).
        exit_thresholds : `List[float]`, optional
            One threshold per exit, in place of `threshold` (applied after it when both are given).
        temperatures : `List[float]`, optional
            One positive temperature per exit.
        all_heads : `bool`, optional
            Compute every exit's head even when nothing needs it (`run_all_exit_heads`).
        window, exit_mode, upper_uncertainty_factor : optional
            The tagger's settings (see `EarlyExitTagger`).

        # Raises

        `ConfigurationError` for an unknown setting or a value out of range; nothing is changed then.
        """
        unknown = sorted(set(changes) - set(self.setting_names))
        if unknown:
            raise ConfigurationError(
                f"unknown setting(s) {', '.join(unknown)} for a {type(self).__name__}; expected some of "
                f"{', '.join(self.setting_names)}"
            )
        changes = {name: value for name, value in changes.items() if value is not None}
        kept = ("threshold", "exit_thresholds")
        saved = {name: self._setting(name) for name in self.setting_names if name not in kept}
        saved_threshold, saved_exit_thresholds = self.threshold, self.exit_thresholds
        try:
            if "exit_policy" in changes:
                policy = changes["exit_policy"]
                self.exit_policy = copy.copy(policy) if "threshold" in changes else policy
            for name in self.setting_names:
                if name in changes and name != "exit_policy":
                    self._set_setting(name, changes[name])
            yield self
        finally:
            for name, value in saved.items():
                self._set_setting(name, value)
            self.exit_policy.threshold = saved_threshold
            self.exit_policy.exit_thresholds = saved_exit_thresholds

    @contextlib.contextmanager
    def using_encoder(self, runner: torch.nn.Module) -> Iterator["EarlyExitModel"]:
        """
        Runs the model's own exit loop on another implementation of its encoder runner inside a `with` block (e.g.
        groups of layers as ONNX Runtime sessions, `sledgehammer.evaluation.onnx_layers`), and puts the
        `LayerwiseTransformer` back afterwards, however the block ends. The runner offers what the model calls on
        `encoder`: `num_layers`, `has_pooler`, `embed`, `run_layer`, `keep_rows` and `pool`, and must compute the
        same encoder; the exit heads stay the model's.
        """
        if getattr(runner, "num_layers", None) != self._encoder.num_layers:
            raise ConfigurationError(
                f"the runner must run the model's {self._encoder.num_layers} encoder layers, "
                f"got {getattr(runner, 'num_layers', None)}"
            )
        encoder = self._encoder
        self._encoder = runner
        try:
            yield self
        finally:
            self._encoder = encoder

    def _setting(self, name: str) -> Any:
        return self.run_all_exit_heads if name == "all_heads" else getattr(self, name)

    def _set_setting(self, name: str, value: Any) -> None:
        if name == "all_heads":
            if not isinstance(value, bool):
                raise ConfigurationError(f"all_heads must be true or false, got {value!r}")
            self.run_all_exit_heads = value
        else:
            setattr(self, name, value)

    def row_thresholds(self, threshold: Optional[torch.Tensor], batch_size: int) -> Optional[torch.Tensor]:
        """
        A batch's per-row thresholds `(batch,)` as float32, or `None` when the batch carries none (then the
        model's `threshold` applies to every row). A `ConfigurationError` unless there is one threshold per row,
        and a `ThresholdError` unless each is in [0, 1].
        """
        if threshold is None:
            return None
        threshold = threshold.reshape(-1).float()
        if threshold.numel() != batch_size:
            raise ConfigurationError(f"expected one threshold per row ({batch_size}), got {threshold.numel()}")
        for value in threshold.tolist():
            check_threshold(value, "every row's threshold")
        return threshold

    def exits_early(self, row_thresholds: Optional[torch.Tensor]) -> bool:
        """Whether a batch runs the early-exit loop: in evaluation, when some row's threshold is below 1."""
        if self.training:
            return False
        if row_thresholds is None:
            return self.exit_policy.exits_early(self.num_exits)
        return bool((row_thresholds < 1.0).any())

    # ---- prediction ---------------------------------------------------------------------------------

    def _get_prediction_device(self) -> int:
        """
        AllenNLP's check of the device every parameter is on (and that it is one device), which
        `forward_on_instances` runs for every batch, done once and kept until the model is moved or cast (`_apply`):
        asking each parameter for its device costs about as much as a batch-size-1 forward pass of a small encoder's
        last layers.
        """
        if self._prediction_device is None:
            self._prediction_device = super()._get_prediction_device()
        return self._prediction_device

    def _apply(self, fn):
        # `.to()`, `.cuda()`, `.cpu()`, `.half()` and their kind all come here: find the device again next time.
        self._prediction_device = None
        return super()._apply(fn)
