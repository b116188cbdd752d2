"""Dataset readers for (sentence-pair) classification with a pretrained transformer."""
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
