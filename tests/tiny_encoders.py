"""
Tiny random transformer encoders written to disk at test time, so the suite needs no downloaded weights.

`build_tiny_encoder(kind, directory)` saves a randomly initialised model and a matching tokenizer that
`AutoModel.from_pretrained(directory)` / `AutoTokenizer.from_pretrained(directory)` can load.
"""
import json
import os
from typing import List

import torch
import transformers

# Enough real words that the test fixtures tokenize into more than [UNK]s.
WORDS: List[str] = (
    "the a an and or but not no is was are be it this that film movie story good bad great awful "
    "best worst love hate funny boring fun dull plot acting actor actors director man woman men women "
    "dog dogs cat cats play plays playing sleeps sleeping runs running on in at of to with for by "
    "outside inside park street sits sitting stands standing wins lost game team market stocks price "
    "company world sports business tech science new year says said people very really just too "
    "."
).split()
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
KINDS = ("bert", "roberta", "distilbert", "electra", "mpnet")


def _write_wordpiece_vocab(directory: str, special: List[str] = SPECIAL) -> str:
    chars = sorted({c for word in WORDS for c in word} | set("0123456789,!?'-"))
    vocab = special + WORDS + chars + ["##" + c for c in chars]
    path = os.path.join(directory, "vocab.txt")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(dict.fromkeys(vocab)) + "\n")
    return path


def _write_bpe_vocab(directory: str) -> None:
    byte_chars = transformers.models.gpt2.tokenization_gpt2.bytes_to_unicode()
    tokens = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"] + sorted(set(byte_chars.values()))
    with open(os.path.join(directory, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump({tok: i for i, tok in enumerate(tokens)}, f)
    with open(os.path.join(directory, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n")


def build_tiny_encoder(kind: str, directory: str, num_layers: int = 4, hidden_size: int = 32) -> str:
    """
    Writes a tiny random encoder of the given family (one of `KINDS`) to `directory` and returns it. The weights
    come from a fixed seed (without touching the global random state), so tests do not depend on their order.
    """
    with torch.random.fork_rng():
        torch.manual_seed(2)
        return _build_tiny_encoder(kind, directory, num_layers, hidden_size)


def _build_tiny_encoder(kind: str, directory: str, num_layers: int, hidden_size: int) -> str:
    os.makedirs(directory, exist_ok=True)
    common = dict(
        num_attention_heads=4, intermediate_size=2 * hidden_size, max_position_embeddings=128
    )
    if kind in ("bert", "electra", "distilbert", "mpnet"):
        special = ["<s>", "<pad>", "</s>", "<unk>"] + SPECIAL + ["<mask>"] if kind == "mpnet" else SPECIAL
        vocab_file = _write_wordpiece_vocab(directory, special)
        vocab_size = sum(1 for _ in open(vocab_file, encoding="utf-8"))
    if kind == "bert":
        config = transformers.BertConfig(
            vocab_size=vocab_size, hidden_size=hidden_size, num_hidden_layers=num_layers, **common
        )
        model = transformers.BertModel(config)
        tokenizer = transformers.BertTokenizer(vocab_file)
    elif kind == "electra":
        config = transformers.ElectraConfig(
            vocab_size=vocab_size,
            embedding_size=hidden_size // 2,
            hidden_size=hidden_size,
            num_hidden_layers=num_layers,
            **common,
        )
        model = transformers.ElectraModel(config)
        tokenizer = transformers.ElectraTokenizer(vocab_file)
    elif kind == "distilbert":
        config = transformers.DistilBertConfig(
            vocab_size=vocab_size,
            dim=hidden_size,
            n_layers=num_layers,
            n_heads=4,
            hidden_dim=2 * hidden_size,
            max_position_embeddings=128,
        )
        model = transformers.DistilBertModel(config)
        tokenizer = transformers.DistilBertTokenizer(vocab_file)
    elif kind == "mpnet":
        config = transformers.MPNetConfig(
            vocab_size=vocab_size, hidden_size=hidden_size, num_hidden_layers=num_layers, **common
        )
        model = transformers.MPNetModel(config)
        tokenizer = transformers.MPNetTokenizer(vocab_file)
    elif kind == "roberta":
        _write_bpe_vocab(directory)
        tokenizer = transformers.RobertaTokenizer(
            os.path.join(directory, "vocab.json"), os.path.join(directory, "merges.txt")
        )
        config = transformers.RobertaConfig(
            vocab_size=len(tokenizer),
            hidden_size=hidden_size,
            num_hidden_layers=num_layers,
            pad_token_id=tokenizer.pad_token_id,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            type_vocab_size=1,
            **{**common, "max_position_embeddings": 130},
        )
        model = transformers.RobertaModel(config)
    else:
        raise ValueError(f"unknown encoder kind {kind!r}; expected one of {KINDS}")
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory
