"""
Fast fp32 matrix products on AMD CPUs.

PyTorch 1.12 (the version AllenNLP 2.10 pins) does its fp32 matrix products on the CPU with Intel's MKL 2020.0,
which picks its kernels by the CPU's vendor: on an AMD processor it takes a generic path, however wide the
processor's vector units. On this project's AMD EPYC machines that made the fp32 models several times slower than
the same MKL with its AVX2 kernels (docs/cpu.md, "fp32 on AMD processors"). MKL up to 2020.0 reads the
environment variable `MKL_DEBUG_CPU_TYPE` at its first matrix product; `5` selects the AVX2 kernels whatever the
vendor. The int8 path (fbgemm) and ONNX Runtime pick their kernels by the instructions the processor has, and are
not affected.

`use_fast_mkl_kernels()` sets `MKL_DEBUG_CPU_TYPE=5` on AMD processors when it is not set already; `import
sledgehammer` calls it before anything of the plugin runs a matrix product. It takes effect only if nothing in the
process has run one before (a notebook that computed with torch before importing sledgehammer keeps the path MKL
chose then: set the variable before starting Python). On Intel processors it changes nothing (the variable would
keep MKL from its AVX-512 kernels there).
"""
import os
import platform
from typing import MutableMapping, Optional

VARIABLE = "MKL_DEBUG_CPU_TYPE"
AVX2_KERNELS = "5"
AMD_VENDOR = "AuthenticAMD"


def cpu_vendor(cpuinfo_path: str = "/proc/cpuinfo") -> Optional[str]:
    """The processor's vendor id (`GenuineIntel`, `AuthenticAMD`, ...), or `None` when it cannot be read."""
    try:
        with open(cpuinfo_path, encoding="utf-8", errors="replace") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("vendor_id"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    processor = platform.processor() or ""  # Windows: "AMD64 Family 25 Model 1 Stepping 1, AuthenticAMD"
    return AMD_VENDOR if AMD_VENDOR in processor else None


def use_fast_mkl_kernels(environment: Optional[MutableMapping[str, str]] = None,
                         cpuinfo_path: str = "/proc/cpuinfo") -> bool:
    """
    Sets `MKL_DEBUG_CPU_TYPE=5` in `environment` (the process's by default) on an AMD processor unless the variable
    is set already; returns whether it set it.
    """
    environment = os.environ if environment is None else environment
    if VARIABLE in environment or cpu_vendor(cpuinfo_path) != AMD_VENDOR:
        return False
    environment[VARIABLE] = AVX2_KERNELS
    return True
