"""
The full model as an ONNX graph run by ONNX Runtime: the runtime a user wanting a cheaper encoder on CPU would try
instead of early exit. The graph computes what `plain_forward_logits` computes (the encoder through its last kept
layer and the last exit head) with dynamic batch and sequence axes; `quantize_graph` makes ONNX Runtime's dynamic
int8 version of it.

Needs the `bench` extra (`pip install -e '.[bench]'`: onnxruntime, onnx); importing this module without it is an
`ImportError` saying so.
"""
import os
from typing import Dict, List, Sequence

import numpy
import torch

try:
    import onnxruntime
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process
except ModuleNotFoundError as error:  # the bench extra is installed wherever the tests run
    raise ModuleNotFoundError(
        f"the ONNX Runtime comparison needs the bench extra: pip install -e '.[bench]' ({error})", name=error.name
    ) from None

from sledgehammer.models import EarlyExitClassifier

# The inputs of an exported graph, in order; a graph's encoder may not read the type ids (the export drops them).
TOKEN_INPUTS = ("token_ids", "mask", "type_ids")
OPSET = 14


class FullModelGraph(torch.nn.Module):
    """`model.plain_forward_logits` with plain tensor inputs (`TOKEN_INPUTS`), the form `torch.onnx.export` traces."""

    def __init__(self, model: EarlyExitClassifier) -> None:
        super().__init__()
        self.model = model

    def forward(self, token_ids: torch.Tensor, mask: torch.Tensor, type_ids: torch.Tensor) -> torch.Tensor:
        return self.model.plain_forward_logits({"tokens": {"token_ids": token_ids, "mask": mask, "type_ids": type_ids}})


def export_graph(module: torch.nn.Module, example: Sequence[torch.Tensor], input_names: Sequence[str],
                 output_name: str, path: str) -> str:
    """
    Exports `module` in evaluation mode (each submodule put back in its mode afterwards) to the ONNX file `path` with
    every input's and the output's first two axes dynamic (rows; tokens where there are any), and returns `path`.
    """
    modes = [(each, each.training) for each in module.modules()]
    module.eval()
    axes = {name: {0: "rows", 1: "tokens"} for name in input_names}
    axes[output_name] = {0: "rows"}
    try:
        with torch.no_grad():
            torch.onnx.export(module, tuple(example), path, input_names=list(input_names), output_names=[output_name],
                              dynamic_axes=axes, opset_version=OPSET)
    finally:
        for each, training in modes:  # each module's own mode (a new wrapper's is not the wrapped model's)
            each.training = training
    return path


def export_full_model(model: EarlyExitClassifier, tokens: Dict[str, torch.Tensor], path: str) -> str:
    """Exports the full model (`FullModelGraph`) traced on one batch's `tokens["tokens"]` tensors to `path`."""
    inputs = tokens["tokens"]
    example = [inputs["token_ids"], inputs["mask"], inputs.get("type_ids", torch.zeros_like(inputs["token_ids"]))]
    return export_graph(FullModelGraph(model), example, TOKEN_INPUTS, "logits", path)


def quantize_graph(fp32_path: str, int8_path: str, per_channel: bool = True) -> str:
    """
    ONNX Runtime's dynamic int8 quantization of the graph `fp32_path` (int8 weights of its matrix products,
    activations quantized on the fly) into `int8_path`, after ONNX Runtime's pre-processing (shape inference and
    graph optimisation; its symbolic shape inference does not follow these graphs, so it is skipped).

    `per_channel` (the default here, as PyTorch's `quantize: int8` does) gives each output channel of a weight its
    own scale; `False` is ONNX Runtime's own default, one scale per weight matrix.
    """
    prepared = f"{os.path.splitext(int8_path)[0]}.prepared.onnx"
    quant_pre_process(fp32_path, prepared, skip_symbolic_shape=True)
    quantize_dynamic(prepared, int8_path, weight_type=QuantType.QInt8, per_channel=per_channel)
    os.remove(prepared)
    return int8_path


def make_session(path: str, num_threads: int) -> "onnxruntime.InferenceSession":
    """
    A CPU session of the graph `path` with `num_threads` intra-op threads, one inter-op thread, all optimisations,
    and threads that sleep between runs: by default ONNX Runtime's pool spins after each run, which, timed
    interleaved with PyTorch on the same cores, takes them from the PyTorch call that comes next (measured on AG
    News: PyTorch's full model at batch 1 ran 3.5x slower beside spinning sessions than alone).
    """
    options = onnxruntime.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.intra_op_num_threads = num_threads
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    return onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def input_names(session: "onnxruntime.InferenceSession") -> List[str]:
    return [each.name for each in session.get_inputs()]


def session_feed(names: Sequence[str], tensors: Dict[str, torch.Tensor]) -> Dict[str, numpy.ndarray]:
    """The numpy inputs of a session reading `names` from `tensors` (contiguous, on the CPU; no copy when they are)."""
    return {name: tensors[name].detach().cpu().contiguous().numpy() for name in names}


def full_model_feed(session: "onnxruntime.InferenceSession", tokens: Dict[str, torch.Tensor]) -> Dict[str, numpy.ndarray]:
    """A full-model session's inputs from a batch's `tokens` (type ids as zeros for readers that give none)."""
    inputs = dict(tokens["tokens"])
    inputs.setdefault("type_ids", torch.zeros_like(inputs["token_ids"]))
    return session_feed(input_names(session), inputs)


def run_session(session: "onnxruntime.InferenceSession", feed: Dict[str, numpy.ndarray]) -> numpy.ndarray:
    """The first output of one session run (the logits of a full-model graph)."""
    return session.run(None, feed)[0]


def runtime_version() -> str:
    return onnxruntime.__version__
