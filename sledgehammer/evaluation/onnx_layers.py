"""
Early exit on ONNX Runtime: the embeddings and each group of encoder layers between two exits as an ONNX Runtime
session of its own, behind the encoder runner's interface (`OnnxLayerGroups`), so that the classifier's own exit loop
(`model.using_encoder(runner)`) decides in Python after each group and drops the rows that answered, exactly as it
does with the PyTorch runner. The exit heads (pooler and linear layer) stay the model's PyTorch modules.

Needs the `bench` extra, as `sledgehammer.evaluation.onnx_runtime`.
"""
import os
from typing import Dict, List, Optional, Tuple

import torch

from sledgehammer.evaluation.onnx_runtime import (
    TOKEN_INPUTS,
    export_graph,
    input_names,
    make_session,
    quantize_graph,
    session_feed,
)
from sledgehammer.models import EarlyExitClassifier
from sledgehammer.modules.layerwise_transformer import EncoderState, LayerwiseTransformer


class _EmbeddingGraph(torch.nn.Module):
    def __init__(self, runner: LayerwiseTransformer) -> None:
        super().__init__()
        self.runner = runner

    def forward(self, token_ids: torch.Tensor, mask: torch.Tensor, type_ids: torch.Tensor) -> torch.Tensor:
        return self.runner.embed(token_ids, mask, type_ids).hidden


class _LayerGroupGraph(torch.nn.Module):
    """Encoder layers `first` to `last` (0-based, inclusive) from the hidden states before `first` and the mask."""

    def __init__(self, runner: LayerwiseTransformer, first: int, last: int) -> None:
        super().__init__()
        self.runner, self.first, self.last = runner, first, last

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        state = self.runner.state_of(hidden, mask)
        for index in range(self.first, self.last + 1):
            state = self.runner.run_layer(index, state)
        return state.hidden


def layer_groups(exit_layers: List[int]) -> List[Tuple[int, int]]:
    """The groups of layers between exits, `(first, last)` each: `[1, 3]` gives `[(0, 1), (2, 3)]`."""
    firsts = [0] + [layer + 1 for layer in exit_layers[:-1]]
    return list(zip(firsts, exit_layers))


class OnnxLayerGroups(torch.nn.Module):
    """
    The encoder runner's interface (`embed`, `run_layer`, `keep_rows`, `pool`, `num_layers`, `has_pooler`) on ONNX
    Runtime sessions: `embed` runs the embedding session; `run_layer(i)` runs the session of the group of layers that
    ends at layer `i` (an exit layer) and passes the state through for the other layers, which the group's session
    runs; the pooler is the PyTorch runner's. A `torch.nn.Module` without parameters, so that a model can hold it in
    place of its `LayerwiseTransformer`.

    # Parameters

    runner : `LayerwiseTransformer`
        The model's own runner (for its pooler and facts).
    embedding : `onnxruntime.InferenceSession`
    groups : `Dict[int, onnxruntime.InferenceSession]`
        By the last layer of each group.
    """

    def __init__(self, runner: LayerwiseTransformer, embedding, groups: Dict[int, object]) -> None:
        super().__init__()
        self._runner = [runner]  # in a list: not a submodule, so the model's parameters are not counted twice
        self.num_layers = runner.num_layers
        self._embedding, self._groups = embedding, groups
        self._embedding_inputs = input_names(embedding)
        self._group_inputs = ("hidden", "mask")

    @property
    def has_pooler(self) -> bool:
        return self._runner[0].has_pooler

    def embed(self, token_ids: torch.Tensor, mask: torch.Tensor, type_ids: Optional[torch.Tensor] = None
              ) -> EncoderState:
        tensors = {"token_ids": token_ids, "mask": mask.bool(),
                   "type_ids": torch.zeros_like(token_ids) if type_ids is None else type_ids}
        hidden = self._embedding.run(None, session_feed(self._embedding_inputs, tensors))[0]
        return EncoderState(torch.from_numpy(hidden), mask.bool())

    def run_layer(self, index: int, state: EncoderState) -> EncoderState:
        session = self._groups.get(index)
        if session is None:  # inside a group: its session runs at the group's last layer
            return state
        hidden = session.run(None, session_feed(self._group_inputs, {"hidden": state.hidden, "mask": state.mask}))[0]
        return EncoderState(torch.from_numpy(hidden), state.mask)

    keep_rows = staticmethod(LayerwiseTransformer.keep_rows)

    def pool(self, first_token: torch.Tensor) -> torch.Tensor:
        return self._runner[0].pool(first_token)


def export_layer_groups(model: EarlyExitClassifier, tokens: Dict[str, torch.Tensor], folder: str, num_threads: int,
                        int8: bool = False) -> OnnxLayerGroups:
    """
    Exports the embeddings and each group of layers between exits of `model` (traced on one batch's `tokens`) to
    ONNX files in `folder` (ONNX Runtime's dynamic int8 versions with `int8`) and returns the runner on their sessions.
    """
    runner = model.encoder
    inputs = tokens["tokens"]
    ids, mask = inputs["token_ids"], inputs["mask"].bool()
    type_ids = inputs.get("type_ids", torch.zeros_like(ids))
    suffix = "_int8" if int8 else ""

    def session(module: torch.nn.Module, example, names, name: str):
        path = export_graph(module, example, names, "output", os.path.join(folder, f"{name}.onnx"))
        if int8:
            path = quantize_graph(path, os.path.join(folder, f"{name}{suffix}.onnx"))
        return make_session(path, num_threads)

    embedding = session(_EmbeddingGraph(runner), [ids, mask, type_ids], TOKEN_INPUTS, "embedding")
    with torch.no_grad():
        hidden = runner.embed(ids, mask, type_ids).hidden
    groups = {}
    for first, last in layer_groups(model.exit_layers):
        graph = _LayerGroupGraph(runner, first, last)
        groups[last] = session(graph, [hidden, mask], ("hidden", "mask"), f"layers_{first}_{last}")
        with torch.no_grad():
            hidden = graph(hidden, mask)
    return OnnxLayerGroups(runner, embedding, groups)
