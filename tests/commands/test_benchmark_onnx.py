"""
The ONNX Runtime peer (`scripts/benchmark_onnx.py`, `sledgehammer.evaluation.onnx_runtime` and `onnx_layers`) on the
tiny trained classifier: the exported full model gives PyTorch's logits at other batch and sequence sizes, the
model's own exit loop on ONNX Runtime layer groups answers as on PyTorch, and the script writes its report.
Needs the `bench` extra, which `make install` installs.
"""
import json
import subprocess
import sys

import numpy
import pytest
import torch
from allennlp.common.checks import ConfigurationError
from allennlp.models.archival import load_archive

from sledgehammer.evaluation import onnx_runtime as ort
from sledgehammer.evaluation.onnx_layers import export_layer_groups, layer_groups
from sledgehammer.evaluation.timing import build_batches
from tests.conftest import ROOT

SCRIPT = ROOT / "scripts" / "benchmark_onnx.py"
SENTENCES = ["good", "bad film", "the dog plays in the park with a cat", "awful , boring , dull movie . really",
             "a very very funny story about a man and a woman who play a game in the street at the market", "fun"]

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def classifier(tiny_trained_archive):
    archive = load_archive(tiny_trained_archive.archive)
    archive.model.eval()
    reader = archive.validation_dataset_reader
    instances = [reader.text_to_instance(text=sentence) for sentence in SENTENCES]
    for instance in instances:
        reader.apply_token_indexers(instance)
    return archive.model, instances


def test_the_exported_full_model_gives_pytorchs_logits_at_any_batch_and_length(classifier, tmp_path):
    model, instances = classifier
    example = build_batches(model, instances[:2], 2, -1)[0]["tokens"]  # two short rows: 3 and 4 word pieces
    graph = ort.export_full_model(model, example, str(tmp_path / "full.onnx"))
    assert not model.training
    int8_graph = ort.quantize_graph(graph, str(tmp_path / "full_int8.onnx"))
    fp32, int8 = ort.make_session(graph, 1), ort.make_session(int8_graph, 1)
    # Per channel by default (a scale for each output channel of a weight), per tensor as ONNX Runtime's default.
    per_tensor_graph = ort.quantize_graph(graph, str(tmp_path / "per_tensor.onnx"), per_channel=False)
    assert max_scale_size(int8_graph) > 1
    assert max_scale_size(per_tensor_graph) == 1
    lengths = set()
    for size in (1, 4, 6):
        for batch in build_batches(model, instances, size, -1):
            lengths.add(tuple(batch["tokens"]["tokens"]["token_ids"].shape))
            with torch.no_grad():
                expected = model.plain_forward_logits(batch["tokens"]).numpy()
            assert abs(ort.run_session(fp32, ort.full_model_feed(fp32, batch["tokens"])) - expected).max() < 1e-5
            quantized = ort.run_session(int8, ort.full_model_feed(int8, batch["tokens"]))
            assert 0 < abs(quantized - expected).max() < 0.05
    assert len(lengths) >= 5  # several batch sizes and sequence lengths went through the same graph


def max_scale_size(path):
    """The most values a weight-scale initializer of a quantized graph holds (1 when every scale is a matrix's)."""
    import onnx  # the bench extra, as onnxruntime

    graph = onnx.load(path).graph
    return max(int(numpy.prod(each.dims)) for each in graph.initializer if each.name.endswith("_scale"))


def test_layer_groups_end_at_the_exits():
    assert layer_groups([0, 1, 2, 3]) == [(0, 0), (1, 1), (2, 2), (3, 3)]
    assert layer_groups([1, 3]) == [(0, 1), (2, 3)]


@pytest.mark.parametrize("threshold", [0.5, 0.51, 1.0])
def test_the_exit_loop_on_onnx_layer_groups_answers_as_on_pytorch(classifier, tmp_path, threshold):
    model, instances = classifier
    example = build_batches(model, instances[:2], 2, -1)[0]["tokens"]
    runner = export_layer_groups(model, example, str(tmp_path), num_threads=1)
    batch = build_batches(model, instances, 6, -1)[0]
    with torch.no_grad(), model.settings(threshold=threshold, all_heads=True):
        expected = model(tokens=batch["tokens"])
        with model.using_encoder(runner):
            assert model.encoder is runner
            answered = model(tokens=batch["tokens"])
    assert model.encoder is not runner
    assert answered["exit_index"].tolist() == expected["exit_index"].tolist()
    reached = ~torch.isnan(expected["exit_logits"])
    assert torch.equal(reached, ~torch.isnan(answered["exit_logits"]))
    assert torch.allclose(answered["exit_logits"][reached], expected["exit_logits"][reached], atol=1e-5)


def test_using_encoder_checks_the_runner_and_puts_the_encoder_back_after_an_error(classifier):
    model, _ = classifier
    encoder = model.encoder
    with pytest.raises(ConfigurationError, match="must run the model's 4 encoder layers"):
        with model.using_encoder(torch.nn.Identity()):
            pass
    with pytest.raises(RuntimeError):
        stand_in = torch.nn.Module()
        stand_in.num_layers = 4
        with model.using_encoder(stand_in):
            raise RuntimeError("stop")
    assert model.encoder is encoder


def test_the_benchmark_script_times_every_variant_and_checks_the_graph(tiny_trained_archive, tmp_path):
    output = tmp_path / "results" / "onnx.json"
    output.parent.mkdir()
    result = subprocess.run(
        [sys.executable, str(SCRIPT), tiny_trained_archive.archive, tiny_trained_archive.dev_data, "--output",
         str(output), "--threshold", "0.6", "--batch-size", "4", "--num-threads", "1", "--max-rows", "12",
         "--per-layer", "--keep-graphs", str(tmp_path / "graphs")],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(output.read_text())
    assert report["num_rows"] == 12 and report["num_threads"] == 1 and report["thresholds"]["int8"] == 0.6
    assert report["check"]["ort_fp32_matches_pytorch"] and report["check"]["max_abs_logit_difference"][
        "ort_fp32_full"] < 1e-5
    assert set(report["variants"]) == {
        "pytorch_fp32_full", "pytorch_fp32_early_exit", "pytorch_int8_full", "pytorch_int8_early_exit",
        "ort_fp32_full", "ort_int8_full", "ort_int8_per_tensor_full", "ort_fp32_layers_early_exit",
        "ort_int8_layers_early_exit"}
    for variant in report["variants"].values():
        for suffix in ("b1", "bN"):
            assert variant[suffix]["seconds_per_row"] > 0 and 0 <= variant[suffix]["accuracy"] <= 1
    assert report["variants"]["pytorch_fp32_full"]["b1"]["speedup"] == 1.0
    # The full model's accuracy is the same in PyTorch and ONNX Runtime fp32.
    assert report["variants"]["ort_fp32_full"]["bN"]["accuracy"] == report["variants"]["pytorch_fp32_full"]["bN"][
        "accuracy"]
    assert (tmp_path / "graphs" / "full_int8.onnx").is_file() and (tmp_path / "graphs" / "layers_3_3.onnx").is_file()
    assert "| ort_int8_full |" in result.stdout
