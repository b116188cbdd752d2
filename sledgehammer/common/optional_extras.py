"""
`--include-package sledgehammer` on an install without the optional extras.

`--include-package` imports every submodule of the package (`allennlp.common.util.import_module_and_submodules`).
A few of sledgehammer's modules need an optional extra of `setup.py`: the server and the load generator need
`serve` (Starlette, uvicorn, prometheus_client, httpx, aiohttp), the ONNX Runtime comparison needs `bench`
(onnxruntime, onnx). On a plain `pip install -e .` their imports fail, and AllenNLP's walk would fail the whole
command with them: `allennlp predict ... --include-package sledgehammer` would not run for want of a web server.

AllenNLP's walk already leaves out its own modules whose optional dependency is missing (its checklist modules).
`install()` gives sledgehammer the same: a submodule of sledgehammer whose import fails because a library of an
optional extra is not installed is skipped, with a log line naming the extra. Any other import error still fails
the command, and the commands that need an extra (`serve-early-exit`, `serve-ray`, `predict-corpus`) say which
one when they run without it.
"""
import logging
from typing import Dict, Optional, Set

from allennlp.common import util as allennlp_util

logger = logging.getLogger(__name__)

PACKAGE = "sledgehammer"
# Each optional extra of setup.py and the top-level modules it brings that sledgehammer's modules import.
EXTRA_LIBRARIES: Dict[str, Set[str]] = {
    "serve": {"starlette", "uvicorn", "prometheus_client", "httpx", "aiohttp", "httptools", "uvloop"},
    "bench": {"onnxruntime", "onnx"},
    "ray": {"ray", "fastapi"},
}

_walk_submodules = allennlp_util.import_module_and_submodules


def extra_of(error: ModuleNotFoundError) -> Optional[str]:
    """The optional extra whose missing library `error` is about, or `None` when it is no extra's."""
    library = (error.name or "").split(".")[0]
    return next((extra for extra, libraries in EXTRA_LIBRARIES.items() if library in libraries), None)


def import_module_and_submodules(package_name: str, exclude: Optional[Set[str]] = None) -> None:
    """
    `allennlp.common.util.import_module_and_submodules`, except that a submodule of sledgehammer that needs a
    missing optional extra is skipped (logged) instead of failing the walk.
    """
    try:
        _walk_submodules(package_name, exclude=exclude)
    except ModuleNotFoundError as error:
        extra = extra_of(error)
        if extra is None or not package_name.startswith(PACKAGE + "."):
            raise
        logger.info("%s not imported: it needs the %r extra (pip install 'sledgehammer[%s]'; no module named %r)",
                    package_name, extra, extra, error.name)


def install() -> None:
    """
    Makes AllenNLP's package walk skip sledgehammer's modules whose optional extra is missing. The walk calls
    itself by its module-level name for every subpackage, so replacing that name also covers a walk that began
    before sledgehammer was imported (`--include-package sledgehammer` imports the package first, then walks).
    """
    allennlp_util.import_module_and_submodules = import_module_and_submodules
