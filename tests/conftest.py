"""Shared fixtures for Geyser's pytest suite.

Everything here runs against the real Vulkan driver and real processes; nothing is mocked.

* ``device``: one session-wide ``geyser.Device()`` (the suite skips, with the loader's message,
  where no Vulkan driver exists).
* ``fd_count()``: how many fds this process has open (``/proc/self/fd``); also a fixture.
* ``run_child``: runs ``tests/_child.py`` in a fresh interpreter with a handle's fd.
* With ``GEYSER_VALIDATION=1`` every test must leave no validation-layer message behind (its
  own or its children's); a test that deliberately makes the driver fail declares the one
  message it expects with the ``allow_validation`` fixture.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import geyser
from _jsonarrays import decode as _decode, encode as _encode

VALIDATION = os.environ.get("GEYSER_VALIDATION", "") not in ("", "0")
if VALIDATION:
    # The layer stops repeating a message after 10 by default; every test must see its own.
    os.environ.setdefault("VK_LAYER_ENABLE_MESSAGE_LIMIT", "0")

CHILD = Path(__file__).with_name("_child.py")
CHILD_TIMEOUT_S = 60

# Validation messages reported by child processes during the current test.
_child_messages: list[str] = []


def fd_count() -> int:
    """Open fds of this process."""
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture(name="fd_count")
def fd_count_fixture():
    return fd_count


# -- devices ---------------------------------------------------------------------------------

def open_device_or_skip(selector=None) -> geyser.Device:
    try:
        return geyser.Device(selector)
    except geyser.VulkanUnavailableError as e:
        pytest.skip(f"no usable Vulkan device: {e}")


@pytest.fixture(scope="session", autouse=True)
def _validation_really_on():
    """With GEYSER_VALIDATION=1, opening a device must really enable the Khronos layer."""
    if not VALIDATION:
        yield
        return
    try:
        d = geyser.Device()
    except geyser.VulkanUnavailableError:
        yield  # the device fixture skips every test that needs Vulkan
        return
    assert geyser._native.validation_enabled(), (
        "GEYSER_VALIDATION=1 but geyser._native.validation_enabled() is False after opening a device"
    )
    d.close()
    yield


@pytest.fixture(scope="session")
def device() -> geyser.Device:
    d = open_device_or_skip()
    yield d
    d.close()


@pytest.fixture(scope="session")
def device2(device) -> geyser.Device:
    """A second Device object on the same physical device (an importer in this process)."""
    d = geyser.Device(device.info.index)
    assert d.native is not device.native
    yield d
    d.close()


# -- validation ------------------------------------------------------------------------------

_ALLOWED = pytest.StashKey[list]()


@pytest.fixture
def allow_validation(request):
    """``allow_validation(regex)``: tolerate messages matching ``regex`` in this test only.

    For tests that make the driver fail on purpose: Mesa reports the failing call
    (e.g. ``VK_ERROR_INVALID_EXTERNAL_HANDLE``) through the debug messenger.
    """
    allowed = request.node.stash.setdefault(_ALLOWED, [])

    def allow(regex: str) -> None:
        allowed.append(re.compile(regex))

    return allow


def _unexpected_messages(item) -> list[str]:
    msgs = list(geyser.validation_messages()) + _child_messages
    allowed = item.stash.get(_ALLOWED, [])
    unexpected = [m for m in msgs if not any(r.search(m) for r in allowed)]
    for m in msgs:
        if m not in unexpected:
            print(f"tolerated validation message: {m}")
    return unexpected


def _report(msgs: list[str]) -> str:
    text = f"{len(msgs)} Vulkan validation message(s):\n" + "\n".join(f"  {m}" for m in msgs)
    print(text)
    return text


@pytest.fixture(autouse=True)
def _validation_clean(request):
    if not VALIDATION:
        yield
        return
    geyser.clear_validation_messages()
    _child_messages.clear()
    yield
    # Messages from fixture teardown (the test body was checked in pytest_runtest_call).
    msgs = _unexpected_messages(request.node)
    geyser.clear_validation_messages()
    _child_messages.clear()
    if msgs:
        pytest.fail(_report(msgs), pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    result = yield
    if VALIDATION:
        msgs = _unexpected_messages(item)
        geyser.clear_validation_messages()
        _child_messages.clear()
        if msgs:
            pytest.fail(_report(msgs), pytrace=False)
    return result


# -- child processes -------------------------------------------------------------------------

def run_child(mode: str, handle=None, *, env: dict | None = None, expect_error: bool = False, **request) -> dict:
    """Runs ``_child.py mode`` with ``handle``'s fd (same number) and its wire bytes on stdin.

    The child rebuilds the handle with ``from_bytes(payload, fd)``. numpy arrays and bytes in
    ``request`` and in the answer travel base64-encoded. Returns the child's answer; a
    GeyserError in the child fails the test unless ``expect_error`` (then the answer has
    ``error``, the class name, and ``message``). ``env`` is added to this process's environment.
    """
    fds = ()
    if handle is not None:
        assert handle.fd >= 0, "handle is closed"
        request["handle"] = handle.to_bytes().hex()
        request["fd"] = handle.fd
        fds = (handle.fd,)
    proc = subprocess.run(
        [sys.executable, str(CHILD), mode],
        input=json.dumps(_encode(request)).encode(),
        capture_output=True,
        pass_fds=fds,
        timeout=CHILD_TIMEOUT_S,
        env=None if env is None else {**os.environ, **env},
    )
    stderr = proc.stderr.decode(errors="replace")
    if proc.returncode != 0:
        raise AssertionError(f"child {mode!r} exited with {proc.returncode}\n--- stderr ---\n{stderr}")
    answer = _decode(json.loads(proc.stdout.decode().strip().splitlines()[-1]))
    _child_messages.extend(f"[child {mode}] {m}" for m in answer.get("validation", []))
    if "error" in answer and not expect_error:
        raise AssertionError(f"child {mode!r} raised {answer['error']}: {answer['message']}\n{stderr}")
    if expect_error and "error" not in answer:
        raise AssertionError(f"child {mode!r} was expected to fail but answered {answer!r}")
    return answer


@pytest.fixture(name="run_child")
def run_child_fixture():
    return run_child
