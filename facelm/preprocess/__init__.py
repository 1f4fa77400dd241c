"""MMHead-style preprocessing of FLAME clips (numpy/scipy only, no torch).

1. IQR outlier frames per parameter group, rebuilt by interpolation (``outliers``).
2. Temporal smoothing with MMHead's difference loss plus a fidelity term, solved
   exactly as a banded linear system (``smoothing``).

``preprocess_clip(clip, PreprocessConfig(...))`` runs both and reports what changed.
"""
from facelm.preprocess.pipeline import (
    DEFAULT_FIDELITY,
    DEFAULT_IQR_SCALE,
    DEFAULT_OUTLIER_GROUPS,
    DEFAULT_POSE_WEIGHT,
    GROUPS,
    GroupReport,
    PreprocessConfig,
    PreprocessReport,
    preprocess_clip,
)

__all__ = [
    "DEFAULT_FIDELITY",
    "DEFAULT_IQR_SCALE",
    "DEFAULT_OUTLIER_GROUPS",
    "DEFAULT_POSE_WEIGHT",
    "GROUPS",
    "GroupReport",
    "PreprocessConfig",
    "PreprocessReport",
    "preprocess_clip",
]
