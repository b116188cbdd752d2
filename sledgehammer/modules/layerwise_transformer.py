"""
Runs a Hugging Face encoder one layer at a time.

This is the only module of sledgehammer that knows the internals of Hugging Face models: which attribute
holds the embeddings, the layer list and the pooler, and what each layer's `forward` expects. Everything else
talks to a `LayerwiseTransformer` through `embed`, `run_layer`, `pool` and `keep_rows`.
"""
import logging
from dataclasses import dataclass
from typing import Optional

import torch
import transformers
from allennlp.common.checks import ConfigurationError

logger = logging.getLogger(__name__)

# Encoders whose modules follow BERT's layout: `embeddings`, `encoder.layer[i](hidden, attention_mask)`,
# an optional `pooler`. MiniLM checkpoints are `BertModel`s.
_BERT_LAYOUT = {"bert", "roberta", "xlm-roberta", "camembert", "electra"}
_SUPPORTED = sorted(_BERT_LAYOUT | {"distilbert", "mpnet"})


@dataclass
class EncoderState:
    """
    The state between two layers for the rows still in the batch.

    `hidden` is `(rows, length, hidden_size)`, `mask` is `(rows, length)` (True for real tokens).
    `attention_bias` is the additive mask a BERT-style layer wants (`(rows, 1, 1, length)`), and
    `position_bias` MPNet's relative position bias (`(1, heads, length, length)`), when the family needs them.
    """

    hidden: torch.Tensor
    mask: torch.Tensor
    attention_bias: Optional[torch.Tensor] = None
    position_bias: Optional[torch.Tensor] = None


class LayerwiseTransformer(torch.nn.Module):
    """
    A pretrained transformer encoder cut after `num_layers` layers, run one layer at a time.

    # Parameters

    model_name : `str`
        A Hugging Face model name or a local folder with `config.json` (and `pytorch_model.bin` when
        `load_weights` is true). Supported families: BERT (and MiniLM), RoBERTa, XLM-R, CamemBERT,
        ELECTRA, DistilBERT, MPNet.
    num_layers : `int`, optional (default = `None`)
        How many of the encoder's layers to keep (counted from the bottom). `None` keeps them all.
        Layers above are dropped from memory and from the state dict.
    load_weights : `bool`, optional (default = `True`)
        Whether to load the pretrained weights. Loading a trained archive turns this off, since the
        archive's own weights replace them.
    """

    def __init__(self, model_name: str, num_layers: Optional[int] = None, load_weights: bool = True) -> None:
        super().__init__()
        config = transformers.AutoConfig.from_pretrained(model_name)
        self.family = config.model_type
        if self.family not in _SUPPORTED:
            raise ConfigurationError(
                f"{model_name!r} is a {self.family!r} model; sledgehammer supports {', '.join(_SUPPORTED)}"
            )
        if load_weights:
            model = transformers.AutoModel.from_pretrained(model_name)
        else:
            model = transformers.AutoModel.from_config(config)
        self.total_layers = len(self._layer_list(model))
        if num_layers is None:
            num_layers = self.total_layers
        if not 1 <= num_layers <= self.total_layers:
            raise ConfigurationError(
                f"cannot keep {num_layers} layers of {model_name!r}, which has {self.total_layers}"
            )
        self._keep_layers(model, num_layers)
        self.model = model
        self.num_layers = num_layers
        self.hidden_size = config.dim if self.family == "distilbert" else config.hidden_size
        self.intermediate_size = config.hidden_dim if self.family == "distilbert" else config.intermediate_size
        self.num_attention_heads = config.n_heads if self.family == "distilbert" else config.num_attention_heads
        self._uses_type_ids = getattr(config, "type_vocab_size", 0) > 1
        self.layers = self._layer_list(model)

    @staticmethod
    def count_layers(model_name: str) -> int:
        """The number of layers of the encoder `model_name`, read from its config alone."""
        config = transformers.AutoConfig.from_pretrained(model_name)
        return config.n_layers if config.model_type == "distilbert" else config.num_hidden_layers

    # ---- construction helpers -------------------------------------------------------------------------

    def _layer_list(self, model: transformers.PreTrainedModel) -> torch.nn.ModuleList:
        if self.family == "distilbert":
            return model.transformer.layer
        return model.encoder.layer

    def _keep_layers(self, model: transformers.PreTrainedModel, num_layers: int) -> None:
        kept = torch.nn.ModuleList(list(self._layer_list(model))[:num_layers])
        if self.family == "distilbert":
            model.transformer.layer = kept
            model.transformer.n_layers = num_layers
            model.config.n_layers = num_layers
        else:
            model.encoder.layer = kept
            model.config.num_hidden_layers = num_layers

    @property
    def has_pooler(self) -> bool:
        """Whether the encoder brings a pretrained pooler (dense + tanh over the first token)."""
        return getattr(self.model, "pooler", None) is not None

    # ---- running ------------------------------------------------------------------------------------

    def embed(
        self, token_ids: torch.Tensor, mask: torch.Tensor, type_ids: Optional[torch.Tensor] = None
    ) -> EncoderState:
        """Embeds a batch of word-piece ids (`(batch, length)`) into the state before layer 0."""
        mask = mask.bool()
        model = self.model
        if self.family == "distilbert":
            return EncoderState(hidden=model.embeddings(token_ids), mask=mask)
        if self.family == "mpnet":
            hidden = model.embeddings(input_ids=token_ids)
            return EncoderState(
                hidden=hidden,
                mask=mask,
                attention_bias=self._attention_bias(mask, hidden.dtype),
                position_bias=model.encoder.compute_position_bias(hidden[:1]),
            )
        hidden = model.embeddings(
            input_ids=token_ids, token_type_ids=type_ids if self._uses_type_ids else None
        )
        if self.family == "electra" and hasattr(model, "embeddings_project"):
            hidden = model.embeddings_project(hidden)
        return EncoderState(hidden=hidden, mask=mask, attention_bias=self._attention_bias(mask, hidden.dtype))

    @staticmethod
    def _attention_bias(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        return (~mask)[:, None, None, :].to(dtype) * torch.finfo(dtype).min

    def run_layer(self, index: int, state: EncoderState) -> EncoderState:
        """Runs layer `index` (0-based) on `state` and returns the state after it."""
        layer = self.layers[index]
        if self.family == "distilbert":
            hidden = layer(x=state.hidden, attn_mask=state.mask)[0]
        elif self.family == "mpnet":
            hidden = layer(state.hidden, state.attention_bias, None, state.position_bias)[0]
        else:
            hidden = layer(state.hidden, attention_mask=state.attention_bias)[0]
        return EncoderState(hidden, state.mask, state.attention_bias, state.position_bias)

    def plain_forward(
        self, token_ids: torch.Tensor, mask: torch.Tensor, type_ids: Optional[torch.Tensor] = None
    ) -> torch.Tensor:
        """
        The final hidden states `(batch, length, hidden)` from one ordinary Hugging Face forward call through
        every kept layer: the baseline that layer-by-layer running is measured against.
        """
        kwargs = {"input_ids": token_ids, "attention_mask": mask.long()}
        if self._uses_type_ids and type_ids is not None:
            kwargs["token_type_ids"] = type_ids
        return self.model(**kwargs)[0]

    def pool(self, first_token: torch.Tensor) -> torch.Tensor:
        """The pretrained pooler (dense + tanh) applied to `(rows, hidden)` first-token vectors, if any."""
        if not self.has_pooler:
            return first_token
        pooler = self.model.pooler
        return pooler.activation(pooler.dense(first_token))

    @staticmethod
    def keep_rows(state: EncoderState, rows: torch.Tensor) -> EncoderState:
        """
        Keeps only `rows` (indices into the current batch) and trims padding to the longest of them.
        Sequences are right-padded, so trimming the tail columns never drops a real token.
        """
        mask = state.mask.index_select(0, rows)
        length = max(int(mask.sum(dim=1).max()), 1)
        return EncoderState(
            hidden=state.hidden.index_select(0, rows)[:, :length],
            mask=mask[:, :length],
            attention_bias=None
            if state.attention_bias is None
            else state.attention_bias.index_select(0, rows)[..., :length],
            position_bias=None
            if state.position_bias is None
            else state.position_bias[:, :, :length, :length],
        )
