import logging
import math
from typing import Dict, Optional

import torch
from allennlp.common.checks import ConfigurationError
from allennlp.data import TextFieldTensors, Vocabulary
from allennlp.models.model import Model
from allennlp.nn import InitializerApplicator
from allennlp.training.metrics import CategoricalAccuracy

from sledgehammer.models.early_exit_model import EarlyExitModel
from sledgehammer.modules.exit_losses import check_exit_targets, exit_loss_weights, loss_towards_last_exit
from sledgehammer.modules.exit_policies import calibrated_probs
from sledgehammer.modules.inference_cost import InferenceCost

logger = logging.getLogger(__name__)


@Model.register("sledgehammer_classifier")
class EarlyExitClassifier(EarlyExitModel):
    """
    A pretrained transformer encoder with a classifier ("exit") on several of its layers, trained jointly,
    that can stop computing for a row as soon as one of its exits is confident (Schwartz et al., 2020).

    Each exit takes its layer's first-token vector (or, optionally, the mean of its token vectors) through
    the encoder's pretrained pooler (dense + tanh, shared by all exits; skipped for encoders without one or
    when `use_pooler` is false), dropout and its own linear layer. Training runs
    every layer up to the highest exit and sums the exits' cross-entropies. In evaluation and prediction,
    row by row, the exit policy decides from the calibrated probabilities `softmax(logits_j / temperature_j)`
    of the exits seen so far whether exit `k` answers (by default: when its largest probability is at least
    `threshold`); the last exit always answers. Rows that have answered leave the batch, so no layer is
    computed for them and the padding shrinks to the longest remaining row. When early exit is off
    (threshold 1.0) and nothing reads the lower exits (no labels to score them, `run_all_exit_heads` false),
    only the last exit's head runs.

    Registered as a `Model` with name "sledgehammer_classifier".

    # Parameters

    vocab : `Vocabulary`
    transformer_model : `str`
        Hugging Face name or local folder of the encoder (BERT, MiniLM, RoBERTa, ELECTRA, DistilBERT, MPNet).
        Must be the same as the dataset reader's.
    exit_layers : `List[int]`, optional (default = `None`)
        0-based encoder layers that get an exit, in any order, negative indices counting from the end.
        `None` puts an exit on every layer. The encoder is cut after the highest exit layer, so `[3]`
        alone is a truncated "partial" model with a single classifier.
    exit_policy : `ExitPolicy`, optional (default = `None`)
        How a row decides to answer at an exit: `{"type": "confidence"}` (the default), `"entropy"`,
        `"patience"` or `"agreement"` (see `sledgehammer.modules.exit_policies`). Also settable at load time
        with the top-level override `{"exit_policy": {...}}`.
    threshold : `float`, optional (default = `None`)
        The exit policy's runtime knob, in [0, 1] (for the default policy, the confidence an exit needs to
        answer). 1.0 never exits early (the last exit always answers); 0.0 always answers at the first
        exit. Given, it replaces the policy's own threshold; also settable at load time with the top-level
        override `{"threshold": 0.9}`. With neither, 1.0.
    temperatures : `List[float]`, optional (default = `None`)
        One positive temperature per exit (in exit-layer order) dividing its logits before the softmax.
        `None` means 1.0 for all. `allennlp calibrate` fits and stores them.
    exit_pooling : `str`, optional (default = `"first_token"`)
        What an exit reads from its layer: `"first_token"` (the [CLS] vector, as in the paper) or `"mean"`
        (the average of the layer's token vectors). Encoders trained with mean pooling, such as the
        sentence-transformers MiniLM, carry no sentence information in their lower layers' first token.
    use_pooler : `bool`, optional (default = `True`)
        Whether exits pass through the encoder's pretrained pooler (when it has one).
    dropout : `float`, optional (default = `0.1`)
        Dropout before each exit's linear layer.
    loss_weighting : `str`, optional (default = `"sum"`)
        `"sum"` adds the exits' cross-entropies; `"depth"` weights exit `k`'s by its layer number + 1
        (normalised to average 1), stressing the later exits.
    exit_targets : `str`, optional (default = `"gold"`)
        What the exits below the last one learn besides the gold labels. `"gold"`: nothing else (the
        paper's sum of cross-entropies). `"distill"`: self-distillation (FastBERT): each lower exit also
        minimises `T^2 * KL(softmax(z_last / T) || softmax(z_k / T))` towards the last exit's softened,
        detached distribution. `"consistency"`: each lower exit also minimises the cross-entropy against
        the last exit's (detached) argmax (the consistency loss of CATs). The last exit learns from the
        gold labels only: no gradient flows into it from these terms.
    distillation_weight : `float`, optional (default = `1.0`)
        Weight of each lower exit's extra term (`exit_targets` other than `"gold"`).
    distillation_temperature : `float`, optional (default = `2.0`)
        `T` of `"distill"`.
    label_namespace : `str`, optional (default = `"labels"`)
    load_weights : `bool`, optional (default = `True`)
        Whether to load the encoder's pretrained weights. Set to `False` automatically when loading an archive.
    initializer : `InitializerApplicator`, optional (default = `InitializerApplicator()`)
        Applied to the exit heads only.
    """

    default_predictor = "sledgehammer_classifier"

    def __init__(
        self,
        vocab: Vocabulary,
        transformer_model: str,
        exit_pooling: str = "first_token",
        use_pooler: bool = True,
        dropout: float = 0.1,
        loss_weighting: str = "sum",
        exit_targets: str = "gold",
        distillation_weight: float = 1.0,
        distillation_temperature: float = 2.0,
        initializer: Optional[InitializerApplicator] = None,
        **kwargs,
    ) -> None:
        # `exit_layers`, `exit_policy`, `threshold`, `temperatures`, `label_namespace` and `load_weights` go to
        # the shared core (`EarlyExitModel`), whose parameters AllenNLP reads through `**kwargs`.
        super().__init__(vocab, transformer_model, **kwargs)
        if self._num_labels < 2:
            raise ConfigurationError(
                f"the '{self._label_namespace}' vocabulary has {self._num_labels} label(s); a classifier needs 2 or more"
            )
        hidden = self._encoder.hidden_size
        if exit_pooling not in ("first_token", "mean"):
            raise ConfigurationError(f"exit_pooling must be 'first_token' or 'mean', got {exit_pooling!r}")
        self._mean_pooling = exit_pooling == "mean"
        self._use_pooler = use_pooler and self._encoder.has_pooler
        self._dropout = torch.nn.Dropout(dropout)
        self._exit_classifiers = torch.nn.ModuleList(
            [torch.nn.Linear(hidden, self._num_labels) for _ in self._exit_layers]
        )
        weights = exit_loss_weights(self._exit_layers, loss_weighting, depth_total=len(self._exit_layers))
        self.register_buffer("_loss_weights", torch.tensor(weights), persistent=False)
        check_exit_targets(exit_targets, distillation_weight, distillation_temperature)
        self._exit_targets = exit_targets
        self._distillation_weight = float(distillation_weight)
        self._distillation_temperature = float(distillation_temperature)
        self._cost = InferenceCost(
            hidden_size=hidden,
            intermediate_size=self._encoder.intermediate_size,
            num_labels=self._num_labels,
            has_pooler=self._use_pooler,
            mean_pooling=self._mean_pooling,
        )
        self._accuracy = CategoricalAccuracy()
        self._exit_accuracies = [CategoricalAccuracy() for _ in self._exit_layers]
        (initializer or InitializerApplicator())(self._exit_classifiers)

    # ---- forward ------------------------------------------------------------------------------------

    def forward(  # type: ignore
        self,
        tokens: TextFieldTensors,
        label: Optional[torch.IntTensor] = None,
        threshold: Optional[torch.Tensor] = None,
        **kwargs,
    ) -> Dict[str, torch.Tensor]:
        """
        # Parameters

        tokens : `TextFieldTensors`
            From a `TextField` indexed by a `pretrained_transformer` indexer.
        label : `torch.IntTensor`, optional (default = `None`)
            Gold label indices, `(batch_size,)`.
        threshold : `torch.Tensor`, optional (default = `None`)
            One threshold per row, `(batch_size,)`, in place of the model's `threshold` (the predictor adds one
            to each instance whose input holds `"threshold"`), so that rows with different thresholds share a batch.

        # Returns

        An output dictionary of `(batch_size, ...)` tensors:
        `logits` and `probs` of the answering exit (both after temperature scaling), `confidence`
        (max of `probs`), `exit_index` (0-based among exits), `exit_layer` (encoder layer), `layers_run`,
        `exit_logits` (raw) and `exit_probs` (calibrated) of every exit, `(batch_size, num_exits, num_labels)`,
        NaN for exits a row never reached; and `loss` when labels are given.
        """
        inputs = tokens["tokens"]
        token_ids, mask = inputs["token_ids"], inputs["mask"]
        state = self._encoder.embed(token_ids, mask, inputs.get("type_ids"))
        batch_size = token_ids.shape[0]
        row_thresholds = self.row_thresholds(threshold, batch_size)
        exit_logits = token_ids.new_full((batch_size, self.num_exits, self._num_labels), math.nan, dtype=torch.float)
        exit_index = torch.full((batch_size,), self.num_exits - 1, dtype=torch.long, device=token_ids.device)
        early_exit = self.exits_early(row_thresholds)
        # Without early exit, the lower exits' heads run only when something reads them.
        heads_wanted = self.training or label is not None or self.run_all_exit_heads
        all_heads = early_exit or heads_wanted
        rows = torch.arange(batch_size, device=token_ids.device)  # batch rows still running
        # Calibrated probabilities of the exits seen so far, for the rows still running (what the policy reads).
        probs_so_far = exit_logits.new_empty((batch_size, self.num_exits, self._num_labels)) if early_exit else None
        running_thresholds = row_thresholds
        exits = dict(zip(self._exit_layers, range(self.num_exits)))
        pooling = self._pooling_weights(state.mask, state.hidden.dtype)
        for layer in range(self._encoder.num_layers):
            state = self._encoder.run_layer(layer, state)
            if layer not in exits or (not all_heads and exits[layer] < self.num_exits - 1):
                continue
            k = exits[layer]
            logits = self._exit_classifiers[k](self._exit_features(state.hidden, pooling))
            exit_logits[rows, k] = logits.float()
            if not early_exit or k == self.num_exits - 1:
                continue
            probs_so_far[:, k] = calibrated_probs(logits, self._temperatures[k])
            done = self.exit_policy.should_exit(probs_so_far[:, : k + 1], self.num_exits, running_thresholds)
            if done.any():
                exit_index[rows[done]] = k
                rows, staying = rows[~done], (~done).nonzero(as_tuple=True)[0]
                if rows.numel() == 0:
                    break
                state = self._encoder.keep_rows(state, staying)
                probs_so_far = probs_so_far.index_select(0, staying)
                if running_thresholds is not None:
                    running_thresholds = running_thresholds.index_select(0, staying)
                pooling = self._pooling_weights(state.mask, state.hidden.dtype)

        never_early = None
        if early_exit and row_thresholds is not None:
            # Rows at threshold 1.0 answer as they would in a batch of their own, where no lower head runs.
            never_early = row_thresholds >= 1.0
            if not heads_wanted:
                exit_logits[never_early, :-1] = math.nan
        output = self._answer(exit_logits, exit_index)
        if not self.training:
            self._update_exit_statistics(mask, output, early_exit, never_early)
        if label is not None:
            output["loss"] = self._loss(exit_logits, label) if not early_exit else self._answer_loss(output, label)
            self._accuracy(output["logits"], label)
            if not early_exit and all_heads:
                for k, metric in enumerate(self._exit_accuracies):
                    metric(exit_logits[:, k], label)
        return output

    def plain_forward_logits(self, tokens: TextFieldTensors) -> torch.Tensor:
        """
        Raw logits `(batch, num_labels)` of the last exit after one ordinary forward call of the encoder
        through every kept layer, with no exit logic: the "full model" baseline for speed comparisons.
        """
        inputs = tokens["tokens"]
        hidden = self._encoder.plain_forward(inputs["token_ids"], inputs["mask"], inputs.get("type_ids"))
        pooling = self._pooling_weights(inputs["mask"].bool(), hidden.dtype)
        return self._exit_classifiers[-1](self._exit_features(hidden, pooling))

    def _pooling_weights(self, mask: torch.Tensor, dtype: torch.dtype) -> Optional[torch.Tensor]:
        """
        For mean pooling, `(rows, length, 1)` weights that average each row's tokens (0 on padding),
        computed once for every exit the same rows reach; `None` for first-token pooling.
        """
        if not self._mean_pooling:
            return None
        weights = mask.unsqueeze(-1).to(dtype)
        return weights / weights.sum(dim=1, keepdim=True).clamp(min=1.0)

    def _exit_features(self, hidden: torch.Tensor, pooling: Optional[torch.Tensor]) -> torch.Tensor:
        """
        What an exit's linear layer reads from `(rows, length, hidden)` states: the token mean with
        `pooling` weights (from `_pooling_weights`), else the first token; then the pooler, if used, and dropout.
        """
        vector = hidden[:, 0] if pooling is None else (hidden * pooling).sum(dim=1)
        if self._use_pooler:
            vector = self._encoder.pool(vector)
        return self._dropout(vector)

    def _answer(self, exit_logits: torch.Tensor, exit_index: torch.Tensor) -> Dict[str, torch.Tensor]:
        exit_probs = calibrated_probs(exit_logits, self._temperatures)
        rows = torch.arange(exit_logits.shape[0], device=exit_logits.device)
        probs = exit_probs[rows, exit_index]
        layers = torch.tensor(self._exit_layers, device=exit_index.device)[exit_index]
        return {
            "logits": exit_logits[rows, exit_index] / self._temperatures[exit_index, None],
            "probs": probs,
            "confidence": probs.max(dim=-1).values,
            "exit_index": exit_index,
            "exit_layer": layers,
            "layers_run": layers + 1,
            "exit_logits": exit_logits,
            "exit_probs": exit_probs,
        }

    def _loss(self, exit_logits: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        losses = torch.stack(
            [torch.nn.functional.cross_entropy(exit_logits[:, k], label.long()) for k in range(self.num_exits)]
        )
        loss = (losses * self._loss_weights).sum()
        if self._exit_targets != "gold" and self.num_exits > 1:
            extra = loss_towards_last_exit(exit_logits, self._exit_targets, self._distillation_temperature)
            loss = loss + self._distillation_weight * extra
        return loss

    @staticmethod
    def _answer_loss(output: Dict[str, torch.Tensor], label: torch.Tensor) -> torch.Tensor:
        # With early exit only the answering exit is known for every row.
        return torch.nn.functional.cross_entropy(output["logits"], label.long())

    def _update_exit_statistics(
        self,
        mask: torch.Tensor,
        output: Dict[str, torch.Tensor],
        early_exit: bool,
        never_early: Optional[torch.Tensor] = None,
    ) -> None:
        lengths = mask.sum(dim=1)
        exit_index = output["exit_index"]
        full_flops = self._cost.flops(lengths, self._encoder.num_layers, 1)
        # With early exit, every exit a row passes computes its head, the answering one included; without,
        # inference needs only the last head (the others run here just to report their accuracies). Rows of an
        # early-exit batch at threshold 1.0 (`never_early`) count as they would alone.
        heads_run = exit_index + 1 if early_exit else 1
        if never_early is not None:
            heads_run = torch.where(never_early, torch.ones_like(exit_index), exit_index + 1)
        flops = self._cost.flops(lengths, output["layers_run"], heads_run)
        self._exit_statistics(exit_index, output["layers_run"], flops, full_flops)

    # ---- output and metrics -------------------------------------------------------------------------

    def make_output_human_readable(self, output_dict: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """
        Adds `label` (the answer's label string) and replaces `exit_probs` by one list per row holding only
        the exits the row reached; drops `exit_logits`.
        """
        labels = self.vocab.get_index_to_token_vocabulary(self._label_namespace)
        answers = output_dict["probs"].argmax(dim=-1).tolist()
        output_dict["label"] = [labels[i] for i in answers]
        reached = output_dict["exit_index"].tolist()
        output_dict["exit_probs"] = [
            row[: last + 1].tolist() for row, last in zip(output_dict["exit_probs"].cpu(), reached)
        ]
        output_dict.pop("exit_logits", None)
        return output_dict

    def get_metrics(self, reset: bool = False) -> Dict[str, float]:
        metrics = {"accuracy": self._accuracy.get_metric(reset)}
        for layer, metric in zip(self._exit_layers, self._exit_accuracies):
            # Per-exit accuracies exist only for batches where every exit ran (training, threshold 1.0).
            if metric.total_count > 0:
                metrics[f"accuracy_exit_{layer}"] = metric.get_metric(reset)
        if f"accuracy_exit_{self._exit_layers[-1]}" in metrics:
            metrics["accuracy_last_exit"] = metrics[f"accuracy_exit_{self._exit_layers[-1]}"]
        # Exit statistics describe inference; training batches do not count.
        if self._exit_statistics.rows > 0:
            metrics.update(self._exit_statistics.get_metric(reset))
        return metrics
