"""
The sequence labeling readers on the real files in `../shared/datasets` (relative to the repository
root), with the sentence and token counts its README gives. Skipped only where that folder does not exist.
"""
from collections import Counter
from pathlib import Path

import pytest

from allennlp.data.dataset_readers.dataset_utils.span_utils import (
    bio_tags_to_spans,
    iob1_tags_to_spans,
)

from sledgehammer.dataset_readers import Conll2000Reader, Conll2003Reader, ConlluReader, Wnut17Reader
from sledgehammer.dataset_readers.sequence_tagging_reader import convert_span_tags

DATASETS = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"

pytestmark = pytest.mark.skipif(not DATASETS.is_dir(), reason=f"{DATASETS} does not exist")

# reader, options, file, sentences, tokens, span types (or number of distinct tags)
CHUNK_TYPES = {"NP", "VP", "PP", "ADVP", "ADJP", "SBAR", "PRT", "CONJP", "INTJ", "LST", "UCP"}
CASES = {
    "conll2003_dev_ner": (Conll2003Reader, {}, "conll2003/dev.txt", 3250, 51362,
                          {"PER", "LOC", "ORG", "MISC"}),
    "conll2003_dev_chunk": (Conll2003Reader, dict(tag_column="chunk"), "conll2003/dev.txt", 3250, 51362,
                            None),
    "conll2003_dev_pos": (Conll2003Reader, dict(tag_column="pos"), "conll2003/dev.txt", 3250, 51362,
                          None),
    "conll2000_train": (Conll2000Reader, {}, "conll2000/train.txt", 8936, 211727, CHUNK_TYPES),
    "ud_ewt_dev_upos": (ConlluReader, {}, "ud_en_ewt/en_ewt-ud-dev.conllu", 2001, 25147, 17),
    "ud_ewt_dev_xpos": (ConlluReader, dict(tag_column="xpos"), "ud_en_ewt/en_ewt-ud-dev.conllu", 2001,
                        25147, None),
    "wnut17_dev": (Wnut17Reader, {}, "wnut17/emerging.dev.conll", 1009, 15733,
                   {"person", "location", "corporation", "product", "creative-work", "group"}),
}


def sentences(reader, path):
    """The sentences a reader parses from a file, before tokenization."""
    return list(reader._read_sentences(str(path)))


@pytest.mark.parametrize("case", sorted(CASES))
def test_whole_real_file_parses_with_readme_counts(tiny_bert, case):
    reader_class, options, relative, num_sentences, num_tokens, expected_tags = CASES[case]
    parsed = sentences(reader_class(tiny_bert, **options), DATASETS / relative)
    assert len(parsed) == num_sentences
    assert sum(len(sentence.words) for sentence in parsed) == num_tokens
    assert all(len(sentence.words) == len(sentence.tags) for sentence in parsed)
    assert "-DOCSTART-" not in {sentence.words[0] for sentence in parsed}
    tags = Counter(tag for sentence in parsed for tag in sentence.tags)
    if isinstance(expected_tags, set):
        assert {tag[2:] for tag in tags if tag != "O"} == expected_tags
    elif expected_tags is not None:
        assert len(tags) == expected_tags


def test_conll2003_iob1_chunks_become_consistent_bio(tiny_bert):
    path = DATASETS / "conll2003" / "dev.txt"
    chunks = sentences(Conll2003Reader(tiny_bert, tag_column="chunk"), path)
    ner = sentences(Conll2003Reader(tiny_bert), path)
    converted = 0
    for chunk_sentence, ner_sentence in zip(chunks, ner):
        bio = convert_span_tags(chunk_sentence.tags, "BIO")
        assert bio_tags_to_spans(bio) == iob1_tags_to_spans(chunk_sentence.tags)
        assert all(tag[0] == "O" or tag[0] == "B" or previous[2:] == tag[2:]
                   for previous, tag in zip(["O"] + bio, bio))
        converted += bio != chunk_sentence.tags
        # The NER column is BIO already: left unchanged.
        assert convert_span_tags(ner_sentence.tags, "BIO") == ner_sentence.tags
    assert converted > 3000


@pytest.mark.parametrize("case", sorted(CASES))
def test_first_instances_of_real_file(tiny_bert, case):
    reader_class, options, relative, *_ = CASES[case]
    path = DATASETS / relative
    reader = reader_class(tiny_bert, max_instances=50, **options)
    instances = list(reader.read(path))
    parsed = sentences(reader, path)[:50]
    assert len(instances) == 50
    for instance, sentence in zip(instances, parsed):
        metadata = instance["metadata"].metadata
        assert metadata["words"] == [token.text for token in instance["tokens"].tokens] == sentence.words
        assert metadata["source"] == f"{path}:{sentence.lines[0]}"
        assert len(instance["tags"].labels) == len(sentence.words)


def test_whole_wnut17_dev_file_gives_one_instance_per_sentence(tiny_bert):
    instances = list(Wnut17Reader(tiny_bert).read(DATASETS / "wnut17" / "emerging.dev.conll"))
    assert len(instances) == 1009
    assert sum(len(instance["tokens"].tokens) for instance in instances) == 15733
    assert not any("chunk" in instance["metadata"].metadata for instance in instances)


def test_conll2000_split_into_train_and_held_out(tiny_bert):
    path = DATASETS / "conll2000" / "train.txt"
    options = dict(split_fraction=0.05, split_seed=13)
    held_out = list(Conll2000Reader(tiny_bert, split_part="held_out", **options).read(path))
    rest_reader = Conll2000Reader(tiny_bert, **options)  # split_part "rest"
    parsed = sentences(rest_reader, path)
    rest = [sentence for i, sentence in enumerate(parsed) if rest_reader._in_split(i)]
    assert 300 < len(held_out) < 600
    assert len(held_out) + len(rest) == len(parsed) == 8936
    sources = {f"{path}:{sentence.lines[0]}" for sentence in parsed}
    held_out_sources = {instance["metadata"]["source"] for instance in held_out}
    assert held_out_sources == sources - {f"{path}:{sentence.lines[0]}" for sentence in rest}
