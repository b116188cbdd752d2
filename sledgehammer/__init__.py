"""sledgehammer: calibrated early-exit transformers for AllenNLP."""
# Importing the submodules registers every component with AllenNLP.
from sledgehammer import metrics, models, modules  # noqa: F401
