import logging
from typing import Any, Dict, List, Optional, Tuple

import torch
from allennlp.common.checks import ConfigurationError
from allennlp.data import Instance, TextFieldTensors, Vocabulary
from allennlp.models.model import Model
from allennlp.nn import InitializerApplicator

from sledgehammer.metrics.tagging_metrics import TaggingMetrics
from sledgehammer.models.early_exit_model import EarlyExitModel
from sledgehammer.modules.exit_losses import exit_loss_weights
from sledgehammer.models.tagger_exit_loop import (
    run_every_layer,
    run_to_exit,
    run_with_early_exit,
    run_with_exit_plan,
)
from sledgehammer.models.tagger_initial_archive import load_initial_archive
from sledgehammer.models.tagger_outputs import check_known_tags, human_readable
from sledgehammer.models.tagger_self_sampling import SelfSampling, planned_loss
from sledgehammer.modules.tagging_cost import TaggingInferenceCost
from sledgehammer.modules.token_halting import check_exit_mode, check_window

logger = logging.getLogger(__name__)


@Model.register("sledgehammer_tagger")
class EarlyExitTagger(EarlyExitModel):
    """
    A pretrained transformer encoder with a token classifier ("exit") on several of its layers, trained jointly,
    that stops computing for a sentence, or for single words, once the exits are certain enough (Li et al.,
    ACL 2021, "Accelerating BERT Inference for Sequence Labeling via Early-Exit").

    Each exit is dropout and a linear layer over each word's first word piece (from the mismatched indexer's
    `offsets`; a word without word pieces reads the first token). Training runs every layer up to the highest
    exit; the loss combines the exits' cross-entropies, each averaged over the real words of the batch. In
    evaluation and prediction, at exit `k`, the exit policy scores every running word from its calibrated
    probabilities `softmax(logits_j / temperature_j)` at exits `0 … k` (the policy's own `score`, one row per
    word), and a word is certain when its score reaches the exit's threshold (`threshold`, or the
    `upper_uncertainty_factor` schedule, see `token_halting.exit_thresholds`). Then, by `exit_mode`:

    * `"sentence"`: a sentence answers at exit `k` when all its words are certain; it leaves the batch.
    * `"token"`: a word halts when every word within `window // 2` positions of it in its sentence is certain
      (words halted earlier count as certain). A halted word keeps its answer from that exit, and its word
      pieces keep their hidden states in every higher layer, where they still serve as keys and values, but
      their queries, attention output and feed-forward are not computed (`run_layer_for_tokens`). Special tokens
      ([CLS], [SEP]) run as long as their sentence does; a sentence whose words have all halted leaves the batch.

    The last exit always answers. Threshold 1.0 never exits early; 0.0 answers every word at the first exit.

    Self-sampling fine-tuning (Li et al.'s stage 2): with `initial_archive` the model starts from a trained
    tagger's weights, and the `sledgehammer_self_sampling` trainer callback sets `self_sampling`; then each
    training batch runs token-level exit with halting exits decided in advance (`SelfSampling.exit_plan`: the
    halting rule replayed on the stage-1 model's cached scores with a sampled window and threshold), halted words'
    pieces keep their states as at inference (`run_with_exit_plan`), and the loss is `planned_loss` (each exit's
    cross-entropy over the words still running there).

    Registered as a `Model` with name "sledgehammer_tagger".

    # Parameters

    vocab : `Vocabulary`
    transformer_model : `str`
        Hugging Face name or local folder of the encoder; must be the dataset reader's. Token-level exit needs
        a BERT-layout encoder (BERT, MiniLM, RoBERTa, XLM-R, CamemBERT, ELECTRA).
    exit_layers : `List[int]`, optional (default = `None`)
        0-based encoder layers with an exit, as for `sledgehammer_classifier`; `None` is every layer.
    exit_policy : `ExitPolicy`, optional (default = `None`)
        How certain a word is: `{"type": "confidence"}` (the default: its largest probability), `"entropy"`
        (1 - normalised entropy, Li et al.'s measure), `"patience"`, `"agreement"` (from the word's history of
        probabilities over the exits). Top-level override `{"exit_policy": {...}}`.
    threshold : `float`, optional (default = `None`)
        The policy's runtime knob in [0, 1]; replaces the policy's own threshold. Top-level override
        `{"threshold": 0.9}`. With neither, 1.0.
    temperatures : `List[float]`, optional (default = `None`)
        One positive temperature per exit; `None` is 1.0 for all.
    window : `int`, optional (default = `1`)
        Odd window of the token-level rule (1: a word halts when it is certain itself). Override `{"window": 5}`.
    exit_mode : `str`, optional (default = `"sentence"`)
        `"sentence"` or `"token"`. Override `{"exit_mode": "token"}`.
    upper_uncertainty_factor : `float`, optional (default = `1.0`)
        Exits on the upper half of the layers use the threshold `max(0, 1 - factor * (1 - threshold))`: with the
        entropy policy, 2.0 is Li et al.'s "twice the threshold in the upper half". Override at load time too.
    dropout : `float`, optional (default = `0.1`)
    loss_weighting : `str`, optional (default = `"depth"`)
        `"depth"`: `sum_i (l_i + 1) CE_i / sum_i (l_i + 1)` over exit layers `l_i` (Li et al.); `"sum"`: plain sum.
    label_namespace : `str`, optional (default = `"labels"`)
        Must be a non-padded namespace, so that a tag unknown to the model is an error, never an OOV index.
    load_weights : `bool`, optional (default = `True`)
        Whether to load the encoder's pretrained weights; off when loading an archive.
    initializer : `InitializerApplicator`, optional (default = `InitializerApplicator()`)
        Applied to the exit heads only.
    initial_archive : `str`, optional (default = `None`)
        A trained `sledgehammer_tagger`'s `model.tar.gz` whose weights the model starts from (it must have the same
        encoder, exit layers and tags; see `load_initial_archive`). Loading a trained model ignores it.
    """

    default_predictor = "sledgehammer_tagger"

    runtime_keys = EarlyExitModel.runtime_keys + ("window", "exit_mode", "upper_uncertainty_factor")
    setting_names = EarlyExitModel.setting_names + ("window", "exit_mode", "upper_uncertainty_factor")

    def __init__(
        self,
        vocab: Vocabulary,
        transformer_model: str,
        window: int = 1,
        exit_mode: str = "sentence",
        upper_uncertainty_factor: float = 1.0,
        dropout: float = 0.1,
        loss_weighting: str = "depth",
        load_weights: bool = True,
        initializer: Optional[InitializerApplicator] = None,
        initial_archive: Optional[str] = None,
        **kwargs,
    ) -> None:
        # `exit_layers`, `exit_policy`, `threshold`, `temperatures` and `label_namespace` go to the shared core
        # (`EarlyExitModel`), whose parameters AllenNLP reads through `**kwargs`.
        super().__init__(vocab, transformer_model, load_weights=load_weights and not initial_archive, **kwargs)
        label_namespace = self._label_namespace
        if vocab.is_padded(label_namespace):
            raise ConfigurationError(
                f"the tag namespace {label_namespace!r} is padded, so unknown tags would silently become its OOV "
                f"tag; use a non-padded namespace (by default names ending in 'tags' or 'labels')"
            )
        if self._num_labels < 2:
            raise ConfigurationError(
                f"the {label_namespace!r} vocabulary has {self._num_labels} tag(s); a tagger needs 2 or more"
            )
        self._dropout = torch.nn.Dropout(dropout)
        hidden = self._encoder.hidden_size
        self._exit_classifiers = torch.nn.ModuleList(
            [torch.nn.Linear(hidden, self._num_labels) for _ in self._exit_layers]
        )
        # Li et al.: depth weights that add up to 1.
        weights = exit_loss_weights(self._exit_layers, loss_weighting, depth_total=1.0)
        self.register_buffer("_loss_weights", torch.tensor(weights), persistent=False)
        self.window = window
        self.exit_mode = exit_mode
        self.upper_uncertainty_factor = upper_uncertainty_factor
        # Set by the sledgehammer_self_sampling trainer callback during self-sampling fine-tuning.
        self.self_sampling: Optional[SelfSampling] = None
        self._cost = TaggingInferenceCost(
            hidden, self._encoder.intermediate_size, self._num_labels, has_pooler=False, mean_pooling=False
        )
        self._metrics = TaggingMetrics(vocab, label_namespace, self._exit_layers)
        (initializer or InitializerApplicator())(self._exit_classifiers)
        if initial_archive is not None and load_weights:
            load_initial_archive(self, initial_archive)

    # ---- runtime settings ---------------------------------------------------------------------------

    @property
    def window(self) -> int:
        return self._window

    @window.setter
    def window(self, value: int) -> None:
        self._window = check_window(value)

    @property
    def exit_mode(self) -> str:
        return self._exit_mode

    @exit_mode.setter
    def exit_mode(self, value: str) -> None:
        check_exit_mode(value)
        if value == "token" and not self._encoder.supports_token_halting():
            raise ConfigurationError(
                f"exit_mode 'token' needs a BERT-layout encoder; this one is a {self._encoder.family!r} model"
            )
        self._exit_mode = value

    @property
    def upper_uncertainty_factor(self) -> float:
        return self._upper_uncertainty_factor

    @upper_uncertainty_factor.setter
    def upper_uncertainty_factor(self, value: float) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < float("inf"):
            raise ConfigurationError(f"upper_uncertainty_factor must be a finite number >= 0, got {value!r}")
        self._upper_uncertainty_factor = float(value)

    @property
    def main_metric(self) -> str:
        """The name of the quality metric the tagger reports first (`"f1"` for spans, `"accuracy"` otherwise)."""
        return self._metrics.main_key

    # ---- forward ------------------------------------------------------------------------------------

    def forward(  # type: ignore
        self,
        tokens: TextFieldTensors,
        tags: Optional[torch.LongTensor] = None,
        metadata: Optional[List[Dict[str, Any]]] = None,
        threshold: Optional[torch.Tensor] = None,
    ) -> Dict[str, torch.Tensor]:
        """
        # Parameters

        tokens : `TextFieldTensors`
            From a `TextField` indexed by a `pretrained_transformer_mismatched` indexer under `"tokens"`.
        tags : `torch.LongTensor`, optional (default = `None`)
            Gold tag indices, `(batch, words)`.
        metadata : `List[Dict[str, Any]]`, optional (default = `None`)
            The readers' metadata; its `"words"` are passed to the output.
        threshold : `torch.Tensor`, optional (default = `None`)
            One threshold per sentence, `(batch,)`, in place of the model's `threshold` (the predictor adds one to
            each instance whose input holds `"threshold"`), so that sentences with different thresholds share a batch.

        # Returns

        An output dictionary of `(batch, words, ...)` tensors: `logits` and `probs` of each word's answering exit
        (after temperature scaling; 0 and uniform on padding), `tags` (predicted indices), `confidence` (max of
        `probs`), `exit_index` (0-based among exits), `exit_layer`, `layers_run`, `mask` (real words),
        `exit_logits` `(batch, words, exits, labels)` (raw, NaN where an exit did not run for a word), `words`
        when metadata is given, and `loss` when tags are given.
        """
        inputs, state, first_piece, word_mask = self.embed_words(tokens)
        row_thresholds = self.row_thresholds(threshold, word_mask.shape[0])
        early_exit = self.exits_early(row_thresholds)
        planned = self.training and self.self_sampling is not None
        flops = None
        if early_exit:
            exit_logits, exit_index, flops = run_with_early_exit(
                self, state, first_piece, inputs["offsets"], word_mask, row_thresholds
            )
        elif planned:
            exit_index = self.self_sampling.exit_plan(self, metadata, word_mask)  # type: ignore
            exit_logits, _ = run_with_exit_plan(self, state, first_piece, inputs["offsets"], word_mask, exit_index)
        else:
            all_heads = self.training or tags is not None or self.run_all_exit_heads
            exit_logits = run_every_layer(self, state, first_piece, all_heads)
            exit_index = torch.full_like(first_piece, self.num_exits - 1)
        output = self._answer(exit_logits, exit_index, word_mask)
        if metadata is not None:
            output["words"] = [entry["words"] for entry in metadata]
        if not self.training:
            self._update_exit_statistics(inputs["wordpiece_mask"].bool(), output, flops)
        if tags is not None:
            if early_exit:
                output["loss"] = self._cross_entropy(output["logits"], tags, word_mask)
            elif planned:
                output["loss"] = planned_loss(self._loss_weights, exit_logits, exit_index, tags, word_mask)
            else:
                losses = torch.stack([self._cross_entropy(exit_logits[:, :, k], tags, word_mask)
                                      for k in range(self.num_exits)])
                output["loss"] = (losses * self._loss_weights).sum()
                for k in range(self.num_exits):
                    self._metrics.exit(k, exit_logits[:, :, k], tags, word_mask)
            self._metrics.answer(output["logits"], tags, word_mask)
        return output

    def forward_with_exit_plan(
        self, tokens: TextFieldTensors, exit_index: torch.Tensor, tags: Optional[torch.LongTensor] = None
    ) -> Dict[str, torch.Tensor]:
        """
        Like `forward` in evaluation with token-level exit, but each word halts at a given exit: `exit_index`
        `(batch, words)`, 0-based among exits (e.g. an oracle's choice). Halted words' pieces keep their states
        as at inference (`run_with_exit_plan`). Updates the metrics and exit statistics like `forward`.
        """
        inputs, state, first_piece, word_mask = self.embed_words(tokens)
        exit_index = torch.where(word_mask, exit_index, torch.full_like(exit_index, self.num_exits - 1))
        exit_logits, flops = run_with_exit_plan(self, state, first_piece, inputs["offsets"], word_mask, exit_index)
        output = self._answer(exit_logits, exit_index, word_mask)
        self._update_exit_statistics(inputs["wordpiece_mask"].bool(), output, flops)
        if tags is not None:
            self._metrics.answer(output["logits"], tags, word_mask)
        return output

    def plain_forward_logits(self, tokens: TextFieldTensors) -> torch.Tensor:
        """
        Raw logits `(batch, words, labels)` of the last exit after one ordinary forward call of the encoder through
        every kept layer, with no exit logic: the "full model" baseline for speed comparisons.
        """
        inputs = tokens["tokens"]
        hidden = self._encoder.plain_forward(inputs["token_ids"], inputs["wordpiece_mask"], inputs.get("type_ids"))
        return self.exit_head(self.num_exits - 1, self.word_vectors(hidden, inputs["offsets"][..., 0].clamp(min=0)))

    def static_exit_logits(self, tokens: TextFieldTensors, k: int) -> torch.Tensor:
        """Raw logits `(batch, words, labels)` of exit `k` used alone (the layers up to it, then its head)."""
        _, state, first_piece, _ = self.embed_words(tokens)
        return run_to_exit(self, state, first_piece, k)

    def embed_words(self, tokens: TextFieldTensors) -> Tuple[Dict[str, torch.Tensor], Any, torch.Tensor, torch.Tensor]:
        """The indexed inputs, the embedded state, each word's first piece and the word mask of a batch."""
        inputs = tokens["tokens"]
        state = self._encoder.embed(inputs["token_ids"], inputs["wordpiece_mask"], inputs.get("type_ids"))
        return inputs, state, inputs["offsets"][..., 0].clamp(min=0), inputs["mask"].bool()

    def word_vectors(self, hidden: torch.Tensor, first_piece: torch.Tensor) -> torch.Tensor:
        """`(rows, words, hidden)` first-piece vectors of `(rows, pieces, hidden)` states."""
        index = first_piece.unsqueeze(-1).expand(-1, -1, hidden.shape[-1])
        return hidden.gather(1, index)

    def exit_head(self, k: int, vectors: torch.Tensor) -> torch.Tensor:
        """Raw float logits of exit `k` for word vectors `(..., hidden)`."""
        return self._exit_classifiers[k](self._dropout(vectors)).float()

    def _answer(self, exit_logits: torch.Tensor, exit_index: torch.Tensor, mask: torch.Tensor) -> Dict[str, Any]:
        index = exit_index[:, :, None, None].expand(-1, -1, 1, self._num_labels)
        logits = exit_logits.gather(2, index).squeeze(2) / self._temperatures[exit_index].unsqueeze(-1)
        logits = logits.masked_fill(~mask.unsqueeze(-1), 0.0)
        probs = torch.softmax(logits, dim=-1)
        layers = torch.tensor(self._exit_layers, device=exit_index.device)[exit_index]
        return {
            "logits": logits,
            "probs": probs,
            "tags": probs.argmax(dim=-1),
            "confidence": probs.max(dim=-1).values,
            "exit_index": exit_index,
            "exit_layer": layers,
            "layers_run": layers + 1,
            "mask": mask,
            "exit_logits": exit_logits,
        }

    @staticmethod
    def _cross_entropy(logits: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Cross-entropy averaged over the real words of the batch."""
        return torch.nn.functional.cross_entropy(logits[mask], tags[mask].long())

    def _update_exit_statistics(
        self, piece_mask: torch.Tensor, output: Dict[str, Any], flops: Optional[torch.Tensor]
    ) -> None:
        """Exit statistics per word; each sentence's FLOPs (every layer's when `flops` is None) spread over its words."""
        cost = self._cost
        lengths = piece_mask.sum(dim=1)
        mask = output["mask"]
        words = mask.sum(dim=1)
        full = (cost.embedding_flops(lengths) + self._encoder.num_layers * cost.layer_flops(lengths)
                + cost.word_head_flops(words))
        flops = full if flops is None else flops
        per_word = (flops / words.clamp(min=1))[:, None].expand_as(mask)[mask]
        full_per_word = (full / words.clamp(min=1))[:, None].expand_as(mask)[mask]
        self._exit_statistics(output["exit_index"][mask], output["layers_run"][mask], per_word, full_per_word)

    # ---- output and metrics -------------------------------------------------------------------------

    def make_output_human_readable(self, output_dict: Dict[str, Any]) -> Dict[str, Any]:
        """Adds, per sentence, one entry per word: `tags` (strings), `confidences` and `exit_layers`."""
        return human_readable(self.vocab, self._label_namespace, output_dict)

    def get_metrics(self, reset: bool = False) -> Dict[str, float]:
        metrics = self._metrics.get_metric(reset)
        # Exit statistics (per word) describe inference; training batches do not count.
        if self._exit_statistics.rows > 0:
            metrics.update(self._exit_statistics.get_metric(reset))
        return metrics

    def forward_on_instances(self, instances: List[Instance]) -> List[Dict[str, Any]]:
        """Refuses gold tags the model does not know, naming the tag, before indexing could fail obscurely."""
        check_known_tags(self.vocab, self._label_namespace, instances)
        return super().forward_on_instances(instances)

    # ---- loading ------------------------------------------------------------------------------------

    @classmethod
    def _loading_parameters(cls, model_params: Dict[str, Any]) -> None:
        """A trained tagger is built from its archive's weights, never from its `initial_archive`."""
        model_params.pop("initial_archive", None)
