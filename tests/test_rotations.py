"""Rotation helpers agree with each other and with matrices."""
import numpy as np

from facelm import rotations as R


def test_axis_angle_quat_matrix_roundtrip():
    rng = np.random.default_rng(1)
    aa = rng.normal(0, 1.0, (200, 3))
    aa = aa / np.linalg.norm(aa, axis=1, keepdims=True) * rng.uniform(0, 3.1, (200, 1))
    np.testing.assert_allclose(R.quat_to_axis_angle(R.axis_angle_to_quat(aa)), aa, atol=1e-9)
    np.testing.assert_allclose(R.matrix_to_axis_angle(R.axis_angle_to_matrix(aa)), aa, atol=1e-7)
    m = R.axis_angle_to_matrix(aa)
    np.testing.assert_allclose(m @ np.swapaxes(m, -1, -2), np.broadcast_to(np.eye(3), m.shape), atol=1e-12)


def test_compose_matches_matrix_product_and_small_angles_are_exact():
    a, b = np.array([0.1, -0.5, 0.3]), np.array([1.2, 0.2, -0.4])
    got = R.axis_angle_to_matrix(R.compose_axis_angle(a, b))
    np.testing.assert_allclose(got, R.axis_angle_to_matrix(a) @ R.axis_angle_to_matrix(b), atol=1e-12)
    tiny = np.array([1e-9, -2e-9, 3e-9])
    np.testing.assert_allclose(R.quat_to_axis_angle(R.axis_angle_to_quat(tiny)), tiny, rtol=1e-6)


def test_slerp_constant_angular_speed():
    q0 = R.axis_angle_to_quat(np.zeros(3))
    q1 = R.axis_angle_to_quat(np.array([0.0, 2.0, 0.0]))
    t = np.linspace(0, 1, 9)
    out = R.quat_to_axis_angle(R.slerp(np.broadcast_to(q0, (9, 4)), np.broadcast_to(q1, (9, 4)), t))
    np.testing.assert_allclose(out[:, 1], 2.0 * t, atol=1e-9)


def test_euler_order_yaw_pitch_roll():
    aa = R.euler_to_axis_angle(0.3, 0.0, 0.0)
    np.testing.assert_allclose(aa, [0, 0.3, 0], atol=1e-12)
    m = R.axis_angle_to_matrix(R.euler_to_axis_angle(0.3, 0.2, 0.1))
    ry, rx, rz = (R.axis_angle_to_matrix(np.array(v)) for v in ([0, 0.3, 0], [0.2, 0, 0], [0, 0, 0.1]))
    np.testing.assert_allclose(m, ry @ rx @ rz, atol=1e-12)
