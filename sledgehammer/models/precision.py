"""
The numeric precision a trained model runs in, and the calibration an archive keeps for each precision.

* `quantize`, a load-time key (`--overrides '{"quantize": "int8"}'`, or `load_archive(..., overrides=...)`):
  `"fp32"` (the default) or `"int8"`, PyTorch's dynamic int8 quantization of the encoder's and the exit heads'
  `torch.nn.Linear` layers (int8 weights, activations quantized on the fly), applied after the archive's
  weights are loaded (`EarlyExitModel._load`).
* An archive's model section holds the fp32 calibration as its own `temperatures`, `exit_policy` and `threshold`,
  and may hold, under `calibration`, one entry per other precision (`{"int8": {"temperatures": [...],
  "exit_policy": {...}, "threshold": 0.9}}`, written by `allennlp calibrate --quantize int8`). Quantization
  changes every exit's logits, so loading with `quantize: int8` uses the int8 entry in place of the fp32
  settings when there is one, and says in a log line when there is none.

`apply_calibration` is the one place that writes a calibration into a model section: `allennlp calibrate`
uses it for the fp32 settings, loading uses it for another precision's.
"""
import logging
from typing import Any, Dict, Iterable, Optional

import torch
from allennlp.common.checks import ConfigurationError

logger = logging.getLogger(__name__)

FP32 = "fp32"
INT8 = "int8"
PRECISIONS = (FP32, INT8)
# The load-time key, at the top of the config (as `--overrides` gives it) or in the model section.
QUANTIZE_KEY = "quantize"
# The model section's key holding the calibration of each precision other than fp32.
CALIBRATION_KEY = "calibration"
# What a calibration sets, each optional: the exit policy carries its own threshold; `threshold` replaces it.
CALIBRATED_SETTINGS = ("temperatures", "exit_policy", "threshold")


def check_precision(value: Any, key: str = QUANTIZE_KEY) -> str:
    """`value` if it is a precision name (`None` is fp32); else a one-line `ConfigurationError` naming `key`."""
    if value is None:
        return FP32
    if not isinstance(value, str) or value not in PRECISIONS:
        raise ConfigurationError(
            f"{key} must be one of {', '.join(repr(name) for name in PRECISIONS)}, got {value!r}"
        )
    return value


def quantize_linear_layers(modules: Iterable[torch.nn.Module]) -> int:
    """
    Replaces every `torch.nn.Linear` inside each of `modules` (in place) by its dynamically quantized int8
    version (`torch.quantization.quantize_dynamic`) and returns how many were replaced. Run it after the weights
    are loaded: a quantized layer's state dict no longer matches an fp32 checkpoint.

    Weights are quantized per output channel (one scale per row of the weight matrix, PyTorch's
    `per_channel_dynamic_qconfig`) rather than with one scale per matrix, which lost more than a point of the
    SST-2 model's accuracy at about the same speed (docs/cpu.md, "int8: one scale per output channel").
    """
    replaced = 0
    for module in modules:
        replaced += sum(1 for child in module.modules() if type(child) is torch.nn.Linear)
        torch.quantization.quantize_dynamic(
            module, {torch.nn.Linear: torch.quantization.per_channel_dynamic_qconfig}, dtype=torch.qint8, inplace=True
        )
    return replaced


def apply_calibration(model_params: Dict[str, Any], calibration: Dict[str, Any]) -> None:
    """
    Writes a calibration's settings (`temperatures`, `exit_policy`, `threshold`, each when present) into a model
    section. A stored exit policy carries its threshold, so it drops an older `threshold` of the section, unless
    the calibration gives one itself. Any other key of `calibration` is a `ConfigurationError`.
    """
    unknown = sorted(set(calibration) - set(CALIBRATED_SETTINGS))
    if unknown:
        raise ConfigurationError(
            f"a calibration holds {', '.join(CALIBRATED_SETTINGS)}; got the unknown key(s) {', '.join(unknown)}"
        )
    if "temperatures" in calibration:
        model_params["temperatures"] = calibration["temperatures"]
    if "exit_policy" in calibration:
        model_params["exit_policy"] = calibration["exit_policy"]
        model_params.pop("threshold", None)
    if "threshold" in calibration:
        model_params["threshold"] = calibration["threshold"]


def stored_calibration(model_params: Dict[str, Any], precision: str) -> Optional[Dict[str, Any]]:
    """The calibration a model section keeps for `precision` (fp32: `None`, its own settings are it)."""
    if precision == FP32:
        return None
    sections = model_params.get(CALIBRATION_KEY) or {}
    if not isinstance(sections, dict):
        raise ConfigurationError(
            f"model.{CALIBRATION_KEY} must be an object with one entry per precision, got {sections!r}"
        )
    return sections.get(precision)


def use_calibration_of(model_params: Dict[str, Any], precision: str) -> None:
    """
    Before a trained model is built: takes the per-precision `calibration` section out of its parameters and, for
    a precision other than fp32, applies that precision's entry (or logs that the fp32 calibration stays).
    """
    calibration = stored_calibration(model_params, precision)
    model_params.pop(CALIBRATION_KEY, None)
    if precision == FP32:
        return
    if calibration is None:
        logger.warning(
            "%s: the archive has no %s calibration (model.%s.%s), so the model uses its fp32 temperatures, exit "
            "policy and threshold, which quantization makes less accurate; run `allennlp calibrate ARCHIVE DEV_DATA "
            "--quantize %s` to fit them", QUANTIZE_KEY, precision, CALIBRATION_KEY, precision, precision,
        )
        return
    logger.info("%s: using the archive's %s calibration (model.%s.%s)", QUANTIZE_KEY, precision, CALIBRATION_KEY,
                precision)
    apply_calibration(model_params, calibration)
