import pytest

from allennlp.common.checks import ConfigurationError

from sledgehammer.dataset_readers import SstTreesReader
from tests.dataset_readers.common import FIXTURES, examples, format_error, labels, write

TREES = FIXTURES / "sst_trees.txt"


@pytest.mark.parametrize(
    "granularity, expected",
    [
        ("2-class", ["positive", "negative", "positive", "negative"]),
        ("3-class", ["positive", "negative", "neutral", "positive", "negative"]),
        ("5-class", ["4", "0", "2", "3", "1"]),
    ],
)
def test_granularity(tiny_bert, granularity, expected):
    reader = SstTreesReader(tiny_bert, granularity=granularity)
    assert labels(list(reader.read(TREES))) == expected


def test_default_is_binary(tiny_bert):
    expected = ["positive", "negative", "positive", "negative"]
    assert labels(list(SstTreesReader(tiny_bert).read(TREES))) == expected


def test_text_is_the_leaves(tiny_bert):
    texts = [e.text for e in examples(SstTreesReader(tiny_bert, granularity="5-class"), TREES)]
    assert texts == ["a great film .", "the worst movie", "it is a film", "a good ( fun )", "it 's not good"]


def test_invalid_granularity(tiny_bert):
    with pytest.raises(ConfigurationError):
        SstTreesReader(tiny_bert, granularity="binary")


@pytest.mark.parametrize(
    "bad_tree, expected",
    [
        ("(3 (2 It) (4 works)", "expected one bracketed PTB tree such as '(3 (2 It) (4 works))', "
                                "found expected ')' but got 'end-of-string' at index 19."),
        ("(3 (2 It) (4 works)))", "expected one bracketed PTB tree"),
        ("It works", "expected one bracketed PTB tree"),
        ("(x (2 It) (4 works))", "expected a root sentiment label 0-4, found 'x'"),
        ("(3 )", "expected a tree with words, found none"),
    ],
)
def test_bad_trees(tiny_bert, tmp_path, bad_tree, expected):
    path = write(tmp_path, "train.txt", "(4 (4 good))\n\n" + bad_tree + "\n(0 (0 bad))\n")
    assert format_error(SstTreesReader(tiny_bert), path, 3).startswith(expected)
