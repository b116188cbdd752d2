"""
`allennlp tradeoff` on a `sledgehammer_tagger` archive: every row is what the model does online at that setting,
costs are ordered as the settings say, timing rows carry speedups and batched tags equal batch size 1's.
"""
import json
import sys
from unittest import mock

import pytest
import torch
from allennlp.commands import main as allennlp_main
from allennlp.models.archival import load_archive

from sledgehammer.evaluation.tagger_tradeoff import FULL, ORACLE_CONSISTENCY, SENTENCE, STATIC, TOKEN
from sledgehammer.evaluation.tagger_tradeoff_report import pick_within_drop, quality_at_reductions
from tests.commands.conftest import assert_one_line_error
from tests.conftest import FIXTURE_DATA

DATA = FIXTURE_DATA / "conll2003.txt"


def run(*arguments):
    with mock.patch.object(sys, "argv", ["allennlp", *map(str, arguments)]):
        allennlp_main()


@pytest.fixture(scope="module")
def report(tiny_tagger_archive, tmp_path_factory):
    output = tmp_path_factory.mktemp("tagger_tradeoff")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        # A spread of exits even on a barely trained model: low thresholds.
        run("tradeoff", tiny_tagger_archive, DATA, "--output-dir", output, "--thresholds", "0.0,0.2,0.3,1.0",
            "--windows", "1,3", "--time", "--batch-size", "4", "--max-accuracy-drop", "100")
    finally:
        torch.set_num_threads(threads)
    return output, json.loads((output / "tradeoff.json").read_text())


def rows_of(report, kind):
    return [row for row in report["rows"] if row["kind"] == kind]


def test_writes_every_setting_and_the_files(report):
    output, content = report
    names = [row["name"] for row in content["rows"]]
    assert names == (
        [f"static:exit_{k}" for k in range(4)]
        + [f"sentence:threshold={t:g}" for t in (0.0, 0.2, 0.3)]
        + [f"token:window={w}:threshold={t:g}" for w in (1, 3) for t in (0.0, 0.2, 0.3)]
        + [ORACLE_CONSISTENCY, FULL]
    )
    assert (output / "tradeoff.png").stat().st_size > 0
    assert len((output / "tradeoff.csv").read_text().splitlines()) == len(names) + 1
    assert content["meta"]["metric"] == "f1-measure-overall" and content["meta"]["num_words"] > 0


def test_costs_follow_the_settings(report):
    _, content = report
    static = rows_of(content, STATIC)
    assert [row["relative_flops"] for row in static] == sorted(row["relative_flops"] for row in static)
    full = rows_of(content, FULL)[0]
    assert full["relative_flops"] == pytest.approx(1.0) and static[-1]["relative_flops"] == pytest.approx(1.0)
    assert static[-1]["quality"] == pytest.approx(full["quality"])
    # Threshold 0 answers every word at the first exit; token level then costs what exit 0 alone costs,
    # apart from the first exit's head.
    for kind in (SENTENCE, TOKEN):
        zero = [row for row in rows_of(content, kind) if row["threshold"] == 0.0]
        for row in zero:
            assert row["exit_fractions"][0] == pytest.approx(1.0)
            assert row["relative_flops"] == pytest.approx(static[0]["relative_flops"], rel=1e-6)
            assert row["quality"] == pytest.approx(static[0]["quality"])
    oracle = rows_of(content, ORACLE_CONSISTENCY)[0]
    assert oracle["relative_flops"] <= 1.0 + 1e-9


def test_timing_and_batched_tags(report):
    _, content = report
    for row in content["rows"]:
        assert row["speedup_b1"] > 0 and row["speedup_bN"] > 0
        if row["kind"] in (SENTENCE, TOKEN, ORACLE_CONSISTENCY):
            assert row["same_tags_b1_bN"] == pytest.approx(1.0)
    assert content["meta"]["timed_instances"] == content["meta"]["num_instances"]


def test_rows_match_the_model_run_online(report, tiny_tagger_archive):
    """A token-level row's quality is the F1 of `allennlp evaluate`-style forward passes at that setting."""
    _, content = report
    row = next(row for row in rows_of(content, TOKEN) if row["threshold"] == 0.2 and row["window"] == 3)
    archive = load_archive(str(tiny_tagger_archive), overrides={"threshold": 0.2, "window": 3, "exit_mode": "token"})
    model = archive.model.eval()
    reader = archive.validation_dataset_reader
    instances = list(reader.read(str(DATA)))
    model.get_metrics(reset=True)
    model.forward_on_instances(instances)
    metrics = model.get_metrics(reset=True)
    assert metrics["f1-measure-overall"] == pytest.approx(row["quality"])
    assert metrics["relative_flops"] == pytest.approx(row["relative_flops"])


def test_quality_at_reductions_and_picks_on_hand_made_rows():
    def row(kind, name, family, quality, flops, speedup=None):
        made = {"kind": kind, "name": name, "family": family, "quality": quality, "relative_flops": flops}
        if speedup is not None:
            made["speedup_b1"] = speedup
        return made

    rows = [
        row(STATIC, "static:exit_0", STATIC, 0.50, 0.2),
        row(STATIC, "static:exit_1", STATIC, 0.80, 0.45),
        row(TOKEN, "token:window=1:threshold=0.5", "token:window=1", 0.90, 0.30),
        row(TOKEN, "token:window=1:threshold=0.9", "token:window=1", 0.95, 0.60),
        row(TOKEN, "token:window=5:threshold=0.5", "token:window=5", 0.93, 0.33),
        row(FULL, FULL, FULL, 0.96, 1.0),
    ]
    at = quality_at_reductions(rows)
    assert at[STATIC]["2x"]["name"] == "static:exit_1" and at[STATIC]["4x"]["name"] == "static:exit_0"
    assert at["token:window=1"]["3x"]["name"] == "token:window=1:threshold=0.5"
    assert at["token:window=5"]["3x"]["name"] == "token:window=5:threshold=0.5"  # 0.33 <= 1/3
    assert at["token:any window"]["2x"]["name"] == "token:window=5:threshold=0.5"
    assert at["token:window=5"]["4x"] is None
    picks = pick_within_drop(rows, 3.0)  # quality >= 0.93
    assert picks[STATIC] is None
    assert picks["token:window=1"]["name"] == "token:window=1:threshold=0.9"
    assert picks["token:any window"]["name"] == "token:window=5:threshold=0.5"


def test_tagger_refuses_classifier_options(tiny_tagger_archive, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run("tradeoff", tiny_tagger_archive, DATA, "--output-dir", tmp_path / "out", "--policies", "entropy")
    assert exit_info.value.code == 2
    assert_one_line_error(capsys.readouterr().err, "allennlp tradeoff: error: ", "--compare, --policies and --precisions are for")


@pytest.mark.parametrize("windows", ["2", "1,x", "0"])
def test_bad_windows(tiny_tagger_archive, tmp_path, capsys, windows):
    with pytest.raises(SystemExit) as exit_info:
        run("tradeoff", tiny_tagger_archive, DATA, "--output-dir", tmp_path / "out", "--windows", windows)
    assert exit_info.value.code == 2
    assert_one_line_error(capsys.readouterr().err, "allennlp tradeoff: error: ", "is not an odd positive integer")
