"""
Runs a Hugging Face encoder one layer at a time.

This is the only module of sledgehammer that knows the internals of Hugging Face models: which attribute
holds the embeddings, the layer list and the pooler, and what each layer's `forward` expects. Everything else
talks to a `LayerwiseTransformer` through `embed`, `run_layer`, `pool` and `keep_rows`.
"""
import logging
import math
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
        model = self.model
        if self.family in ("distilbert", "mpnet"):
            hidden = model.embeddings(input_ids=token_ids)
        else:
            hidden = model.embeddings(input_ids=token_ids, token_type_ids=type_ids if self._uses_type_ids else None)
            if self.family == "electra" and hasattr(model, "embeddings_project"):
                hidden = model.embeddings_project(hidden)
        return self.state_of(hidden, mask)

    def state_of(self, hidden: torch.Tensor, mask: torch.Tensor) -> EncoderState:
        """
        The state of rows whose hidden states (`(rows, length, hidden_size)`, after the embeddings or any layer) are
        `hidden` and whose real tokens are `mask`, with the biases this family's layers read, as `embed` gives it.
        """
        mask = mask.bool()
        if self.family == "distilbert":
            return EncoderState(hidden=hidden, mask=mask)
        position_bias = self.model.encoder.compute_position_bias(hidden[:1]) if self.family == "mpnet" else None
        return EncoderState(hidden=hidden, mask=mask, attention_bias=self._attention_bias(mask, hidden.dtype),
                            position_bias=position_bias)

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

    # ---- token-level running (early exit for sequence labeling) ------------------------------------------

    def supports_token_halting(self) -> bool:
        """Whether `run_layer_for_tokens` can run this encoder: BERT-layout families with absolute positions."""
        if self.family not in _BERT_LAYOUT:
            return False
        return all(
            getattr(layer.attention.self, "position_embedding_type", "absolute") == "absolute" for layer in self.layers
        )

    def run_layer_for_tokens(self, index: int, state: EncoderState, running: torch.Tensor) -> EncoderState:
        """
        Runs layer `index` (0-based) for the `running` positions only (`(rows, length)` bool) and returns the
        state after it, in which every other position keeps its hidden state unchanged.

        Keys and values come from every position (halted tokens still inform the running ones; padding stays
        masked by the attention bias); the query projection, the attention itself, the attention output (dense
        and layer norm) and the feed-forward block run on the running positions alone, gathered into one packed
        `(running tokens, hidden)` tensor (the attention in a `(rows, most running in a row, ...)` layout), so
        the work skipped is not computed at all. With every position running the result equals `run_layer`.
        Rows without any running position still pay for their keys and values: drop them first (`keep_rows`).

        Only for BERT-layout encoders (BERT, MiniLM, RoBERTa, XLM-R, CamemBERT, ELECTRA) with absolute
        position embeddings; a `ConfigurationError` for other encoders.
        """
        if not self.supports_token_halting():
            raise ConfigurationError(
                f"token-level running supports BERT-layout encoders with absolute positions "
                f"({', '.join(sorted(_BERT_LAYOUT))}); this encoder is a {self.family!r} model"
            )
        layer = self.layers[index]
        attention = layer.attention.self
        hidden = state.hidden
        rows, length, _ = hidden.shape
        heads, head_size, width = attention.num_attention_heads, attention.attention_head_size, attention.all_head_size
        row_index, position = running.nonzero(as_tuple=True)
        if row_index.numel() == 0:
            return EncoderState(hidden, state.mask, state.attention_bias, state.position_bias)
        # The slot of each running token in its row's packed list of running tokens.
        slot = (running.long().cumsum(dim=1) - 1)[row_index, position]
        packed_length = int(slot.max()) + 1

        def split_heads(tensor: torch.Tensor) -> torch.Tensor:  # (rows, n, width) -> (rows, heads, n, head_size)
            return tensor.view(rows, -1, heads, head_size).transpose(1, 2)

        keys = split_heads(attention.key(hidden))
        values = split_heads(attention.value(hidden))
        inputs = hidden[row_index, position]  # (running tokens, hidden)
        queries = hidden.new_zeros(rows, packed_length, width)
        queries[row_index, slot] = attention.query(inputs)
        scores = torch.matmul(split_heads(queries), keys.transpose(-1, -2)) / math.sqrt(head_size)
        if state.attention_bias is not None:
            scores = scores + state.attention_bias
        weights = attention.dropout(torch.softmax(scores, dim=-1))
        context = torch.matmul(weights, values).transpose(1, 2).reshape(rows, packed_length, width)
        attended = layer.attention.output(context[row_index, slot], inputs)
        updated = layer.output(layer.intermediate(attended), attended)
        new_hidden = hidden.index_put((row_index, position), updated.to(hidden.dtype))
        return EncoderState(new_hidden, state.mask, state.attention_bias, state.position_bias)
