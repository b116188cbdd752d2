import json

import pytest
from allennlp.common import Params

import sledgehammer  # noqa: F401  (installs the hooks)
from sledgehammer.common.config_variables import CONFIG_VARIABLES

CONFIG = "training_config/sst.jsonnet"


def test_unset_variables_take_the_configs_defaults(monkeypatch):
    for name in CONFIG_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    params = Params.from_file(CONFIG).as_dict()
    assert params["train_data_path"] == ".cache/data/rotten_tomatoes/train.tsv"
    assert params["model"]["transformer_model"] == ".cache/encoders/all-MiniLM-L6-v2"
    assert params["trainer"]["num_epochs"] == 2 and params["trainer"]["cuda_device"] == -1
    assert "test_data_path" not in params


def test_set_variables_win(monkeypatch):
    monkeypatch.setenv("TRAIN_DATA", "sst/train.txt")
    monkeypatch.setenv("TEST_DATA", "sst/test.txt")
    monkeypatch.setenv("CUDA_DEVICE", "0")
    params = Params.from_file(CONFIG).as_dict()
    assert params["train_data_path"] == "sst/train.txt"
    assert params["dataset_reader"]["type"] == "sledgehammer_sst_trees"
    assert params["test_data_path"] == "sst/test.txt" and params["evaluate_on_test"] is True
    assert params["trainer"]["cuda_device"] == 0


def test_a_typeless_model_override_is_merged(monkeypatch):
    params = Params.from_file(CONFIG, json.dumps({"model": {"threshold": 0.9}})).as_dict()
    assert params["model"]["type"] == "sledgehammer_classifier" and params["model"]["threshold"] == 0.9


def test_a_model_override_with_a_type_still_replaces_the_section():
    override = {"model": {"type": "basic_classifier", "text_field_embedder": {}}}
    params = Params.from_file(CONFIG, json.dumps(override)).as_dict()
    assert params["model"] == override["model"]


def test_other_sections_keep_allennlps_replace_semantics():
    params = Params.from_file(CONFIG, json.dumps({"data_loader": {"batch_size": 4}})).as_dict()
    assert params["data_loader"] == {"batch_size": 4}
