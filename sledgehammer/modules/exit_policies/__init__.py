"""The exit policies (`ExitPolicy` and one registered policy a file) and the threshold check they share."""
from sledgehammer.modules.exit_policies.exit_policy import (
    ExitPolicy,
    calibrated_probs,
    ThresholdError,
    ThresholdSetting,
    check_setting,
    check_threshold,
    check_thresholds,
    first_exits_for_settings,
    first_exits_from_scores,
)
from sledgehammer.modules.exit_policies.confidence import ConfidencePolicy
from sledgehammer.modules.exit_policies.entropy import EntropyPolicy
from sledgehammer.modules.exit_policies.patience import PatiencePolicy
from sledgehammer.modules.exit_policies.agreement import AgreementPolicy, agreement_features
