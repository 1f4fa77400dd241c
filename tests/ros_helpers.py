"""Test utilities for ROS 2 across processes.

A test starts each ROS participant as its own Python child (``RosChild``), in a
private domain (``facelm.ros_env.reserved_domain_id``) with localhost-only
discovery. Children report to the test as JSON lines on stdout (``emit``);
the test waits for them with timeouts (``RosChild.expect``) and always stops
them (SIGINT, then SIGTERM, then SIGKILL). A child's stderr is kept in a temp
file and shown when an expectation fails.

Child side: ``emit``, ``spin_until``, ``run_until_shutdown``.
"""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence

import pytest

from facelm.ros_env import spawn_ros_python, stop_process

# Generous: CI boxes are shared; a healthy exchange takes well under a second.
DEFAULT_TIMEOUT = 20.0


def require_ros(*modules: str) -> None:
    """Skip the calling test, naming the fix, when rclpy or a message package is missing."""
    for name in ("rclpy", *modules):
        if importlib.util.find_spec(name.split(".")[0]) is None:
            if name.startswith("facelm_msgs"):
                pytest.skip("facelm_msgs is not built: run `scripts/build_msgs.sh .venv` (make msgs)")
            pytest.skip(f"{name} is not installed in this Python")


# ---------------------------------------------------------------- parent side

class RosChild:
    """A Python child process under facelm's ROS environment that reports JSON-line events."""

    def __init__(self, name: str, args: Sequence[str], domain_id: int):
        self.name = name
        self._stderr = tempfile.TemporaryFile(mode="w+b")
        self._events: list[dict] = []
        self._cond = threading.Condition()
        self._closed = False
        self.proc = spawn_ros_python(args, domain_id=domain_id, isolated=True,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self._stderr)
        self._reader = threading.Thread(target=self._read_stdout, daemon=True)
        self._reader.start()

    def _read_stdout(self) -> None:
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").strip()
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                event = None
            if not isinstance(event, dict) or "event" not in event:
                event = {"event": "output", "line": line}
            with self._cond:
                self._events.append(event)
                self._cond.notify_all()
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def expect(self, kind: str, timeout: float = DEFAULT_TIMEOUT) -> dict:
        """Take the first unconsumed event of this kind, waiting up to ``timeout`` seconds.

        An ``error`` event from the child, its exit or the timeout fail the test
        with the child's stderr attached.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for i, event in enumerate(self._events):
                    if event["event"] == "error":
                        self._fail(f"reported an error: {event.get('message')}")
                    if event["event"] == kind:
                        return self._events.pop(i)
                if self._closed:
                    self._fail(f"exited (code {self.proc.poll()}) before sending '{kind}'")
                left = deadline - time.monotonic()
                if left <= 0:
                    self._fail(f"sent no '{kind}' within {timeout:.0f} s")
                self._cond.wait(left)

    def expect_all(self, kind: str, count: int, timeout: float = DEFAULT_TIMEOUT) -> list[dict]:
        deadline = time.monotonic() + timeout
        return [self.expect(kind, max(0.0, deadline - time.monotonic())) for _ in range(count)]

    def stop(self, timeout: float = 3.0) -> int:
        code = stop_process(self.proc, timeout)
        self._reader.join(timeout)
        return code

    def stderr_text(self, limit: int = 4000) -> str:
        self._stderr.flush()
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", "replace")[-limit:]

    def _fail(self, what: str) -> None:
        seen = [e["event"] for e in self._events]
        pytest.fail(f"{self.name} {what}; unconsumed events {seen}\n--- {self.name} stderr ---\n"
                    f"{self.stderr_text()}", pytrace=False)

    def __enter__(self) -> RosChild:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
        self._stderr.close()


def python_script_child(name: str, script: str, role: str, *args: str, domain_id: int) -> RosChild:
    """Run ``python SCRIPT ROLE ARGS...`` as a RosChild (tests keep their child roles in their own file)."""
    return RosChild(name, ["-u", script, role, *args], domain_id)


# ----------------------------------------------------------------- child side

def emit(kind: str, **fields) -> None:
    """Report one event to the parent test as a JSON line."""
    sys.stdout.write(json.dumps({"event": kind, **fields}) + "\n")
    sys.stdout.flush()


def spin_until(node, done: Callable[[], bool], timeout: float, what: str) -> float:
    """Spin ``node`` until ``done()``; returns seconds taken, raises TimeoutError naming ``what``."""
    import rclpy

    start = time.monotonic()
    while not done():
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        rclpy.spin_once(node, timeout_sec=0.02)
    return time.monotonic() - start


def run_until_shutdown(executor) -> None:
    """Spin until the parent stops us (SIGINT makes rclpy shut the context down)."""
    from rclpy.executors import ExternalShutdownException

    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass


def child_main(roles: dict[str, Callable[..., None]]) -> None:
    """Entry point for a test file run as a child: ``python FILE ROLE ARGS...``.

    Any exception becomes an ``error`` event so the parent fails with the reason.
    """
    import rclpy
    from rclpy.executors import ExternalShutdownException

    role, *args = sys.argv[1:]
    rclpy.init()
    try:
        roles[role](*args)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass  # the parent stopped us: a normal end
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which fails the test
        emit("error", message=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        if rclpy.ok():
            rclpy.shutdown()
