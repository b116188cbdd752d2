"""
sledgehammer: calibrated early-exit transformers for AllenNLP.

Importing the package registers every component with AllenNLP and installs the plugin's changes to AllenNLP,
all listed in `sledgehammer.allennlp_integration` (library ones always; command-line ones, such as one-line error
messages, only under the `allennlp` command).
"""
from sledgehammer import dataset_readers, metrics, models, modules, predictors  # noqa: F401
from sledgehammer import commands, calibration, evaluation  # noqa: F401
from sledgehammer import allennlp_integration
from sledgehammer.models import EarlyExitClassifier, EarlyExitModel, EarlyExitTagger  # noqa: F401
from sledgehammer.modules.exit_policies import ExitPolicy  # noqa: F401

allennlp_integration.install()
