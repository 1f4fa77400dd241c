"""When a message reached this process: the middleware's reception stamp, as rosbag2 records it.

A subscription callback that takes ``(msg, info)`` gets rmw's message info;
its ``received_timestamp`` (system clock, ns) is set when the DDS layer hands
the sample over, before the executor gets round to the callback, so rate and
latency measurements do not include this process's own scheduling delay.
"""
from __future__ import annotations

import time


def arrival_ns(info) -> int:
    """Reception time (system clock ns) from rmw message info; now when the middleware gave none."""
    return info.get("received_timestamp") or time.time_ns()


def source_ns(info, default: int) -> int:
    """Publication time (system clock ns) from rmw message info; ``default`` when the middleware gave none."""
    return info.get("source_timestamp") or default
