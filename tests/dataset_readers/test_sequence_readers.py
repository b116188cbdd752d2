import random

import pytest

from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.data import Batch, DatasetReader, Vocabulary

from sledgehammer.dataset_readers import (
    Conll2000Reader,
    Conll2003Reader,
    ConlluReader,
    Wnut17Reader,
)
from sledgehammer.dataset_readers.sequence_tagging_reader import convert_span_tags
from tests.dataset_readers.common import format_error, write

# Line numbers: 1 -DOCSTART-, 2 blank, 3-8 first sentence, 9 blank, 10-11 second, 12 blank, 13 DOCSTART,
# 14 blank, 15-17 third. The chunk column is IOB1 and the NER column BIO, as in the shared copy.
CONLL2003 = """-DOCSTART- -X- -X- O

EU NNP I-NP B-ORG
rejects VBZ I-VP O
German JJ I-NP B-MISC
call NN I-NP O
to TO I-VP O
boycott VB I-VP O

Peter NNP I-NP B-PER
Blackburn NNP I-NP I-PER

-DOCSTART- -X- -X- O

the DT I-NP O
dog NN I-NP O
sleeps VBZ I-VP O
"""

CONLL2000 = """Confidence NN B-NP
in IN B-PP
the DT B-NP
pound NN I-NP

is VBZ B-VP
widely RB I-VP
"""

# Lines 1-2 comments, 3 multiword token, 4-5 its words, 6 word, 7 empty node, 8 word, 9 blank,
# 10 comment, 11-12 words.
CONLLU = """# sent_id = 1
# text = Don't go there.
1-2\tDon't\t_\t_\t_\t_\t_\t_\t_\t_
1\tDo\tdo\tAUX\tVBP\t_\t3\taux\t3:aux\t_
2\tn't\tnot\tPART\tRB\t_\t3\tadvmod\t3:advmod\t_
3\tgo\tgo\tVERB\tVB\t_\t0\troot\t0:root\t_
3.1\tgo\tgo\tVERB\tVB\t_\t_\t_\t3:conj\t_
4\tthere\tthere\tADV\tRB\t_\t3\tadvmod\t3:advmod\tSpaceAfter=No

# sent_id = 2
1\tHello\thello\tINTJ\tUH\t_\t0\troot\t0:root\t_
2\t!\t!\tPUNCT\t.\t_\t1\tpunct\t1:punct\t_
"""

# Line 4 holds only a tab, line 7 only spaces: both end a sentence, like an empty line.
WNUT = (
    "Stabilized\tO\napproach\tO\n?\tO\n\t\nRedondo\tB-location\nBeach\tI-location\n   \nyou\tO\n"
    "\nok\tO\n"
)


def tags_of(instances):
    return [instance["tags"].labels for instance in instances]


def words_of(instances):
    return [[token.text for token in instance["tokens"].tokens] for instance in instances]


@pytest.mark.parametrize(
    "tag_column, expected",
    [
        (
            "ner",
            [["B-ORG", "O", "B-MISC", "O", "O", "O"], ["B-PER", "I-PER"], ["O", "O", "O"]],
        ),
        (  # IOB1 input, BIO output
            "chunk",
            [["B-NP", "B-VP", "B-NP", "I-NP", "B-VP", "I-VP"], ["B-NP", "I-NP"],
             ["B-NP", "I-NP", "B-VP"]],
        ),
        (
            "pos",
            [["NNP", "VBZ", "JJ", "NN", "TO", "VB"], ["NNP", "NNP"], ["DT", "NN", "VBZ"]],
        ),
    ],
)
def test_conll2003_columns(tiny_bert, tmp_path, tag_column, expected):
    path = write(tmp_path, "eng.testa", CONLL2003)
    instances = list(Conll2003Reader(tiny_bert, tag_column=tag_column).read(path))
    assert tags_of(instances) == expected
    assert words_of(instances)[1] == ["Peter", "Blackburn"]
    assert all("-DOCSTART-" not in words for words in words_of(instances))
    metadata = [instance["metadata"].metadata for instance in instances]
    assert [m["source"] for m in metadata] == [f"{path}:3", f"{path}:10", f"{path}:15"]
    assert metadata[1] == {"words": ["Peter", "Blackburn"], "source": f"{path}:10", "tags": expected[1]}
    assert all(instance["tags"]._label_namespace == "labels" for instance in instances)


def test_conll2003_iob1_output_and_iob1_ner_input(tiny_bert, tmp_path):
    iob1_ner = "New NNP I-NP I-LOC\nYork NNP I-NP I-LOC\nBoston NNP I-NP B-LOC\nthe DT I-NP O\n"
    path = write(tmp_path, "iob1.txt", iob1_ner)
    bio = list(Conll2003Reader(tiny_bert).read(path))
    assert tags_of(bio) == [["B-LOC", "I-LOC", "B-LOC", "O"]]
    iob1 = list(Conll2003Reader(tiny_bert, coding_scheme="IOB1").read(path))
    assert tags_of(iob1) == [["I-LOC", "I-LOC", "B-LOC", "O"]]
    chunks = list(Conll2003Reader(tiny_bert, tag_column="chunk", coding_scheme="IOB1").read(path))
    assert tags_of(chunks) == [["I-NP"] * 4]


@pytest.mark.parametrize(
    "tags, bio, iob1",
    [
        (["I-X", "I-X", "B-X", "O", "I-Y", "I-X"], ["B-X", "I-X", "B-X", "O", "B-Y", "B-X"],
         ["I-X", "I-X", "B-X", "O", "I-Y", "I-X"]),
        (["B-X", "I-X", "B-Y", "B-Y", "O", "B-X"], ["B-X", "I-X", "B-Y", "B-Y", "O", "B-X"],
         ["I-X", "I-X", "I-Y", "B-Y", "O", "I-X"]),
        (["O", "O"], ["O", "O"], ["O", "O"]),
        (["B-PER-x", "I-PER-x"], ["B-PER-x", "I-PER-x"], ["I-PER-x", "I-PER-x"]),
    ],
)
def test_convert_span_tags(tags, bio, iob1):
    assert convert_span_tags(tags, "BIO") == bio
    assert convert_span_tags(tags, "IOB1") == iob1
    for scheme, coded in (("BIO", bio), ("IOB1", iob1)):
        assert convert_span_tags(coded, scheme) == coded
        assert convert_span_tags(bio, scheme) == convert_span_tags(iob1, scheme) == coded


@pytest.mark.parametrize(
    "tag_column, expected",
    [("chunk", [["B-NP", "B-PP", "B-NP", "I-NP"], ["B-VP", "I-VP"]]),
     ("pos", [["NN", "IN", "DT", "NN"], ["VBZ", "RB"]])],
)
def test_conll2000(tiny_bert, tmp_path, tag_column, expected):
    path = write(tmp_path, "train.txt", CONLL2000)
    instances = list(Conll2000Reader(tiny_bert, tag_column=tag_column).read(path))
    assert tags_of(instances) == expected
    assert words_of(instances) == [["Confidence", "in", "the", "pound"], ["is", "widely"]]


@pytest.mark.parametrize(
    "tag_column, expected",
    [("upos", [["AUX", "PART", "VERB", "ADV"], ["INTJ", "PUNCT"]]),
     ("xpos", [["VBP", "RB", "VB", "RB"], ["UH", "."]])],
)
def test_conllu_skips_comments_multiword_tokens_and_empty_nodes(
    tiny_bert, tmp_path, tag_column, expected
):
    path = write(tmp_path, "ud.conllu", CONLLU)
    instances = list(ConlluReader(tiny_bert, tag_column=tag_column).read(path))
    assert words_of(instances) == [["Do", "n't", "go", "there"], ["Hello", "!"]]
    assert tags_of(instances) == expected
    assert [i["metadata"]["source"] for i in instances] == [f"{path}:4", f"{path}:11"]


def test_wnut17_whitespace_only_lines_end_sentences(tiny_bert, tmp_path):
    path = write(tmp_path, "emerging.dev.conll", WNUT)
    instances = list(Wnut17Reader(tiny_bert).read(path))
    assert words_of(instances) == [
        ["Stabilized", "approach", "?"], ["Redondo", "Beach"], ["you"], ["ok"]
    ]
    assert tags_of(instances) == [["O", "O", "O"], ["B-location", "I-location"], ["O"], ["O"]]
    assert [i["metadata"]["source"] for i in instances] == [f"{path}:{n}" for n in (1, 5, 8, 10)]


@pytest.mark.parametrize(
    "reader_class, content, line, expected",
    [
        (Conll2003Reader, "EU NNP I-NP B-ORG\n\nrejects VBZ I-VP\n",
         3, "expected 4 space-separated columns (word, POS, chunk, NER), found 3"),
        (Conll2003Reader, "EU NNP I-NP B-ORG\nrejects VBZ I-VP S-PER\n",
         2, "expected a NER tag in column 4 that is O or B-<type> or I-<type> (IOB1 or BIO), "
         "found 'S-PER'"),
        (Conll2000Reader, "\n\nthe DT B-NP extra\n",
         3, "expected 3 space-separated columns (word, POS, chunk), found 4"),
        (Wnut17Reader, "you\tO\n\nRedondo\n",
         3, "expected 2 tab-separated columns (word, tag), found 1"),
        (Wnut17Reader, "you\tO\n \tO\n", 2, "expected a non-empty word in column 1, found it empty"),
        (Wnut17Reader, "you\tO\nok\t \n", 2, "expected a tag in column 2, found it empty"),
        (Wnut17Reader, "you\tB-\n", 1,
         "expected a tag in column 2 that is O or B-<type> or I-<type> (IOB1 or BIO), found 'B-'"),
        (ConlluReader, CONLLU.replace("2\tn't\tnot\tPART\tRB\t_\t3", "2\tn't\tnot\tPART\tRB\t3"), 5,
         "expected 10 tab-separated columns (ID FORM LEMMA UPOS XPOS FEATS HEAD DEPREL DEPS MISC), "
         "found 9"),
        (ConlluReader, CONLLU.replace("\n\n# sent_id = 2\n", "\n"), 9,
         "expected word ID 5 in column 1 (IDs run 1, 2, ... within a sentence; is a blank line missing "
         "before this one?), found '1'"),
        (ConlluReader, CONLLU.replace("3.1\t", "3a\t"), 7,
         "expected a word ID (1, 2, ...), a multiword token range (3-4) or an empty node (8.1) in "
         "column 1, found '3a'"),
        (ConlluReader, CONLLU.replace("\tgo\tgo\tVERB", "\t\tgo\tVERB", 1), 6,
         "expected a non-empty FORM in column 2, found it empty"),
        (ConlluReader, CONLLU.replace("INTJ", "_"),
         11, "expected a UPOS tag in column 4, found an unannotated _"),
    ],
)
def test_malformed_line_names_file_and_line(tiny_bert, tmp_path, reader_class, content, line, expected):
    path = write(tmp_path, "data.txt", content)
    assert format_error(reader_class(tiny_bert), path, line) == expected


def test_missing_file_names_the_path(tiny_bert, tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.conll"):
        list(Wnut17Reader(tiny_bert).read(tmp_path / "nowhere.conll"))


# Word pieces with the tiny BERT: "the", "dog", "sleeps", "in", "park", "." 1 each, "New" 1, "York" 4.
LONG = (
    "the\tO\ndog\tO\nsleeps\tO\nin\tO\nthe\tO\n"
    "New\tB-location\nYork\tI-location\npark\tI-location\n.\tO\n"
)


def test_long_sentence_is_split_into_chunks_of_whole_words(tiny_bert, tmp_path):
    path = write(tmp_path, "long.conll", "\n" + LONG)
    reader = Wnut17Reader(tiny_bert, max_word_pieces=7)  # 5 word pieces besides [CLS] and [SEP]
    instances = list(reader.read(path))
    assert words_of(instances) == [["the", "dog", "sleeps", "in", "the"], ["New", "York"], ["park", "."]]
    # The span New York park crosses a chunk boundary: each chunk is consistent BIO.
    assert tags_of(instances) == [["O"] * 5, ["B-location", "I-location"], ["B-location", "O"]]
    metadata = [instance["metadata"].metadata for instance in instances]
    assert [m["chunk"] for m in metadata] == [0, 1, 2]
    assert {m["source"] for m in metadata} == {f"{path}:2"}
    vocab = Vocabulary.from_instances(instances)
    for instance in instances:
        instance.index_fields(vocab)
        assert len(instance["tokens"]._indexed_tokens["tokens"]["token_ids"]) <= 7
    whole = list(Wnut17Reader(tiny_bert, max_word_pieces=16).read(path))
    assert words_of(whole) == [sum(words_of(instances), [])]
    assert "chunk" not in whole[0]["metadata"].metadata


def test_word_longer_than_max_word_pieces_names_the_line(tiny_bert, tmp_path):
    path = write(tmp_path, "long.conll", LONG)
    detail = format_error(Wnut17Reader(tiny_bert, max_word_pieces=5), path, 7)
    assert detail == (
        "expected a word of at most 3 word pieces (max_word_pieces=5 minus 2 special tokens), "
        "found 'York' with 4"
    )


def test_text_to_instance_for_prediction(tiny_bert):
    reader = Conll2003Reader(tiny_bert)
    instance = reader.text_to_instance(["the", "dog", "sleeps"])
    assert set(instance.fields) == {"tokens", "metadata"}
    assert instance["metadata"].metadata == {"words": ["the", "dog", "sleeps"], "source": None}
    tagged = reader.text_to_instance(["New", "York"], ["I-LOC", "I-LOC"])
    assert tagged["tags"].labels == ["B-LOC", "I-LOC"]
    other = reader.text_to_instance(["the", "dog", "sleeps"], ["O", "O", "O"])
    vocab = Vocabulary.from_instances([tagged, other])
    batch = Batch([tagged, other])
    batch.index_instances(vocab)
    tensors = batch.as_tensor_dict()
    assert set(tensors) == {"tokens", "metadata", "tags"}
    indexed = {"token_ids", "mask", "type_ids", "offsets", "wordpiece_mask"}
    assert set(tensors["tokens"]["tokens"]) == indexed
    assert tensors["tokens"]["tokens"]["offsets"][0].tolist() == [[1, 1], [2, 5], [0, 0]]
    unlabeled = Batch([instance])
    unlabeled.index_instances(vocab)
    assert set(unlabeled.as_tensor_dict()) == {"tokens", "metadata"}
    with pytest.raises(ValueError, match="max_word_pieces=5"):
        Conll2003Reader(tiny_bert, max_word_pieces=5).text_to_instance(["New", "York"])
    with pytest.raises(ValueError, match="one tag per word"):
        reader.text_to_instance(["the", "dog"], ["O"])


def test_split_fraction_is_deterministic(tiny_bert, tmp_path):
    sentences = "".join(f"w{i} NN B-NP\n\n" for i in range(40))
    path = write(tmp_path, "train.txt", sentences)

    def read(**options):
        return [i["metadata"]["words"][0] for i in Conll2000Reader(tiny_bert, **options).read(path)]

    held_out = read(split_fraction=0.25, split_part="held_out")
    rest = read(split_fraction=0.25)
    assert held_out == read(split_fraction=0.25, split_part="held_out")
    assert sorted(held_out + rest, key=lambda w: int(w[1:])) == read()
    assert not set(held_out) & set(rest) and 0 < len(held_out) < 20
    # The rule of the classification readers: sentence i is held out iff its draw is below the fraction.
    assert held_out == [f"w{i}" for i in range(40) if random.Random(f"13:{i}").random() < 0.25]
    assert held_out != read(split_fraction=0.25, split_part="held_out", split_seed=14)


@pytest.mark.parametrize(
    "reader_class, options, message",
    [
        (Conll2003Reader, dict(tag_column="lemma"), "tag_column must be one of ner, chunk, pos"),
        (Conll2003Reader, dict(coding_scheme="BIOUL"), "coding_scheme must be one of IOB1, BIO"),
        (ConlluReader, dict(tag_column="ner"), "tag_column must be one of upos, xpos"),
        (Wnut17Reader, dict(max_word_pieces=2), "max_word_pieces must be at least 3"),
        (Conll2000Reader, dict(split_part="held_out"), "needs split_fraction"),
        (Conll2000Reader, dict(split_fraction=1.0), "strictly between 0 and 1"),
    ],
)
def test_bad_options(tiny_bert, reader_class, options, message):
    with pytest.raises(ConfigurationError, match=message):
        reader_class(tiny_bert, **options)


@pytest.mark.parametrize(
    "name, reader_class",
    [("sledgehammer_conll2003", Conll2003Reader), ("sledgehammer_conll2000", Conll2000Reader),
     ("sledgehammer_conllu", ConlluReader), ("sledgehammer_wnut17", Wnut17Reader)],
)
def test_registered_names(tiny_bert, name, reader_class):
    params = Params({"type": name, "transformer_model": tiny_bert, "max_word_pieces": 128})
    reader = DatasetReader.from_params(params)
    assert type(reader) is reader_class and reader._max_word_pieces == 128
