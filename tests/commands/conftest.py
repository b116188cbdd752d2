"""
Shared fixtures of the command tests: a tiny trained `sledgehammer_classifier` archive and its data.

The archive is trained once per session (one epoch on 40 rows with a tiny random BERT, a few seconds);
tests that change an archive must work on a copy (`tiny_archive_copy`).
"""
import os
import random
import shutil
import subprocess
import sys
import threading
from typing import Dict, NamedTuple, Optional

import pytest

from tests.tiny_encoders import WORDS

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ALLENNLP = os.path.join(os.path.dirname(sys.executable), "allennlp")

POSITIVE = ["good", "great", "best", "love", "funny", "fun"]
NEGATIVE = ["bad", "awful", "worst", "hate", "boring", "dull"]


class TinyArchive(NamedTuple):
    """A trained archive and the TSV files (`sentence\\tlabel`) it was trained and can be evaluated on."""

    archive: str
    train_data: str
    dev_data: str
    transformer_model: str


def write_sentiment_tsv(path: str, num_rows: int, seed: int) -> str:
    """Writes `num_rows` random sentences labelled "pos"/"neg" by the sentiment words they contain."""
    rng = random.Random(seed)
    neutral = [word for word in WORDS if word not in POSITIVE + NEGATIVE and word != "."]
    lines = ["sentence\tlabel"]
    for i in range(num_rows):
        label = "pos" if i % 2 == 0 else "neg"
        words = rng.sample(neutral, 4) + [rng.choice(POSITIVE if label == "pos" else NEGATIVE)]
        rng.shuffle(words)
        lines.append(f"{' '.join(words)}\t{label}")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return path


def tiny_training_config(transformer_model: str, train_data: str, dev_data: str) -> dict:
    return {
        "dataset_reader": {
            "type": "sledgehammer_table",
            "transformer_model": transformer_model,
            "max_length": 32,
        },
        "train_data_path": train_data,
        "validation_data_path": dev_data,
        "model": {"type": "sledgehammer_classifier", "transformer_model": transformer_model},
        "data_loader": {"batch_size": 8, "shuffle": True},
        "trainer": {
            "num_epochs": 2,
            "optimizer": {"type": "adam", "lr": 5e-3},
            "cuda_device": -1,
        },
    }


@pytest.fixture(scope="session")
def tiny_trained_archive(tiny_bert, tmp_path_factory) -> TinyArchive:
    """A `model.tar.gz` of a `sledgehammer_classifier` trained for one epoch on a tiny sentiment TSV."""
    import sledgehammer  # noqa: F401  (registers the components)
    from allennlp.common import Params
    from allennlp.commands.train import train_model

    folder = tmp_path_factory.mktemp("tiny_trained_archive")
    train_data = write_sentiment_tsv(str(folder / "train.tsv"), 40, seed=1)
    dev_data = write_sentiment_tsv(str(folder / "dev.tsv"), 40, seed=2)
    serialization_dir = str(folder / "run")
    config = tiny_training_config(tiny_bert, train_data, dev_data)
    train_model(Params(config), serialization_dir)
    archive = os.path.join(serialization_dir, "model.tar.gz")
    assert os.path.isfile(archive)
    return TinyArchive(archive, train_data, dev_data, tiny_bert)


@pytest.fixture(scope="session")
def tiny_truncated_archive(tiny_trained_archive, tmp_path_factory) -> str:
    """
    A truncated model trained alone on the tiny archive's data: `exit_layers: [1]` (2 of the 4 layers),
    in `.../two_layers/model.tar.gz`.
    """
    from allennlp.common import Params
    from allennlp.commands.train import train_model

    config = tiny_training_config(
        tiny_trained_archive.transformer_model, tiny_trained_archive.train_data, tiny_trained_archive.dev_data
    )
    config["model"]["exit_layers"] = [1]
    serialization_dir = str(tmp_path_factory.mktemp("tiny_truncated_archive") / "two_layers")
    train_model(Params(config), serialization_dir)
    return os.path.join(serialization_dir, "model.tar.gz")


@pytest.fixture
def tiny_archive_copy(tiny_trained_archive, tmp_path) -> str:
    """A private copy of the tiny trained archive, in `tmp_path/archive/model.tar.gz`."""
    folder = tmp_path / "archive"
    folder.mkdir()
    destination = str(folder / "model.tar.gz")
    shutil.copyfile(tiny_trained_archive.archive, destination)
    return destination


def assert_one_line_error(stderr: str, prefix: str, message: str) -> None:
    """A command reported exactly one error line starting with `prefix`, containing `message`, no traceback."""
    errors = [line for line in stderr.splitlines() if line.startswith(prefix)]
    assert len(errors) == 1, stderr
    assert message in errors[0]
    assert "Traceback" not in stderr


def run_allennlp_cli(*arguments: str, env: Optional[Dict[str, str]] = None) -> subprocess.CompletedProcess:
    """
    Runs `allennlp ARGUMENTS --include-package sledgehammer` as its own process from the repository root,
    as a user would, and returns the finished process (`returncode`, `stdout`, `stderr` as text).
    `env` adds to (or replaces in) this process's environment.
    """
    return subprocess.run(_cli(arguments), cwd=REPO_ROOT, env=_environment(env), capture_output=True, text=True,
                          timeout=600)


def run_allennlp_cli_watching(folder, *arguments: str, env: Optional[Dict[str, str]] = None):
    """
    `run_allennlp_cli`, measuring every 20 ms while the command runs how many bytes the files below `folder` hold.
    Returns the finished process and the largest size seen.
    """
    largest = 0
    with subprocess.Popen(_cli(arguments), cwd=REPO_ROOT, env=_environment(env), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True) as process:
        output = {}

        def read_output() -> None:
            output.update(zip(("stdout", "stderr"), process.communicate(timeout=600)))

        reader = threading.Thread(target=read_output)
        reader.start()
        while reader.is_alive():
            largest = max(largest, folder_size(folder))
            reader.join(0.02)
    result = subprocess.CompletedProcess(process.args, process.returncode, output["stdout"], output["stderr"])
    return result, largest


def folder_size(folder) -> int:
    """The bytes held by the regular files below `folder` (files that vanish while counting count 0)."""
    total = 0
    for directory, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(directory, name)).st_size
            except FileNotFoundError:
                pass
    return total


def _cli(arguments) -> list:
    return [ALLENNLP, *map(str, arguments), "--include-package", "sledgehammer"]


def _environment(env: Optional[Dict[str, str]]) -> Dict[str, str]:
    return {**os.environ, **(env or {})}


def run_allennlp_in_process(monkeypatch, *arguments) -> None:
    """Runs `allennlp ARGUMENTS --include-package sledgehammer` through AllenNLP's `main` in this process."""
    from allennlp.commands import main as allennlp_main

    monkeypatch.setattr(sys, "argv", ["allennlp", *map(str, arguments), "--include-package", "sledgehammer"])
    allennlp_main()
