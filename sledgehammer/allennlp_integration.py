"""
Every change sledgehammer makes to AllenNLP, in one place: what it patches, why, and when it is installed.

`import sledgehammer` registers the plugin's components (readers, models, predictors, policies, commands,
callback) and installs the **library patches**: the ones that make loading configs and archives behave as the
plugin documents, in a notebook or a service as much as on the command line. The **command-line patches** concern
AllenNLP's own commands only (their input checks and their error output, including a `sys.excepthook`); they are
installed when the plugin is imported by `allennlp` itself (`.allennlp_plugins` or `--include-package`), or when
AllenNLP's `main()` is called in a process that imported the plugin before. Plain library use therefore leaves
`sys.excepthook` alone.

Library patches (`LIBRARY_PATCHES`):

| patch | replaces | why |
|---|---|---|
| config variables | `allennlp.common.params._environment_variables` | the configs in `training_config/` read unset environment variables (`TRAIN_DATA`, `NUM_EPOCHS`, ...) as "use my default"; jsonnet fails on unset `std.extVar`s |
| partial model overrides | `allennlp.common.params.with_overrides` | `--overrides '{"model": {"threshold": 0.9}}'` changes the keys given instead of replacing the whole model section |
| safe extraction | `allennlp.models.archival.extracted_archive` (the function object itself too, so code that imported it earlier is covered) and `cached_path`'s tar member check | archives are untrusted input: a member outside the folder, a link leading out, a device file, or members beyond the size and number limits are refused before anything is written (`load_archive`, `from_archive` models, the `pretrained` initializer, `cached_path(..., extract_archive=True)` used by vocabularies, sharded readers and `allennlp diff`) |
| safe weights | `allennlp.nn.util.read_state_dict` and the `pretrained` initializer | a pickle in `weights.th` could run code: weights are unpickled with an allow-list of what a saved state dict needs; any other global is refused, naming the archive member and the global |
| optional extras | `allennlp.common.util.import_module_and_submodules` | `--include-package sledgehammer` imports every submodule, and the server's and the ONNX Runtime comparison's need optional extras: on a plain `pip install -e .` a submodule whose extra is missing is skipped (logged), as AllenNLP skips its own checklist modules, instead of failing every command |

Command-line patches (`COMMAND_LINE_PATCHES`):

| patch | replaces | why |
|---|---|---|
| predict input | `allennlp.commands.predict._PredictManager` | input errors name the file and line, a byte order mark is skipped, an empty input is an error |
| evaluate input | `allennlp.commands.evaluate.DataLoader` | a data file without instances, or with a label the model does not know, is an error naming the file |
| one-line errors | `sys.excepthook` | errors about the user's input (archives, data files, the plugin's settings in `--overrides` or `--predictor-args`) print as one line, like argparse's usage errors |

Each patch has a test through the CLI (`tests/test_allennlp_integration.py`).
"""
import sys
from typing import Callable, Dict

from allennlp import commands as allennlp_commands

from sledgehammer.commands import evaluate_input, predict_input
from sledgehammer.common import (
    cli_errors,
    config_variables,
    model_overrides,
    optional_extras,
    safe_extraction,
    safe_weights,
)

LIBRARY_PATCHES: Dict[str, Callable[[], None]] = {
    "config variables": config_variables.install,
    "partial model overrides": model_overrides.install,
    "safe extraction": safe_extraction.install,
    "safe weights": safe_weights.install,
    "optional extras": optional_extras.install,
}
COMMAND_LINE_PATCHES: Dict[str, Callable[[], None]] = {
    "predict input": predict_input.install,
    "evaluate input": evaluate_input.install,
    "one-line errors": cli_errors.install,
}

_allennlp_main = allennlp_commands.main


def running_allennlp_main() -> bool:
    """Whether the code running now was called from AllenNLP's command-line `main()`."""
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code is _allennlp_main.__code__:
            return True
        frame = frame.f_back
    return False


def install_command_line_patches() -> None:
    """Installs every command-line patch (each installs itself once)."""
    for install in COMMAND_LINE_PATCHES.values():
        install()


def main_with_command_line_patches(*args, **kwargs):
    """AllenNLP's `main()`, with the command-line patches installed first."""
    install_command_line_patches()
    return _allennlp_main(*args, **kwargs)


def install() -> None:
    """
    Installs the library patches, and the command-line patches when AllenNLP's `main()` is running; otherwise
    makes a later call of `allennlp.commands.main()` in this process install them first.
    """
    for install_patch in LIBRARY_PATCHES.values():
        install_patch()
    if running_allennlp_main():
        install_command_line_patches()
    else:
        allennlp_commands.main = main_with_command_line_patches
