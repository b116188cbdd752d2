"""
Reading model weights (`weights.th`, `best.th`) without running code from them.

A weights file is a pickle, and unpickling calls whatever global the pickle names: an archive whose
`weights.th` holds one extra entry that reduces to `os.system(...)` runs that command as soon as
`torch.load` reads it, before any check of the state dict. torch 1.12 has no `weights_only`, but
`torch.load(f, pickle_module=M)` unpickles with a subclass of `M.Unpickler` whose `find_class` falls
back to `M.Unpickler.find_class` for every global but storage types (and reads the metadata of the
legacy format with `M.load`). `load_weights` passes a module whose `Unpickler.find_class` returns only
the globals of `ALLOWED_GLOBALS`, the ones `torch.save` of a state dict needs: tensor, parameter and
storage rebuilding, dtypes, `collections.OrderedDict`, plain containers and numbers (the set
torch 2's `weights_only` loading allows). Any other global is refused with an `UnsafeWeightsError`
naming the archive, the member and the global; nothing it names is imported or called. Weights
saved by AllenNLP (or any `torch.save` of a state dict) load exactly as before.

`install()` makes every weights read of AllenNLP's model loading go through `load_weights`:

- `allennlp.nn.util.read_state_dict`, which `Model._load` calls for the weights of `load_archive`
  (`allennlp predict`, `allennlp evaluate`, `from_archive` models, a tagger's `initial_archive`,
  `--compare` archives, `calibrate`, `tradeoff`) and of `Model.load` on a serialization folder;
- the `pretrained` initializer, re-registered as `SafePretrainedModelInitializer`.
"""
import codecs
import collections
import io
import os
import pickle
import tarfile
import types
import zipfile
from typing import Any, Dict, List, Optional, Tuple, Union

import _compat_pickle
import torch
from allennlp.models import archival
from allennlp.nn import initializers
from allennlp.nn import util as nn_util

from sledgehammer.common.archive_files import ArchiveError, UnsafeArchiveError
from sledgehammer.common.safe_extraction import extraction_source

_allennlp_read_state_dict = nn_util.read_state_dict

WeightsPath = Union[str, "os.PathLike[str]"]


def _allowed_globals() -> Dict[Tuple[str, str], Any]:
    allowed: Dict[Tuple[str, str], Any] = {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("builtins", "set"): set,
        ("builtins", "frozenset"): frozenset,
        ("builtins", "bytearray"): bytearray,
        ("builtins", "complex"): complex,
        # Protocol 2 (torch.save's) pickles `bytes` as `_codecs.encode(text, "latin1")`.
        ("_codecs", "encode"): codecs.encode,
        ("torch", "Size"): torch.Size,
        ("torch", "Tensor"): torch.Tensor,
        ("torch", "device"): torch.device,
        ("torch.nn.parameter", "Parameter"): torch.nn.Parameter,
        ("torch.serialization", "_get_layout"): torch.serialization._get_layout,
        ("torch._tensor", "_rebuild_from_type_v2"): torch._tensor._rebuild_from_type_v2,
    }
    for name in (
        "_rebuild_tensor",
        "_rebuild_tensor_v2",
        "_rebuild_parameter",
        "_rebuild_sparse_tensor",
        "_rebuild_sparse_csr_tensor",
        "_rebuild_meta_tensor_no_storage",
    ):
        allowed[("torch._utils", name)] = getattr(torch._utils, name)
    for name in dir(torch):
        value = getattr(torch, name)
        if isinstance(value, torch.dtype) or (name.endswith("Storage") and isinstance(value, type)):
            allowed[("torch", name)] = value
    return allowed


# (module, name) -> the object a pickle may name: nothing else is ever looked up or imported.
ALLOWED_GLOBALS: Dict[Tuple[str, str], Any] = _allowed_globals()


class UnsafeWeightsError(UnsafeArchiveError):
    """A weights file names a global that a state dict saved with `torch.save` does not need."""


def allowed_global(module: str, name: str, source: str) -> Any:
    """
    The object `module.name` of `ALLOWED_GLOBALS`; an `UnsafeWeightsError` naming `source` and the
    global otherwise. Python 2 names (`__builtin__.set`, written by protocol 2 pickles) are read as
    their Python 3 names, as `pickle` does.

    # Parameters

    module : `str`
    name : `str`
        The global as the pickle names it.
    source : `str`
        How to name the weights file in the error message (see `describe_weights_file`).
    """
    key = (module, name)
    if key in _compat_pickle.NAME_MAPPING:
        key = _compat_pickle.NAME_MAPPING[key]
    elif module in _compat_pickle.IMPORT_MAPPING:
        key = (_compat_pickle.IMPORT_MAPPING[module], name)
    if key in ALLOWED_GLOBALS:
        return ALLOWED_GLOBALS[key]
    raise UnsafeWeightsError(
        f"unsafe {source} holds the global {module}.{name}, which a state dict saved with torch.save does not "
        f"need; refused without running it (weights may only rebuild tensors, OrderedDicts, plain "
        f"containers and numbers)"
    )


def restricted_pickle_module(source: str) -> types.SimpleNamespace:
    """
    A stand-in for the `pickle` module, for `torch.load(f, pickle_module=...)`: its `Unpickler` and
    `load` resolve globals with `allowed_global` only, naming `source` in errors.
    """

    class RestrictedUnpickler(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> Any:
            return allowed_global(module, name, source)

    def load(file, **kwargs) -> Any:
        return RestrictedUnpickler(file, **kwargs).load()

    return types.SimpleNamespace(__name__=__name__, Unpickler=RestrictedUnpickler, load=load)


def describe_weights_file(path: WeightsPath) -> str:
    """
    How errors name a weights file: `archive A: member 'weights.th'` for a file of an archive
    extracted by the plugin, `weights file PATH` for any other file.
    """
    path = os.fspath(path)
    source = extraction_source(path)
    if source is None:
        return f"weights file {path}"
    archive, member = source
    return f"archive {archive}: member {member!r}"


def load_weights(path: WeightsPath, map_location: Any = None) -> Dict[str, Any]:
    """
    Reads a state dict saved with `torch.save` (either serialization format) without running code
    from it.

    # Parameters

    path : `Union[str, os.PathLike]`
        The weights file.
    map_location : optional (default = `None`)
        As for `torch.load`.

    # Returns

    The state dict, exactly as `torch.load` returns it.

    # Raises

    `UnsafeWeightsError` for a global outside `ALLOWED_GLOBALS` (before it is imported or called) and
    for a TorchScript program; `ArchiveError` when the file holds something else than a dict.
    """
    source = describe_weights_file(path)
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            if any(record.split("/")[-1] == "constants.pkl" for record in archive.namelist()):
                raise UnsafeWeightsError(f"unsafe {source} is a TorchScript program, expected a state dict")
    state = torch.load(path, map_location=map_location, pickle_module=restricted_pickle_module(source))
    if not isinstance(state, dict):
        raise ArchiveError(
            f"{source} holds a {type(state).__name__}, expected a state dict "
            f"(parameter name -> tensor)"
        )
    return state


def read_state_dict_safely(
    path: WeightsPath,
    strip_prefix: Optional[str] = None,
    ignore: Optional[List[str]] = None,
    strict: bool = True,
    cuda_device: int = -1,
) -> Dict[str, torch.Tensor]:
    """
    AllenNLP's `read_state_dict` (same parameters, same result), reading the file with
    `load_weights`. With `strip_prefix` or `ignore`, AllenNLP's own function renames and filters
    the keys, given the checked state dict saved again to memory.
    """
    state = load_weights(path, map_location=nn_util.device_mapping(cuda_device))
    if strip_prefix is None and ignore is None:
        return collections.OrderedDict((key, state[key]) for key in state.keys())
    checked = _in_memory(state)
    return _allennlp_read_state_dict(checked, strip_prefix, ignore, strict, cuda_device)  # type: ignore[arg-type]


def _in_memory(state: Dict[str, Any]) -> io.BytesIO:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return buffer


class SafePretrainedModelInitializer(initializers.PretrainedModelInitializer):
    """
    AllenNLP's `pretrained` initializer (same parameters and behaviour), reading the weights file, or
    the weights of a model archive, with `load_weights`.

    Registered as an `Initializer` with name "pretrained", in place of AllenNLP's.

    # Parameters

    weights_file_path : `str`
        A weights file, or a model archive (extracted safely, see `safe_extraction`).
    parameter_name_overrides : `Dict[str, str]`, optional (default = `None`)
        New parameter name -> name in the pretrained weights.
    """

    def __init__(self, weights_file_path: str, parameter_name_overrides: Dict[str, str] = None) -> None:
        # Not super().__init__(), which reads the file with torch.load.
        if tarfile.is_tarfile(weights_file_path):
            with archival.extracted_archive(weights_file_path) as extraction_path:
                self.weights = load_weights(archival.get_weights_path(extraction_path), map_location="cpu")
        else:
            self.weights = load_weights(weights_file_path, map_location="cpu")
        self.parameter_name_overrides = parameter_name_overrides or {}


def install() -> None:
    """
    Makes AllenNLP's model loading read weights with `read_state_dict_safely`, and the `pretrained`
    initializer with `SafePretrainedModelInitializer`.
    """
    nn_util.read_state_dict = read_state_dict_safely
    initializers.Initializer.register("pretrained", exist_ok=True)(SafePretrainedModelInitializer)


