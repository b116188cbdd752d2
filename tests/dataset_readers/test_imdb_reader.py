import pytest

from sledgehammer.dataset_readers import DatasetFormatError, ImdbReader
from tests.dataset_readers.common import FIXTURES, examples, format_error, labels

IMDB = FIXTURES / "imdb"


def test_reads_pos_and_neg_in_id_order(tiny_bert):
    reader = ImdbReader(tiny_bert)
    assert labels(list(reader.read(IMDB))) == ["negative", "positive", "positive", "negative"]
    texts = [e.text for e in examples(reader, IMDB)]
    assert texts == [
        "The worst movie. Awful plot, boring actors.",
        "A great movie, the best film of the year.  I love it.",
        "Good fun, with very funny actors.",
        "Bad, bad, bad.",
    ]


def test_max_instances_alternates_classes(tiny_bert):
    assert labels(list(ImdbReader(tiny_bert, max_instances=2).read(IMDB))) == ["negative", "positive"]


def make_imdb(root, reviews):
    for relative, text in reviews.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return str(root)


def test_empty_review_file(tiny_bert, tmp_path):
    reviews = {"pos/0_9.txt": "good", "neg/0_2.txt": "bad", "neg/3_1.txt": "<br />"}
    root = make_imdb(tmp_path / "train", reviews)
    with pytest.raises(DatasetFormatError) as info:
        list(ImdbReader(tiny_bert).read(root))
    expected = "expected non-empty text in the review file, found it empty"
    assert str(info.value) == f"{root}/neg/3_1.txt: {expected}"


@pytest.mark.parametrize("present", [[], ["pos"], ["neg", "unsup"]])
def test_directory_without_pos_and_neg(tiny_bert, tmp_path, present):
    reviews = {f"{folder}/0_1.txt": "text" for folder in present} or {"README": "x"}
    root = make_imdb(tmp_path / "aclImdb", reviews)
    detail = format_error(ImdbReader(tiny_bert), root, None)
    assert detail.startswith("expected a directory with pos/ and neg/ subdirectories")


def test_subdirectory_without_reviews(tiny_bert, tmp_path):
    root = make_imdb(tmp_path / "train", {"pos/0_9.txt": "good", "neg/notes.md": "x"})
    with pytest.raises(ValueError, match="neg: expected <id>_<rating>.txt reviews, found none"):
        list(ImdbReader(tiny_bert).read(root))


def test_missing_directory(tiny_bert, tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        list(ImdbReader(tiny_bert).read(str(tmp_path / "nowhere")))
