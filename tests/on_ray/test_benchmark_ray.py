"""
`scripts/benchmark_ray.py` on the tiny archive: it times `allennlp predict` and the two Ray jobs, compares their
outputs row for row and writes one JSON report with the issue's two ratios (the figures themselves mean nothing
on a busy machine and a tiny model).
"""
import importlib.util
import json
from pathlib import Path

from tests.on_ray.conftest import INPUTS, write_jsonl

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "benchmark_ray.py"
spec = importlib.util.spec_from_file_location("benchmark_ray", SCRIPT)
benchmark_ray = importlib.util.module_from_spec(spec)
spec.loader.exec_module(benchmark_ray)


def test_the_benchmark_times_every_variant_and_compares_the_outputs(local_ray, tiny_trained_archive, tmp_path):
    inputs = write_jsonl(tmp_path / "rows.jsonl", INPUTS[:16])
    output = tmp_path / "report" / "benchmark_ray.json"
    benchmark_ray.main(["--archive", tiny_trained_archive.archive, "--inputs", inputs, "--output", str(output),
                        "--batch-size", "4", "--threshold", "0.5", "--work-dir", str(tmp_path / "work")])
    report = json.loads(output.read_text())
    assert report["protocol"]["variants"] == ["allennlp_predict", "ray_1x2", "ray_2x1"]
    assert [run["variant"] for run in report["runs"]] == report["protocol"]["variants"]
    for run in report["runs"]:
        assert run["rows"] == 16 and run["rows_per_second"] > 0
    for run in report["runs"][1:]:
        comparison = run["comparison"]
        assert comparison["rows"] == comparison["reference_rows"] == 16
        assert comparison["same_answers"] == 16  # the text may differ in a float's last digits with other threads
        assert run["exit_statistics"]["counted"] == 16
    summary = report["summary"]
    assert set(summary["best_rows_per_second"]) == set(report["protocol"]["variants"])
    assert summary["one_actor_vs_single_process"] > 0 and summary["two_actors_vs_one"] > 0
    assert isinstance(summary["all_outputs_identical"], bool)


def test_a_variant_is_actors_by_threads():
    assert benchmark_ray.parse_variant("2x1") == (2, 1)
    arguments = ["--archive", "a", "--inputs", "i", "--output", "o", "--ray-variants", "4x1", "1x4"]
    assert benchmark_ray.parse_arguments(arguments).ray_variants == [(4, 1), (1, 4)]
