"""
Optional external variables for the configs in `training_config/`.

Jsonnet's `std.extVar` fails on a variable that is not set, and offers no default. AllenNLP passes every
environment variable to jsonnet as an external variable, so for the variable names below that are not set,
sledgehammer passes an empty string instead, and the configs read "empty" as "use my default"
(`lib/sledgehammer.libsonnet`'s `env(name, default)`). Variables that are set pass through untouched;
nothing else about AllenNLP's config loading changes.
"""
from typing import Dict

from allennlp.common import params as allennlp_params

CONFIG_VARIABLES = (
    "TRANSFORMER_MODEL",
    "TRAIN_DATA",
    "DEV_DATA",
    "TEST_DATA",
    "CUDA_DEVICE",
    "NUM_EPOCHS",
    "BATCH_SIZE",
    "SEED",
    "EXIT_TARGETS",
    "INITIAL_ARCHIVE",
)

_allennlp_environment_variables = allennlp_params._environment_variables


def environment_variables_with_config_defaults() -> Dict[str, str]:
    """AllenNLP's external variables, plus an empty string for each unset name in `CONFIG_VARIABLES`."""
    variables = _allennlp_environment_variables()
    return {**{name: "" for name in CONFIG_VARIABLES}, **variables}


def install() -> None:
    """Makes AllenNLP's config loading use `environment_variables_with_config_defaults`."""
    allennlp_params._environment_variables = environment_variables_with_config_defaults
