"""What every facelm node shares: lifecycle with autostart, declared parameters, /diagnostics, main().

A node subclasses ``FacelmNode``: it declares its parameters with ``param``
(each with a description), loads models in ``configure`` and creates its
publishers and subscriptions in ``activate`` (publishers made with
``self.publisher`` are lifecycle publishers). ``diagnostics()`` returns the
key/value pairs published on /diagnostics once a second; ``self.counts`` is a
ready-made counter table for rejected inputs and the like.

``run(NodeClass, args)`` is the whole ``main``: rclpy with the standard ROS
arguments, the node on an executor, configure + activate unless
``autostart:=false``, a clean exit 0 on Ctrl-C or SIGTERM.
"""
from __future__ import annotations

import signal
import sys
import threading
import time
from collections import Counter, deque

import numpy as np
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rcl_interfaces.msg import ParameterDescriptor

from facelm.errors import FacelmError

DIAGNOSTICS_PERIOD_S = 1.0


class RateMeter:
    """Events per second over a sliding window, and the last / p50 / max of a latency series."""

    def __init__(self, window_s: float = 5.0, keep: int = 500):
        self.window_s = window_s
        self._times: deque[float] = deque()
        self._values: deque[float] = deque(maxlen=keep)
        self._lock = threading.Lock()

    def tick(self, value: float | None = None) -> None:
        now = time.monotonic()
        with self._lock:
            self._times.append(now)
            while self._times and now - self._times[0] > self.window_s:
                self._times.popleft()
            if value is not None:
                self._values.append(value)

    def rate(self) -> float:
        now = time.monotonic()
        with self._lock:
            recent = [t for t in self._times if now - t <= self.window_s]
        return len(recent) / self.window_s

    def summary(self, name: str, unit: str = "ms") -> dict[str, str]:
        with self._lock:
            values = np.array(self._values) if self._values else None
        if values is None:
            return {}
        return {f"{name} last ({unit})": f"{values[-1]:.2f}", f"{name} p50 ({unit})": f"{np.median(values):.2f}",
                f"{name} p99 ({unit})": f"{np.percentile(values, 99):.2f}", f"{name} max ({unit})": f"{values.max():.2f}"}


class LatestWins:
    """A one-slot mailbox between callbacks and a worker thread: a newer item replaces a waiting one."""

    def __init__(self):
        self._cond = threading.Condition()
        self._item = None
        self._closed = False

    def put(self, item, on_replaced=None) -> None:
        """Leave ``item``; ``on_replaced(old)`` runs (under the lock) for an item nobody took."""
        with self._cond:
            if self._item is not None and on_replaced is not None:
                on_replaced(self._item)
            self._item = item
            self._cond.notify_all()

    def take(self):
        """The waiting item, blocking until there is one; None once closed."""
        with self._cond:
            while self._item is None and not self._closed:
                self._cond.wait(0.5)
            if self._closed:
                return None
            item, self._item = self._item, None
            return item

    def waiting(self) -> bool:
        """Whether an item is waiting (a worker's cue to drop what it is doing)."""
        return self._item is not None

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def reopen(self) -> None:
        with self._cond:
            self._closed, self._item = False, None


class FacelmNode(LifecycleNode):
    """A lifecycle node with facelm's parameter, diagnostics and error conventions."""

    def __init__(self, name: str, **kwargs):
        super().__init__(name, **kwargs)
        self.param("autostart", True, "configure and activate on start-up (false: wait for a lifecycle manager)")
        self.counts: Counter[str] = Counter()
        self._diag_pub = None
        self._diag_timer = None
        self._last_error = ""

    # -- parameters ---------------------------------------------------------------
    def param(self, name: str, default, description: str):
        """Declare a parameter with its description; returns its value (from the command line or a file)."""
        if not self.has_parameter(name):
            self.declare_parameter(name, default, ParameterDescriptor(description=description))
        return self.get_parameter(name).value

    def value(self, name: str):
        return self.get_parameter(name).value

    def declare_model_params(self) -> None:
        self.param("model_dir", "", "model directory (empty: the shipped model or $FACELM_MODEL)")
        self.param("provider", "", "onnxruntime execution provider: cpu, cuda, tensorrt "
                                   "(empty: $FACELM_PROVIDER or cpu)")
        self.param("threads", 0, "onnxruntime threads (0: facelm's default)")

    def model_dir(self):
        """The ModelDir the model parameters name (verified when its files are read)."""
        from facelm.model_dir import ModelDir
        return ModelDir(self.value("model_dir") or None, provider=self.value("provider") or None,
                        threads=self.value("threads") or None)

    # -- subclass hooks -------------------------------------------------------------
    def configure(self) -> None:
        """Load models, check parameters (raise FacelmError to fail the transition)."""

    def activate(self) -> None:
        """Create publishers, subscriptions, timers, worker threads."""

    def deactivate(self) -> None:
        """Stop workers and timers (publishers deactivate themselves)."""

    def diagnostics(self) -> dict[str, str]:
        return {}

    # -- helpers ----------------------------------------------------------------------
    def publisher(self, msg_type, topic: str, qos=10):
        return self.create_lifecycle_publisher(msg_type, topic, qos)

    def reject(self, what: str, reason: str) -> None:
        """Count a bad input and say why, once per distinct reason per second at most."""
        self.counts[f"rejected {what}"] += 1
        self._last_error = f"{what}: {reason}"
        self.get_logger().warning(f"rejected {what}: {reason}", throttle_duration_sec=1.0)

    # -- lifecycle --------------------------------------------------------------------
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            self.configure()
        except (FacelmError, ValueError, OSError) as exc:
            self.get_logger().error(f"configure failed: {exc}")
            return TransitionCallbackReturn.FAILURE
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        from diagnostic_msgs.msg import DiagnosticArray
        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._diag_timer = self.create_timer(DIAGNOSTICS_PERIOD_S, self._publish_diagnostics)
        try:
            self.activate()
        except (FacelmError, ValueError, OSError) as exc:
            self.get_logger().error(f"activate failed: {exc}")
            return TransitionCallbackReturn.FAILURE
        result = super().on_activate(state)
        self.get_logger().info(f"{self.get_name()} active")
        return result

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.deactivate()
        for handle in (self._diag_timer,):
            if handle is not None:
                self.destroy_timer(handle)
        self._diag_timer = None
        return super().on_deactivate(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.deactivate()
        return TransitionCallbackReturn.SUCCESS

    def _publish_diagnostics(self) -> None:
        from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
        try:
            values = {**self.diagnostics(), **{k: str(v) for k, v in sorted(self.counts.items())}}
        except Exception as exc:  # noqa: BLE001 - diagnostics must never take the node down
            values = {"diagnostics error": str(exc)}
        rejected = sum(v for k, v in self.counts.items() if k.startswith("rejected"))
        status = DiagnosticStatus(name=f"facelm: {self.get_fully_qualified_name()}", hardware_id="facelm",
                                  level=DiagnosticStatus.WARN if rejected else DiagnosticStatus.OK,
                                  message=self._last_error or "ok",
                                  values=[KeyValue(key=k, value=str(v)) for k, v in values.items()])
        msg = DiagnosticArray(status=[status])
        msg.header.stamp = self.get_clock().now().to_msg()
        self._diag_pub.publish(msg)


def make_executor(kind: str = "single"):
    """SingleThreadedExecutor (default) or the experimental EventsExecutor.

    ARCHITECTURE measured the EventsExecutor fastest for a plain subscriber, but
    with rclpy 7.1.6 here it did not fire a node's timers (no /diagnostics), a
    subscriber spinning it on a thread got 1 of 100 frames, and an action goal's
    feedback from a worker thread never returned. The 25 Hz output and the
    models run on their own threads, so the executor is not on the hot path.
    """
    if kind == "events":
        from rclpy.experimental import EventsExecutor
        return EventsExecutor()
    from rclpy.executors import SingleThreadedExecutor
    return SingleThreadedExecutor()


def run(node_class, args=None, executor: str = "single") -> int:
    """A node's main(): spin until Ctrl-C / SIGTERM, then shut down cleanly (exit 0)."""
    import rclpy
    from rclpy.executors import ExternalShutdownException

    from facelm.ros_env import apply_ros_env

    apply_ros_env()  # facelm's middleware and discovery profile unless the user set their own
    # rclpy's own handlers (SIGINT and SIGTERM) shut the context down from C, which wakes
    # a blocked executor; spin() then raises ExternalShutdownException and we clean up.
    rclpy.init(args=args, signal_handler_options=rclpy.signals.SignalHandlerOptions.SIGINT)
    # SIGTERM (what launchers and supervisors send) ends the node like Ctrl-C. Python runs
    # this between callbacks; the 1 Hz diagnostics timer bounds how long that takes.
    signal.signal(signal.SIGTERM, lambda signum, frame: rclpy.try_shutdown())
    node = None
    code = 0
    try:
        node = node_class()
        if node.value("autostart"):
            if node.trigger_configure() != TransitionCallbackReturn.SUCCESS or \
                    node.trigger_activate() != TransitionCallbackReturn.SUCCESS:
                node.get_logger().error(f"{node.get_name()} could not start (see above)")
                return 1
        spinner = make_executor(executor)
        spinner.add_node(node)
        spinner.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except FacelmError as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = 2
    finally:
        if node is not None:
            node.deactivate()
        rclpy.try_shutdown()
    return code


def main_for(node_class, executor: str = "single"):
    """A module-level ``main(args=None)`` for a node class (console-script entry point)."""
    def main(args=None) -> int:
        return run(node_class, args if args is not None else sys.argv, executor)
    return main
