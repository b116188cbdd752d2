"""Which encoder layers carry an exit: the one check shared by the classifier and the tagger."""
from typing import List, Optional

from allennlp.common.checks import ConfigurationError


def normalise_exit_layers(exit_layers: Optional[List[int]], total_layers: int) -> List[int]:
    """
    The exit layers as sorted 0-based indices into an encoder of `total_layers` layers: `None` is every
    layer, negative indices count from the end; unknown or repeated layers are `ConfigurationError`s.
    """
    if exit_layers is None:
        return list(range(total_layers))
    if len(exit_layers) == 0:
        raise ConfigurationError("exit_layers must name at least one layer")
    normalised = []
    for layer in exit_layers:
        if isinstance(layer, bool) or not isinstance(layer, int) or not -total_layers <= layer < total_layers:
            raise ConfigurationError(
                f"exit layer {layer!r} does not exist: the encoder has {total_layers} layers "
                f"(valid: 0..{total_layers - 1}, or -{total_layers}..-1 from the end)"
            )
        normalised.append(layer % total_layers)
    if len(set(normalised)) != len(normalised):
        raise ConfigurationError(f"exit_layers {exit_layers} name the same layer twice")
    return sorted(normalised)
