"""
The files a trade-off report is written to, for classifiers and taggers alike: their names, the JSON writer and the
CSV row writer, both atomic (`sledgehammer.common.atomic_files`).
"""
import csv
import io
import json
import math
import os
from typing import Any, Dict, List, Sequence

from sledgehammer.common.atomic_files import write_bytes_atomically

JSON_NAME = "tradeoff.json"
CSV_NAME = "tradeoff.csv"
PLOT_NAME = "tradeoff.png"
TIMING_FIELDS = ("seconds_per_instance_b1", "speedup_b1", "seconds_per_instance_bN", "speedup_bN")


def write_report_json(report: Dict[str, Any], output_dir: str) -> None:
    """Writes a trade-off report to `output_dir/tradeoff.json`, atomically, non-finite floats as `null`."""
    content = json.dumps(_json_safe(report), indent=2) + "\n"
    write_bytes_atomically(os.path.join(output_dir, JSON_NAME), content.encode("utf-8"))


def write_rows_csv(
    report: Dict[str, Any], columns: List[str], path: str, timing_fields: Sequence[str] = TIMING_FIELDS
) -> None:
    """
    Writes a report's rows as CSV, atomically: `columns`, then one `exit_fraction_<layer>` column per exit
    (from each row's `exit_fractions`) and, when the report is timed, `timing_fields`; missing values are empty.
    """
    layers = report["meta"]["exit_layers"]
    columns = list(columns) + [f"exit_fraction_{layer}" for layer in layers]
    if report["meta"].get("timed"):
        columns += list(timing_fields)
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(columns)
    for row in report["rows"]:
        flat = dict(row)
        for layer, fraction in zip(layers, row["exit_fractions"]):
            flat[f"exit_fraction_{layer}"] = fraction
        writer.writerow(["" if flat.get(column) is None else flat[column] for column in columns])
    write_bytes_atomically(path, text.getvalue().encode("utf-8"))


def _json_safe(value: Any) -> Any:
    """Replaces non-finite floats (invalid in strict JSON) by `None`."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_safe(item) for item in value]
    return value
