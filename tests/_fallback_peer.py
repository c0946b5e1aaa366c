"""A consumer process for tests/test_fallback.py, tests/test_peer_delivery.py and
scripts/gpu/fallback.sh, and the helpers those tests start and read it with (start, answer,
publish_until), and the serving loop of their fake producers (fake_producer).

``consume NAME COUNT ZERO_COPY HOLD``: subscribes to NAME on GEYSER_DEVICE's device with
``zero_copy=ZERO_COPY``, reads COUNT frames (or until the producer goes), checks each frame's
pixels against the demo pattern of its number while it is held, and prints one JSON line: the
path and reason, the numbers, how many frames were wrong, the error that ended it, and the fds
open before subscribing and after closing.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

import geyser
from geyser.demo import pattern


def consume(name: str, count: int, zero_copy: str, hold: float) -> int:
    dev = geyser.Device()
    fds_before = len(os.listdir("/proc/self/fd"))
    answer: dict = {"device": dev.info.name, "uuid": dev.info.device_uuid}
    try:
        sub = geyser.Subscriber(dev, name, timeout=10, zero_copy=zero_copy)
    except geyser.GeyserError as e:
        answer["error"] = f"{type(e).__name__}: {e}"
        gc.collect()
        answer["fds"] = [fds_before, len(os.listdir("/proc/self/fd"))]
        print(json.dumps(answer), flush=True)
        return 0
    print(json.dumps({"subscribed": sub.info.current_frame, "path": sub.path}), flush=True)
    numbers, bad, error = [], 0, None
    desc = sub.info.descriptor
    try:
        while len(numbers) < count:
            with sub.next_frame(timeout=10) as f:
                want = pattern(desc.format, desc.width, desc.height, f.number)
                bad += not np.array_equal(f.texture.download(), want)
                if hold:
                    time.sleep(hold)
                    bad += not np.array_equal(f.texture.download(), want)
                numbers.append(f.number)
    except geyser.GeyserError as e:
        error = f"{type(e).__name__}: {e}"
    answer.update(path=sub.path, reason=sub.reason, numbers=numbers, bad=bad, dropped=sub.frames_dropped,
                  error=error)
    sub.close()
    f = sub = None
    gc.collect()
    answer["fds"] = [fds_before, len(os.listdir("/proc/self/fd"))]
    print(json.dumps(answer), flush=True)
    return 0


def start(name: str, count: int, zero_copy: str, env: dict, hold: float = 0.0) -> subprocess.Popen:
    """Runs ``consume`` in a process of its own, with ``env``. Its stderr goes to a file, not a
    pipe: with one pipe, ``answer``'s communicate() reads through the same buffered reader as a
    caller's ``proc.stdout.readline()``, so a line read ahead into its buffer is not lost."""
    err = tempfile.TemporaryFile(mode="w+")
    try:
        proc = subprocess.Popen([sys.executable, __file__, "consume", name, str(count), zero_copy, str(hold)],
                                stdout=subprocess.PIPE, stderr=err, text=True, env=env)
    except BaseException:
        err.close()
        raise
    proc.stderr_file = err  # type: ignore[attr-defined]  # closed by answer()
    return proc


def answer(proc: subprocess.Popen, timeout: float = 120) -> dict:
    """The consumer's last JSON line, once it has exited with status 0 (it may have been killed:
    then its stdout is read to the end all the same, and the caller checks the status)."""
    err = proc.stderr_file  # type: ignore[attr-defined]
    try:
        out, _ = proc.communicate(timeout=timeout)
        err.seek(0)
        assert proc.returncode == 0, err.read()
    finally:
        err.close()
    return json.loads(out.strip().splitlines()[-1])


def finish(proc: subprocess.Popen, timeout: float = 60) -> None:
    """Waits for a consumer whose answer is not wanted (a killed one) and closes what it left."""
    try:
        proc.communicate(timeout=timeout)
    finally:
        proc.stderr_file.close()  # type: ignore[attr-defined]


def publish_until(sender: geyser.Sender, count: int, procs, frame, seconds: float = 60) -> int:
    """Lossless: publishes frames 1..count (``frame(n)`` gives the pixels). Latest: publishes until
    every consumer is done (they take what they can), at least count frames, within ``seconds``.
    Returns the frames published."""
    n = 0
    deadline = time.monotonic() + seconds
    while n < count or (sender.mode == "latest" and any(p.poll() is None for p in procs)
                        and time.monotonic() < deadline):
        n += 1
        sender.publish(frame(n), timeout=20)
        if sender.mode == "latest":
            time.sleep(0.01)
    return n


def fake_producer(listener, info: bytes, second, seen: list) -> threading.Thread:
    """A thread serving two connections on ``listener`` as a hostile producer would: each gets
    ``info`` (a SenderInfo payload) after its Hello; a zero-copy one is then left until it hangs
    up, any other is handed to ``second(channel, path)``. ``seen`` gets (path, device UUID) of
    each Hello. Started; join it."""
    from geyser import _native
    from geyser.sync import to_ns

    import _sender_wire as wire

    def serve():
        for _ in range(2):
            try:
                ch = listener.accept(to_ns(20))
                hello = ch.receive(to_ns(10))[1]
                seen.append((wire.hello_path(hello), wire.hello_device_uuid(hello)))
                ch.send(_native.MESSAGE_SENDER_INFO, info, [])
                if wire.hello_path(hello) == wire.ZERO_COPY:
                    ch.receive(to_ns(10))  # until it hangs up
                    continue
                second(ch, wire.hello_path(hello))
                ch.receive(to_ns(20))
            except geyser.GeyserError:
                pass  # the subscriber hung up on what it was sent

    t = threading.Thread(target=serve)
    t.start()
    return t


if __name__ == "__main__":
    sys.exit(consume(sys.argv[2], int(sys.argv[3]), sys.argv[4], float(sys.argv[5])))
