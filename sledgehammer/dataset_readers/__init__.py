"""
Dataset readers for a pretrained transformer: single-text and sentence-pair classification (tables, SNLI/MultiNLI
JSONL, SST trees, AG News, IMDB) and sequence tagging (CoNLL-2003, CoNLL-2000, CoNLL-U, WNUT-17).
"""
from sledgehammer.dataset_readers.transformer_classification_reader import (
    DatasetFormatError,
    Example,
    TransformerClassificationReader,
)
from sledgehammer.dataset_readers.table_reader import TableReader
from sledgehammer.dataset_readers.nli_jsonl_reader import NliJsonlReader
from sledgehammer.dataset_readers.sst_trees_reader import SstTreesReader
from sledgehammer.dataset_readers.ag_news_reader import AgNewsReader
from sledgehammer.dataset_readers.imdb_reader import ImdbReader
from sledgehammer.dataset_readers.sequence_tagging_reader import SequenceTaggingReader
from sledgehammer.dataset_readers.conll2003_reader import Conll2003Reader
from sledgehammer.dataset_readers.conll2000_reader import Conll2000Reader
from sledgehammer.dataset_readers.conllu_reader import ConlluReader
from sledgehammer.dataset_readers.wnut17_reader import Wnut17Reader
