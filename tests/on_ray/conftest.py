"""
Shared fixtures of the Ray tests: one local Ray for the session (2 CPUs, every server on 127.0.0.1, no dashboard),
the tiny classifier archive from the command tests, and inputs for it.

The workers inherit this process's environment, `PYTHONPATH` included, so they import the `sledgehammer` (and the
`tests`) under test.
"""
import json
import os

import pytest
import ray

from tests.commands.conftest import run_allennlp_in_process, tiny_trained_archive  # noqa: F401  (session fixture)
from tests.serving.conftest import SENTENCES

# 40 inputs: the serving tests' sentences in turn, some with their own threshold, some with an id.
INPUTS = [
    {"id": f"row-{number}", "sentence": SENTENCES[number % len(SENTENCES)] + " " * (number % 3)}
    if number % 4 else {"text": SENTENCES[number % len(SENTENCES)], "threshold": (0.0, 0.5, 1.0)[number % 3]}
    for number in range(40)
]


@pytest.fixture(scope="session")
def local_ray():
    """Ray on this machine for the whole session, shut down at its end."""
    from sledgehammer.on_ray.cluster import LOOPBACK

    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address=LOOPBACK, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()


def write_jsonl(path, records, blank_after=None) -> str:
    """One JSON object a line; a blank line after the `blank_after`-th (which `allennlp predict` skips)."""
    lines = [json.dumps(record) for record in records]
    if blank_after is not None:
        lines.insert(blank_after, "")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def predict_lines(monkeypatch, tmp_path, archive, input_file, batch_size):
    """The lines `allennlp predict` writes for `input_file` with one torch thread (as the actors run)."""
    import torch

    output = tmp_path / (os.path.basename(input_file) + ".allennlp.jsonl")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run_allennlp_in_process(monkeypatch, "predict", archive, input_file, "--output-file", str(output),
                                "--silent", "--batch-size", str(batch_size))
    finally:
        torch.set_num_threads(threads)
    return output.read_text(encoding="utf-8").splitlines()


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
