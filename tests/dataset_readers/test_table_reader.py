import gzip

import pytest

from allennlp.common.checks import ConfigurationError

from sledgehammer.dataset_readers import TableReader
from tests.dataset_readers.common import FIXTURES, examples, format_error, labels, type_ids, write

SICK = dict(
    format="tsv",
    text_field="sentence_A",
    text_pair_field="sentence_B",
    label_field="entailment_label",
    filter_field="SemEval_set",
)


def test_reads_sst2_tsv(tiny_bert):
    reader = TableReader(tiny_bert)
    path = FIXTURES / "sst2.tsv"
    instances = list(reader.read(path))
    assert labels(instances) == ["1", "0", "1", "0", "1", "0"]
    texts = [example.text for example in examples(reader, path)]
    assert texts[0] == "a great film with a very funny story "
    assert texts[4] == 'the actors play it with "love '  # a lone quote is plain text in TSV
    assert all(example.text_pair is None for example in examples(reader, path))


@pytest.mark.parametrize("columns", [("0", "1"), (0, 1)])
def test_reads_headerless_ag_news_tsv(tiny_bert, columns):
    reader = TableReader(tiny_bert, header=False, text_field=columns[0], label_field=columns[1])
    path = FIXTURES / "agnews.tsv"
    assert labels(list(reader.read(path))) == ["Business", "Sports", "World", "Sci/Tech"]
    assert examples(reader, path)[0].text.endswith("people said (\\$50).")


def test_reads_imdb_csv_with_quotes_commas_and_multiline_fields(tiny_bert):
    reader = TableReader(tiny_bert, text_field="text", label_map={"0": "negative", "1": "positive"})
    path = FIXTURES / "imdb.csv"
    assert labels(list(reader.read(path))) == ["positive", "negative", "positive", "negative"]
    texts = [example.text for example in examples(reader, path)]
    assert texts[0] == "This movie is great, the acting is good.<br /><br />I love it."
    assert texts[1] == 'The "best" film? No, the worst. Boring plot, awful actors.'
    assert texts[2] == "A funny story\non two lines, with a good director."
    assert texts[3] == "Just a bad movie"


def test_reads_snli_csv_pairs(tiny_bert):
    reader = TableReader(tiny_bert, text_field="premise", text_pair_field="hypothesis")
    path = FIXTURES / "snli.csv"
    instances = list(reader.read(path))
    assert labels(instances) == ["entailment", "contradiction", "neutral"]
    assert examples(reader, path)[1] == (
        "A woman, with a cat, sits on the street.", "A woman sleeps inside.", "contradiction"
    )
    ids = type_ids(instances[0])
    assert ids[0] == 0 and ids[-1] == 1 and ids == sorted(ids)


@pytest.mark.parametrize(
    "part, expected",
    [
        (["TRAIN"], ["ENTAILMENT", "CONTRADICTION", "CONTRADICTION"]),
        (["TRIAL"], ["NEUTRAL"]),
        (["TEST"], ["ENTAILMENT", "NEUTRAL"]),
        (["TRAIN", "TRIAL"], ["ENTAILMENT", "CONTRADICTION", "NEUTRAL", "CONTRADICTION"]),
    ],
)
def test_filters_sick_by_semeval_set(tiny_bert, part, expected):
    reader = TableReader(tiny_bert, filter_values=part, **SICK)
    assert labels(list(reader.read(FIXTURES / "sick.txt"))) == expected


def test_sick_pair_texts(tiny_bert):
    reader = TableReader(tiny_bert, filter_values=["TRIAL"], **SICK)
    assert examples(reader, FIXTURES / "sick.txt") == [
        ("The cat is sleeping", "A cat sleeps on the street", "NEUTRAL")
    ]


def test_reads_jsonl_with_integer_labels_and_blank_lines(tiny_bert):
    reader = TableReader(tiny_bert, text_field="text")
    path = FIXTURES / "table.jsonl"
    assert labels(list(reader.read(path))) == ["1", "0", "1"]
    assert [e.text for e in examples(reader, path)] == ["a good movie", "a bad movie", "the best film"]


def test_skip_labels_and_unlabeled_reading(tiny_bert):
    reader = TableReader(tiny_bert, text_field="premise", text_pair_field="hypothesis",
                         skip_labels=["neutral"])
    assert labels(list(reader.read(FIXTURES / "snli.csv"))) == ["entailment", "contradiction"]
    unlabeled = TableReader(tiny_bert, label_field=None)
    instances = list(unlabeled.read(FIXTURES / "sst2.tsv"))
    assert len(instances) == 6 and all("label" not in i.fields for i in instances)


def test_format_comes_from_the_extension_or_the_parameter(tiny_bert, tmp_path):
    path = tmp_path / "train.tsv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write("sentence\tlabel\na good movie\t1\n")
    assert labels(list(TableReader(tiny_bert).read(path))) == ["1"]
    txt = write(tmp_path, "train.txt", "sentence\tlabel\na good movie\t1\n")
    with pytest.raises(ConfigurationError, match="set format"):
        list(TableReader(tiny_bert).read(txt))
    assert labels(list(TableReader(tiny_bert, format="tsv").read(txt))) == ["1"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"format": "xml"},
        {"format": "jsonl", "header": True},
        {"filter_field": "SemEval_set"},
        {"filter_field": "SemEval_set", "filter_values": []},
        {"header": False},  # text_field "sentence" is not a column index
        {"label_field": None, "skip_labels": ["-"]},
    ],
)
def test_invalid_configuration(tiny_bert, kwargs):
    with pytest.raises(ConfigurationError):
        TableReader(tiny_bert, **kwargs)


def test_missing_file_names_the_path(tiny_bert, tmp_path):
    path = str(tmp_path / "nowhere.tsv")
    with pytest.raises(FileNotFoundError, match="nowhere.tsv"):
        list(TableReader(tiny_bert).read(path))


# Bad input: the error names the file, the physical line and what was expected.


def test_tsv_row_with_wrong_column_count(tiny_bert, tmp_path):
    path = write(tmp_path, "train.tsv", "sentence\tlabel\na good movie\t1\n\na bad movie\n")
    detail = format_error(TableReader(tiny_bert), path, 4)
    assert detail == "expected 2 tab-separated columns (sentence, label), found 1"


def test_tsv_row_with_extra_tab(tiny_bert, tmp_path):
    path = write(tmp_path, "train.tsv", "a good movie\t1\na bad\tmovie\t0\n")
    detail = format_error(TableReader(tiny_bert, header=False, text_field="0", label_field="1"), path, 2)
    assert detail == "expected 2 tab-separated columns, found 3"


def test_headerless_file_with_too_few_columns(tiny_bert, tmp_path):
    path = write(tmp_path, "train.tsv", "a good movie\n")
    detail = format_error(TableReader(tiny_bert, header=False, text_field="0", label_field="1"), path, 1)
    assert "expected at least 2 tab-separated columns" in detail


def test_header_without_the_text_column(tiny_bert, tmp_path):
    path = write(tmp_path, "train.csv", "text,label\na good movie,1\n")
    detail = format_error(TableReader(tiny_bert), path, 1)
    assert "expected a header with the column(s) sentence" in detail and "text, label" in detail


def test_empty_text(tiny_bert, tmp_path):
    path = write(tmp_path, "train.tsv", "sentence\tlabel\na good movie\t1\n \t0\n")
    detail = format_error(TableReader(tiny_bert), path, 3)
    assert detail == "expected non-empty text in column 'sentence', found it empty"


def test_empty_label(tiny_bert, tmp_path):
    path = write(tmp_path, "train.csv", "sentence,label\na good movie,1\na bad movie,\n")
    detail = format_error(TableReader(tiny_bert), path, 3)
    assert detail == "expected a label in column 'label', found it empty"


def test_label_missing_from_label_map(tiny_bert, tmp_path):
    path = write(tmp_path, "train.tsv", "sentence\tlabel\na good movie\t1\na bad movie\t2\n")
    reader = TableReader(tiny_bert, label_map={"0": "negative", "1": "positive"})
    detail = format_error(reader, path, 3)
    assert "'0', '1' (label_map), found '2'" in detail


def test_csv_line_numbers_count_physical_lines(tiny_bert, tmp_path):
    content = 'sentence,label\n"a good\nmovie, two lines",1\n\n"a bad movie",0,extra\n'
    path = write(tmp_path, "train.csv", content)
    detail = format_error(TableReader(tiny_bert), path, 5)
    assert detail == "expected 2 comma-separated columns (sentence, label), found 3"


def test_csv_unterminated_quote_reports_the_row_start(tiny_bert, tmp_path):
    path = write(tmp_path, "train.csv", 'sentence,label\na good movie,1\n"a bad movie,0\nthe end,1\n')
    detail = format_error(TableReader(tiny_bert), path, 3)
    assert "malformed" in detail and "unexpected end of data" in detail


def test_jsonl_invalid_json(tiny_bert, tmp_path):
    path = write(tmp_path, "train.jsonl", '{"sentence": "a good movie", "label": 1}\n\n{"sentence": "a bad\n')
    detail = format_error(TableReader(tiny_bert), path, 3)
    assert detail.startswith("expected one JSON object per line, found invalid JSON")


def test_jsonl_line_that_is_not_an_object(tiny_bert, tmp_path):
    path = write(tmp_path, "train.jsonl", '["a good movie", 1]\n')
    assert format_error(TableReader(tiny_bert), path, 1) == "expected a JSON object, found a JSON list"


def test_jsonl_missing_field(tiny_bert, tmp_path):
    content = '{"sentence": "a good movie", "label": 1}\n{"text": "bad", "label": 0}\n'
    path = write(tmp_path, "train.jsonl", content)
    detail = format_error(TableReader(tiny_bert), path, 2)
    assert detail == "expected a field 'sentence', found only: 'text', 'label'"


def test_jsonl_label_of_wrong_type(tiny_bert, tmp_path):
    path = write(tmp_path, "train.jsonl", '{"sentence": "a good movie", "label": [1]}\n')
    detail = format_error(TableReader(tiny_bert), path, 1)
    assert detail == "expected a string or integer label in field 'label', found [1]"
