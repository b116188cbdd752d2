"""
What `allennlp calibrate` prints and stores: the per-exit table, the sentence on a threshold picked with a
guarantee, and the calibrated archive's configuration.
"""
import json
from typing import Any, Dict, List, Optional


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


def format_threshold_selection(policy_name: str, selection: Dict[str, Any]) -> str:
    """The sentence on the threshold picked for `--target-agreement`."""
    saved = 1.0 - selection["relative_flops"]
    return (
        f"{policy_name} threshold {selection['threshold']:g}: agreement with the last exit >= "
        f"{100 * selection['target_agreement']:g}% on new data with probability >= {1 - selection['delta']:g} "
        f"(Learn-then-Test, binomial p-value {selection['p_value']:.4f} <= {selection['delta']:g}, "
        f"{selection['disagreements']} disagreements in {selection['selection_rows']} selection rows); "
        f"expected saving {100 * saved:.1f}% of FLOPs ({1 / max(selection['relative_flops'], 1e-9):.2f}x) "
        "on DEV_DATA; stored as the archive's threshold"
    )


def calibrated_config(
    config: Dict[str, Any], temperatures: List[float], exit_policy: Optional[Dict[str, Any]]
) -> bytes:
    """
    The archive's `config.json` with the fitted `temperatures` (and, when given, the `exit_policy`, which
    carries its own threshold) stored in the model's section, and the top-level load-time keys that would
    override them dropped.
    """
    config = json.loads(json.dumps(config))
    config["model"]["temperatures"] = temperatures
    # A top-level "temperatures" (a load-time override) would take precedence over the model's; drop it.
    config.pop("temperatures", None)
    if exit_policy is not None:
        config["model"]["exit_policy"] = exit_policy
        # The policy carries its threshold; an older `threshold` key would replace it.
        config["model"].pop("threshold", None)
        config.pop("threshold", None)
        config.pop("exit_policy", None)
    return (json.dumps(config, indent=4) + "\n").encode("utf-8")
