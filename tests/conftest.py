import os
from pathlib import Path

import pytest
import torch
from allennlp.commands.train import train_model_from_file

from tests.tiny_encoders import build_tiny_encoder

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
FIXTURE_DATA = ROOT / "tests" / "fixtures" / "data"


@pytest.fixture(scope="session")
def tiny_encoder_factory(tmp_path_factory):
    """Returns `make(kind="bert", num_layers=4)` -> path of a cached tiny random encoder folder."""
    made = {}

    def make(kind: str = "bert", num_layers: int = 4) -> str:
        key = (kind, num_layers)
        if key not in made:
            directory = tmp_path_factory.mktemp(f"tiny_{kind}_{num_layers}")
            made[key] = build_tiny_encoder(kind, str(directory), num_layers=num_layers)
        return made[key]

    return make


@pytest.fixture(scope="session")
def tiny_bert(tiny_encoder_factory) -> str:
    return tiny_encoder_factory("bert")


@pytest.fixture
def one_torch_thread():
    """Runs a test with one torch thread: several threads on a machine busy with other work make every call
    stall, and these tests need no speed."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def train_tagging_config(config, data, encoder, serialization_dir, monkeypatch):
    """Trains `training_config/<config>.jsonnet` for one epoch on `data` (train, dev and test) with `encoder`."""
    import sledgehammer  # noqa: F401  (registers the components and the config variables)

    monkeypatch.chdir(ROOT)
    for name, value in [("TRANSFORMER_MODEL", encoder), ("TRAIN_DATA", str(data)), ("DEV_DATA", str(data)),
                        ("TEST_DATA", str(data)), ("NUM_EPOCHS", "1"), ("BATCH_SIZE", "8")]:
        monkeypatch.setenv(name, value)
    return train_model_from_file(str(ROOT / "training_config" / f"{config}.jsonnet"), str(serialization_dir))


@pytest.fixture(scope="session")
def tiny_tagger_archive(tiny_bert, tmp_path_factory) -> Path:
    """A `sledgehammer_tagger` trained once per session (conll2003_ner.jsonnet, the CoNLL-2003 fixture file)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        directory = tmp_path_factory.mktemp("tagger") / "run"
        train_tagging_config("conll2003_ner", FIXTURE_DATA / "conll2003.txt", tiny_bert, directory, monkeypatch)
    return directory / "model.tar.gz"
