"""
Ray stays out of every `allennlp` command's start: `import sledgehammer` imports neither Ray nor the serving
libraries, and importing every submodule, as `--include-package sledgehammer` does (`pkgutil.walk_packages`, which
imports subpackages by their bare name: why the package is `on_ray`, not `ray`), imports no Ray either.
"""
import subprocess
import sys

from tests.commands.conftest import REPO_ROOT

CHECK = """
import sys
import sledgehammer
print(sorted(name for name in ("ray", "uvicorn", "starlette", "fastapi") if name in sys.modules))
from allennlp.common.util import import_module_and_submodules
import_module_and_submodules("sledgehammer")
assert "sledgehammer.on_ray.corpus_job" in sys.modules and "sledgehammer.commands.serve_ray" in sys.modules
print(sorted(name for name in sys.modules if name == "ray" or name.startswith("ray.")))
"""


def test_importing_the_plugin_imports_no_ray():
    result = subprocess.run([sys.executable, "-c", CHECK], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["[]", "[]"]
