"""
Loading a trained model in int8 (`quantize`, a load-time key): the linear layers are quantized after the weights
are loaded, the answers stay close to fp32's, the precision is a read-only property, bad values are one-line
errors, and an archive without an int8 calibration still loads (with a log line saying so).
"""
import logging

import pytest
import torch
from allennlp.common.checks import ConfigurationError
from allennlp.models.archival import load_archive

from sledgehammer.commands.archive_inputs import read_labelled_instances
from sledgehammer.evaluation.exit_outputs import collect_exit_outputs


def linear_layers(model):
    plain = sum(1 for module in model.modules() if type(module) is torch.nn.Linear)
    quantized = sum(1 for module in model.modules() if isinstance(module, torch.nn.quantized.dynamic.Linear))
    return plain, quantized


@pytest.fixture(scope="module")
def both_precisions(tiny_trained_archive):
    fp32 = load_archive(tiny_trained_archive.archive)
    int8 = load_archive(tiny_trained_archive.archive, overrides={"quantize": "int8"})
    return fp32, int8


def test_int8_replaces_every_linear_layer_of_the_encoder_and_the_heads(both_precisions):
    fp32, int8 = both_precisions
    assert fp32.model.precision == "fp32" and int8.model.precision == "int8"
    plain, quantized = linear_layers(fp32.model)
    # 4 layers x 6 linear layers, the pooler's dense layer and 4 exit heads.
    assert (plain, quantized) == (4 * 6 + 1 + 4, 0)
    assert linear_layers(int8.model) == (0, plain)
    assert linear_layers(int8.model.encoder) == (0, 4 * 6 + 1)
    assert not int8.model.training
    # Each output channel of a weight has its own scale (one scale per matrix cost the SST-2 model 1.3 points).
    for module in int8.model.modules():
        if isinstance(module, torch.nn.quantized.dynamic.Linear):
            weight = module.weight()
            assert weight.qscheme() == torch.per_channel_affine
            assert weight.q_per_channel_scales().shape == (weight.shape[0],)


def test_int8_answers_close_to_fp32_but_not_identically(both_precisions, tiny_trained_archive, one_torch_thread):
    fp32, int8 = both_precisions
    instances = read_labelled_instances(fp32, tiny_trained_archive.dev_data, "DEV_DATA")
    exact = collect_exit_outputs(fp32.model, instances, batch_size=16).exit_logits
    quantized = collect_exit_outputs(int8.model, instances, batch_size=16).exit_logits
    difference = (exact - quantized).abs().max().item()
    assert 0.0 < difference < 0.05
    assert (exact.argmax(dim=-1) == quantized.argmax(dim=-1)).float().mean() >= 0.9
    # Dynamic quantization scales activations by their range in the batch, so compare on the same batch: the plain
    # forward pass and the layer-by-layer runner quantize alike.
    with torch.no_grad():
        plain = int8.model.plain_forward_logits(_tokens(int8.model, instances[:16]))
    assert torch.allclose(plain, quantized[:16, -1], atol=1e-5)


def _tokens(model, instances):
    from allennlp.data import Batch

    batch = Batch(instances)
    batch.index_instances(model.vocab)
    return batch.as_tensor_dict()["tokens"]


def test_precision_is_read_only(both_precisions):
    with pytest.raises(AttributeError):
        both_precisions[1].model.precision = "fp32"


@pytest.mark.parametrize("overrides", [{"quantize": "int4"}, {"model": {"quantize": "fp16"}}, {"quantize": 8}])
def test_a_bad_precision_is_a_one_line_error_naming_the_key_and_the_choices(tiny_trained_archive, overrides):
    with pytest.raises(ConfigurationError) as error:
        load_archive(tiny_trained_archive.archive, overrides=overrides)
    message = str(error.value)
    assert "\n" not in message.strip()
    assert "quantize must be one of 'fp32', 'int8'" in message


def test_fp32_is_the_default_and_can_be_asked_for(tiny_trained_archive):
    model = load_archive(tiny_trained_archive.archive, overrides={"model": {"quantize": "fp32"}}).model
    assert model.precision == "fp32" and linear_layers(model)[1] == 0


def test_int8_on_a_gpu_is_refused_before_anything_is_built(tiny_trained_archive):
    with pytest.raises(ConfigurationError, match="quantize 'int8' .* CPU only"):
        load_archive(tiny_trained_archive.archive, cuda_device=0, overrides={"quantize": "int8"})


def test_an_archive_without_int8_calibration_loads_in_int8_with_its_fp32_settings(tiny_trained_archive, caplog):
    fp32 = load_archive(tiny_trained_archive.archive, overrides={"threshold": 0.7}).model
    with caplog.at_level(logging.WARNING, logger="sledgehammer.models.precision"):
        int8 = load_archive(tiny_trained_archive.archive, overrides={"quantize": "int8", "threshold": 0.7}).model
    assert int8.precision == "int8"
    assert int8.temperatures == fp32.temperatures and int8.threshold == 0.7
    assert type(int8.exit_policy) is type(fp32.exit_policy)
    warnings = [record.getMessage() for record in caplog.records]
    assert any("no int8 calibration" in message and "--quantize int8" in message for message in warnings)


def test_a_tagger_loads_in_int8_and_tags_like_fp32(tiny_tagger_archive, one_torch_thread):
    from allennlp.predictors import Predictor

    sentence = {"sentence": "EU rejects German call to boycott British lamb ."}
    fp32 = load_archive(tiny_tagger_archive)
    int8 = load_archive(tiny_tagger_archive, overrides={"quantize": "int8"})
    assert int8.model.precision == "int8" and linear_layers(int8.model)[0] == 0
    exact = Predictor.from_archive(fp32).predict_json(sentence)
    quantized = Predictor.from_archive(int8).predict_json(sentence)
    assert len(quantized["tags"]) == len(exact["tags"]) == 9
    assert quantized["confidences"] == pytest.approx(exact["confidences"], abs=0.05)
    # Token-level exit runs the quantized layers on the running tokens alone.
    token_level = load_archive(tiny_tagger_archive, overrides={"quantize": "int8", "exit_mode": "token",
                                                               "window": 3, "threshold": 0.3})
    halted = Predictor.from_archive(token_level).predict_json(sentence)
    assert len(halted["tags"]) == 9 and min(halted["exit_layers"]) < max(token_level.model.exit_layers)
