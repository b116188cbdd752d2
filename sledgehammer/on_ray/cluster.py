"""
Starting Ray on this machine, or joining a running cluster, for the commands of this package.

Without an address Ray starts here with the machine's cores and every one of its servers (GCS, raylet, object
manager, workers) bound to 127.0.0.1, without the dashboard: nothing listens beyond this machine. Its workers
inherit this process's environment (so `PYTHONPATH` and the plugin's settings reach them). With an address the
process joins that cluster; the sledgehammer package goes to its workers with the job's runtime environment
(`py_modules`), while AllenNLP and the rest of the stack must be installed on every node (`pip install
'sledgehammer[ray]'`), and archives and input files readable at the same path. When Ray is already initialised
(a notebook, a test), it is used as it is and left running.
"""
import contextlib
import os
from typing import Iterator, Optional

LOOPBACK = "127.0.0.1"


class RayUnavailable(Exception):
    """The `ray` extra is not installed."""


def import_ray():
    """`ray`, or `RayUnavailable` saying how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as error:
        raise RayUnavailable(f"needs the ray extra ({error}); pip install -e '.[ray]' (make install does)") from None
    return ray


@contextlib.contextmanager
def ray_connection(address: Optional[str] = None, num_cpus: Optional[int] = None) -> Iterator[object]:
    """
    Ray for the block (see the module docstring): started here, joined at `address`, or the one already running.
    Shut down at the end only when this function started or joined it.

    # Parameters

    address : `str`, optional (default = `None`)
        A cluster's address (`ray://HOST:10001`, `HOST:6379` or `auto`); `None` starts Ray on this machine.
    num_cpus : `int`, optional (default = `None`)
        CPUs of a local Ray (the machine's cores when `None`); ignored with an address.
    """
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    if address:
        import sledgehammer

        package = os.path.dirname(os.path.abspath(sledgehammer.__file__))
        ray.init(address=address, runtime_env={"py_modules": [package]}, log_to_driver=True)
    else:
        # "local": a new Ray of this process's own, even where `ray start` left a cluster (or its address file).
        ray.init(address="local", num_cpus=num_cpus or os.cpu_count() or 1, include_dashboard=False,
                 _node_ip_address=LOOPBACK, configure_logging=True)
    try:
        yield ray
    finally:
        ray.shutdown()
