"""Runs a function in a fork() child of the test process, and checks what a child may not do.

The child inherits this process's objects as they are (nothing is pickled), which is what the
fork() tests are about; what the function returns comes back as JSON.
"""

from __future__ import annotations

import json
import os
import select
import signal
import time
import warnings

import geyser


def run_forked(fn, timeout: float = 30.0):
    """``fn()`` in a child made by ``os.fork()``; returns its (JSON-able) result. Fails the test
    if ``fn`` raises, or the child does not report and exit within ``timeout`` (it is killed)."""
    r, w = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # Python 3.12: forking with threads
        pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        os.close(r)
        try:
            out = json.dumps({"result": fn()})
        except BaseException as e:  # noqa: BLE001 - reported to the parent
            out = json.dumps({"crashed": repr(e)})
        os.write(w, out.encode())
        os._exit(0)
    os.close(w)
    try:
        ready, _, _ = select.select([r], [], [], timeout)
        with os.fdopen(r, "rb") as f:
            report = json.loads(f.read().decode() or "{}") if ready else None
    finally:
        status = _reap_or_kill(pid, timeout)
    assert report is not None, f"the forked child did not report within {timeout} s"
    assert "crashed" not in report, f"the forked child raised {report['crashed']}"
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, f"the child ended with status {status}"
    return report["result"]


def _reap_or_kill(pid: int, timeout: float) -> int:
    """The child's wait status; SIGKILLs it first if it has not exited within ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            return os.waitpid(pid, 0)[1]
        time.sleep(0.01)


def refusals(ops: dict) -> tuple[list[str], list[str]]:
    """Runs each of ``ops`` (name -> callable); returns the names refused with an
    UnsupportedOperationError naming fork(), and a line for each that was not."""
    refused, wrong = [], []
    for name, op in ops.items():
        try:
            op()
            wrong.append(name)
        except geyser.UnsupportedOperationError as e:
            (refused.append(name) if "fork()" in str(e) else wrong.append(f"{name}: {e}"))
        except Exception as e:  # noqa: BLE001 - reported to the parent
            wrong.append(f"{name}: {e!r}")
    return refused, wrong
