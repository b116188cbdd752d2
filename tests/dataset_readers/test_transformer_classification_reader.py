import logging
import pickle

import pytest

from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.data import DatasetReader, Vocabulary
from allennlp.data.data_loaders import MultiProcessDataLoader
from allennlp.data.dataset_readers.dataset_reader import WorkerInfo

from sledgehammer.dataset_readers import DatasetFormatError, TableReader
from tests.dataset_readers.common import labels, type_ids, wordpieces, write

LONG = " ".join(["the good movie"] * 20)  # 60 words, one wordpiece each


def truncation_warnings(caplog):
    return [r for r in caplog.records if r.levelno == logging.WARNING and "max_length" in r.message]


@pytest.fixture
def rows_file(tmp_path):
    """200 single-text rows; the label of row i is "r<i>" so that rows can be identified."""
    lines = ["sentence\tlabel"] + [f"a good movie\tr{i}" for i in range(200)]
    return write(tmp_path, "rows.tsv", "\n".join(lines) + "\n")


def test_registered_names_construct_from_params(tiny_bert, tmp_path):
    for name in (
        "sledgehammer_table",
        "sledgehammer_nli_jsonl",
        "sledgehammer_sst_trees",
        "sledgehammer_ag_news",
        "sledgehammer_imdb",
    ):
        params = Params({"type": name, "transformer_model": tiny_bert, "max_length": 64,
                         "split_fraction": 0.25, "split_part": "held_out", "max_instances": 3})
        reader = DatasetReader.from_params(params)
        assert (reader._max_length, reader._split_fraction, reader.max_instances) == (64, 0.25, 3)
        assert reader.manual_distributed_sharding and reader.manual_multiprocess_sharding


def test_text_to_instance_single_text(tiny_bert):
    reader = TableReader(tiny_bert)
    instance = reader.text_to_instance("the dog sleeps", label="1")
    assert wordpieces(instance) == ["[CLS]", "the", "dog", "sleeps", "[SEP]"]
    assert type_ids(instance) == [0] * 5
    assert instance["label"].label == "1" and instance["label"]._label_namespace == "labels"
    # The predictor can index the instance right away.
    assert set(instance["tokens"].token_indexers) == {"tokens"}
    instance.index_fields(Vocabulary.from_instances([instance]))
    tensors = instance.as_tensor_dict()["tokens"]["tokens"]
    assert tensors["token_ids"].tolist()[0] == reader._tokenizer.tokenizer.cls_token_id
    assert "label" not in reader.text_to_instance("the dog sleeps").fields


def test_bert_pair_is_one_sequence_with_type_ids(tiny_bert):
    reader = TableReader(tiny_bert)
    instance = reader.text_to_instance("a man sleeps", "a dog runs", "neutral")
    assert wordpieces(instance) == ["[CLS]", "a", "man", "sleeps", "[SEP]", "a", "dog", "runs", "[SEP]"]
    assert type_ids(instance) == [0] * 5 + [1] * 4
    instance.index_fields(Vocabulary.from_instances([instance]))
    tensors = instance.as_tensor_dict()["tokens"]["tokens"]
    assert tensors["type_ids"].tolist() == [0] * 5 + [1] * 4


def test_roberta_pair_format(tiny_encoder_factory):
    reader = TableReader(tiny_encoder_factory("roberta"))
    pieces = wordpieces(reader.text_to_instance("a man", "a dog"))
    assert pieces[0] == "<s>" and pieces[-1] == "</s>"
    assert pieces.count("</s>") == 3
    middle = pieces.index("</s>")
    assert pieces[middle + 1] == "</s>"
    assert "".join(pieces[1:middle]).replace("Ġ", " ").strip() == "a man"
    assert "".join(pieces[middle + 2 : -1]).replace("Ġ", " ").strip() == "a dog"


@pytest.mark.parametrize("kind", ["bert", "roberta", "distilbert", "electra", "mpnet"])
def test_truncation_respects_max_length_for_each_family(tiny_encoder_factory, kind, caplog):
    reader = TableReader(tiny_encoder_factory(kind), max_length=16)
    single = reader.text_to_instance(LONG)
    pair = reader.text_to_instance(LONG, LONG)
    assert len(single["tokens"].tokens) == 16 and len(pair["tokens"].tokens) == 16
    full = reader._tokenizer.add_special_tokens(reader._tokenizer.tokenize("a"))
    assert wordpieces(single)[-1] == full[-1].text  # the closing special token survives
    assert len(truncation_warnings(caplog)) == 1


def test_pair_truncation_shortens_the_longer_side_first(tiny_bert):
    reader = TableReader(tiny_bert, max_length=11)  # 8 wordpieces + [CLS] [SEP] [SEP]
    instance = reader.text_to_instance(LONG, "a dog")
    assert wordpieces(instance) == ["[CLS]", "the", "good", "movie", "the", "good", "movie",
                                    "[SEP]", "a", "dog", "[SEP]"]
    instance = reader.text_to_instance("a dog", LONG)
    assert wordpieces(instance)[:5] == ["[CLS]", "a", "dog", "[SEP]", "the"]
    # Both long: the budget is shared, the second text getting the odd wordpiece.
    reader = TableReader(tiny_bert, max_length=12)
    instance = reader.text_to_instance(LONG, "a dog " * 20)
    assert type_ids(instance) == [0] * 6 + [1] * 6
    assert wordpieces(instance) == ["[CLS]", "the", "good", "movie", "the", "[SEP]",
                                    "a", "dog", "a", "dog", "a", "[SEP]"]


def test_truncation_warns_once_per_reader(tiny_bert, tmp_path, caplog):
    path = write(tmp_path, "long.tsv", f"sentence\tlabel\n{LONG}\t1\n{LONG}\t0\na dog\t1\n")
    reader = TableReader(tiny_bert, max_length=10)
    instances = list(reader.read(path)) + list(reader.read(path))
    assert [len(i["tokens"].tokens) for i in instances] == [10, 10, 4] * 2
    warnings = truncation_warnings(caplog)
    assert len(warnings) == 1 and "max_length=10" in warnings[0].message
    caplog.clear()
    list(TableReader(tiny_bert).read(path))
    assert truncation_warnings(caplog) == []


def test_split_parts_are_disjoint_complete_deterministic_and_near_the_fraction(tiny_bert, rows_file):
    def part(name, seed=13):
        reader = TableReader(tiny_bert, split_fraction=0.2, split_part=name, split_seed=seed)
        return labels(list(reader.read(rows_file)))

    held_out, rest = part("held_out"), part("rest")
    assert not set(held_out) & set(rest)
    assert sorted(held_out + rest) == sorted(f"r{i}" for i in range(200))
    assert 25 <= len(held_out) <= 55
    assert part("held_out") == held_out  # deterministic
    assert part("held_out", seed=14) != held_out
    assert labels(list(TableReader(tiny_bert).read(rows_file))) == [f"r{i}" for i in range(200)]


def test_split_index_counts_skipped_rows(tiny_bert, tmp_path):
    # A row's side of the split does not move when other rows are skipped.
    lines = ["sentence\tlabel"] + [f"a good movie\t{'-' if i % 3 == 0 else f'r{i}'}" for i in range(100)]
    path = write(tmp_path, "skips.tsv", "\n".join(lines) + "\n")
    all_rows = TableReader(tiny_bert, split_fraction=0.5, split_part="held_out")
    some_rows = TableReader(tiny_bert, split_fraction=0.5, split_part="held_out", skip_labels=["-"])
    expected = [label for label in labels(list(all_rows.read(path))) if label != "-"]
    assert labels(list(some_rows.read(path))) == expected


@pytest.mark.parametrize(
    "kwargs",
    [
        {"split_fraction": 0.0},
        {"split_fraction": 1.0},
        {"split_fraction": 1.5},
        {"split_fraction": 0.5, "split_part": "test"},
        {"split_part": "held_out"},
        {"max_length": 4},
    ],
)
def test_invalid_base_configuration(tiny_bert, kwargs):
    with pytest.raises(ConfigurationError):
        TableReader(tiny_bert, **kwargs)


def test_workers_read_disjoint_shards(tiny_bert, rows_file):
    shards = []
    for worker in range(2):
        reader = TableReader(tiny_bert, split_fraction=0.5)
        reader._set_worker_info(WorkerInfo(num_workers=2, id=worker))
        shards.append(labels(list(reader.read(rows_file))))
    everything = labels(list(TableReader(tiny_bert, split_fraction=0.5).read(rows_file)))
    assert not set(shards[0]) & set(shards[1])
    assert sorted(shards[0] + shards[1]) == sorted(everything)
    assert abs(len(shards[0]) - len(shards[1])) <= 1


def test_two_worker_data_loader_reads_each_row_once(tiny_bert, rows_file):
    reader = TableReader(tiny_bert)
    loader = MultiProcessDataLoader(reader, rows_file, batch_size=16, num_workers=2)
    instances = list(loader.iter_instances())
    assert sorted(labels(instances)) == sorted(f"r{i}" for i in range(200))
    assert all(instance["tokens"].token_indexers for instance in instances)


def test_max_instances_counts_instances(tiny_bert, rows_file):
    reader = TableReader(tiny_bert, max_instances=7, split_fraction=0.5)
    assert len(list(reader.read(rows_file))) == 7


def test_dataset_format_error_message_and_pickling():
    error = DatasetFormatError("data/train.tsv", 7, "expected 2 tab-separated columns, found 1")
    assert str(error) == "data/train.tsv, line 7: expected 2 tab-separated columns, found 1"
    assert isinstance(error, ValueError)
    copy = pickle.loads(pickle.dumps(error))
    assert (str(copy), copy.source, copy.line) == (str(error), "data/train.tsv", 7)
    assert str(DatasetFormatError("reviews/pos/1_9.txt", None, "empty")) == "reviews/pos/1_9.txt: empty"
