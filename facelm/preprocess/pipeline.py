"""MMHead-style clean-up of a clip: IQR outlier replacement, then exact temporal smoothing."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from facelm.clip import MotionClip
from facelm.errors import FacelmError
from facelm.preprocess import outliers, smoothing


@dataclass(frozen=True)
class Group:
    """One parameter group of a clip: its field, whether it holds rotations, whether it is the head."""

    name: str
    rotational: bool
    head: bool = False


# The order reports list them in. Head rotations get the pose weight lambda; the jaw,
# eyes, eyelids and ARKit weights move at speech/blink/saccade rates, like the
# expression, and share its weight 1.
GROUPS = (
    Group("expression", rotational=False),
    Group("global_pose", rotational=True, head=True),
    Group("neck_pose", rotational=True, head=True),
    Group("jaw_pose", rotational=True),
    Group("eye_pose", rotational=True),
    Group("eyelid", rotational=False),
    Group("arkit", rotational=False),
)
GROUP_NAMES = tuple(g.name for g in GROUPS)

# Defaults at 25 fps, in the paper's units (expression difference weight 1), chosen on
# BEAT2 (docs/preprocess.md): expression/jaw/eyes alpha = 1/8 -> -3 dB at 9.1 Hz
# (syllables at 4-6 Hz keep 81-90 %, blink peaks 95 %); head alpha = 3/8 -> -3 dB at
# 4.4 Hz (nods at 1-2 Hz keep 92-98 %). Frame-to-frame jitter near 12.5 Hz keeps 67 %
# (face) and 40 % (head); single-frame spikes are the outlier step's job.
DEFAULT_FIDELITY = 8.0
DEFAULT_POSE_WEIGHT = 3.0
# Tukey's "far out" fence. MMHead's s is unstated; on clean BEAT2, 1.5 replaced
# 4.5 % of expression and 3 % of neck frames, 3.0 replaced 0.9 % and 0.3 % and still
# caught every injected spike, also at half the test size (docs/preprocess.md).
DEFAULT_IQR_SCALE = 3.0
# Groups searched for outliers. Eyelids and ARKit weights are left out: a blink is a
# real 2-4 frame excursion that any neighbour- or mean-based fence flags (on a Live
# Link Face take, 90 % of blink frames were); they are still smoothed.
DEFAULT_OUTLIER_GROUPS = ("expression", "global_pose", "neck_pose", "jaw_pose", "eye_pose")
# Distance to a running median ("local": glitches against smooth real motion), to
# the clip mean ("mean": MMHead's rule, values beyond the clip's usual range), or
# "both" (a frame either fence flags). On BEAT2 the mean fence alone missed 92 % of
# 20-degree neck spikes (those pointing toward the mean); the local one alone
# missed most jaw spikes on a 5 Hz synthetic jaw (its 7-frame median cannot follow
# a 5-frame period). Together they caught every spike in both (docs/preprocess.md).
# With "both", the mean fence skips frames of an excursion beyond the quartiles
# lasting longer than the window: a smooth, held extreme (BEAT2's last 35 frames
# hold a strong expression) is a pose, not a glitch; the local fence still flags
# any jump into or out of it.
OUTLIER_REFERENCES = ("both",) + outliers.REFERENCES
MIN_FRAMES_FOR_OUTLIERS = 8  # quartiles of fewer frames say nothing


@dataclass(frozen=True)
class PreprocessConfig:
    """What to run and how strongly; see ``docs/preprocess.md`` for the defaults' reasoning."""

    remove_outliers: bool = True
    iqr_scale: float = DEFAULT_IQR_SCALE
    outlier_groups: tuple[str, ...] = DEFAULT_OUTLIER_GROUPS
    outlier_reference: str = "both"  # one of OUTLIER_REFERENCES
    outlier_window: int = 7  # frames in the running median (odd); bursts up to window//2 are caught
    smooth: bool = True
    pose_weight: float = DEFAULT_POSE_WEIGHT  # lambda: difference weight of the head rotations
    fidelity: float = DEFAULT_FIDELITY  # mu: weight of staying near the input
    order: int = 1  # 1 = velocity penalty (the paper's); 2 = acceleration penalty

    def validate(self) -> None:
        checks = [
            (math.isfinite(self.iqr_scale) and self.iqr_scale > 0, f"--iqr-scale must be > 0, got {self.iqr_scale}"),
            (self.outlier_reference in OUTLIER_REFERENCES,
             f"outlier reference must be one of {', '.join(OUTLIER_REFERENCES)}, got {self.outlier_reference!r}"),
            (self.outlier_window >= 3 and self.outlier_window % 2 == 1,
             f"outlier window must be an odd number >= 3, got {self.outlier_window}"),
            (math.isfinite(self.pose_weight) and self.pose_weight >= 0,
             f"--lambda-pose must be >= 0, got {self.pose_weight}"),
            (math.isfinite(self.fidelity) and self.fidelity > 0,
             f"--fidelity must be > 0 (without it the minimiser is a constant), got {self.fidelity}"),
            (self.order in (1, 2), f"smoothing order must be 1 or 2, got {self.order}"),
            (set(self.outlier_groups) <= set(GROUP_NAMES),
             f"outlier groups must be among {', '.join(GROUP_NAMES)}, got {', '.join(self.outlier_groups)}"),
        ]
        for ok, message in checks:
            if not ok:
                raise FacelmError(message)

    def alpha(self, group: Group) -> float:
        """Difference weight over fidelity for one group: the whole smoother in one number."""
        return (self.pose_weight if group.head else 1.0) / self.fidelity


@dataclass
class GroupReport:
    """What preprocessing did to one group. Changes are in coefficient units or radians."""

    replaced_frames: list[int] = field(default_factory=list)
    rms_change: float = 0.0  # root mean square over frames of the per-frame distance, output to input
    max_change: float = 0.0
    cutoff_hz: float | None = None  # -3 dB frequency of the smoother; None when not smoothed

    def to_dict(self) -> dict:
        cutoff = self.cutoff_hz
        return {
            "replaced": len(self.replaced_frames),
            "replaced_frames": self.replaced_frames,
            "rms_change": round(self.rms_change, 6),
            "max_change": round(self.max_change, 6),
            "cutoff_hz": None if cutoff is None else (round(cutoff, 3) if math.isfinite(cutoff) else "above_nyquist"),
        }


@dataclass
class PreprocessReport:
    num_frames: int
    fps: float
    groups: dict[str, GroupReport]
    config: PreprocessConfig = field(default_factory=PreprocessConfig)

    def to_dict(self) -> dict:
        return {"num_frames": self.num_frames, "fps": self.fps, "config": asdict(self.config),
                "groups": {name: g.to_dict() for name, g in self.groups.items()}}

    def summary(self) -> str:
        """A few human lines: replaced frames and change per group."""
        lines = [f"{self.num_frames} frames at {self.fps:g} fps"]
        for name, g in self.groups.items():
            unit = "rad" if name.endswith("_pose") else ""
            cutoff = "" if g.cutoff_hz is None else (
                f", smoothed below {g.cutoff_hz:.1f} Hz" if math.isfinite(g.cutoff_hz) else ", smoothing cutoff above Nyquist")
            shown = ", ".join(map(str, g.replaced_frames[:8])) + (", ..." if len(g.replaced_frames) > 8 else "")
            replaced = f"{len(g.replaced_frames)} frame(s) replaced" + (f" [{shown}]" if shown else "")
            lines.append(f"  {name:<12} {replaced}; rms change {g.rms_change:.4g}{unit}, "
                         f"max {g.max_change:.4g}{unit}{cutoff}")
        return "\n".join(lines)


def find_outliers(values: np.ndarray, group: Group, config: PreprocessConfig) -> np.ndarray:
    """(T,) bool: the frames of one group that the configured IQR fence(s) flag."""
    floor = outliers.MIN_DEVIATION_RADIANS if group.rotational else outliers.MIN_DEVIATION_COEFFICIENTS
    both = config.outlier_reference == "both"
    bad = np.zeros(values.shape[0], bool)
    for reference in outliers.REFERENCES if both else (config.outlier_reference,):
        dist = outliers.deviations(values, group.rotational, reference, config.outlier_window)
        flagged = outliers.iqr_outliers(dist, config.iqr_scale, two_sided=(reference == "mean"),
                                        min_deviation=floor)
        if both and reference == "mean":
            flagged = outliers.drop_sustained(flagged, dist, config.outlier_window)
        bad |= flagged
    return bad


def preprocess_clip(clip: MotionClip, config: PreprocessConfig | None = None) -> tuple[MotionClip, PreprocessReport]:
    """Replace IQR outlier frames, then smooth every group; returns the new clip and a report."""
    config = config or PreprocessConfig()
    config.validate()
    n = clip.num_frames
    updates: dict[str, np.ndarray] = {}
    reports: dict[str, GroupReport] = {}
    for group in GROUPS:
        original = getattr(clip, group.name)
        if original is None:
            continue
        values = np.asarray(original, dtype=np.float64)
        report = GroupReport()
        if config.remove_outliers and group.name in config.outlier_groups and n >= MIN_FRAMES_FOR_OUTLIERS:
            bad = find_outliers(values, group, config)
            values = outliers.interpolate_frames(values, bad, group.rotational)
            report.replaced_frames = [int(i) for i in np.flatnonzero(bad)]
        if config.smooth:
            alpha = config.alpha(group)
            smooth = smoothing.smooth_rotations if group.rotational else smoothing.smooth_linear
            values = smooth(values, alpha, config.order)
            report.cutoff_hz = smoothing.cutoff_hz(alpha, clip.fps, config.order)
        change = outliers.frame_distances(values, original, group.rotational)
        report.rms_change = float(np.sqrt(np.mean(change**2)))
        report.max_change = float(change.max())
        updates[group.name] = values.astype(np.float32)
        reports[group.name] = report
    return replace(clip, **updates), PreprocessReport(n, clip.fps, reports, config)
