"""The ROS 2 environment every facelm process that starts nodes runs under.

ROS reads its settings from environment variables when a context starts
(``rclpy.init``), so they have to be in place before that: either in this
process (``apply_ros_env`` before ``rclpy.init``) or in a child's environment
(``ros_env`` / ``spawn_ros_python``).

- ``RMW_IMPLEMENTATION=rmw_fastrtps_cpp``: the middleware facelm ships with.
- ``FASTRTPS_DEFAULT_PROFILES_FILE``: facelm's Fast DDS profile (fast
  discovery: found in about 0.5 s instead of 3 s, see fastdds_profile.xml).
- ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST``: nodes on this host only.
- ``ROS_DOMAIN_ID``: optional; tests take a private one from ``fresh_domain_id``.

A user's own settings win unless ``isolated=True`` (tests, demos), which
forces all of the above so an outside ROS graph can neither see nor disturb
the run. Library paths need no help here: the ROS wheels' bootstrapper (a
``.pth`` file in the venv) re-executes every venv Python with
LD_LIBRARY_PATH set, and children inherit it.
"""
from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

PROFILE_PATH = Path(__file__).with_name("fastdds_profile.xml")
RMW_IMPLEMENTATION = "rmw_fastrtps_cpp"

# Domain ids whose DDS ports stay below Linux's ephemeral range (ROS docs:
# "choose a domain ID between 0 and 101"). 0 is everyone's default, so tests
# never take it.
DOMAIN_ID_MIN, DOMAIN_ID_MAX = 1, 101

# A process holds domain id d by binding TCP port LOCK_PORT_BASE + d; the
# kernel frees it when the process dies, so a crash never leaks an id. Same
# scheme and base as ROS's domain_coordinator (used by launch_testing), so the
# two never hand out the same id at once.
LOCK_PORT_BASE = 32768

_held_domains: dict[int, socket.socket] = {}


def ros_env(domain_id: int | None = None, *, isolated: bool = False,
            base: Mapping[str, str] | None = None) -> dict[str, str]:
    """A copy of ``base`` (default: os.environ) with facelm's ROS settings.

    Without ``isolated``, variables the user already set are kept; with it,
    facelm's middleware, profile and localhost-only discovery are forced.
    ``domain_id`` always wins when given.
    """
    env = dict(os.environ if base is None else base)
    wanted = {
        "RMW_IMPLEMENTATION": RMW_IMPLEMENTATION,
        "FASTRTPS_DEFAULT_PROFILES_FILE": str(PROFILE_PATH),
        "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
    }
    for key, value in wanted.items():
        if isolated or not env.get(key):
            env[key] = value
    if isolated:
        # Jazzy still honours the deprecated switch and a static peer list; both
        # would widen discovery beyond this host.
        env.pop("ROS_LOCALHOST_ONLY", None)
        env.pop("ROS_STATIC_PEERS", None)
        env.pop("ROS_DISCOVERY_SERVER", None)
    if domain_id is not None:
        check_domain_id(domain_id)
        env["ROS_DOMAIN_ID"] = str(domain_id)
    _add_venv_to_ament_prefix(env)
    return env


def apply_ros_env(domain_id: int | None = None, *, isolated: bool = False) -> None:
    """Put ``ros_env`` into os.environ; call before ``rclpy.init`` in this process."""
    os.environ.update(ros_env(domain_id, isolated=isolated))


def check_domain_id(domain_id: int) -> None:
    if not 0 <= int(domain_id) <= DOMAIN_ID_MAX:
        raise ValueError(f"ROS domain id {domain_id} is outside 0..{DOMAIN_ID_MAX}")


def fresh_domain_id() -> int:
    """A ROS domain id in 1..101 that no other cooperating process on this host holds.

    The id stays reserved until this process exits (or ``release_domain_id``),
    so children spawned with it share a domain nobody else joins. Start points
    are random so parallel test runs rarely even probe the same ids.
    """
    span = DOMAIN_ID_MAX - DOMAIN_ID_MIN + 1
    start = random.Random(os.getpid() ^ int.from_bytes(os.urandom(4), "little")).randrange(span)
    for step in range(span):
        domain = DOMAIN_ID_MIN + (start + step) % span
        if domain in _held_domains:
            continue
        lock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            lock.bind(("", LOCK_PORT_BASE + domain))
        except OSError:
            lock.close()
            continue
        _held_domains[domain] = lock
        return domain
    raise RuntimeError(f"no free ROS domain id in {DOMAIN_ID_MIN}..{DOMAIN_ID_MAX} on this host")


def release_domain_id(domain_id: int) -> None:
    """Give back an id taken with ``fresh_domain_id`` (a no-op for others)."""
    lock = _held_domains.pop(domain_id, None)
    if lock is not None:
        lock.close()


@contextlib.contextmanager
def reserved_domain_id() -> Iterator[int]:
    """``fresh_domain_id`` for the duration of a ``with`` block."""
    domain = fresh_domain_id()
    try:
        yield domain
    finally:
        release_domain_id(domain)


def spawn_ros_python(args: Sequence[str], *, domain_id: int | None = None, isolated: bool = True,
                     env: Mapping[str, str] | None = None, **popen_kwargs) -> subprocess.Popen:
    """Start ``python ARGS`` (this interpreter) under ``ros_env``.

    ``env`` entries are added on top. Output is unbuffered so a parent can
    follow the child line by line. Stop it with ``stop_process``.
    """
    child_env = ros_env(domain_id, isolated=isolated)
    child_env["PYTHONUNBUFFERED"] = "1"
    child_env.update(env or {})
    return subprocess.Popen([sys.executable, *args], env=child_env, **popen_kwargs)


def stop_process(proc: subprocess.Popen, timeout: float = 3.0) -> int:
    """Stop a child politely, then firmly: SIGINT (rclpy shuts down cleanly),
    SIGTERM, SIGKILL, waiting up to ``timeout`` seconds after each. Returns its exit code.
    """
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        if proc.poll() is not None:
            break
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            continue
    return proc.wait()


@contextlib.contextmanager
def ros_python(args: Sequence[str], *, stop_timeout: float = 3.0, **kwargs) -> Iterator[subprocess.Popen]:
    """``spawn_ros_python`` as a ``with`` block that always stops the child."""
    proc = spawn_ros_python(args, **kwargs)
    try:
        yield proc
    finally:
        stop_process(proc, stop_timeout)


def _add_venv_to_ament_prefix(env: dict[str, str]) -> None:
    # Packages installed into a venv (facelm_msgs by scripts/build_msgs.sh, the
    # ROS wheels) register in <venv>/share/ament_index; put the venv on the
    # ament search path so ament_index lookups find them without sourcing.
    prefix = sys.prefix
    if not Path(prefix, "share", "ament_index").is_dir():
        return
    parts = [p for p in env.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    if prefix not in parts:
        env["AMENT_PREFIX_PATH"] = os.pathsep.join([*parts, prefix])
