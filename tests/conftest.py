import os

import pytest
import torch

from tests.tiny_encoders import build_tiny_encoder

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


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
