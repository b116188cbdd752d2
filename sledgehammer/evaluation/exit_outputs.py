"""
One pass of an early-exit classifier over some data with every exit computed, kept for offline analysis
(calibration, speed/accuracy trade-offs): the raw logits of every exit, the gold labels and the lengths.
"""
from dataclasses import dataclass
from typing import List, Optional

import torch
from allennlp.common.tqdm import Tqdm
from allennlp.data import Instance
from allennlp.data.data_loaders import SimpleDataLoader
from allennlp.nn.util import move_to_device

from sledgehammer.models import EarlyExitClassifier


@dataclass
class ExitOutputs:
    """
    What every exit of an early-exit classifier said about some rows, on the CPU.

    # Parameters

    exit_logits : `torch.Tensor`
        Raw (not temperature-scaled) logits of every exit, `(num_rows, num_exits, num_labels)`, float.
    labels : `Optional[torch.Tensor]`
        Gold label indices, `(num_rows,)` long, or `None` for unlabelled data.
    lengths : `torch.Tensor`
        Word pieces of each row (special tokens included, padding excluded), `(num_rows,)` long.
    """

    exit_logits: torch.Tensor
    labels: Optional[torch.Tensor]
    lengths: torch.Tensor

    def __post_init__(self) -> None:
        if self.exit_logits.dim() != 3:
            raise ValueError(
                f"exit_logits must be (rows, exits, labels), got shape {tuple(self.exit_logits.shape)}"
            )
        rows = self.exit_logits.shape[0]
        if self.lengths.shape != (rows,):
            raise ValueError(f"lengths must be ({rows},), got shape {tuple(self.lengths.shape)}")
        if self.labels is not None and self.labels.shape != (rows,):
            raise ValueError(f"labels must be ({rows},), got shape {tuple(self.labels.shape)}")

    @property
    def num_rows(self) -> int:
        return self.exit_logits.shape[0]

    @property
    def num_exits(self) -> int:
        return self.exit_logits.shape[1]


def collect_exit_outputs(
    model: EarlyExitClassifier,
    instances: List[Instance],
    batch_size: int = 32,
    cuda_device: int = -1,
) -> ExitOutputs:
    """
    Runs `model` over `instances` in evaluation mode, without gradients and with its threshold set to
    1.0 for the pass (an `EarlyExitTagger`'s rows are its words: every real word of every sentence becomes
    one row, its gold tag the label and its sentence's word-piece count the length) (so every exit runs for every row; the threshold is restored afterwards, also on
    errors), and returns every exit's raw logits, the gold labels (when the instances have a `label`
    field) and the rows' lengths in word pieces.

    # Parameters

    model : `EarlyExitClassifier`
    instances : `List[Instance]`
        Instances with their token indexers set (as a dataset reader returns them); they are indexed
        with the model's vocabulary here.
    batch_size : `int`, optional (default = `32`)
    cuda_device : `int`, optional (default = `-1`)
        The device the model is on (-1 for the CPU).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    loader = SimpleDataLoader(instances, batch_size, vocab=model.vocab)
    was_training = model.training
    all_logits: List[torch.Tensor] = []
    all_labels: List[torch.Tensor] = []
    all_lengths: List[torch.Tensor] = []
    model.eval()
    try:
        with torch.no_grad(), model.settings(threshold=1.0, all_heads=True):
            for batch in Tqdm.tqdm(loader, desc="running every exit"):
                batch = move_to_device(batch, cuda_device)
                output = model(**batch)
                exit_logits = output["exit_logits"].detach().float()
                lengths = batch["tokens"]["tokens"]["mask"].sum(dim=1).long()
                labels = batch.get("label")
                if exit_logits.dim() == 4:  # a tagger: (sentences, words, exits, labels) -> one row per word
                    words = output["mask"].bool()
                    exit_logits = exit_logits[words]
                    lengths = lengths[:, None].expand_as(words)[words]
                    labels = batch["tags"][words] if "tags" in batch else None
                all_logits.append(exit_logits.cpu())
                all_lengths.append(lengths.cpu())
                if labels is not None:
                    all_labels.append(labels.detach().long().cpu())
    finally:
        model.train(was_training)
    if not all_logits:
        num_labels = model.num_labels
        empty = torch.zeros(0, dtype=torch.long)
        return ExitOutputs(torch.zeros(0, model.num_exits, num_labels), empty, empty.clone())
    if all_labels and len(all_labels) != len(all_logits):
        raise ValueError("some instances have a 'label' field and others do not")
    labels = torch.cat(all_labels) if all_labels else None
    return ExitOutputs(torch.cat(all_logits), labels, torch.cat(all_lengths))
