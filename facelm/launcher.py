"""Start the nodes of a launch file as processes, watch them, stop them cleanly.

What ``facelm launch`` runs (``ros2 launch`` does the same on a system ROS):
each node is its own process with its output prefixed by its name; a node
is ready when it logs ``<name> active`` (the facelm node contract: lifecycle
state active); SIGINT or SIGTERM to the launcher is passed on to every node,
which then has ``stop_timeout`` seconds to exit before SIGTERM, then SIGKILL.
A node that dies with a non-zero code stops the launch with an error naming it.
"""
from __future__ import annotations

import ctypes
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from facelm.launch_file import NodeSpec
from facelm.ros_env import ros_env

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass
class RunningNode:
    spec: NodeSpec
    proc: subprocess.Popen
    started: float
    ready_after: float | None = None  # seconds from start to "<name> active"
    reader: threading.Thread | None = None
    reported: bool = False  # its exit has been reported
    ready_pattern: re.Pattern = field(init=False)

    def __post_init__(self):
        # rclpy log lines look like "[INFO] [1700000000.1] [ns.name]: name active".
        self.ready_pattern = re.compile(rf"(?:^|[\s:\]/.]){re.escape(self.spec.label)} active\s*$")


class Launcher:
    """Runs a list of ``NodeSpec``; ``run()`` blocks until a signal or a node dies."""

    def __init__(self, nodes: list[NodeSpec], *, python: str = sys.executable, out: TextIO | None = None,
                 log_dir: str | os.PathLike | None = None, stop_timeout: float = 10.0):
        self.specs = nodes
        self.python = python
        self.out = out or sys.stdout
        self.stop_timeout = stop_timeout
        self.log_dir = Path(log_dir) if log_dir else _default_log_dir()
        self.nodes: list[RunningNode] = []
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._signals = 0
        self._t0 = time.monotonic()

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        labels = [s.label for s in self.specs]
        duplicates = sorted({x for x in labels if labels.count(x) > 1})
        if duplicates:
            from facelm.errors import FacelmError
            raise FacelmError(f"two nodes share the name {', '.join(duplicates)}; give each a distinct 'name'")
        self._t0 = time.monotonic()
        for spec in self.specs:
            env = ros_env()
            env.setdefault("RCUTILS_COLORIZED_OUTPUT", "0")
            env.update(PYTHONUNBUFFERED="1", RCUTILS_LOGGING_BUFFERED_STREAM="1", **spec.env)
            cmd = spec.command(self.python)
            try:
                proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, start_new_session=True,
                                        preexec_fn=_die_with_parent)
            except OSError as exc:
                self.shutdown()
                from facelm.errors import FacelmError
                raise FacelmError(f"cannot start node {spec.label} ({cmd[0]}): {exc.strerror}") from None
            node = RunningNode(spec, proc, time.monotonic())
            node.reader = threading.Thread(target=self._pump, args=(node,), daemon=True)
            node.reader.start()
            self.nodes.append(node)
            self.say(f"started {spec.label} (pid {proc.pid})")

    def wait_ready(self, timeout: float) -> bool:
        """True once every node still running has logged ``<name> active``."""
        deadline = time.monotonic() + timeout
        with self._ready:
            while not all(n.ready_after is not None for n in self.nodes):
                if any(n.proc.poll() is not None for n in self.nodes if n.ready_after is None):
                    return False
                left = deadline - time.monotonic()
                if left <= 0 or self._stop.is_set():
                    return False
                self._ready.wait(min(left, 0.2))
        return True

    def run(self, ready_timeout: float = 60.0) -> int:
        """Start, report readiness, supervise until SIGINT/SIGTERM or a node's death; exit code."""
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            self.start()
            waiter = threading.Thread(target=self._report_ready, args=(ready_timeout,), daemon=True)
            waiter.start()
            failed = self._supervise()
            unclean = self.shutdown()
            if failed:
                return 1
            return 1 if unclean else 0
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def shutdown(self) -> list[str]:
        """Stop every node (SIGINT, then SIGTERM, then SIGKILL); returns the ones that did not stop cleanly."""
        self._stop.set()
        unclean = []
        running = [n for n in self.nodes if n.proc.poll() is None]
        for node in running:
            _signal(node.proc, signal.SIGINT)
        for sig, wait in ((signal.SIGTERM, self.stop_timeout), (signal.SIGKILL, 3.0), (None, 3.0)):
            deadline = time.monotonic() + wait
            for node in running:
                try:
                    node.proc.wait(max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    pass
            late = [n for n in running if n.proc.poll() is None]
            if not late or sig is None:
                break
            for node in late:
                self.say(f"{node.spec.label} did not stop in {wait:.0f} s; sending {sig.name}")
                _signal(node.proc, sig)
            running = late
        for node in running:
            if node.reader:
                node.reader.join(2.0)
        for node in self.nodes:
            if node.proc.returncode not in (0, None) and node.spec.label not in unclean:
                unclean.append(node.spec.label)
        if unclean:
            codes = ", ".join(f"{n.spec.label} ({n.proc.returncode})" for n in self.nodes
                              if n.spec.label in unclean)
            self.say(f"nodes that did not exit cleanly: {codes}")
        else:
            self.say(f"all {len(self.nodes)} nodes stopped")
        return unclean

    # -------------------------------------------------------------- helpers

    def say(self, text: str) -> None:
        with self._lock:
            self.out.write(f"[facelm launch] {text}\n")
            self.out.flush()

    def _supervise(self) -> bool:
        """Wait for a stop signal or a node's exit; True when a node failed."""
        while not self._stop.wait(0.1):
            for node in self.nodes:
                code = node.proc.poll()
                if code is None or node.reported:
                    continue
                node.reported = True
                if node.reader:
                    node.reader.join(1.0)  # flush its last lines (the traceback) first
                if code != 0:
                    self.say(f"error: node {node.spec.label} exited with code {code}; stopping the others")
                    return True
                self.say(f"{node.spec.label} finished (exit 0)")
            if all(n.proc.poll() is not None for n in self.nodes):
                return False
        return False

    def _report_ready(self, timeout: float) -> None:
        if self.wait_ready(timeout):
            parts = ", ".join(f"{n.spec.label} {n.ready_after:.2f} s" for n in self.nodes)
            self.say(f"all {len(self.nodes)} nodes active in {time.monotonic() - self._t0:.2f} s ({parts})")
        elif not self._stop.is_set():
            waiting = [n.spec.label for n in self.nodes if n.ready_after is None and n.proc.poll() is None]
            if waiting:
                self.say(f"warning: not active after {timeout:.0f} s: {', '.join(waiting)}")

    def _pump(self, node: RunningNode) -> None:
        """Copy one node's output line by line: prefixed to the screen and/or into its log file."""
        spec = node.spec
        log = None
        if spec.output in ("log", "both"):
            self.log_dir.mkdir(parents=True, exist_ok=True)
            log = open(self.log_dir / f"{spec.label}.log", "a", encoding="utf-8")
        try:
            for raw in node.proc.stdout:
                line = raw.decode("utf-8", "replace").rstrip("\n")
                if log:
                    log.write(line + "\n")
                    log.flush()
                if spec.output in ("screen", "both"):
                    with self._lock:
                        self.out.write(f"[{spec.label}] {line}\n")
                        self.out.flush()
                if node.ready_after is None and node.ready_pattern.search(_ANSI.sub("", line)):
                    with self._ready:
                        node.ready_after = time.monotonic() - node.started
                        self._ready.notify_all()
        finally:
            if log:
                log.close()

    def _on_signal(self, signum, frame) -> None:
        self._signals += 1
        if self._signals == 1:
            self._stop.set()
        else:  # a second Ctrl-C: no more patience
            for node in self.nodes:
                if node.proc.poll() is None:
                    _signal(node.proc, signal.SIGTERM)


class WatchedProcess:
    """A child whose output lines are kept (and echoed with a prefix) so a caller can wait for one.

    What the demo and the tests use to run ``facelm launch`` / ``facelm record`` and wait
    for their "... active" lines.
    """

    def __init__(self, label: str, cmd: list[str], env: dict[str, str] | None = None, echo: bool = True):
        self.label, self.echo, self.lines = label, echo, []
        self._cond = threading.Condition()
        self.proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            if self.echo:
                print(f"  [{self.label}] {line}", flush=True)
            with self._cond:
                self.lines.append(line)
                self._cond.notify_all()

    def wait_for(self, text: str, timeout: float) -> str:
        """The first output line containing ``text``; FacelmError when the process ends or time runs out."""
        from facelm.errors import FacelmError

        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                hit = next((line for line in self.lines if text in line), None)
                if hit is not None:
                    return hit
                if time.monotonic() > deadline or not self._reader.is_alive():
                    why = f"exited {self.proc.poll()}" if self.proc.poll() is not None else f"{timeout:.0f} s"
                    last = f"; last line: {self.lines[-1][:200]}" if self.lines else ""
                    raise FacelmError(f"{self.label} did not report '{text}' ({why}{last})")
                self._cond.wait(0.2)

    def finish(self, timeout: float) -> int:
        """Wait for the process to exit and its output to be read; its exit code."""
        code = self.proc.wait(timeout)
        self._reader.join(5)
        return code

    def stop(self, timeout: float = 20.0) -> int:
        """SIGINT and up to ``timeout`` s to exit cleanly, then firmer; its exit code."""
        from facelm.ros_env import stop_process

        if self.proc.poll() is None:
            _signal(self.proc, signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        code = stop_process(self.proc)
        self._reader.join(5)
        return code


def _signal(proc: subprocess.Popen, sig: int) -> None:
    try:
        proc.send_signal(sig)
    except ProcessLookupError:
        pass


def _die_with_parent() -> None:
    # In the child before exec: if the launcher itself is killed (SIGKILL), the
    # kernel sends the node SIGTERM, so no orphan keeps publishing.
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def _default_log_dir() -> Path:
    root = Path(os.environ.get("ROS_LOG_DIR") or Path.home() / ".ros" / "log")
    return root / time.strftime(f"facelm_launch_%Y-%m-%d-%H-%M-%S_{os.getpid()}")
