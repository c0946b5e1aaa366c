"""Kill tests: producers and consumers of named senders SIGKILLed at random points, many times.

Each run is one of two kinds, alternating, in a delivery mode chosen at random (lossless or
latest; a latest survivor's frames must only increase, a lossless one's be consecutive):

* producer killed: a producer process publishes to this process (a consumer) and, half the
  time, to a second consumer process; it is killed before anyone subscribes, during a
  subscription, while streaming, or once idle. Every survivor's blocking call must end within
  its timeout with PeerGoneError (TimeoutError where nothing said the producer went), the frames
  it got must have the right bytes, the imported ring must stay readable after the producer has
  gone (the frame it still held keeps exactly its bytes), and its fd count must come back.
* consumer killed: this process publishes to two consumer processes and kills one of them
  while it starts, subscribes, holds a frame or waits for one. ``publish`` must never block
  past the release timeout, the dead consumer must be dropped, the other must get every frame
  with the right bytes, and this process's fd count must come back once the sender closes.

Runs: ``GEYSER_KILL_RUNS`` (default 30, the CI size; 500 is the long size). The seed is random
unless ``GEYSER_KILL_SEED`` is set; every run has its own RNG (seed, run index), so
``GEYSER_KILL_SEED=S GEYSER_KILL_FIRST=I GEYSER_KILL_RUNS=1`` repeats run I alone. The totals
(runs, kills by phase, hangs, fds leaked, survivor outcomes) are printed at the end and, if
``GEYSER_RELIABILITY_OUT`` names a file, written to it as JSON.
"""

from __future__ import annotations

import collections
import gc
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

import geyser
from geyser import _native

from _kill_peer import DESC, TIMEOUT, consume, want

PEER = Path(__file__).with_name("_kill_peer.py")
RUNS = int(os.environ.get("GEYSER_KILL_RUNS", "30"))
FIRST = int(os.environ.get("GEYSER_KILL_FIRST", "0"))
SEED = int(os.environ.get("GEYSER_KILL_SEED", str(int.from_bytes(os.urandom(4), "little"))))
#: What a survivor's blocking call may take beyond its own timeout (a loaded 2-core machine).
SLACK = 2.0
#: The release timeout of the producer in this process: how long a dead consumer may stall it.
RELEASE_TIMEOUT = 1.0
#: How long a peer may take to start (interpreter, numpy, a Vulkan device with validation).
START_TIMEOUT = 30.0

PRODUCER_PHASES = ("before-subscribe", "handshake", "streaming", "idle")
MODES = ("lossless", "latest")
CONSUMER_PHASES = ("starting", "subscribing", "holding", "waiting")


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


class Peer:
    """A ``_kill_peer.py`` process whose marker lines are read by a thread as they come."""

    def __init__(self, *args):
        self._stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([sys.executable, str(PEER), *map(str, args)], stdout=subprocess.PIPE,
                                     stderr=self._stderr, text=True)
        self.started = time.monotonic()
        self.lines: list[str] = []
        self._eof = False
        self._cv = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            with self._cv:
                self.lines.append(line.rstrip("\n"))
                self._cv.notify_all()
        with self._cv:
            self._eof = True
            self._cv.notify_all()

    @property
    def last(self) -> str:
        with self._cv:
            return self.lines[-1] if self.lines else ""

    def wait_for(self, prefix: str, timeout: float) -> bool:
        """Whether the peer printed a line starting with ``prefix`` within ``timeout`` s."""
        def seen():
            return any(line.startswith(prefix) for line in self.lines)

        with self._cv:
            self._cv.wait_for(lambda: self._eof or seen(), timeout)
            return seen()

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)

    def answer(self, timeout: float) -> dict | None:
        """The peer's JSON answer, or None when it has not exited within ``timeout`` s (a hang)."""
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        self._reader.join(timeout=10)
        assert self.proc.returncode == 0, f"peer exited with {self.proc.returncode}:\n{self.stderr()}"
        return json.loads(self.lines[-1])

    def stderr(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")[-4000:]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.kill()
        self._reader.join(timeout=10)
        self.proc.stdout.close()
        self._stderr.close()


class Totals:
    def __init__(self):
        self.runs = 0
        self.kills = collections.Counter()
        self.modes = collections.Counter()
        self.survivor_outcomes = collections.Counter()
        self.hangs = 0
        self.fds_leaked = 0
        self.frames_checked = 0
        self.bad_frames = 0
        self.ring_checks = 0
        self.slowest_blocking_s = 0.0
        self.slowest_blocking = ""

    def blocked(self, seconds: float, limit: float, what: str) -> None:
        if seconds > self.slowest_blocking_s:
            self.slowest_blocking_s, self.slowest_blocking = seconds, what
        if seconds > limit:
            self.hangs += 1
            raise AssertionError(f"{what} blocked {seconds:.2f} s, more than its {limit:.1f} s")

    def as_dict(self) -> dict:
        return {"seed": SEED, "first": FIRST, "runs": self.runs, "kills_by_phase": dict(sorted(self.kills.items())),
                "runs_by_mode": dict(sorted(self.modes.items())),
                "survivor_outcomes": dict(sorted(self.survivor_outcomes.items())), "hangs": self.hangs,
                "fds_leaked": self.fds_leaked, "frames_checked": self.frames_checked, "bad_frames": self.bad_frames,
                "rings_read_after_producer_died": self.ring_checks,
                "slowest_blocking_call_s": round(self.slowest_blocking_s, 3),
                "slowest_blocking_call": self.slowest_blocking}


def _check_consumer(answer: dict | None, totals: Totals, who: str) -> None:
    """What a consumer saw after its producer was killed."""
    if answer is None:
        totals.hangs += 1
        raise AssertionError(f"{who} did not finish: it hung past its timeout")
    totals.blocked(answer["blocked_s"], TIMEOUT + SLACK, f"{who}'s last blocking call")
    if "subscribe_error" in answer:
        totals.survivor_outcomes[f"producer killed, subscribe:{answer['subscribe_error']}"] += 1
        assert answer["subscribe_error"] in ("PeerGoneError", "TimeoutError"), answer
    else:
        totals.survivor_outcomes[f"producer killed, next_frame:{answer['end']}"] += 1
        assert answer["end"] == "PeerGoneError", f"{who}: expected PeerGoneError once the producer died: {answer}"
        numbers = answer["numbers"]
        if answer.get("mode") == "latest":  # the newest frame each time: increasing, with gaps
            assert numbers == sorted(set(numbers)), numbers
        else:
            assert numbers == list(range(numbers[0], numbers[0] + len(numbers))) if numbers else True, numbers
        totals.frames_checked += len(numbers)
        totals.bad_frames += answer["bad"]
        assert answer["bad"] == 0, f"{who} read {answer['bad']} frames with wrong bytes"
        assert answer["ring_readable"], f"{who} could not read its imported ring after the producer died"
        totals.ring_checks += 1
        if "held" in answer:
            assert answer["held_intact"], f"{who}: held frame {answer['held']} lost its bytes after the producer died"
    if answer["fds_after"] != answer["fds_before"]:
        totals.fds_leaked += answer["fds_after"] - answer["fds_before"]
        raise AssertionError(f"{who} leaked fds: {answer['fds_before']} before, {answer['fds_after']} after")
    assert not answer.get("validation"), answer["validation"]


def _producer_killed(device, rng: random.Random, name: str, totals: Totals) -> None:
    phase = rng.choice(PRODUCER_PHASES)
    second = phase != "before-subscribe" and rng.random() < 0.5
    mode = rng.choice(MODES)
    # A consumer holds its latest frame while it asks for the next: latest mode lets it hold
    # ring - 2, so its ring has 4 or 5 slots.
    ring = rng.randint(2, 4) if mode == "lossless" else rng.randint(4, 5)
    frames = rng.randint(1, 6) if phase == "idle" else 1_000_000
    producer = Peer("producer", name, ring, frames, 2 if second else 1, mode)
    totals.modes[mode] += 1
    other = killer = None
    try:
        assert producer.wait_for("up", START_TIMEOUT), f"producer did not start:\n{producer.stderr()}"
        if phase == "before-subscribe":
            time.sleep(rng.uniform(0, 0.05))
            totals.kills[f"producer:{phase}"] += 1
            producer.kill()
            t0 = time.monotonic()
            # Subscriber() waits up to its timeout for a producer to (re)appear, then gives up.
            with pytest.raises(geyser.PeerGoneError):
                geyser.Subscriber(device, name, timeout=1.0)
            totals.blocked(time.monotonic() - t0, 1.0 + SLACK, "Subscriber() of a dead producer")
            totals.survivor_outcomes["producer killed, subscribe:PeerGoneError"] += 1
            return
        if second:
            other = Peer("consumer", name, rng.choice([0.0, 0.002, 0.02]))
            assert other.wait_for("subscribed", START_TIMEOUT), f"second consumer:\n{other.stderr()}"

        def kill_later():
            if phase == "idle":
                producer.wait_for("published", START_TIMEOUT)
                time.sleep(rng.uniform(0, 0.1))
            else:  # handshake: while this process subscribes; streaming: while frames flow
                time.sleep(rng.uniform(0, 0.03) if phase == "handshake" else rng.uniform(0.02, 0.4))
            where = producer.last.split(" ")[0] or "(nothing)"
            totals.kills[f"producer:{phase}:{where}"] += 1
            producer.kill()

        killer = threading.Thread(target=kill_later)
        killer.start()
        answer = consume(device, name, rng.choice([0.0, 0.002, 0.02]), mark=lambda _text: None)
        killer.join()
        _check_consumer(answer, totals, "this process (consumer)")
        if other is not None:
            _check_consumer(other.answer(TIMEOUT + SLACK + 5), totals, "the second consumer process")
    finally:
        if killer is not None:
            killer.join()
        for peer in (producer, other):
            if peer is not None:
                peer.close()
        # A killed producer leaves a stale socket (the next producer of the name replaces it).
        try:
            os.unlink(_native.sender_socket_path(name))
        except FileNotFoundError:
            pass


def _consumer_killed(device, rng: random.Random, name: str, totals: Totals) -> None:
    phase = rng.choice(CONSUMER_PHASES)
    mode = rng.choice(MODES)
    ring = rng.randint(2, 4) if mode == "lossless" else rng.randint(4, 5)
    sender = geyser.Sender(device, name, DESC, ring_size=ring, release_timeout=RELEASE_TIMEOUT, mode=mode)
    totals.modes[mode] += 1
    survivor = victim = None
    try:
        survivor = Peer("consumer", name, 0.0)
        assert survivor.wait_for("subscribed", START_TIMEOUT), f"consumer did not subscribe:\n{survivor.stderr()}"
        victim = Peer("consumer", name, {"holding": 0.3, "waiting": 0.0}.get(phase, rng.uniform(0, 0.02)))
        if phase == "starting":
            kill_at = time.monotonic() + rng.uniform(0, 0.3)  # importing geyser, opening a Device
        elif phase == "subscribing":
            assert victim.wait_for("starting", START_TIMEOUT), victim.stderr()
            kill_at = time.monotonic() + rng.uniform(0, 0.05)
        elif phase == "waiting":
            # Once it has frames, stop publishing until it blocks in next_frame, then kill it there.
            assert victim.wait_for("subscribed", START_TIMEOUT), victim.stderr()
            wait_from = sender.frame + rng.randint(1, 5)
        killed_after = None
        n = 0
        deadline = time.monotonic() + START_TIMEOUT + 30
        while killed_after is None or n < killed_after + 2 * ring + 2:
            assert time.monotonic() < deadline, f"victim never reached {phase!r}: {victim.lines[-10:]}"
            if killed_after is None:
                if phase == "waiting" and n >= wait_from:
                    t0 = time.monotonic()
                    while victim.last != "waiting" and time.monotonic() - t0 < 5:
                        time.sleep(0.001)
                    time.sleep(rng.uniform(0, 0.01))
                last = victim.last
                if (phase in ("starting", "subscribing") and time.monotonic() >= kill_at) or \
                   (phase == "holding" and last.startswith("holding")) or \
                   (phase == "waiting" and n >= wait_from):
                    totals.kills[f"consumer:{phase}:{last.split(' ')[0] or '(nothing)'}"] += 1
                    victim.kill()
                    killed_after = n
            t0 = time.monotonic()
            n = sender.publish(want(n + 1))
            totals.blocked(time.monotonic() - t0, RELEASE_TIMEOUT + SLACK, f"publish of frame {n}")
            time.sleep(0.002)
        # The dead consumer is dropped (between frames, by the accept loop's reaping).
        t0 = time.monotonic()
        while sender.subscribers != 1:
            totals.blocked(time.monotonic() - t0, 5.0, "dropping the killed consumer")
            time.sleep(0.01)
        sender.close()  # Goodbye: the survivor's next wait ends with PeerGoneError
        answer = survivor.answer(TIMEOUT + SLACK + 5)
        if answer is None:
            totals.hangs += 1
            raise AssertionError("the surviving consumer hung")
        totals.survivor_outcomes[f"after sender closed:{answer.get('end', answer.get('subscribe_error'))}"] += 1
        assert answer.get("end") == "PeerGoneError", answer
        totals.blocked(answer["blocked_s"], TIMEOUT + SLACK, "the surviving consumer's last next_frame")
        if mode == "lossless":
            assert answer["numbers"] == list(range(1, n + 1)), f"survivor missed frames: {answer['numbers']} of 1..{n}"
        else:
            assert answer["numbers"] == sorted(set(answer["numbers"])) and answer["numbers"], answer["numbers"]
        totals.frames_checked += len(answer["numbers"])
        totals.bad_frames += answer["bad"]
        assert answer["bad"] == 0
        if answer["fds_after"] != answer["fds_before"]:
            totals.fds_leaked += answer["fds_after"] - answer["fds_before"]
            raise AssertionError(f"surviving consumer leaked fds: {answer}")
        assert not answer["validation"], answer["validation"]
        assert not os.path.exists(_native.sender_socket_path(name)), "the closed sender left its socket"
    finally:
        sender.close()
        for peer in (survivor, victim):
            if peer is not None:
                peer.close()


def test_kill_producers_and_consumers_at_random_points(device, capsys):
    totals = Totals()
    started = time.monotonic()
    names = []
    try:
        for i in range(FIRST, FIRST + RUNS):
            rng = random.Random(SEED * 1_000_003 + i)
            name = f"kill-{os.getpid()}-{i}"
            names.append(name)
            gc.collect()
            base = _fds()
            try:
                (_producer_killed if i % 2 == 0 else _consumer_killed)(device, rng, name, totals)
            except BaseException as e:
                raise AssertionError(f"run {i} failed (repeat it alone: GEYSER_KILL_SEED={SEED} "
                                     f"GEYSER_KILL_FIRST={i} GEYSER_KILL_RUNS=1): {e}") from e
            gc.collect()
            if _fds() != base:
                totals.fds_leaked += _fds() - base
                raise AssertionError(f"run {i} (seed {SEED}) leaked fds in this process: {base} before, "
                                     f"{_fds()} after")
            totals.runs += 1
        listed = {s.name for s in geyser.list_senders()}
        assert not listed & set(names), f"killed or closed senders still listed: {listed & set(names)}"
        assert totals.hangs == 0 and totals.fds_leaked == 0
    finally:
        figures = totals.as_dict()
        figures["seconds"] = round(time.monotonic() - started, 1)
        out = os.environ.get("GEYSER_RELIABILITY_OUT")
        if out:
            Path(out).write_text(json.dumps({"kill": figures}, indent=2) + "\n")
        with capsys.disabled():
            print(f"\nkill tests (seed {SEED}): {json.dumps(figures)}")
