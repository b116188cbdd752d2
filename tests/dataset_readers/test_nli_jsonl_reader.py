import json

import pytest

from allennlp.common.checks import ConfigurationError

from sledgehammer.dataset_readers import NliJsonlReader
from tests.dataset_readers.common import FIXTURES, examples, format_error, labels, type_ids, write

SNLI = FIXTURES / "snli.jsonl"


def snli_line(**fields) -> str:
    record = {"gold_label": "neutral", "sentence1": "A man sleeps.", "sentence2": "A man is inside."}
    record.update(fields)
    return json.dumps({key: value for key, value in record.items() if value is not None}) + "\n"


def test_reads_snli_and_skips_rows_without_gold_label(tiny_bert):
    reader = NliJsonlReader(tiny_bert)
    instances = list(reader.read(SNLI))
    assert labels(instances) == ["neutral", "contradiction", "entailment", "neutral"]
    assert examples(reader, SNLI)[2] == (
        "Two women are sitting on the street.", "Two women are outside.", "entailment"
    )
    ids = type_ids(instances[0])
    assert ids[0] == 0 and ids[-1] == 1 and ids == sorted(ids)


def test_max_instances_counts_kept_rows(tiny_bert):
    assert labels(list(NliJsonlReader(tiny_bert, max_instances=3).read(SNLI))) == [
        "neutral", "contradiction", "entailment"
    ]


def test_configurable_field_names(tiny_bert, tmp_path):
    record = {"p": "A man.", "h": "A dog.", "y": "contradiction"}
    path = write(tmp_path, "pairs.jsonl", json.dumps(record) + "\n")
    fields = dict(premise_field="p", hypothesis_field="h", label_field="y")
    assert examples(NliJsonlReader(tiny_bert, **fields), path) == [("A man.", "A dog.", "contradiction")]
    reader = NliJsonlReader(tiny_bert, labels=["contradiction", "other"], **fields)
    assert labels(list(reader.read(path))) == ["contradiction"]


def test_invalid_labels_configuration(tiny_bert):
    with pytest.raises(ConfigurationError):
        NliJsonlReader(tiny_bert, labels=["entailment", "-"])


def test_unknown_label(tiny_bert, tmp_path):
    path = write(tmp_path, "dev.jsonl", snli_line() + snli_line(gold_label="entailed"))
    detail = format_error(NliJsonlReader(tiny_bert), path, 2)
    assert detail == ("expected field 'gold_label' to be one of entailment, neutral, contradiction "
                      "(or '-', skipped), found 'entailed'")


def test_missing_gold_label(tiny_bert, tmp_path):
    path = write(tmp_path, "dev.jsonl", snli_line(gold_label=None))
    assert format_error(NliJsonlReader(tiny_bert), path, 1).startswith("expected a field 'gold_label'")


def test_missing_hypothesis(tiny_bert, tmp_path):
    path = write(tmp_path, "dev.jsonl", snli_line() + "\n" + snli_line(sentence2=None))
    assert format_error(NliJsonlReader(tiny_bert), path, 3).startswith("expected a field 'sentence2'")


def test_empty_premise(tiny_bert, tmp_path):
    path = write(tmp_path, "dev.jsonl", snli_line(sentence1=""))
    detail = format_error(NliJsonlReader(tiny_bert), path, 1)
    assert detail == "expected non-empty text in field 'sentence1', found it empty"


def test_malformed_line(tiny_bert, tmp_path):
    path = write(tmp_path, "dev.jsonl", snli_line() + snli_line()[:-5] + "\n")
    assert "invalid JSON" in format_error(NliJsonlReader(tiny_bert), path, 2)
