"""
`allennlp train` of every config in training_config/, on tiny fixture data with a tiny random encoder.
"""
import json
from pathlib import Path

import pytest
from allennlp.commands.train import train_model_from_file
from allennlp.models.archival import load_archive

import sledgehammer  # noqa: F401  (registers the components and the config variables)

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "fixtures" / "data"

# config, TRAIN_DATA (= DEV_DATA), expected labels
CASES = [
    ("sst", DATA / "sst2.tsv", {"negative", "positive"}),
    ("sst", DATA / "sst_trees.txt", {"negative", "positive"}),
    ("agnews", DATA / "ag_news.csv", None),
    ("agnews", DATA / "agnews.tsv", None),
    ("imdb", DATA / "imdb", {"negative", "positive"}),
    ("imdb", DATA / "imdb.csv", {"negative", "positive"}),
    ("snli", DATA / "snli.jsonl", None),
    ("snli", DATA / "snli.csv", None),
    ("snli", DATA / "sick.txt", None),
    ("mnli", DATA / "snli.jsonl", None),
]


def _train(config, train_data, encoder, serialization_dir, monkeypatch, overrides="", test=True):
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("TRANSFORMER_MODEL", encoder)
    monkeypatch.setenv("TRAIN_DATA", str(train_data))
    monkeypatch.setenv("DEV_DATA", str(train_data))
    monkeypatch.setenv("TEST_DATA", str(train_data) if test else "")
    monkeypatch.setenv("NUM_EPOCHS", "1")
    monkeypatch.setenv("BATCH_SIZE", "4")
    return train_model_from_file(
        str(ROOT / "training_config" / f"{config}.jsonnet"), str(serialization_dir), overrides=overrides
    )


@pytest.mark.parametrize("config, train_data, labels", CASES, ids=lambda v: getattr(v, "name", None))
def test_every_config_trains_and_archives(config, train_data, labels, tiny_bert, tmp_path, monkeypatch):
    if train_data.name == "sick.txt":
        # SICK's TRAIN rows train, its TRIAL rows validate; the fixture needs both.
        assert "TRIAL" in train_data.read_text()
    model = _train(config, train_data, tiny_bert, tmp_path / "run", monkeypatch)
    assert model.get_metrics()  # trained and evaluated
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert "best_validation_accuracy_last_exit" in metrics and "test_accuracy" in metrics
    archive = load_archive(str(tmp_path / "run" / "model.tar.gz"))
    vocabulary = set(archive.model.vocab.get_token_to_index_vocabulary("labels"))
    assert len(vocabulary) >= 2
    if labels is not None:
        assert vocabulary == labels


@pytest.mark.parametrize("kind", ["roberta", "distilbert"])
def test_other_encoder_families_train_through_the_config(kind, tiny_encoder_factory, tmp_path, monkeypatch):
    model = _train("snli", DATA / "snli.jsonl", tiny_encoder_factory(kind), tmp_path / "run", monkeypatch)
    assert model.num_exits == 4


def test_a_single_exit_layer_trains_a_truncated_partial_model(tiny_bert, tmp_path, monkeypatch):
    _train("sst", DATA / "sst2.tsv", tiny_bert, tmp_path / "run", monkeypatch, json.dumps({"model.exit_layers": [1]}))
    archive = load_archive(str(tmp_path / "run" / "model.tar.gz"))
    assert archive.model.exit_layers == [1]
    assert archive.model._encoder.num_layers == 2
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert "best_validation_accuracy_exit_1" in metrics


def test_two_cpu_workers_train_distributed(tiny_bert, tmp_path, monkeypatch):
    overrides = json.dumps({"distributed": {"cuda_devices": [-1, -1]}})
    # AllenNLP evaluates the test set in the primary worker alone, which distributed metrics cannot do;
    # distributed runs evaluate afterwards with `allennlp evaluate`.
    _train("sst", DATA / "sst2.tsv", tiny_bert, tmp_path / "run", monkeypatch, overrides, test=False)
    archive = load_archive(str(tmp_path / "run" / "model.tar.gz"))
    assert archive.model.exit_layers == [0, 1, 2, 3]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["best_epoch"] == 0 and "training_accuracy_exit_3" in metrics
