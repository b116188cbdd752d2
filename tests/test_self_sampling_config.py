"""
Self-sampling fine-tuning end to end: conll2003_ner_self_sampling.jsonnet trains one step from a tiny stage-1
archive through `allennlp train`, and its archive loads on its own and predicts with token-level exit; a model
starting from an archive takes over its weights or says why it cannot.
"""
import json
import shutil

import numpy
import pytest
import torch
from allennlp.common import file_utils
from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary
from allennlp.models.archival import load_archive
from allennlp.predictors import Predictor

import sledgehammer.models.early_exit_tagger as tagger_module
from sledgehammer.models import EarlyExitTagger
from tests.test_tagging_configs import DATA, train
from tests.tiny_encoders import build_tiny_encoder

TAGS = {"O", "B-ORG", "B-PER", "B-LOC", "I-LOC", "B-MISC"}


@pytest.fixture(autouse=True)
def archive_extraction_in_tmp_path(tmp_path, monkeypatch):
    """`Vocabulary.from_files(archive)` extracts the archive into AllenNLP's cache: keep it out of the home folder."""
    monkeypatch.setattr(file_utils, "CACHE_DIRECTORY", str(tmp_path / "allennlp_cache"))


@pytest.fixture(scope="module")
def stage_one(tiny_bert, tmp_path_factory):
    """A stage-1 archive (conll2003_ner.jsonnet, one epoch on the fixture) and its weights."""
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as monkeypatch:
        directory = tmp_path_factory.mktemp("stage_one") / "run"
        train("conll2003_ner", DATA / "conll2003.txt", tiny_bert, directory, monkeypatch)
    archive = directory / "model.tar.gz"
    return archive, load_archive(str(archive)).model.state_dict()


def test_stage_two_trains_from_the_stage_one_archive_and_predicts_token_level(
    stage_one, tiny_bert, tmp_path, monkeypatch, one_torch_thread
):
    archive, _ = stage_one
    copy = tmp_path / "stage_one.tar.gz"
    shutil.copy(archive, copy)
    monkeypatch.setenv("INITIAL_ARCHIVE", str(copy))
    plans = []
    real_run = tagger_module.run_with_exit_plan

    def counting_run(model, state, first_piece, offsets, word_mask, exit_index):
        plans.append(exit_index.clone())
        return real_run(model, state, first_piece, offsets, word_mask, exit_index)

    monkeypatch.setattr(tagger_module, "run_with_exit_plan", counting_run)
    model = train("conll2003_ner_self_sampling", DATA / "conll2003.txt", tiny_bert, tmp_path / "run", monkeypatch)
    assert isinstance(model, EarlyExitTagger) and model.self_sampling is None  # detached after training
    assert len(plans) == 1  # one training batch (4 sentences), trained along a replayed plan
    assert "best_validation_f1-measure-overall" in json.loads((tmp_path / "run" / "metrics.json").read_text())
    # The stage-1 scores were cached once, one row of 4 exit scores per training word.
    with numpy.load(tmp_path / "run" / "self_sampling_scores.npz", allow_pickle=False) as cache:
        assert len(cache["keys"]) == 4 and cache["scores"].shape == (int(cache["lengths"].sum()), 4)
        assert numpy.all(cache["scores"][:, -1] == 1.0) and numpy.all((cache["scores"] >= 0) & (cache["scores"] <= 1))
    # The archive is a plain sledgehammer_tagger that loads without the stage-1 archive.
    copy.unlink()
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["model"]["type"] == "sledgehammer_tagger"
    loaded = load_archive(str(tmp_path / "run" / "model.tar.gz"))
    assert loaded.model.exit_policy.name == "entropy" and loaded.model.exit_mode == "token"
    assert set(loaded.model.vocab.get_token_to_index_vocabulary("labels")) == TAGS
    predictor = Predictor.from_archive(loaded, "sledgehammer_tagger")
    words = ["the", "company", "says", "no"]
    for threshold, layers in ((0.0, [0, 0, 0, 0]), (1.0, [3, 3, 3, 3])):
        predictor._model.threshold = threshold
        output = predictor.predict_json({"tokens": words})
        assert output["words"] == words and output["exit_layers"] == layers and len(output["tags"]) == 4
    predictor._model.threshold = 0.5
    assert len(predictor.predict_json({"tokens": words})["tags"]) == 4


def test_a_model_starting_from_an_archive_takes_its_weights(stage_one, tiny_bert):
    archive, weights = stage_one
    vocab = Vocabulary.from_files(str(archive))
    model = EarlyExitTagger(vocab, tiny_bert, initial_archive=str(archive), exit_policy=None)
    state = model.state_dict()
    assert set(state) == set(weights) and all(torch.equal(state[key], weights[key]) for key in weights)


def test_an_archive_that_does_not_fit_is_a_configuration_error(stage_one, tiny_bert, tmp_path):
    archive, _ = stage_one
    vocab = Vocabulary.from_files(str(archive))
    with pytest.raises(ConfigurationError, match=r"exits on layers \[0, 1, 2, 3\].*\[1, 3\]"):
        EarlyExitTagger(vocab, tiny_bert, exit_layers=[1, 3], initial_archive=str(archive))
    other_tags = Vocabulary(non_padded_namespaces=["labels"])
    other_tags.add_tokens_to_namespace(sorted(TAGS), "labels")
    with pytest.raises(ConfigurationError, match="tags .*from_files"):
        EarlyExitTagger(other_tags, tiny_bert, initial_archive=str(archive))
    wider = build_tiny_encoder("bert", str(tmp_path / "wider"), hidden_size=16)
    with pytest.raises(ConfigurationError, match="another encoder.*hidden_size"):
        EarlyExitTagger(vocab, wider, initial_archive=str(archive))
    with pytest.raises(ConfigurationError, match="not a file"):
        EarlyExitTagger(vocab, tiny_bert, initial_archive=str(tmp_path / "missing.tar.gz"))


def test_the_part_of_speech_stage_two_config_trains_from_its_stage_one(tiny_bert, tmp_path, monkeypatch,
                                                                          one_torch_thread):
    data = DATA / "en_ewt.conllu"
    train("ud_pos", data, tiny_bert, tmp_path / "stage_one", monkeypatch)
    monkeypatch.setenv("INITIAL_ARCHIVE", str(tmp_path / "stage_one" / "model.tar.gz"))
    model = train("ud_pos_self_sampling", data, tiny_bert, tmp_path / "stage_two", monkeypatch)
    assert isinstance(model, EarlyExitTagger) and model.exit_policy.name == "entropy" and model.exit_mode == "token"
    assert "best_validation_accuracy" in json.loads((tmp_path / "stage_two" / "metrics.json").read_text())
    assert (tmp_path / "stage_two" / "self_sampling_scores.npz").exists()
