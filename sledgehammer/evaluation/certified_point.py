"""
The certified point of a trade-off: the setting `allennlp calibrate --target-agreement` certified and stored in an
archive (one threshold, or per-exit thresholds), measured on the trade-off's rows beside the curves.

An archive holds one when its `calibration.json` has a `threshold_selection` and its config's `model.exit_policy`
carries that setting (a later `--overrides` at load time does not change what was certified).
"""
import json
from typing import Any, Dict, Optional

from allennlp.common import Params
from allennlp.common.checks import ConfigurationError

from sledgehammer.calibration.calibration_report import CALIBRATION_NAME
from sledgehammer.common.archive_files import ArchiveError, read_archive_member
from sledgehammer.evaluation.exit_outputs import ExitOutputs
from sledgehammer.evaluation.records import TradeoffRow
from sledgehammer.evaluation.tradeoff import CERTIFIED
from sledgehammer.evaluation.tradeoff_rows import setting_row
from sledgehammer.models import EarlyExitClassifier
from sledgehammer.modules.exit_policies import ExitPolicy


def read_certified_setting(archive_file: str, config: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """
    The certified setting of an archive, or `None`: `{"exit_policy": the stored policy's configuration,
    "threshold", "exit_thresholds", "target_agreement", "delta", "selection_rows"}`.

    # Parameters

    archive_file : `str`
        The archive (its `calibration.json` member is read).
    config : `Dict[str, Any]`
        Its `config.json`, as read when the command checked it.
    """
    try:
        report = json.loads(read_archive_member(archive_file, CALIBRATION_NAME).decode("utf-8"))
    except (ArchiveError, KeyError, ValueError, OSError):
        return None
    selection = report.get("threshold_selection") if isinstance(report, dict) else None
    stored = config.get("model", {}).get("exit_policy")
    if not isinstance(selection, dict) or not isinstance(stored, dict):
        return None
    exit_thresholds = selection.get("exit_thresholds")
    if exit_thresholds is not None:
        if stored.get("exit_thresholds") != exit_thresholds:
            return None
    elif stored.get("threshold") != selection.get("threshold") or stored.get("exit_thresholds") is not None:
        return None
    return {
        "exit_policy": stored,
        "threshold": selection.get("threshold"),
        "exit_thresholds": exit_thresholds,
        "target_agreement": selection.get("target_agreement"),
        "delta": selection.get("delta"),
        "selection_rows": selection.get("selection_rows"),
    }


def certified_name(certified: Dict[str, Any]) -> str:
    """The row's name: `certified:confidence:threshold=0.9` or `certified:agreement:exit_thresholds=0.8/0.9/1/1`."""
    policy = certified["exit_policy"].get("type", "confidence")
    if certified["exit_thresholds"] is not None:
        return f"{CERTIFIED}:{policy}:exit_thresholds=" + "/".join(f"{v:g}" for v in certified["exit_thresholds"])
    return f"{CERTIFIED}:{policy}:threshold={certified['threshold']:g}"


def certified_row(model: EarlyExitClassifier, outputs: ExitOutputs, certified: Dict[str, Any]) -> TradeoffRow:
    """The certified setting's row on `outputs` (the model's temperatures and cost model; kind `"certified"`)."""
    try:
        policy = ExitPolicy.from_params(Params(json.loads(json.dumps(certified["exit_policy"]))))
    except ConfigurationError as error:
        raise ValueError(f"the archive's stored exit policy cannot be built: {error}") from None
    return setting_row(outputs, policy, model.temperatures, model.exit_layers, model.cost, CERTIFIED,
                       certified_name(certified), full_layers=model.num_encoder_layers)


def add_certified_point(report: Dict[str, Any], model: EarlyExitClassifier, outputs: ExitOutputs,
                        certified: Optional[Dict[str, Any]]) -> None:
    """Appends the certified row to a trade-off report and its summary as `meta["certified"]`, when there is one."""
    if certified is None:
        return
    row = certified_row(model, outputs, certified)
    report["rows"].append(row)
    report["meta"]["certified"] = {
        **{key: certified[key] for key in ("threshold", "exit_thresholds", "target_agreement", "delta",
                                           "selection_rows")},
        "policy": row["policy"],
        "row": row["name"],
        "agreement_with_last_exit": row["agreement_with_last_exit"],
        "accuracy": row["accuracy"],
        "saved_flops": 1.0 - row["relative_flops"],
    }


def format_certified(certified: Optional[Dict[str, Any]]) -> Optional[str]:
    """The sentence on the certified point, or `None` without one."""
    if certified is None:
        return None
    if certified["exit_thresholds"] is not None:
        setting = "per-exit thresholds " + "/".join(f"{v:g}" for v in certified["exit_thresholds"])
    else:
        setting = f"threshold {certified['threshold']:g}"
    accuracy = "" if certified["accuracy"] is None else f", accuracy {100 * certified['accuracy']:.2f}%"
    return (
        f"Certified ({certified['policy']} {setting}: >= {100 * certified['target_agreement']:g}% agreement with "
        f"probability >= {1 - certified['delta']:g}, from {certified['selection_rows']} selection rows): agrees "
        f"with the last exit on {100 * certified['agreement_with_last_exit']:.2f}% of these rows{accuracy}, saves "
        f"{100 * certified['saved_flops']:.1f}% of FLOPs"
    )
