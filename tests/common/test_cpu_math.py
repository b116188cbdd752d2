"""
MKL's fast fp32 kernels on AMD processors: `MKL_DEBUG_CPU_TYPE=5` is set on an AMD processor only, never over a
value the user set, and `import sledgehammer` sets it before anything runs a matrix product.
"""
import os
import subprocess
import sys

import pytest

from sledgehammer.common.cpu_math import cpu_vendor, use_fast_mkl_kernels
from tests.commands.conftest import REPO_ROOT


def cpuinfo(tmp_path, vendor):
    path = tmp_path / "cpuinfo"
    path.write_text(f"processor\t: 0\nvendor_id\t: {vendor}\ncpu family\t: 25\n\nprocessor\t: 1\n"
                    f"vendor_id\t: {vendor}\n", encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("vendor, set_it", [("AuthenticAMD", True), ("GenuineIntel", False)])
def test_the_variable_is_set_on_amd_processors_only(tmp_path, vendor, set_it):
    environment = {}
    assert use_fast_mkl_kernels(environment, cpuinfo(tmp_path, vendor)) is set_it
    assert environment == ({"MKL_DEBUG_CPU_TYPE": "5"} if set_it else {})
    assert cpu_vendor(cpuinfo(tmp_path, vendor)) == vendor


def test_a_value_the_user_set_is_kept(tmp_path):
    environment = {"MKL_DEBUG_CPU_TYPE": "2"}
    assert not use_fast_mkl_kernels(environment, cpuinfo(tmp_path, "AuthenticAMD"))
    assert environment == {"MKL_DEBUG_CPU_TYPE": "2"}


def test_importing_the_plugin_sets_it_on_this_machine_when_it_is_amd():
    environment = {key: value for key, value in os.environ.items() if key != "MKL_DEBUG_CPU_TYPE"}
    check = "import os, sledgehammer; print(os.environ.get('MKL_DEBUG_CPU_TYPE'))"
    result = subprocess.run([sys.executable, "-c", check], cwd=REPO_ROOT, env=environment, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    expected = "5" if cpu_vendor() == "AuthenticAMD" else "None"
    assert result.stdout.strip().splitlines()[-1] == expected
