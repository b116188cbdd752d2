"""
The other models `allennlp tradeoff` runs beside the early-exit model: the `--compare` archives, separately trained
`sledgehammer_classifier`s (for example truncated models trained alone with `exit_layers: [k]`) named by their
folder, loaded, checked to read the same labelled rows as the early-exit model, and run once over every row; and the
same archive loaded in another precision (`--precisions`).
"""
import logging
from typing import Any, Dict, List, Tuple, Union

from allennlp.data import Instance

from sledgehammer.commands.archive_inputs import load_checked_archive, read_labelled_instances
from sledgehammer.commands.precision_inputs import overrides_with_precision
from sledgehammer.commands.tradeoff_arguments import TradeoffError, select_policies
from sledgehammer.evaluation.exit_outputs import ExitOutputs, collect_exit_outputs
from sledgehammer.evaluation.tradeoff import FULL_NAME
from sledgehammer.evaluation.tradeoff_format import archive_label
from sledgehammer.evaluation.tradeoff_report import OtherPrecision
from sledgehammer.models import EarlyExitClassifier

logger = logging.getLogger(__name__)


def name_compared_archives(paths: List[str]) -> Dict[str, str]:
    """
    Names each `--compare` archive by its folder (its file name when it is not `model.tar.gz`). A name that is
    taken twice, or that a report row already uses, is a `TradeoffError`.
    """
    named: Dict[str, str] = {}
    for path in paths:
        name = archive_label(path)
        if name in named or name == FULL_NAME or "threshold=" in name:
            raise TradeoffError(
                f"--compare {path}: the name {name!r} is already taken (by {named.get(name, 'a row')}); "
                "give archives in differently named folders"
            )
        named[name] = path
    return named


def run_compared_archive(
    name: str, path: str, data: str, instances: List[Instance], batch_size: int, cuda_device: int
) -> Tuple[EarlyExitClassifier, List[Instance], ExitOutputs]:
    """
    Loads a `--compare` archive (without overrides), reads `data` with its own reader and runs it once over
    every row. Its rows must carry the same labels, in the same order, as `instances` (the early-exit
    model's reading of `data`), or it is a `TradeoffError`.
    """
    archive = load_checked_archive(path, cuda_device, "", error_class=TradeoffError)
    other: EarlyExitClassifier = archive.model  # type: ignore[assignment]
    other_instances = read_labelled_instances(
        archive, data, f"DATA (read for --compare {path})", purpose="accuracy", error_class=TradeoffError
    )
    expected = [instance["label"].label for instance in instances]  # type: ignore[attr-defined]
    found = [instance["label"].label for instance in other_instances]  # type: ignore[attr-defined]
    if found != expected:
        raise TradeoffError(
            f"--compare {path}: its dataset reader reads DATA {data} as {len(found)} labelled rows that "
            f"differ from the early-exit model's {len(expected)}; both must read the same rows"
        )
    logger.info("Running %s (%s) over DATA", name, path)
    return other, other_instances, collect_exit_outputs(other, other_instances, batch_size, cuda_device)


def run_in_precision(
    archive_file: str, precision: str, overrides: Union[str, Dict[str, Any]], policy_names: List[str],
    instances: List[Instance], batch_size: int, cuda_device: int,
) -> OtherPrecision:
    """Loads the archive in `precision` (with `overrides`) and runs it once over `instances`, every exit computed."""
    archive = load_checked_archive(archive_file, cuda_device, overrides_with_precision(overrides, precision, TradeoffError),
                                   error_class=TradeoffError)
    model: EarlyExitClassifier = archive.model  # type: ignore[assignment]
    outputs = collect_exit_outputs(model, instances, batch_size=batch_size, cuda_device=cuda_device)
    return model, outputs, select_policies(policy_names, model)
