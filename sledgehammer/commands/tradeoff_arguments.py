"""
The arguments of `allennlp tradeoff`: the options, and parsing and checking the thresholds, windows and exit
policies, with one-line `TradeoffError`s for unusable values.
"""
import argparse
from typing import List, Optional

from sledgehammer.commands.archive_inputs import CommandInputError, add_model_run_arguments
from sledgehammer.models import EarlyExitClassifier
from sledgehammer.modules.exit_policies import AgreementPolicy, ExitPolicy, ThresholdError, check_thresholds

DEFAULT_THRESHOLDS = "0.5,0.6,0.7,0.8,0.9,0.95,0.99,1.0"
DEFAULT_WINDOWS = "1,5,15"
ALL_POLICIES = "all"


class TradeoffError(CommandInputError):
    """A problem with the user's input that `allennlp tradeoff` reports in one line, without a traceback."""


def add_tradeoff_arguments(subparser: argparse.ArgumentParser) -> None:
    """Adds the arguments and options of `allennlp tradeoff` to its parser."""
    subparser.add_argument("archive_file", metavar="ARCHIVE", help="path to a model.tar.gz archive")
    subparser.add_argument("data", metavar="DATA", help="labelled data to evaluate on (e.g. the dev set)")
    subparser.add_argument(
        "--output-dir", required=True, metavar="DIR", help="folder to write the results to (created if needed)"
    )
    subparser.add_argument(
        "--thresholds",
        default=DEFAULT_THRESHOLDS,
        metavar="T1,T2,...",
        help="comma-separated confidence thresholds in [0, 1]",
    )
    subparser.add_argument(
        "--policies",
        default=ALL_POLICIES,
        metavar="P1,P2,...",
        help="comma-separated exit policies to compare (default: all: confidence, entropy, patience and, "
        "when the archive's policy is a fitted 'agreement' policy, agreement); patience is drawn at each "
        "of its patience settings",
    )
    subparser.add_argument(
        "--windows",
        default=DEFAULT_WINDOWS,
        metavar="W1,W2,...",
        help="for a sledgehammer_tagger: comma-separated odd windows of token-level exit to compare "
        f"(default: {DEFAULT_WINDOWS})",
    )
    subparser.add_argument(
        "--time",
        action="store_true",
        help="also measure seconds per instance of each threshold and of the plain full model, "
        "at batch size 1 and at --batch-size",
    )
    subparser.add_argument(
        "--time-instances",
        type=int,
        metavar="N",
        help="with --time, time on the first N instances of DATA only (default: all)",
    )
    subparser.add_argument(
        "--num-threads",
        type=int,
        metavar="N",
        help="torch intra-op threads for the whole run (default: torch's default); on a machine "
        "busy with other work, 1 gives far steadier timings",
    )
    subparser.add_argument(
        "--max-accuracy-drop",
        type=float,
        metavar="POINTS",
        help="print the cheapest threshold whose accuracy is at most POINTS percentage points below "
        "the full model's (by measured speedup at batch size 1 with --time, else by FLOPs)",
    )
    subparser.add_argument(
        "--compare",
        action="append",
        default=[],
        metavar="OTHER_ARCHIVE",
        help="a separately trained sledgehammer_classifier archive (e.g. a truncated model trained "
        "alone) to run on DATA and add to the table and plot, named by its folder; repeatable. "
        "Loaded without --overrides; its last exit answers",
    )
    subparser.add_argument(
        "--precisions",
        metavar="P1,P2",
        help="for a sledgehammer_classifier: also load the model in these precisions (fp32,int8: int8 is dynamic "
        "quantization, with the archive's int8 calibration when it has one) and draw each one's curve, timed in "
        "the same loop with --time, every speedup against the fp32 full model; rows are named 'int8:...'",
    )
    add_model_run_arguments(subparser)


def parse_thresholds(text: str) -> List[float]:
    """
    Parses a comma-separated list of thresholds in [0, 1] (e.g. `"0.5,0.9,1"`) into a sorted list
    without duplicates.

    # Raises

    `TradeoffError` for an empty list, an item that is not a number or a number outside [0, 1].
    """
    items = [item.strip() for item in text.split(",")]
    if not any(items):
        raise TradeoffError("--thresholds is empty; give comma-separated numbers in [0, 1], e.g. 0.5,0.9,1.0")
    thresholds = set()
    for item in items:
        try:
            value = float(item)
        except ValueError:
            raise TradeoffError(
                f"--thresholds: {item!r} is not a number; give comma-separated numbers in [0, 1]"
            ) from None
        if not 0.0 <= value <= 1.0:  # also refuses NaN
            raise TradeoffError(f"--thresholds: {item} is outside [0, 1]")
        thresholds.add(value)
    return sorted(thresholds)


def parse_windows(text: str) -> List[int]:
    """Parses `--windows`: comma-separated odd positive integers (e.g. `"1,5,15"`), sorted, without duplicates."""
    windows = set()
    for item in (item.strip() for item in text.split(",")):
        if not item.isdigit() or int(item) % 2 == 0:
            raise TradeoffError(f"--windows: {item!r} is not an odd positive integer; give e.g. 1,5,15")
        windows.add(int(item))
    return sorted(windows)


def parse_policies(text: str) -> List[str]:
    """
    Parses `--policies`: `"all"`, or comma-separated registered `ExitPolicy` names (order kept, duplicates
    dropped). An unknown name is a `TradeoffError` listing the known ones.
    """
    if text.strip() == ALL_POLICIES:
        return [ALL_POLICIES]
    names: List[str] = []
    for item in (item.strip() for item in text.split(",")):
        if item not in ExitPolicy.list_available():
            raise TradeoffError(
                f"--policies: {item!r} is not an exit policy; expected 'all' or comma-separated names from "
                f"{', '.join(ExitPolicy.list_available())}"
            )
        if item not in names:
            names.append(item)
    return names


def select_policies(names: List[str], model: EarlyExitClassifier) -> List[ExitPolicy]:
    """
    The policies to compare: `["all"]` means every registered policy that can decide for this model (an
    `agreement` policy only when the archive's own policy is a fitted one). An asked-for `agreement` policy
    without fitted predictors is a `TradeoffError` saying how to fit them.
    """
    fitted = model.exit_policy if isinstance(model.exit_policy, AgreementPolicy) and \
        model.exit_policy.predictors is not None else None
    if names == [ALL_POLICIES]:
        names = [name for name in ExitPolicy.list_available() if name != "agreement" or fitted is not None]
    policies = []
    for name in names:
        if name == "agreement":
            if fitted is None:
                raise TradeoffError(
                    "--policies agreement: the archive has no fitted agreement predictors; run "
                    "`allennlp calibrate ARCHIVE DEV_DATA --exit-policy agreement` first"
                )
            policies.append(AgreementPolicy(predictors=fitted.predictors))
        else:
            policies.append(ExitPolicy.by_name(name)())
    return policies


def check_arguments(
    thresholds: List[float],
    batch_size: int,
    time_instances: Optional[int],
    num_threads: Optional[int],
    max_accuracy_drop: Optional[float],
) -> None:
    if not thresholds:
        raise TradeoffError("no thresholds given")
    try:
        check_thresholds(thresholds)
    except ThresholdError as error:
        raise TradeoffError(str(error)) from None
    if batch_size < 1:
        raise TradeoffError(f"--batch-size must be at least 1, got {batch_size}")
    if time_instances is not None and time_instances < 1:
        raise TradeoffError(f"--time-instances must be at least 1, got {time_instances}")
    if num_threads is not None and num_threads < 1:
        raise TradeoffError(f"--num-threads must be at least 1, got {num_threads}")
    if max_accuracy_drop is not None and not max_accuracy_drop >= 0:
        raise TradeoffError(f"--max-accuracy-drop must be a number of points >= 0, got {max_accuracy_drop}")

