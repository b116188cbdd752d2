"""`scripts/certify_unlabelled.py` on the tiny archive: every size and family, the draws, the JSON."""
import json
import os
import subprocess
import sys

from tests.commands.conftest import REPO_ROOT, write_sentiment_tsv

SCRIPT = os.path.join(REPO_ROOT, "scripts", "certify_unlabelled.py")


def test_the_script_certifies_each_size_and_family_and_counts_the_draws_meeting_the_target(
    tiny_trained_archive, tmp_path
):
    pool = write_sentiment_tsv(str(tmp_path / "pool.tsv"), 60, seed=7)
    output = tmp_path / "certify" / "tiny.json"
    result = subprocess.run(
        [sys.executable, SCRIPT, tiny_trained_archive.archive, tiny_trained_archive.dev_data, pool,
         tiny_trained_archive.train_data, "--output", str(output), "--policy", "confidence",
         "--target-agreement", "0.9", "--delta", "0.2", "--sizes", "20,40,all", "--draws", "3", "--draw-rows", "40"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(output.read_text())
    assert summary["pool_rows"] == 60 and summary["eval_rows"] == 40 and summary["dev_rows"] == 40
    assert [(entry["size"], entry["family"]) for entry in summary["sizes"]] == [
        (20, "single"), (20, "per_exit"), (40, "single"), (40, "per_exit"), ("all", "single"), ("all", "per_exit")]
    small = summary["sizes"][0]
    # 20 pool rows leave 10 selection rows, fewer than the 16 a 90 % target at delta 0.2 needs.
    assert small["pool_rows"] == 20 and "at least 16 rows are needed" in small["error"]
    for entry in summary["sizes"][2:]:
        assert entry["selection_rows"] == entry["pool_rows"] // 2
        assert entry["met"] == (entry["eval_agreement"] >= 0.9)
        assert entry["p_value"] <= 0.2 or entry["selection_disagreements"] == 0
        if entry["family"] == "per_exit":
            assert entry["threshold"] is None and len(entry["exit_thresholds"]) == 4
        if summary["oracle_eval_saving"] > 0:
            assert entry["share_of_oracle_saving"] == entry["eval_saving"] / summary["oracle_eval_saving"]
    for family in ("single", "per_exit"):
        draws = summary["draws"][family]
        assert draws["draws"] == 3 and draws["draw_rows"] == 40 and len(draws["results"]) == 3
        assert draws["met"] == sum(bool(draw["met"]) for draw in draws["results"])
    assert "met in" in result.stdout
