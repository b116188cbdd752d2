import os
import sys

import pytest
from allennlp.commands import main as allennlp_main

from sledgehammer.dataset_readers import AgNewsReader
from sledgehammer.dataset_readers.ag_news_reader import clean_ag_news_text
from tests.dataset_readers.common import FIXTURES, examples, format_error, labels, write

AG_NEWS = FIXTURES / "ag_news.csv"
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_reads_official_csv(tiny_bert):
    reader = AgNewsReader(tiny_bert)
    assert labels(list(reader.read(AG_NEWS))) == ["Business", "Sports", "World", "Sci/Tech"]
    texts = [e.text for e in examples(reader, AG_NEWS)]
    assert texts[0] == ("Stocks fall as price rises (Reuters) Reuters - The market lost ground, "
                        "said people at the company, as oil hit $50.")
    assert texts[1] == "Team wins game The dogs team played outside."
    assert texts[2] == 'World leaders meet People of the world said "no" to a new plan.'


def test_cleaning():
    assert clean_ag_news_text("dwindling\\band of \\$5 \\\\ fans\\ ") == "dwindling band of $5 fans"
    assert clean_ag_news_text("held\\new talks") == "held new talks"


def test_class_out_of_range(tiny_bert, tmp_path):
    path = write(tmp_path, "train.csv", '"1","a","b"\n"5","a","b"\n')
    assert format_error(AgNewsReader(tiny_bert), path, 2) == "expected a class number from 1 to 4, found '5'"


def test_wrong_column_count(tiny_bert, tmp_path):
    path = write(tmp_path, "train.csv", '"1","a title only"\n')
    detail = format_error(AgNewsReader(tiny_bert), path, 1)
    assert detail == "expected 3 comma-separated columns (class, title, description), found 2"


def test_empty_text(tiny_bert, tmp_path):
    path = write(tmp_path, "train.csv", '"1","a","b"\n"2"," ","\\\\"\n')
    assert "expected a non-empty title or description" in format_error(AgNewsReader(tiny_bert), path, 2)


def test_unterminated_quote(tiny_bert, tmp_path):
    path = write(tmp_path, "train.csv", '"1","a","b"\n"2","a title,"b\n"3","c","d"\n')
    assert "malformed" in format_error(AgNewsReader(tiny_bert), path, 2)


HEADER_ROWS = ["Class Index,Title,Description", "label,title,description", '"CLASS_INDEX","Title","description"']


@pytest.mark.parametrize("header", HEADER_ROWS)
def test_a_header_row_is_skipped(tiny_bert, tmp_path, header):
    path = write(tmp_path, "train.csv", f'\n{header}\n"3","a","b"\n"4","c","d"\n')
    assert labels(list(AgNewsReader(tiny_bert).read(path))) == ["Business", "Sci/Tech"]


@pytest.mark.parametrize(
    "first_row, found",
    [("Category,Title,Description", "'Category'"), ("label,title,summary", "'label'"), ('"5","a","b"', "'5'")],
)
def test_a_malformed_first_row_is_still_an_error(tiny_bert, tmp_path, first_row, found):
    path = write(tmp_path, "train.csv", f'{first_row}\n"3","a","b"\n')
    assert format_error(AgNewsReader(tiny_bert), path, 1) == f"expected a class number from 1 to 4, found {found}"


def test_a_header_row_after_the_first_row_is_an_error(tiny_bert, tmp_path):
    path = write(tmp_path, "train.csv", '"1","a","b"\nlabel,title,description\n')
    assert format_error(AgNewsReader(tiny_bert), path, 2) == "expected a class number from 1 to 4, found 'label'"


def test_the_agnews_config_counts_the_rows_under_a_header(tiny_bert, tmp_path, monkeypatch, capsys):
    path = write(tmp_path, "train.csv", 'Class Index,Title,Description\n"3","a","b"\n"4","c","d"\n"1","e","f"\n')
    monkeypatch.setenv("TRAIN_DATA", path)
    monkeypatch.setenv("TRANSFORMER_MODEL", tiny_bert)
    config = os.path.join(REPO_ROOT, "training_config", "agnews.jsonnet")
    arguments = ["allennlp", "count-instances", config, "--include-package", "sledgehammer"]
    monkeypatch.setattr(sys, "argv", arguments)
    allennlp_main()
    assert "One epoch of training contains 3 instances" in capsys.readouterr().out
