"""
sledgehammer: calibrated early-exit transformers for AllenNLP.

Importing the package registers every component with AllenNLP and installs the plugin's changes to AllenNLP,
all listed in `sledgehammer.allennlp_integration` (library ones always; command-line ones, such as one-line error
messages, only under the `allennlp` command). On AMD processors it first selects MKL's fast fp32 kernels
(`sledgehammer.common.cpu_math`).
"""
# First, before anything of the plugin runs a matrix product: MKL's fast fp32 kernels on AMD processors.
from sledgehammer.common.cpu_math import use_fast_mkl_kernels

use_fast_mkl_kernels()

from sledgehammer import dataset_readers, metrics, models, modules, predictors  # noqa: E402,F401
from sledgehammer import commands, calibration, evaluation  # noqa: E402,F401
from sledgehammer import allennlp_integration  # noqa: E402
from sledgehammer.models import EarlyExitClassifier, EarlyExitModel, EarlyExitTagger  # noqa: E402,F401
from sledgehammer.modules.exit_policies import ExitPolicy  # noqa: E402,F401

allennlp_integration.install()
