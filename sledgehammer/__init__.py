"""sledgehammer: calibrated early-exit transformers for AllenNLP."""
# Importing the submodules registers every component with AllenNLP.
from sledgehammer.common import config_variables, model_overrides
from sledgehammer import dataset_readers, metrics, models, modules, predictors  # noqa: F401
from sledgehammer import commands, calibration, evaluation  # noqa: F401

from sledgehammer.modules.exit_policies import ExitPolicy  # noqa: F401

config_variables.install()
model_overrides.install()
