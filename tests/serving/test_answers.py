"""
`POST /predict` answers what `allennlp predict` writes, batches concurrent requests, gives each row its own
threshold in a shared batch, and runs a tagger's window/exit_mode groups in batches of their own.
"""
import json

import pytest
import torch

from tests.commands.conftest import run_allennlp_in_process
from tests.serving.conftest import (
    SENTENCES,
    batches_over_one,
    metric_samples,
    post,
    post_concurrently,
    running_server,
)

CLASSIFIER_INPUTS = [{"sentence": SENTENCES[0]}, {"sentence": SENTENCES[1], "threshold": 0.0},
                     {"text": SENTENCES[2]}, {"sentence": SENTENCES[3], "threshold": 1.0},
                     {"sentence": SENTENCES[4], "threshold": 0.5}]
LAMB = ["EU", "rejects", "German", "call", "to", "boycott", "British", "lamb", "."]
# At threshold 0.26 the tiny tagger's words exit at other layers in token mode (window 1 or 3) than in sentence mode.
SPLIT_THRESHOLD = 0.26
TAGGER_INPUTS = [{"tokens": LAMB, "threshold": SPLIT_THRESHOLD}, {"sentence": "Peter Blackburn"},
                 {"tokens": ["BRUSSELS", "1996-08-22"], "threshold": 0.0},
                 {"sentence": "The European Commission said on Thursday it disagreed", "threshold": 0.9}]


def allennlp_predict_lines(monkeypatch, tmp_path, archive, records, *options):
    """
    The lines `allennlp predict ARCHIVE` writes for `records` (one JSON object a line), without newlines, run with
    the served runners' one torch thread: on some CPUs a different thread count changes the last bits of a float.
    """
    inputs = tmp_path / "inputs.jsonl"
    inputs.write_text("".join(json.dumps(record) + "\n" for record in records))
    output = tmp_path / "predictions.jsonl"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run_allennlp_in_process(monkeypatch, "predict", str(archive), str(inputs), "--output-file", str(output),
                                "--silent", *options)
    finally:
        torch.set_num_threads(threads)
    return output.read_text().splitlines()


def as_list_body(lines):
    """The body of a list answer made of these `allennlp predict` lines (`json.dumps` of the list)."""
    return "[" + ", ".join(lines) + "]"


def test_classifier_answers_are_what_allennlp_predict_writes(
    classifier_runner, tiny_trained_archive, monkeypatch, tmp_path
):
    one_by_one = allennlp_predict_lines(monkeypatch, tmp_path, tiny_trained_archive.archive, CLASSIFIER_INPUTS)
    in_one_batch = allennlp_predict_lines(monkeypatch, tmp_path, tiny_trained_archive.archive, CLASSIFIER_INPUTS,
                                          "--batch-size", str(len(CLASSIFIER_INPUTS)))
    assert len(one_by_one) == len(CLASSIFIER_INPUTS)
    with running_server(classifier_runner, min_fill=0.0) as served:
        singles = [post(served.url, record) for record in CLASSIFIER_INPUTS]
        listed = post(served.url, CLASSIFIER_INPUTS)
    assert [response.status_code for response in singles] == [200] * len(CLASSIFIER_INPUTS)
    assert [response.text for response in singles] == one_by_one
    assert singles[0].headers["content-type"] == "application/json"
    assert listed.status_code == 200
    assert listed.text == as_list_body(in_one_batch)


def test_tagger_answers_are_what_allennlp_predict_writes_under_its_settings(
    tagger_runner, tiny_tagger_archive, monkeypatch, tmp_path
):
    plain = allennlp_predict_lines(monkeypatch, tmp_path, tiny_tagger_archive, TAGGER_INPUTS)
    token_mode = allennlp_predict_lines(monkeypatch, tmp_path, tiny_tagger_archive, TAGGER_INPUTS,
                                        "--predictor-args", '{"window": 3, "exit_mode": "token"}')
    with running_server(tagger_runner) as served:
        singles = [post(served.url, record).text for record in TAGGER_INPUTS]
        in_token_mode = [post(served.url, {**record, "window": 3, "exit_mode": "token"}).text
                         for record in TAGGER_INPUTS]
        after = [post(served.url, record).text for record in TAGGER_INPUTS]
    assert token_mode != plain  # the settings matter for these inputs
    assert singles == plain
    assert in_token_mode == token_mode
    assert after == plain  # a request's settings do not outlive it


def test_concurrent_requests_are_batched_and_each_gets_its_own_rows(tagger_runner):
    sentences = [[f"w{i}", "rejects", "German", "call"] for i in range(8)]
    with running_server(tagger_runner, max_batch_size=8, max_wait_ms=1000, min_fill=0.0) as served:
        responses = post_concurrently(served.url, [{"tokens": words} for words in sentences])
        samples = metric_samples(served.url)
    assert [response.status_code for response in responses] == [200] * 8
    assert [response.json()["words"] for response in responses] == sentences
    assert batches_over_one(samples) >= 1
    assert samples["sledgehammer_batch_size_count"] < 8
    assert samples["sledgehammer_batch_size_sum"] == 8
    assert samples["sledgehammer_rows_total"] == 8
    assert samples['sledgehammer_requests_total{status="200"}'] == 8


def test_rows_with_different_thresholds_share_one_batch_and_keep_their_own_threshold(classifier_runner):
    thresholds = [0.0, 1.0, 0.0, 1.0]
    records = [{"sentence": SENTENCES[i], "threshold": threshold} for i, threshold in enumerate(thresholds)]
    alone = [classifier_runner.predictor.predict_json(record) for record in records]
    with running_server(classifier_runner, max_batch_size=4, max_wait_ms=5000, min_fill=0.0) as served:
        responses = post_concurrently(served.url, records)
        samples = metric_samples(served.url)
    assert samples["sledgehammer_batch_size_count"] == 1  # the warm-up does not count: one batch of four
    assert samples["sledgehammer_batch_size_sum"] == 4
    answers = [response.json() for response in responses]
    last = classifier_runner.exit_layers[-1]
    assert [answer["exit_layer"] for answer in answers] == [0, last, 0, last]
    for answer, expected in zip(answers, alone):
        assert answer["label"] == expected["label"]
        assert answer["exit_index"] == expected["exit_index"]
        assert answer["probs"] == pytest.approx(expected["probs"], abs=1e-5)
    assert samples['sledgehammer_exit_layer_total{layer="0"}'] == 2
    assert samples[f'sledgehammer_exit_layer_total{{layer="{last}"}}'] == 2


def test_a_taggers_settings_groups_run_in_batches_of_their_own(tagger_runner):
    sentence = {"tokens": LAMB, "threshold": SPLIT_THRESHOLD}
    window_3 = {**sentence, "window": 3, "exit_mode": "token"}
    window_1 = {**sentence, "window": 1, "exit_mode": "token"}
    bodies = [sentence, window_3, window_1, sentence, window_3, window_1]
    with running_server(tagger_runner, max_batch_size=6, max_wait_ms=2000, min_fill=0.0) as served:
        responses = post_concurrently(served.url, bodies)
        samples = metric_samples(served.url)
        alone = [post(served.url, body).json() for body in bodies]  # one at a time
    assert [response.status_code for response in responses] == [200] * 6
    assert samples["sledgehammer_batch_size_count"] == 3  # one batch per settings group
    assert samples["sledgehammer_batch_size_sum"] == 6
    assert len({json.dumps(answer["exit_layers"]) for answer in alone[:3]}) == 3  # the groups answer differently
    for response, expected in zip(responses, alone):
        assert response.json()["exit_layers"] == expected["exit_layers"]
        assert response.json()["tags"] == expected["tags"]
