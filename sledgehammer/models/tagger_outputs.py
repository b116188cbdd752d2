"""
What `EarlyExitTagger` reports besides its answers: per-word lists for people, and a clear error for gold tags
it does not know (this module registers nothing).
"""
from typing import Any, Dict, List

from allennlp.common.checks import ConfigurationError
from allennlp.data import Instance, Vocabulary


def human_readable(vocab: Vocabulary, namespace: str, output_dict: Dict[str, Any]) -> Dict[str, Any]:
    """Adds, per sentence, one entry per word: `tags` (strings), `confidences` and `exit_layers`."""
    labels = vocab.get_index_to_token_vocabulary(namespace)
    lengths = output_dict["mask"].sum(dim=1).tolist()
    rows = zip(lengths, output_dict["tags"].tolist(), output_dict["confidence"].tolist(),
               output_dict["exit_layer"].tolist())
    tags, confidences, exit_layers = [], [], []
    for length, row_tags, row_confidences, row_layers in rows:
        tags.append([labels[i] for i in row_tags[:length]])
        confidences.append(row_confidences[:length])
        exit_layers.append(row_layers[:length])
    output_dict.update(tags=tags, confidences=confidences, exit_layers=exit_layers)
    return output_dict


def check_known_tags(vocab: Vocabulary, namespace: str, instances: List[Instance]) -> None:
    """A `ConfigurationError` naming the first gold tag of `instances` that `namespace` does not know."""
    known = vocab.get_token_to_index_vocabulary(namespace)
    for instance in instances:
        if "tags" not in instance.fields:
            continue
        for position, tag in enumerate(instance["tags"].labels):  # type: ignore
            if tag not in known:
                source = instance["metadata"]["source"] if "metadata" in instance.fields else None
                raise ConfigurationError(
                    f"unknown tag {tag!r} (word {position + 1}{f' of {source}' if source else ''}): the model "
                    f"knows the {len(known)} tags {', '.join(sorted(known))}"
                )
