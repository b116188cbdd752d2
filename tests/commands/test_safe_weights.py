"""
No code runs from a model archive: every path that reads `weights.th` (`allennlp predict`, `allennlp evaluate`,
`calibrate`, `tradeoff --compare`, a tagger's `initial_archive`, `from_archive` models, the `pretrained`
initializer) unpickles it with
an allow-list, refuses a pickle that names any other global before it runs, and names the member and the
global; the weights of ordinary archives load, and predict, exactly as before.
"""
import io
import json
import os

import pytest
import torch
from allennlp.common import Params
from allennlp.data import Vocabulary
from allennlp.models import Model
from allennlp.models.archival import load_archive
from allennlp.nn import util as nn_util
from allennlp.nn.initializers import Initializer
from allennlp.predictors import Predictor

from sledgehammer.common import safe_weights
from sledgehammer.common.archive_files import ArchiveError, read_archive_member, write_archive_with_replacements
from sledgehammer.common.safe_weights import UnsafeWeightsError, allowed_global, load_weights, read_state_dict_safely
from sledgehammer.models import EarlyExitTagger
from tests.commands.conftest import assert_one_line_error, run_allennlp_cli, run_allennlp_in_process


class TouchFile:
    """Pickles to `os.system("touch PATH")`: unpickling it creates PATH."""

    def __init__(self, path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return os.system, (f"touch {self.path}",)


def saved(state, legacy: bool = False) -> bytes:
    buffer = io.BytesIO()
    torch.save(state, buffer, _use_new_zipfile_serialization=not legacy)
    return buffer.getvalue()


def archive_with_payload(source, destination, marker, legacy: bool = False) -> str:
    """A copy of the archive `source` whose state dict holds one more entry, which creates `marker` when unpickled."""
    state = torch.load(io.BytesIO(read_archive_member(source, "weights.th")))
    state["extra"] = TouchFile(marker)
    write_archive_with_replacements(source, destination, {"weights.th": saved(state, legacy)})
    return str(destination)


@pytest.mark.parametrize("command, legacy", [("predict", False), ("evaluate", True)],
                         ids=["predict", "evaluate-legacy"])
def test_the_command_line_refuses_a_pickle_payload_before_it_runs(tiny_trained_archive, tmp_path, command, legacy):
    marker = tmp_path / "payload-ran"
    archive = archive_with_payload(tiny_trained_archive.archive, tmp_path / "model.tar.gz", marker, legacy)
    if command == "predict":
        data = tmp_path / "in.jsonl"
        data.write_text('{"sentence": "a good film"}\n')
    else:
        data = tiny_trained_archive.dev_data
    output = tmp_path / "out.json"
    result = run_allennlp_cli(command, archive, data, "--output-file", output)
    assert result.returncode != 0
    assert_one_line_error(result.stderr, f"allennlp {command}: error: ",
                          f"unsafe archive {archive}: member 'weights.th' holds the global posix.system")
    assert not marker.exists()
    assert not output.exists()


def test_calibrate_and_tradeoff_compare_refuse_a_payload(tiny_trained_archive, tmp_path, monkeypatch, capsys):
    marker = tmp_path / "payload-ran"
    folder = tmp_path / "evil"
    folder.mkdir()
    archive = archive_with_payload(tiny_trained_archive.archive, folder / "model.tar.gz", marker)
    dev = tiny_trained_archive.dev_data
    for arguments in (
        ("calibrate", archive, dev),
        ("tradeoff", tiny_trained_archive.archive, dev, "--output-dir", tmp_path / "out", "--compare", archive),
    ):
        with pytest.raises(SystemExit):
            run_allennlp_in_process(monkeypatch, *arguments)
        assert_one_line_error(capsys.readouterr().err, f"allennlp {arguments[0]}: error: ", "global posix.system")
        assert not marker.exists()


def test_an_initial_archive_with_a_payload_is_refused(tiny_tagger_archive, tiny_bert, tmp_path):
    marker = tmp_path / "payload-ran"
    archive = archive_with_payload(tiny_tagger_archive, tmp_path / "model.tar.gz", marker)
    vocab = Vocabulary.from_files(str(tiny_tagger_archive))
    with pytest.raises(UnsafeWeightsError, match=r"member 'weights.th' holds the global posix.system"):
        EarlyExitTagger(vocab, tiny_bert, initial_archive=archive)
    assert not marker.exists()


def test_a_from_archive_model_with_a_payload_is_refused(tiny_trained_archive, tmp_path):
    marker = tmp_path / "payload-ran"
    archive = archive_with_payload(tiny_trained_archive.archive, tmp_path / "model.tar.gz", marker)
    params = Params({"type": "from_archive", "archive_file": archive})
    with pytest.raises(UnsafeWeightsError, match=r"member 'weights.th' holds the global posix.system"):
        Model.from_params(params, vocab=Vocabulary())
    assert not marker.exists()


def test_the_pretrained_initializer_reads_weights_safely(tiny_trained_archive, tmp_path):
    marker = tmp_path / "payload-ran"
    archive = archive_with_payload(tiny_trained_archive.archive, tmp_path / "model.tar.gz", marker)
    with pytest.raises(UnsafeWeightsError, match="posix.system"):
        Initializer.from_params(Params({"type": "pretrained", "weights_file_path": archive}))
    weights_file = tmp_path / "weights.th"
    weights_file.write_bytes(read_archive_member(archive, "weights.th"))
    with pytest.raises(UnsafeWeightsError, match=f"unsafe weights file {weights_file} holds the global posix.system"):
        Initializer.from_params(Params({"type": "pretrained", "weights_file_path": str(weights_file)}))
    assert not marker.exists()
    initializer = Initializer.from_params(
        Params({"type": "pretrained", "weights_file_path": tiny_trained_archive.archive})
    )
    expected = torch.load(io.BytesIO(read_archive_member(tiny_trained_archive.archive, "weights.th")))
    assert list(initializer.weights) == list(expected)
    assert all(torch.equal(initializer.weights[key], expected[key]) for key in expected)


def predictions(archive_file: str, sentences):
    predictor = Predictor.from_archive(load_archive(archive_file), "sledgehammer_classifier")
    return [json.dumps(predictor.predict_json({"sentence": sentence}), sort_keys=True) for sentence in sentences]


def test_archives_made_before_load_and_predict_exactly_as_before(tiny_trained_archive, monkeypatch):
    sentences = [line.split("\t")[0] for line in open(tiny_trained_archive.dev_data).read().splitlines()[1:]]
    assert nn_util.read_state_dict is read_state_dict_safely  # installed by the plugin
    safely = predictions(tiny_trained_archive.archive, sentences)
    monkeypatch.setattr(nn_util, "read_state_dict", safe_weights._allennlp_read_state_dict)
    assert predictions(tiny_trained_archive.archive, sentences) == safely
    assert len(safely) == 40 and len(set(safely)) > 1


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_every_kind_of_state_dict_entry_loads_as_torch_load_reads_it(tmp_path, legacy):
    dense = torch.arange(6, dtype=torch.float64).reshape(2, 3)
    state = torch.nn.Linear(3, 2).state_dict()
    state.update({
        "view": dense[:, 1],  # shares dense's storage
        "dense": dense,
        "parameter": torch.nn.Parameter(torch.ones(2)),
        "sparse": torch.eye(3).to_sparse(),
        "half": torch.zeros(2, dtype=torch.float16),
        "flags": torch.tensor([True, False]),
        "int8": torch.tensor([1, -1], dtype=torch.int8),
        "complex": torch.tensor([1 + 2j]),
        "metadata": {"version": 2, "name": "x", "bytes": b"\x00\xff", "set": {1, 2}, "frozen": frozenset("ab"),
                     "number": 1.5j, "size": torch.Size([2, 3]), "dtype": torch.bfloat16, "nested": [(1, None)]},
    })
    path = tmp_path / "weights.th"
    path.write_bytes(saved(state, legacy))
    loaded, expected = load_weights(path), torch.load(path)
    assert type(loaded) is type(expected) and list(loaded) == list(expected)
    assert loaded._metadata == expected._metadata
    for key, value in expected.items():
        if isinstance(value, torch.Tensor):
            assert type(loaded[key]) is type(value) and loaded[key].dtype == value.dtype
            assert torch.equal(loaded[key].to_dense(), value.to_dense())
        else:
            assert loaded[key] == value
    assert loaded["view"].storage().data_ptr() == loaded["dense"].storage().data_ptr()


@pytest.mark.parametrize(
    "module, name",
    [("builtins", "eval"), ("os", "system"), ("posix", "system"), ("subprocess", "Popen"), ("builtins", "getattr"),
     ("torch", "load"), ("torch._utils", "_rebuild_device_tensor_from_numpy"), ("__builtin__", "exec")],
)
def test_globals_outside_the_allow_list_are_refused(module, name):
    with pytest.raises(UnsafeWeightsError, match=f"unsafe weights file w.th holds the global {module}.{name},"):
        allowed_global(module, name, "weights file w.th")


def test_python_2_names_of_allowed_globals_are_allowed():
    assert allowed_global("__builtin__", "set", "w.th") is set
    assert allowed_global("torch", "float32", "w.th") is torch.float32


def test_torchscript_programs_and_other_objects_are_refused(tmp_path):
    program = tmp_path / "program.th"
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(program))
    with pytest.raises(UnsafeWeightsError, match=f"weights file {program} is a TorchScript program"):
        load_weights(program)
    listed = tmp_path / "list.th"
    listed.write_bytes(saved([torch.ones(1)]))
    with pytest.raises(ArchiveError, match=f"weights file {listed} holds a list, expected a state dict"):
        load_weights(listed)


def test_prefixes_and_ignored_keys_are_handled_as_by_allennlp(tmp_path):
    path = tmp_path / "weights.th"
    path.write_bytes(saved({"encoder.a": torch.ones(1), "encoder.b": torch.zeros(2), "head.c": torch.ones(3)}))
    ours = read_state_dict_safely(path, strip_prefix="encoder.", ignore=[r"head\."])
    theirs = safe_weights._allennlp_read_state_dict(path, strip_prefix="encoder.", ignore=[r"head\."])
    assert list(ours) == list(theirs) == ["a", "b"]
    assert all(torch.equal(ours[key], theirs[key]) for key in theirs)
    with pytest.raises(ValueError, match="never used"):
        read_state_dict_safely(path, strip_prefix="decoder.")
