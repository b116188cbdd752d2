from sledgehammer.modules.layerwise_transformer import EncoderState, LayerwiseTransformer
from sledgehammer.modules.exit_policies import (
    AgreementPolicy,
    ConfidencePolicy,
    EntropyPolicy,
    ExitPolicy,
    PatiencePolicy,
)
