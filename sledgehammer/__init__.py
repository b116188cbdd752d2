"""sledgehammer: calibrated early-exit transformers for AllenNLP."""
# Importing the submodules registers every component with AllenNLP.
from sledgehammer.common import cli_errors, config_variables, model_overrides, safe_extraction, safe_weights
from sledgehammer import dataset_readers, metrics, models, modules, predictors  # noqa: F401
from sledgehammer import commands, calibration, evaluation  # noqa: F401
from sledgehammer.commands import evaluate_input, predict_input

from sledgehammer.modules.exit_policies import ExitPolicy  # noqa: F401

config_variables.install()
model_overrides.install()
# Every command run with the plugin: safe archive extraction, checked inputs, one-line input errors.
safe_extraction.install()
# Patches AllenNLP's read_state_dict and `pretrained` initializer to unpickle weights with an allow-list: no archive runs code.
safe_weights.install()
predict_input.install()
evaluate_input.install()
cli_errors.install()
