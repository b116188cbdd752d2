"""
The readers on the real benchmark files in `../shared/datasets` (relative to the repository root),
which are present on every machine this project is developed on. These tests must not be skipped.
"""
from collections import Counter
from pathlib import Path

import pytest

from sledgehammer.dataset_readers import TableReader
from tests.dataset_readers.common import examples, labels

DATASETS = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"

SICK = dict(format="tsv", text_field="sentence_A", text_pair_field="sentence_B",
            label_field="entailment_label", filter_field="SemEval_set")
NLI = {"entailment", "neutral", "contradiction"}
SICK_LABELS = {"ENTAILMENT", "NEUTRAL", "CONTRADICTION"}

# file, reader options, whether the task is a pair task, the label set, the label counts of the file
CASES = {
    "sst2_train": ("sst2/train.tsv", {}, False, {"0": 29780, "1": 37569}),
    "sst2_dev": ("sst2/dev.tsv", {}, False, {"0": 428, "1": 444}),
    "agnews": ("agnews/train_10k.tsv", dict(header=False, text_field="0", label_field="1"), False,
               {"World": 2509, "Sports": 2458, "Business": 2496, "Sci/Tech": 2538}),
    "imdb_train": ("imdb/train_999.csv", dict(text_field="text"), False, {"0", "1"}),
    "imdb_test": ("imdb/test_999.csv", dict(text_field="text", label_map={"0": "neg", "1": "pos"}),
                  False, {"neg", "pos"}),
    "snli_dev": ("snli/dev.csv", dict(text_field="premise", text_pair_field="hypothesis"), True, NLI),
    "sick_train": ("sick/SICK.txt", dict(SICK, filter_values=["TRAIN"]), True, SICK_LABELS),
    "sick_trial": ("sick/SICK.txt", dict(SICK, filter_values=["TRIAL"]), True, SICK_LABELS),
    "sick_test": ("sick/SICK.txt", dict(SICK, filter_values=["TEST"]), True, SICK_LABELS),
}
ROW_COUNTS = {"imdb_train": 999, "imdb_test": 999, "snli_dev": 9831,
              "sick_train": 4439, "sick_trial": 495, "sick_test": 4906}


@pytest.mark.parametrize("case", sorted(CASES))
def test_first_instances_of_real_file(tiny_bert, case):
    relative, options, is_pair, expected_labels = CASES[case]
    reader = TableReader(tiny_bert, max_length=128, max_instances=50, **options)
    instances = list(reader.read(DATASETS / relative))
    assert len(instances) == 50
    assert set(labels(instances)) <= set(expected_labels)
    for instance in instances:
        type_ids = [token.type_id for token in instance["tokens"].tokens]
        assert 3 <= len(type_ids) <= 128
        assert (1 in type_ids) == is_pair


@pytest.mark.parametrize("case", sorted(CASES))
def test_whole_real_file_parses(tiny_bert, case):
    relative, options, _, expected_labels = CASES[case]
    parsed = examples(TableReader(tiny_bert, **options), DATASETS / relative)
    counts = Counter(example.label for example in parsed)
    if isinstance(expected_labels, dict):
        assert counts == expected_labels
    else:
        assert set(counts) == set(expected_labels)
        assert len(parsed) == ROW_COUNTS[case]
    assert all(example.text.strip() for example in parsed)


def test_imdb_csv_keeps_quotes_and_commas(tiny_bert):
    parsed = examples(TableReader(tiny_bert, text_field="text"), DATASETS / "imdb" / "train_999.csv")
    assert any("," in e.text for e in parsed) and any('"' in e.text for e in parsed)
    assert any("<br />" in e.text for e in parsed)
