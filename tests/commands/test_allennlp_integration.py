"""
Every patch listed in `sledgehammer.allennlp_integration` is in place through the command line, and plain
`import sledgehammer` (a notebook, a service) installs the library patches but leaves `sys.excepthook` alone.
"""
import io
import json
import os
import subprocess
import sys
import tarfile

import pytest

from sledgehammer import allennlp_integration
from tests.commands.conftest import REPO_ROOT, assert_one_line_error, run_allennlp_cli
from tests.commands.test_safe_archives import with_extra_members
from tests.commands.test_safe_weights import archive_with_payload


def _config_variables(archive, tmp_path):
    # Only TRAIN_DATA, DEV_DATA and TRANSFORMER_MODEL are set: NUM_EPOCHS, SEED, ... read as "use my default".
    data = tmp_path / "sst.tsv"
    rows = open(archive.train_data, encoding="utf-8").read().replace("\tpos\n", "\tpositive\n")
    data.write_text(rows.replace("\tneg\n", "\tnegative\n"), encoding="utf-8")
    env = {"TRAIN_DATA": str(data), "DEV_DATA": str(data), "TRANSFORMER_MODEL": archive.transformer_model}
    for name in ("NUM_EPOCHS", "SEED", "BATCH_SIZE", "TEST_DATA", "EXIT_TARGETS", "CUDA_DEVICE"):
        os.environ.pop(name, None)
    result = run_allennlp_cli("count-instances", "training_config/sst.jsonnet", env=env)
    assert result.returncode == 0, result.stderr
    assert "Success! One epoch of training contains 40 instances." in result.stdout + result.stderr


def _partial_model_overrides(archive, tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text('{"sentence": "good fun"}\n{"sentence": "the worst plot"}\n', encoding="utf-8")
    output = tmp_path / "out.jsonl"
    result = run_allennlp_cli("predict", archive.archive, source, "--output-file", output, "--silent",
                              "--overrides", json.dumps({"model": {"threshold": 0.0}}))
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["exit_index"] for line in output.read_text().splitlines()] == [0, 0]


def _safe_extraction(archive, tmp_path):
    escaped = tmp_path / "escaped.txt"
    member = tarfile.TarInfo(os.path.relpath(escaped, tmp_path / "scratch" / "extracted"))
    evil = with_extra_members(archive.archive, str(tmp_path / "evil.tar.gz"), [(member, b"x")])
    (tmp_path / "scratch").mkdir()
    result = run_allennlp_cli("evaluate", evil, archive.dev_data, env={"TMPDIR": str(tmp_path / "scratch")})
    assert result.returncode == 1 and not escaped.exists()
    assert_one_line_error(result.stderr, "allennlp evaluate: error:", "has a '..' path component")


def _safe_weights(archive, tmp_path):
    marker = tmp_path / "payload-ran"
    evil = archive_with_payload(archive.archive, tmp_path / "model.tar.gz", marker)
    result = run_allennlp_cli("evaluate", evil, archive.dev_data)
    assert result.returncode == 1 and not marker.exists()
    assert_one_line_error(result.stderr, "allennlp evaluate: error:", "weights.th")


def _predict_input(archive, tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text('{"sentence": "good"}\n\n{"text": 3}\n', encoding="utf-8")
    result = run_allennlp_cli("predict", archive.archive, source, "--silent", "--output-file", tmp_path / "out.jsonl")
    assert result.returncode == 1
    assert_one_line_error(result.stderr, "allennlp predict: error:", "in.jsonl, line 3:")


def _evaluate_input(archive, tmp_path):
    empty = tmp_path / "empty.tsv"
    empty.write_text("sentence\tlabel\n", encoding="utf-8")
    result = run_allennlp_cli("evaluate", archive.archive, empty)
    assert result.returncode == 1
    assert_one_line_error(result.stderr, "allennlp evaluate: error:", "has no instances")


def _one_line_errors(archive, tmp_path):
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"not an archive")
    result = run_allennlp_cli("predict", junk, archive.dev_data)
    assert result.returncode == 1
    assert_one_line_error(result.stderr, "allennlp predict: error:", "is not a model archive")


# Makes the optional extras' libraries look uninstalled in a process that has them (imported by `site` at start).
NO_EXTRAS = """
import sys
from importlib.machinery import ModuleSpec

BLOCKED = {blocked!r}


class Missing:
    def create_module(self, spec):
        raise ModuleNotFoundError(f"No module named {{spec.name!r}}", name=spec.name)

    def exec_module(self, module):
        pass


class Blocker:
    def find_spec(self, name, path=None, target=None):
        return ModuleSpec(name, Missing()) if name.split(".")[0] in BLOCKED else None


sys.meta_path.insert(0, Blocker())
"""


def _optional_extras(archive, tmp_path):
    from sledgehammer.common.optional_extras import EXTRA_LIBRARIES

    site = tmp_path / "no_extras"
    site.mkdir()
    blocked = sorted(set().union(*EXTRA_LIBRARIES.values()))
    (site / "sitecustomize.py").write_text(NO_EXTRAS.format(blocked=blocked), encoding="utf-8")
    source = tmp_path / "in.jsonl"
    source.write_text('{"sentence": "good fun"}\n', encoding="utf-8")
    output = tmp_path / "out.jsonl"
    result = run_allennlp_cli("predict", archive.archive, source, "--output-file", output, "--silent",
                              env={"PYTHONPATH": os.pathsep.join([str(site), REPO_ROOT])})
    assert result.returncode == 0, result.stderr
    assert len(output.read_text().splitlines()) == 1
    assert "sledgehammer.serving.app not imported: it needs the 'serve' extra" in result.stderr
    assert "sledgehammer.evaluation.onnx_runtime not imported: it needs the 'bench' extra" in result.stderr


CHECKS = {
    "config variables": _config_variables,
    "partial model overrides": _partial_model_overrides,
    "safe extraction": _safe_extraction,
    "safe weights": _safe_weights,
    "predict input": _predict_input,
    "evaluate input": _evaluate_input,
    "one-line errors": _one_line_errors,
    "optional extras": _optional_extras,
}


def test_every_listed_patch_has_a_check():
    listed = set(allennlp_integration.LIBRARY_PATCHES) | set(allennlp_integration.COMMAND_LINE_PATCHES)
    assert listed == set(CHECKS)


@pytest.mark.parametrize("patch", sorted(CHECKS))
def test_each_patch_is_in_place_through_the_command_line(patch, tiny_trained_archive, tmp_path, monkeypatch):
    monkeypatch.setattr(os, "environ", dict(os.environ))
    CHECKS[patch](tiny_trained_archive, tmp_path)


LIBRARY_USE = """
import sys
hook = sys.excepthook
from allennlp.commands import predict
manager = predict._PredictManager
import sledgehammer
from allennlp.common import params
from allennlp.models import archival
print(sys.excepthook is hook, predict._PredictManager is manager,
      params.with_overrides.__module__, archival.extracted_archive.__module__)
"""


def test_importing_the_library_leaves_the_excepthook_alone_and_makes_loading_safe():
    result = subprocess.run([sys.executable, "-c", LIBRARY_USE], cwd=REPO_ROOT, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "True", "True", "sledgehammer.common.model_overrides", "sledgehammer.common.safe_extraction"
    ]


def test_code_that_imported_extracted_archive_first_and_cached_path_extract_safely(tiny_trained_archive, tmp_path):
    evil = with_extra_members(tiny_trained_archive.archive, str(tmp_path / "evil.tar.gz"),
                              [(tarfile.TarInfo("../escaped.txt"), b"x")])
    script = f"""
from allennlp.models.archival import extracted_archive
import sledgehammer
from allennlp.common.file_utils import cached_path
for attempt in (lambda: extracted_archive({evil!r}).__enter__(), lambda: cached_path({evil!r}, extract_archive=True)):
    try:
        attempt()
        print("extracted")
    except Exception as error:
        print(type(error).__name__)
"""
    env = {**os.environ, "CACHED_PATH_CACHE_ROOT": str(tmp_path / "cache")}
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True,
                            timeout=300, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["UnsafeArchiveError", "UnsafeArchiveError"]
    assert not (tmp_path.parent / "escaped.txt").exists()
    assert isinstance(io.BytesIO(), io.BytesIO)


@pytest.mark.parametrize("module, missing, skipped", [
    ("sledgehammer.serving.app", "starlette.applications", True),
    ("sledgehammer.evaluation.onnx_layers", "onnxruntime", True),
    ("sledgehammer.serving.app", "numpy", False),  # not an extra's library: a broken install, so it fails
    ("other_plugin.server", "starlette", False),  # not sledgehammer's module
])
def test_the_walk_skips_only_a_sledgehammer_module_whose_extra_is_missing(module, missing, skipped, monkeypatch):
    from sledgehammer.common import optional_extras

    def walk(package_name, exclude=None):
        raise ModuleNotFoundError(f"No module named {missing!r}", name=missing)

    monkeypatch.setattr(optional_extras, "_walk_submodules", walk)
    if skipped:
        optional_extras.import_module_and_submodules(module)
    else:
        with pytest.raises(ModuleNotFoundError):
            optional_extras.import_module_and_submodules(module)
