"""
Starting a `sledgehammer_tagger` from a trained one (its `initial_archive` parameter), e.g. for self-sampling
fine-tuning: the new model must have the archive's encoder, exits and tags, and takes over its weights.
"""
import logging
import os
from typing import Any, Dict

from allennlp.common.checks import ConfigurationError
from allennlp.models import Model

logger = logging.getLogger(__name__)

# Encoder config entries that name or date the files rather than describe the network.
_IGNORED_CONFIG_KEYS = {"_name_or_path", "transformers_version", "architectures"}


def load_initial_archive(model: Model, archive_file: str) -> None:
    """
    Copies the weights of the `sledgehammer_tagger` in `archive_file` into `model`, after checking that both have
    the same encoder (its Hugging Face config), the same exit layers and the same tags in the same order; a
    `ConfigurationError` saying what differs otherwise. Runtime settings (threshold, policy, temperatures,
    window, exit mode) are `model`'s own.
    """
    from allennlp.models.archival import load_archive  # here to avoid a circular import

    if not os.path.isfile(archive_file):
        raise ConfigurationError(f"initial_archive {archive_file!r} is not a file: expected a trained model.tar.gz")
    initial = load_archive(archive_file).model
    if not isinstance(initial, type(model)):
        raise ConfigurationError(
            f"initial_archive {archive_file!r} holds a {type(initial).__name__}; expected a sledgehammer_tagger"
        )
    if initial.exit_layers != model.exit_layers:
        raise ConfigurationError(
            f"initial_archive {archive_file!r} has exits on layers {initial.exit_layers}, this model on "
            f"{model.exit_layers}: give the model the archive's exit_layers"
        )
    namespace = model.label_namespace
    tags = model.vocab.get_index_to_token_vocabulary(namespace)
    initial_tags = initial.vocab.get_index_to_token_vocabulary(initial.label_namespace)
    if tags != initial_tags:
        raise ConfigurationError(
            f"initial_archive {archive_file!r} has the tags {_listed(initial_tags)}, this model's vocabulary "
            f"{_listed(tags)}: read the vocabulary from the archive (\"vocabulary\": {{\"type\": \"from_files\", "
            f"\"directory\": <the archive>}})"
        )
    differences = _config_differences(initial.encoder.model.config.to_dict(), model.encoder.model.config.to_dict())
    if differences:
        raise ConfigurationError(
            f"initial_archive {archive_file!r} was trained on another encoder than this model's "
            f"{model.encoder.model.config.name_or_path!r} (config entries {', '.join(differences)} differ): set "
            f"transformer_model (TRANSFORMER_MODEL) to the stage-1 encoder"
        )
    try:
        model.load_state_dict(initial.state_dict())
    except RuntimeError as error:
        raise ConfigurationError(f"cannot copy the weights of initial_archive {archive_file!r}: {error}") from error
    logger.info("Started from the weights of %s", archive_file)


def _config_differences(first: Dict[str, Any], second: Dict[str, Any]) -> list:
    keys = (set(first) | set(second)) - _IGNORED_CONFIG_KEYS
    return sorted(key for key in keys if first.get(key) != second.get(key))


def _listed(tags: Dict[int, str]) -> str:
    return "[" + ", ".join(tags[i] for i in sorted(tags)) + "]"
