from sledgehammer.dataset_readers import AgNewsReader
from sledgehammer.dataset_readers.ag_news_reader import clean_ag_news_text
from tests.dataset_readers.common import FIXTURES, examples, format_error, labels, write

AG_NEWS = FIXTURES / "ag_news.csv"


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
