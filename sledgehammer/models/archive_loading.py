"""
How a trained early-exit model comes out of an archive (`EarlyExitModel._load`, a mixin of the model core): the
load-time key `quantize` and the calibration of that precision, the runtime keys an archive's config may override,
and the quantization of the linear layers once the weights are in.
"""
import logging
from os import PathLike
from typing import Any, Dict, Optional, Union

from allennlp.common.checks import ConfigurationError
from allennlp.common.params import Params
from allennlp.models.model import Model

from sledgehammer.models.precision import INT8, QUANTIZE_KEY, check_precision, quantize_linear_layers, use_calibration_of

logger = logging.getLogger(__name__)


class ArchiveLoading:
    """
    The loading part of `EarlyExitModel` (which lists its `runtime_keys`): mixed in before AllenNLP's `Model`, whose
    `_load` builds the model and loads its weights.
    """

    runtime_keys: tuple = ()

    @classmethod
    def _load(
        cls,
        config: Params,
        serialization_dir: Union[str, PathLike],
        weights_file: Optional[Union[str, PathLike]] = None,
        cuda_device: int = -1,
    ) -> "Model":
        """
        Loads a trained model. The load-time key `quantize` (top level, as `--overrides '{"quantize": "int8"}'`
        gives it, or in the model section) picks the precision: with `"int8"` the archive's int8 calibration
        (`model.calibration.int8`) replaces the fp32 temperatures, exit policy and threshold when there is one,
        and the encoder's and exit heads' linear layers are quantized once the weights are loaded. Then the
        top-level config keys in `runtime_keys` (as `--overrides '{"threshold": 0.9}'` gives them) are moved into
        the model's parameters, so they override either calibration, and the encoder is built without reading its
        pretrained weights, which the archive replaces anyway.
        """
        config = config.duplicate()
        model_params = config.params["model"]
        given = config.params.pop(QUANTIZE_KEY, None)
        in_model = model_params.pop(QUANTIZE_KEY, None)
        precision = check_precision(given if given is not None else in_model)
        if precision == INT8 and cuda_device >= 0:
            raise ConfigurationError(
                f"{QUANTIZE_KEY} {INT8!r} is PyTorch's dynamic quantization, which runs on the CPU only; "
                f"load with cuda_device -1 (got {cuda_device})"
            )
        use_calibration_of(model_params, precision)
        for key in cls.runtime_keys:
            if key in config.params:
                model_params[key] = config.params.pop(key)
        model_params["load_weights"] = False
        cls._loading_parameters(model_params)
        model = super()._load(config, serialization_dir, weights_file, cuda_device)
        if precision == INT8:
            model._quantize()
        return model

    def _quantize(self) -> None:
        """Quantizes the encoder's and the exit heads' linear layers to int8 (dynamic), in place, for inference."""
        replaced = quantize_linear_layers([self._encoder, self._exit_classifiers])
        self._precision = INT8
        self.eval()
        logger.info("Quantized %d linear layers of the encoder and the exit heads to int8 (dynamic)", replaced)

    @classmethod
    def _loading_parameters(cls, model_params: Dict[str, Any]) -> None:
        """Adjusts a trained model's parameters before it is built from an archive (subclasses may extend)."""
