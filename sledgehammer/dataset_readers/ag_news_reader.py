import re
from typing import Iterable, List, Optional

from allennlp.data.dataset_readers.dataset_reader import DatasetReader

from sledgehammer.dataset_readers.transformer_classification_reader import (
    DatasetFormatError,
    Example,
    TransformerClassificationReader,
    read_delimited,
)

AG_NEWS_CLASSES = {"1": "World", "2": "Sports", "3": "Business", "4": "Sci/Tech"}
# The column names of the header rows that copies of AG News carry (Kaggle's "Class Index,Title,Description",
# Hugging Face exports' "label,title,description"), compared in lower case with "_" read as a space.
HEADER_COLUMNS = ({"class index", "class", "label"}, {"title"}, {"description", "text"})
_ESCAPED_DOLLAR = "\\$"
_BACKSLASHES = re.compile(r"\\+")


def clean_ag_news_text(text: str) -> str:
    """
    Undoes the escapes of the AG News CSV: `\\$` is a dollar sign, any other run of backslashes stands
    for a line break (`"dwindling\\band"` is "dwindling", newline, "band"), so it becomes a space.
    """
    text = _BACKSLASHES.sub(" ", text.replace(_ESCAPED_DOLLAR, "$"))
    return " ".join(text.split())


def is_ag_news_header(row: List[str]) -> bool:
    """Whether a row is a header row of AG News: three column names as in `HEADER_COLUMNS`."""
    if len(row) != len(HEADER_COLUMNS):
        return False
    names = [" ".join(cell.replace("_", " ").lower().split()) for cell in row]
    return all(name in accepted for name, accepted in zip(names, HEADER_COLUMNS))


@DatasetReader.register("sledgehammer_ag_news")
class AgNewsReader(TransformerClassificationReader):
    """
    Reads AG News in its official CSV format (`ag_news_csv/train.csv`, `test.csv`): three quoted columns
    `"class","title","description"` with class 1 to 4. The official files have no header; a first row
    that names the columns (`Class Index,Title,Description` or `label,title,description`, any case) is
    skipped, and any other first row must be data like the rest. The text is the title and the
    description joined by a space, with the file's backslash escapes undone (`\\$` is `$`, other
    backslashes stand for line breaks and become spaces). Labels are `"World"`, `"Sports"`,
    `"Business"` and `"Sci/Tech"`.

    Registered as a `DatasetReader` with name "sledgehammer_ag_news".

    # Parameters

    transformer_model : `str`
        Name or path of the pretrained transformer whose tokenizer is used.
    **kwargs
        Passed to `TransformerClassificationReader` (`max_length`, `split_fraction`, `split_part`,
        `split_seed`) and `DatasetReader` (`max_instances`).
    """

    def _read_examples(self, file_path: str) -> Iterable[Optional[Example]]:
        for index, (line, row) in enumerate(read_delimited(file_path, ",", quoted=True)):
            if index == 0 and is_ag_news_header(row):
                continue
            if len(row) != 3:
                raise DatasetFormatError(
                    file_path,
                    line,
                    f"expected 3 comma-separated columns (class, title, description), found {len(row)}",
                )
            number, title, description = row
            if number.strip() not in AG_NEWS_CLASSES:
                raise DatasetFormatError(
                    file_path, line, f"expected a class number from 1 to 4, found {number!r}"
                )
            text = f"{clean_ag_news_text(title)} {clean_ag_news_text(description)}".strip()
            if not text:
                raise DatasetFormatError(
                    file_path, line, "expected a non-empty title or description, found both empty"
                )
            yield Example(text, None, AG_NEWS_CLASSES[number.strip()])
