"""The synthetic AU basis inverts, ARKit correspondence is consistent, emotions are defined."""
import numpy as np
import pytest

from facelm import face_units as fu


def test_basis_readback_recovers_units():
    basis = fu.UnitBasis()
    rng = np.random.default_rng(3)
    units = rng.uniform(0, 1, (64, fu.NUM_UNITS)).astype(np.float32)
    expression, jaw = basis.to_expression(units)
    assert expression.shape == (64, 50) and jaw.shape == (64, 3)
    np.testing.assert_allclose(basis.from_expression(expression, jaw), units, atol=1e-4)
    # 100-coefficient clips: the extra coefficients carry nothing of the basis
    wide = np.pad(expression, ((0, 0), (0, 50)))
    np.testing.assert_allclose(basis.from_expression(wide, jaw), units, atol=1e-4)


def test_jaw_drop_is_a_jaw_rotation():
    basis = fu.UnitBasis()
    _, jaw = basis.to_expression(fu.units_vector({"AU26": 1.0})[None])
    assert jaw[0, 0] == pytest.approx(fu.JAW_DROP_RADIANS)


def test_arkit_correspondence():
    assert len(fu.ARKIT_NAMES) == 52 == len(set(fu.ARKIT_NAMES))
    smile = fu.units_to_arkit(fu.units_vector({"AU12L": 1.0})[None])[0]
    assert smile[fu.ARKIT_INDEX["MouthSmileLeft"]] == 1.0 and smile[fu.ARKIT_INDEX["MouthSmileRight"]] == 0.0
    units = fu.arkit_to_units(smile[None])[0]
    assert units[fu.UNIT_INDEX["AU12L"]] == pytest.approx(1.0, abs=1e-5)
    assert fu.default_arkit_to_flame(100).shape == (100, 52)


def test_emotions_and_unknown_names():
    assert set(fu.EMOTIONS) >= {"neutral", "happy", "sad", "angry", "surprised", "fearful", "disgusted", "contempt"}
    assert fu.emotion_vector("neutral").sum() == 0
    assert fu.emotion_vector("happy", 0.5)[fu.UNIT_INDEX["AU12L"]] == pytest.approx(0.45)
    with pytest.raises(KeyError):
        fu.emotion_vector("bored")
    with pytest.raises(KeyError):
        fu.units_vector({"AU99": 1})
