"""
`allennlp serve-early-exit` (or `serve-ray`) as a child process on a free loopback port, started and stopped within
bounds: for the load generator's variants (`scripts/load_test.py --variants`) and the commands' own tests.
"""
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from typing import IO, List, Optional, Sequence

import httpx

from sledgehammer.serving.server import ANNOUNCED_URL

# The folder holding this `sledgehammer` package, which the child imports first.
PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Runs AllenNLP's command line with this plugin imported, wherever the current folder is (an `allennlp` run
# outside the repository has no `.allennlp_plugins` file, and `--include-package` cannot add a subcommand).
# It runs what the `allennlp` script runs (`allennlp.__main__.run`, which also sets up logging).
LAUNCHER = [sys.executable, "-c", f"import sys; sys.path.insert(0, {PACKAGE_ROOT!r}); import sledgehammer; "
            "from allennlp.__main__ import run; sys.argv[0] = 'allennlp'; sys.exit(run())"]
LOG_TAIL_CHARACTERS = 2000


class ServerProcessError(RuntimeError):
    """The server did not start, become healthy or stop in time; the message ends with its log's tail."""


class ServerProcess:
    """
    A `serve-early-exit` (or `serve-ray`) child process; use as a context manager (stopped with SIGTERM at the end).

    # Parameters

    archive : `str`
        The archive to serve.
    options : `Sequence[str]`, optional (default = `()`)
        More options of the command (`--max-batch-size 1`, ...); `--port 0` is added first.
    command : `Sequence[str]`, optional (default = `LAUNCHER`)
        What runs AllenNLP's command line (e.g. `["allennlp"]` from the repository root).
    cwd : `str`, optional (default = `None`)
    log_path : `str`, optional (default = `None`)
        Where the server's standard error goes; a temporary file (removed on stop) by default.
    startup_timeout : `float`, optional (default = `300`)
        Seconds to wait for the server to load, bind and warm up.
    subcommand : `str`, optional (default = `"serve-early-exit"`)
        The serving command: `"serve-early-exit"`, or `"serve-ray"` (Ray Serve replicas; its options then).
    """

    def __init__(self, archive: str, options: Sequence[str] = (), command: Sequence[str] = LAUNCHER,
                 cwd: Optional[str] = None, log_path: Optional[str] = None, startup_timeout: float = 300.0,
                 subcommand: str = "serve-early-exit") -> None:
        self.arguments = [*command, subcommand, archive, "--port", "0", *options]
        self.cwd = cwd
        self.log_path = log_path
        self.startup_timeout = startup_timeout
        self.url: Optional[str] = None
        self.process: Optional[subprocess.Popen] = None
        self.returncode: Optional[int] = None
        self._log: Optional[IO[bytes]] = None
        self._lines: "queue.Queue[Optional[str]]" = queue.Queue()

    def __enter__(self) -> "ServerProcess":
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        if self.returncode is None:
            self.stop()

    def start(self) -> None:
        """Starts the process and returns once `/health` answers 200 (or raises `ServerProcessError`)."""
        self._log = open(self.log_path, "w+b") if self.log_path else tempfile.TemporaryFile()
        self.process = subprocess.Popen(self.arguments, cwd=self.cwd, stdout=subprocess.PIPE, stderr=self._log,
                                        stdin=subprocess.DEVNULL, text=True)
        threading.Thread(target=self._read_stdout, daemon=True).start()
        deadline = time.monotonic() + self.startup_timeout
        try:
            self.url = self._announced_url(deadline)
            self._wait_until_healthy(deadline)
        except ServerProcessError:
            self._kill()
            self._close_log()
            raise

    def stop(self, timeout: float = 120.0) -> int:
        """Sends SIGTERM, waits for the process to end (killing it after `timeout` s) and returns its exit status."""
        assert self.process is not None, "the server was not started"
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.returncode = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self._kill()
            raise ServerProcessError(f"the server did not stop within {timeout:g} s of SIGTERM; {self.log_tail()}")
        finally:
            self._close_log()
        return self.returncode

    def log_tail(self) -> str:
        """The end of the server's standard error (while its log is open)."""
        if self._log is None or self._log.closed:
            return "(no log)"
        self._log.flush()
        self._log.seek(0, os.SEEK_END)
        size = self._log.tell()
        self._log.seek(max(0, size - LOG_TAIL_CHARACTERS))
        return "server log: ..." + self._log.read().decode("utf-8", "replace")

    def _read_stdout(self) -> None:
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def _announced_url(self, deadline: float) -> str:
        lines: List[str] = []
        while time.monotonic() < deadline:
            try:
                line = self._lines.get(timeout=min(1.0, max(0.01, deadline - time.monotonic())))
            except queue.Empty:
                continue
            if line is None:
                self.process.wait(10)
                raise ServerProcessError(f"the server exited with status {self.process.returncode} before "
                                         f"serving (stdout: {''.join(lines)!r}); {self.log_tail()}")
            lines.append(line)
            match = ANNOUNCED_URL.search(line)
            if match:
                return match.group(1)
        raise ServerProcessError(f"the server did not bind within {self.startup_timeout:g} s; {self.log_tail()}")

    def _wait_until_healthy(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerProcessError(f"the server exited with status {self.process.returncode} while warming "
                                         f"up; {self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=5).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise ServerProcessError(f"the server was not healthy within {self.startup_timeout:g} s; {self.log_tail()}")

    def _kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)
        self.returncode = self.process.returncode if self.process is not None else None

    def _close_log(self) -> None:
        if self._log is not None and not self._log.closed:
            self._log.close()
