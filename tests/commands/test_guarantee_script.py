import json
import os
import subprocess
import sys

from tests.commands.conftest import REPO_ROOT

SCRIPT = os.path.join(REPO_ROOT, "scripts", "check_threshold_guarantee.py")


def test_the_guarantee_check_calibrates_each_split_and_counts_the_splits_meeting_the_target(
    tiny_trained_archive, tmp_path
):
    output = tmp_path / "guarantee.json"
    result = subprocess.run(
        [sys.executable, SCRIPT, tiny_trained_archive.archive, tiny_trained_archive.dev_data, "--output", str(output),
         "--policy", "patience", "--target-agreement", "0.8", "--delta", "0.2", "--splits", "3",
         "--calibration-share", "0.9"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(output.read_text())
    assert summary["splits"] == 3 and len(summary["results"]) == 3 and summary["calibration_rows"] == 36
    for split in summary["results"]:
        assert split["selection_rows"] == 18 and split["evaluation_rows"] == 4
        assert split["met"] == (split["evaluation_agreement"] >= 0.8)
        assert split["threshold"] == 1.0 or split["p_value"] <= 0.2
    assert summary["splits_meeting_target"] == sum(split["met"] for split in summary["results"])
    assert "met in" in result.stdout


def test_too_few_calibration_rows_is_a_clear_error(tiny_trained_archive, tmp_path):
    result = subprocess.run(
        [sys.executable, SCRIPT, tiny_trained_archive.archive, tiny_trained_archive.dev_data,
         "--output", str(tmp_path / "g.json"), "--splits", "1"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 2 and "at least 230 rows are needed" in result.stderr
    assert not (tmp_path / "g.json").exists()
