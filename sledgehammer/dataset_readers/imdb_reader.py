import os
import re
from typing import Iterable, List, Optional, Tuple

from allennlp.common.file_utils import cached_path
from allennlp.data.dataset_readers.dataset_reader import DatasetReader

from sledgehammer.dataset_readers.transformer_classification_reader import (
    DatasetFormatError,
    Example,
    TransformerClassificationReader,
    require_text,
)

IMDB_LABELS = {"neg": "negative", "pos": "positive"}
_LINE_BREAK_TAG = re.compile(r"<br\s*/?>", re.IGNORECASE)


def _review_order(name: str) -> Tuple[int, int, str]:
    # `<id>_<rating>.txt` files in numeric id order; anything else after them, by name.
    review_id = name.split("_", 1)[0]
    return (0, int(review_id), name) if review_id.isdigit() else (1, 0, name)


@DatasetReader.register("sledgehammer_imdb")
class ImdbReader(TransformerClassificationReader):
    """
    Reads the IMDB movie reviews of Maas et al. (2011) in their official layout: `file_path` is a
    directory such as `aclImdb/train` or `aclImdb/test` with `pos/` and `neg/` subdirectories holding
    one review per `<id>_<rating>.txt` file (other subdirectories, such as `unsup/`, are ignored).
    Labels are `"positive"` and `"negative"`; `<br />` tags in the reviews become spaces.

    Reviews are read in a fixed order, by numeric id and then negative before positive, so the two
    classes alternate (which keeps `max_instances` samples balanced). An empty review file is an error.

    Registered as a `DatasetReader` with name "sledgehammer_imdb".

    # Parameters

    transformer_model : `str`
        Name or path of the pretrained transformer whose tokenizer is used.
    **kwargs
        Passed to `TransformerClassificationReader` (`max_length`, `split_fraction`, `split_part`,
        `split_seed`) and `DatasetReader` (`max_instances`).
    """

    def _read_examples(self, file_path: str) -> Iterable[Optional[Example]]:
        directory = cached_path(file_path)
        reviews: List[Tuple[Tuple[int, int, str], str, str]] = []
        for folder, label in IMDB_LABELS.items():
            path = os.path.join(directory, folder)
            if not os.path.isdir(path):
                raise DatasetFormatError(
                    file_path,
                    None,
                    f"expected a directory with pos/ and neg/ subdirectories of <id>_<rating>.txt "
                    f"reviews (such as aclImdb/train), found no {folder}/ subdirectory",
                )
            names = [name for name in os.listdir(path) if name.endswith(".txt")]
            if not names:
                raise DatasetFormatError(
                    os.path.join(file_path, folder), None, "expected <id>_<rating>.txt reviews, found none"
                )
            reviews.extend((_review_order(name), folder, label) for name in names)
        for (_, _, name), folder, label in sorted(reviews):
            with open(os.path.join(directory, folder, name), encoding="utf-8") as review_file:
                text = _LINE_BREAK_TAG.sub(" ", review_file.read())
            source = os.path.join(file_path, folder, name)
            yield Example(require_text(text, source, None, "the review file"), None, label)
