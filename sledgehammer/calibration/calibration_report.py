"""
What `allennlp calibrate` prints and stores: the per-exit table, the sentence on a threshold picked with a
guarantee, the calibrated archive's configuration and the calibrated archive with its report.
"""
import json
import os
from typing import Any, Dict

from sledgehammer.common.archive_files import CONFIG_NAME, write_archive_with_replacements
from sledgehammer.common.atomic_files import write_bytes_atomically
from sledgehammer.models.precision import CALIBRATION_KEY, FP32, apply_calibration

CALIBRATION_NAME = "calibration.json"


def format_calibration_table(report: Dict[str, Any]) -> str:
    """The per-exit figures of a calibration report as a plain-text table."""
    header = ("exit layer", "temperature", "NLL before", "NLL after", "ECE before", "ECE after", "accuracy")
    rows = [
        (
            str(result["exit_layer"]),
            f"{result['temperature']:.4f}",
            f"{result['nll_before']:.4f}",
            f"{result['nll_after']:.4f}",
            f"{result['ece_before']:.4f}",
            f"{result['ece_after']:.4f}",
            f"{result['accuracy']:.4f}",
        )
        for result in report["exits"]
    ]
    widths = [max(len(row[i]) for row in [header] + rows) for i in range(len(header))]
    lines = [
        f"Calibrated on {report['num_instances']} instances of {report['dev_data']} "
        f"(ECE with {report['num_bins']} bins):",
        "  ".join(cell.rjust(width) for cell, width in zip(header, widths)),
        "  ".join("-" * width for width in widths),
    ]
    lines += ["  ".join(cell.rjust(width) for cell, width in zip(row, widths)) for row in rows]
    return "\n".join(lines)


def format_setting(selection: Dict[str, Any]) -> str:
    """A certified setting in words: `threshold 0.9`, or `per-exit thresholds 0.8/0.9/0.95/1` (exit order)."""
    if selection.get("exit_thresholds") is not None:
        return "per-exit thresholds " + "/".join(f"{value:g}" for value in selection["exit_thresholds"])
    return f"threshold {selection['threshold']:g}"


def format_threshold_selection(policy_name: str, selection: Dict[str, Any]) -> str:
    """The sentences on the setting picked for `--target-agreement`, and what more selection rows would reach."""
    saved = 1.0 - selection["relative_flops"]
    stored = "the archive's per-exit thresholds" if selection.get("exit_thresholds") is not None else (
        "the archive's threshold")
    lines = [
        f"{policy_name} {format_setting(selection)}: agreement with the last exit >= "
        f"{100 * selection['target_agreement']:g}% on new data with probability >= {1 - selection['delta']:g} "
        f"(Learn-then-Test, binomial p-value {selection['p_value']:.4f} <= {selection['delta']:g}, "
        f"{selection['disagreements']} disagreements in {selection['selection_rows']} selection rows); "
        f"expected saving {100 * saved:.1f}% of FLOPs ({1 / max(selection['relative_flops'], 1e-9):.2f}x) "
        f"on DEV_DATA; stored as {stored}"
    ]
    if selection.get("outlook") is not None:
        lines.append(
            f"Certified saving on the {selection['selection_rows']} selection rows: {100 * selection['saving']:.1f}% "
            "of FLOPs. With more selection rows, if the disagreement rates seen held:"
        )
        for entry in selection["outlook"]:
            lines.append(f"  {entry['rows']} rows: {100 * entry['saving']:.1f}% ({_setting_words(entry['setting'])})")
        most = selection.get("most_saving")
        if most is not None:
            lines.append(
                f"  at most {100 * most['saving']:.1f}% ({_setting_words(most['setting'])}), from {most['rows']} rows"
            )
    return "\n".join(lines)


def _setting_words(setting: Any) -> str:
    if isinstance(setting, (int, float)):
        return f"threshold {setting:g}"
    return "per-exit thresholds " + "/".join(f"{value:g}" for value in setting)


def calibrated_config(config: Dict[str, Any], calibration: Dict[str, Any], precision: str = FP32) -> bytes:
    """
    The archive's `config.json` with a fitted calibration (`temperatures` and, when given, the `exit_policy`,
    which carries its own threshold, and a `threshold`; see `apply_calibration`) stored for `precision`:

    * fp32: in the model's section itself, dropping the top-level load-time keys that would override it;
    * another precision: as the entry `model.calibration.<precision>`, replacing an earlier one of that
      precision and leaving the fp32 settings as they are.
    """
    config = json.loads(json.dumps(config))
    if precision != FP32:
        sections = config["model"].get(CALIBRATION_KEY)
        config["model"][CALIBRATION_KEY] = {**(sections if isinstance(sections, dict) else {}), precision: calibration}
        return (json.dumps(config, indent=4) + "\n").encode("utf-8")
    apply_calibration(config["model"], calibration)
    # A top-level "temperatures" (a load-time override) would take precedence over the model's; drop it.
    config.pop("temperatures", None)
    if "exit_policy" in calibration:
        # The policy carries its threshold; an older top-level `threshold` or `exit_policy` would replace it.
        config.pop("threshold", None)
        config.pop("exit_policy", None)
    return (json.dumps(config, indent=4) + "\n").encode("utf-8")


def calibration_report_name(precision: str) -> str:
    """The calibration report's file name, in the archive and beside it: `calibration.json` for fp32."""
    return CALIBRATION_NAME if precision == FP32 else f"calibration_{precision}.json"


def write_calibrated_archive(
    archive_file: str, destination: str, config: Dict[str, Any], calibration: Dict[str, Any], report: Dict[str, Any]
) -> None:
    """
    Writes `destination`: `archive_file` with the `calibration` stored for the report's precision in its
    `config.json` (`calibrated_config`) and the report as a member (`calibration_report_name`), every other member
    copied unchanged; then the report beside `destination` too. Both writes are atomic.
    """
    precision = report["precision"]
    report_bytes = (json.dumps(report, indent=2) + "\n").encode("utf-8")
    report_name = calibration_report_name(precision)
    write_archive_with_replacements(
        archive_file, destination,
        {CONFIG_NAME: calibrated_config(config, calibration, precision), report_name: report_bytes},
    )
    write_bytes_atomically(os.path.join(os.path.dirname(os.path.abspath(destination)), report_name), report_bytes)
