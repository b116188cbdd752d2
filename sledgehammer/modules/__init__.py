"""
The shared building blocks below the models: the layer-by-layer runner (`layerwise_transformer`, the only code that
knows Hugging Face internals), exit policies, exit-layer checks, training losses, FLOP estimates and the halting
rules of token-level exit.
"""
from sledgehammer.modules.layerwise_transformer import EncoderState, LayerwiseTransformer
from sledgehammer.modules.exit_policies import (
    AgreementPolicy,
    ConfidencePolicy,
    EntropyPolicy,
    ExitPolicy,
    PatiencePolicy,
)
