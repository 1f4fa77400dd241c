"""The nodes' pure-Python parts, without ROS: jitter buffer, idle life, frame layout, joint and ARKit maps."""
from __future__ import annotations

import numpy as np
import pytest

from facelm.errors import FacelmError
from facelm.ros.arkit_map import ArkitMap
from facelm.ros.flame import FrameLayout, add_global, drop_global, joint_names
from facelm.ros.idle_life import IdleLife
from facelm.ros.jitter_buffer import JitterBuffer
from facelm.ros.joint_map import JointMap, JointSpec
from facelm.ros.motion_encoder import bit_rates

W = 65


def rows(value: float, n: int) -> np.ndarray:
    return np.full((n, W), value, np.float32)


def play(buf: JitterBuffer, ticks: int) -> list[tuple[float, object]]:
    idle = np.zeros(W, np.float32)
    return [(float(row[0]), key) for row, key in (buf.tick(idle) for _ in range(ticks))]


def test_jitter_buffer_prebuffers_plays_in_order_and_eases_out_at_the_end():
    buf = JitterBuffer(W, prebuffer=3, capacity=50, hold=2, ease=4)
    buf.push("a", rows(1.0, 2))
    assert [k for _, k in play(buf, 2)] == [None, None]  # 2 < prebuffer: nothing plays yet
    buf.push("a", np.arange(3, 6, dtype=np.float32)[:, None].repeat(W, 1), end=True)
    out = play(buf, 12)
    assert [k for _, k in out[:5]] == ["a"] * 5 and all(k is None for _, k in out[5:])
    assert buf.stats["frames_played"] == 5 and buf.stats["underruns"] == 0
    values = [v for v, _ in out]
    assert values[-1] == pytest.approx(0.0)  # back to idle
    assert max(abs(np.diff(values))) < 5.0  # eased, never a jump to the raw values at once


def test_jitter_buffer_preemption_drops_the_old_stream_and_its_late_frames():
    buf = JitterBuffer(W, prebuffer=1, capacity=50, hold=2, ease=2)
    buf.push("old", rows(1.0, 10))
    play(buf, 3)
    buf.push("new", rows(2.0, 5))
    buf.push("old", rows(1.0, 4))  # late frames of the preempted stream
    keys = [k for _, k in play(buf, 8)]
    assert "old" not in keys and keys[:5] == ["new"] * 5
    assert buf.stats["dropped_preempted"] == 7 and buf.stats["dropped_stale"] == 4
    buf.stop("new")
    assert buf.current is None and buf.is_retired("new")


def test_jitter_buffer_overflow_drops_oldest_and_underrun_holds_then_eases():
    buf = JitterBuffer(W, prebuffer=1, capacity=4, hold=2, ease=1)  # ease=1: frames show unblended
    buf.push("s", np.arange(6, dtype=np.float32)[:, None].repeat(W, 1))
    assert buf.stats["dropped_overflow"] == 2 and buf.level == 4
    out = play(buf, 4)
    assert [v for v, _ in out] == pytest.approx([2.0, 3.0, 4.0, 5.0])
    held = play(buf, 2)
    assert [v for v, _ in held] == pytest.approx([5.0, 5.0]) and buf.stats["underruns"] == 1
    eased = [v for v, _ in play(buf, 4)]
    assert eased[-1] == pytest.approx(0.0)
    buf.push("s", rows(7.0, 1))  # the stream resumes after prebuffering again
    assert play(buf, 1)[0][1] == "s"


def test_idle_life_blinks_breathes_and_stays_small():
    idle = IdleLife(50, seed=1)
    frames = np.stack([idle.next() for _ in range(25 * 20)])
    assert np.isfinite(frames).all()
    blink_energy = np.abs(frames[:, :50]).sum(1)
    assert (blink_energy > 1.0).sum() >= 3  # several blinks in 20 s
    neck = frames[:, 53]
    assert 0.005 < neck.max() < 0.05 and neck.min() < 0  # breathing, a few hundredths of a radian
    gaze = frames[:, 59]
    assert len(np.unique(np.round(gaze, 4))) > 5 and np.abs(gaze).max() <= 0.15
    again = IdleLife(50, seed=1)
    assert np.array_equal(np.stack([again.next() for _ in range(100)]), frames[:100])


def test_frame_layout_checks_reorders_and_clamps():
    layout = FrameLayout(50)
    names = joint_names(50)
    assert len(names) == 65 and names[50:53] == ["global_x", "global_y", "global_z"]
    values = np.arange(65, dtype=np.float64) / 100
    assert np.allclose(layout.check([], values), values)
    perm = np.random.default_rng(0).permutation(65)
    assert np.allclose(layout.check([names[i] for i in perm], values[perm]), values)
    for bad_names, bad_values, message in (([], values[:64], "64 values"),
                                           ([], np.r_[values[:-1], np.nan], "NaN"),
                                           (["nope"] + names[1:], values, "unknown joint")):
        with pytest.raises(FacelmError, match=message):
            layout.check(bad_names, bad_values)
    wild = np.r_[np.full(50, 1e6), np.full(15, -1e6)]
    wild[3] = np.nan
    safe = layout.safe(wild)
    assert np.isfinite(safe).all() and (safe <= layout.high).all() and (safe >= layout.low).all()
    assert safe[3] == 0.0
    r = np.random.default_rng(1).normal(size=(4, 62)).astype(np.float32)
    assert np.array_equal(drop_global(add_global(r, 50), 50), r)


def test_joint_map_clamps_rate_limits_and_never_publishes_nan(tmp_path):
    jm = JointMap([JointSpec("jaw", "jaw_x", gain=2.0, min=0.0, max=0.5, max_rate=1.0),
                   JointSpec("smile", "AU12L", min=0.0, max=1.0)], 50)
    row = np.zeros(65)
    row[56] = 10.0  # a huge jaw opening
    first = jm.step(row, 0.04)
    assert first[0] == pytest.approx(0.04)  # 1 rad/s for 40 ms
    for _ in range(50):
        last = jm.step(row, 0.04)
    assert last[0] == pytest.approx(0.5)  # clamped to max
    row[:] = np.nan
    assert np.allclose(jm.step(row, 0.04), last) and np.isfinite(jm.step(row, 0.04)).all()
    path = tmp_path / "map.yaml"
    path.write_text("joints:\n  - {name: a, channel: expr_999}\n")
    with pytest.raises(FacelmError, match="unknown channel"):
        JointMap.load(path)
    path.write_text("joints:\n  - {name: a, channel: neck_x, min: 1, max: 0}\n")
    with pytest.raises(FacelmError, match="min <= max"):
        JointMap.load(path)


def test_shipped_joint_map_loads():
    from facelm.ros.robot_joints_bridge import default_map_path
    jm = JointMap.load(default_map_path())
    assert len(jm.names) >= 6 and np.isfinite(jm.step(np.zeros(65), 0.04)).all()


def test_arkit_map_weights_are_named_bounded_and_follow_the_jaw_and_gaze():
    m = ArkitMap(50)
    assert len(m.names) == 52
    row = np.zeros(65, np.float32)
    rest = m(row)
    row[56] = 0.3   # jaw open
    row[59] = 0.4   # left eye looks down
    w = m(row)
    assert w[m.names.index("JawOpen")] > rest[m.names.index("JawOpen")] + 0.5
    assert w[m.names.index("EyeLookDownLeft")] > 0.5
    wild = np.random.default_rng(0).normal(scale=50, size=65)
    assert ((m(wild) >= 0) & (m(wild) <= 1)).all()


def test_token_stream_bit_rate_is_tiny_beside_raw_frames():
    rates = bit_rates(512, 4, 25.0, 65, 62)
    assert rates["token stream (bit/s)"] == pytest.approx(9 * 6.25)
    assert rates["raw JointState float64 (bit/s)"] == 64 * 65 * 25
    assert rates["raw float32 parameters (bit/s)"] / rates["token stream (bit/s)"] > 500
