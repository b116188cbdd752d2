"""
`allennlp predict` with a tagger archive splits an input with more word pieces than the reader's `max_word_pieces`
into whole-word chunks, exactly as the reader splits the same sentence in a data file, and answers with one tag,
confidence and exit layer per input word, in order; a word too long even alone is a one-line input error.
"""
import json
import random

import pytest
from allennlp.models.archival import load_archive
from allennlp.predictors import Predictor

from sledgehammer.dataset_readers.sequence_tagging_reader import WordTooLongError
from tests.commands.conftest import assert_one_line_error, run_allennlp_cli
from tests.tiny_encoders import WORDS

# The tiny encoder has 128 positions; a token-level exit at a low threshold makes words answer at different exits.
OVERRIDES = {"dataset_reader.max_word_pieces": 128, "threshold": 0.3, "exit_mode": "token"}
PER_WORD = ("words", "tags", "confidences", "exit_layers")


def random_words(count: int, seed: int):
    rng = random.Random(seed)
    return [rng.choice(WORDS) for _ in range(count)]


def tagger(archive, overrides=None) -> Predictor:
    return Predictor.from_archive(load_archive(str(archive), overrides=overrides or OVERRIDES), "sledgehammer_tagger")


def joined(outputs):
    outputs = list(outputs)
    return {key: [value for output in outputs for value in output[key]] for key in PER_WORD}


def test_a_3000_word_input_gets_the_tags_of_the_readers_chunks(tiny_tagger_archive, tmp_path):
    words = random_words(3000, seed=3)
    inputs = tmp_path / "long.jsonl"
    inputs.write_text(json.dumps({"tokens": words}) + "\n")
    output = tmp_path / "tags.jsonl"
    result = run_allennlp_cli("predict", tiny_tagger_archive, inputs, "--predictor", "sledgehammer_tagger",
                              "--overrides", json.dumps(OVERRIDES), "--output-file", output, "--silent")
    assert result.returncode == 0, result.stderr
    [answer] = [json.loads(line) for line in output.read_text().splitlines()]
    assert list(answer) == list(PER_WORD) and answer["words"] == words
    assert all(len(answer[key]) == 3000 for key in PER_WORD)
    # The same sentence in a data file: the reader's chunks, each tagged on its own.
    data = tmp_path / "long.conll"
    data.write_text("".join(f"{word} X X O\n" for word in words))
    predictor = tagger(tiny_tagger_archive)
    chunks = list(predictor._dataset_reader.read(str(data)))
    assert len(chunks) > 20
    expected = joined(predictor.predict_instance(chunk) for chunk in chunks)
    assert answer["words"] == expected["words"] and answer["tags"] == expected["tags"]
    assert answer["exit_layers"] == expected["exit_layers"] and len(set(answer["exit_layers"])) > 1
    assert answer["confidences"] == pytest.approx(expected["confidences"], abs=1e-6)


def test_batched_inputs_are_joined_back_in_order(tiny_tagger_archive):
    predictor = tagger(tiny_tagger_archive, {**OVERRIDES, "dataset_reader.max_word_pieces": 12})
    inputs = [{"tokens": random_words(40, seed=1)}, {"sentence": "the company says no"},
              {"tokens": random_words(25, seed=2)}]
    one_by_one = [predictor.predict_json(record) for record in inputs]
    batched = predictor.predict_batch_json(inputs)
    for record, alone, together in zip(inputs, one_by_one, batched):
        words = record.get("tokens") or record["sentence"].split()
        assert list(together) == list(PER_WORD) and together["words"] == words
        assert together["tags"] == alone["tags"] and together["exit_layers"] == alone["exit_layers"]
        expected = joined(predictor.predict_instance(predictor._dataset_reader.text_to_instance(words[start:end]))
                          for start, end in predictor._dataset_reader.word_chunks(words))
        assert together["tags"] == expected["tags"] and len(together["confidences"]) == len(words)
    assert len(predictor._dataset_reader.word_chunks(inputs[0]["tokens"])) > 3


def test_a_word_longer_than_the_limit_names_its_position(tiny_tagger_archive, tmp_path):
    overrides = json.dumps({"dataset_reader.max_word_pieces": 6})  # 4 word pieces besides [CLS] and [SEP]
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('{"tokens": ["the", "company"]}\n{"tokens": ["the", "!?!?!?!?", "says"]}\n')
    result = run_allennlp_cli("predict", tiny_tagger_archive, inputs, "--overrides", overrides,
                              "--output-file", tmp_path / "out.jsonl")
    assert result.returncode != 0
    assert_one_line_error(result.stderr, "allennlp predict: error: ",
                          f"{inputs}, line 2: word 1 (0-based) does not fit into one instance: expected a word of at "
                          "most 4 word pieces (max_word_pieces=6 minus 2 special tokens), found '!?!?!?!?' with 8")
    with pytest.raises(WordTooLongError, match=r"word 1 \(0-based\)") as raised:
        tagger(tiny_tagger_archive, {"dataset_reader.max_word_pieces": 6}).predict_tokens(["the", "!?!?!?!?"])
    assert raised.value.position == 1
