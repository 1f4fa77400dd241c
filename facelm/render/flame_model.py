"""A user-supplied FLAME model, posed by linear blend skinning (numpy only).

FLAME is licensed and never shipped with facelm; a user who has it passes the
file with ``--flame``. The layout read is FLAME 2020's ``generic_model.pkl``:
``v_template`` (V, 3), ``shapedirs`` (V, 3, 300 + E: identity then expression
directions), ``posedirs`` (V, 3, 36) or (V*3, 36), ``J_regressor`` (5, V),
``weights`` (V, 5), ``kintree_table`` (2, 5), ``f`` (F, 3). An ``.npz`` with the
same keys is read too.

Posing a frame (identity shape at zero, as clips carry none):

1. v = v_template + expression directions . expression;
2. joints J = J_regressor . v (root, neck, jaw, left eye, right eye);
3. pose correctives: v += posedirs . (R_j - I) over the four non-root joints;
4. each joint's world transform chains its parent's with its own rotation about
   its rest position; vertices move by their weights' blend of those transforms.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from facelm import rotations
from facelm.errors import FacelmError
from facelm.render.flame_pickle import dense_array, load_model_pickle

NUM_JOINTS = 5  # root (global), neck, jaw, left eye, right eye
NUM_IDENTITY = 300  # identity directions come first in FLAME's shapedirs
JOINT_NAMES = ("global", "neck", "jaw", "eye_left", "eye_right")


@dataclass
class FlameModel:
    v_template: np.ndarray   # (V, 3)
    expr_dirs: np.ndarray    # (V*3, E) expression directions, flattened vertex-major
    pose_dirs: np.ndarray    # (V*3, 36)
    j_regressor: np.ndarray  # (5, V)
    weights: np.ndarray      # (V, 5)
    parents: np.ndarray      # (5,) parent joint, -1 for the root
    faces: np.ndarray        # (F, 3) int
    source: str = "<model>"

    @property
    def num_vertices(self) -> int:
        return int(self.v_template.shape[0])

    @property
    def num_expression(self) -> int:
        return int(self.expr_dirs.shape[1])

    # -- loading --------------------------------------------------------------
    @classmethod
    def load(cls, path: str | os.PathLike) -> "FlameModel":
        path = os.fspath(path)
        if path.endswith(".npz"):
            if not os.path.isfile(path):
                raise FacelmError(f"{path}: no such file")
            try:
                with np.load(path, allow_pickle=False) as data:
                    content = {k: data[k] for k in data.files}
            except (OSError, ValueError) as exc:
                raise FacelmError(f"{path}: not a readable .npz model ({exc})") from None
        else:
            content = load_model_pickle(path)
        return cls.from_mapping(content, source=path)

    @classmethod
    def from_mapping(cls, content: dict, source: str = "<model>") -> "FlameModel":
        need = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "f")
        missing = [k for k in need if k not in content]
        if missing:
            raise FacelmError(f"{source}: missing key(s) {', '.join(missing)} (not a FLAME model)")
        arr = {k: dense_array(content[k], f"{source}: '{k}'") for k in need}
        try:
            return cls._validated(arr, source)
        except (TypeError, ValueError) as exc:
            raise FacelmError(f"{source}: malformed FLAME model ({exc})") from None

    @classmethod
    def _validated(cls, arr: dict[str, np.ndarray], source: str) -> "FlameModel":
        def bad(key: str, want: str) -> FacelmError:
            return FacelmError(f"{source}: '{key}' must have shape {want}, got {arr[key].shape}")

        v = arr["v_template"].astype(np.float32)
        if v.ndim != 2 or v.shape[1] != 3:
            raise bad("v_template", "(V, 3)")
        n = v.shape[0]
        sd = arr["shapedirs"]
        if sd.ndim != 3 or sd.shape[:2] != (n, 3) or sd.shape[2] <= NUM_IDENTITY:
            raise bad("shapedirs", f"({n}, 3, {NUM_IDENTITY} + expression)")
        pd = arr["posedirs"]
        if pd.shape in ((n, 3, 36), (n * 3, 36)):
            pd = pd.reshape(n * 3, 36)
        else:
            raise bad("posedirs", f"({n}, 3, 36) or ({n * 3}, 36)")
        jr, w, kt, f = arr["J_regressor"], arr["weights"], arr["kintree_table"], arr["f"]
        if jr.shape != (NUM_JOINTS, n):
            raise bad("J_regressor", f"({NUM_JOINTS}, {n})")
        if w.shape != (n, NUM_JOINTS):
            raise bad("weights", f"({n}, {NUM_JOINTS})")
        if kt.shape != (2, NUM_JOINTS):
            raise bad("kintree_table", f"(2, {NUM_JOINTS})")
        if f.ndim != 2 or f.shape[1] != 3 or f.size == 0:
            raise bad("f", "(F, 3)")
        faces = f.astype(np.int64)
        if faces.min() < 0 or faces.max() >= n:
            raise FacelmError(f"{source}: 'f' indexes vertices outside 0..{n - 1}")
        parents = kt[0].astype(np.int64)
        parents[0] = -1  # the file stores the root's parent as 2**32 - 1
        if any(not 0 <= parents[j] < j for j in range(1, NUM_JOINTS)):
            raise FacelmError(f"{source}: 'kintree_table' parents must precede their children, got {kt[0].tolist()}")
        for key in ("v_template", "shapedirs", "posedirs", "J_regressor", "weights"):
            if not np.isfinite(arr[key]).all():
                raise FacelmError(f"{source}: '{key}' has NaN/inf")
        return cls(
            v_template=v,
            expr_dirs=np.ascontiguousarray(sd[:, :, NUM_IDENTITY:].reshape(n * 3, -1), np.float32),
            pose_dirs=np.ascontiguousarray(pd, np.float32),
            j_regressor=jr.astype(np.float32), weights=w.astype(np.float32),
            parents=parents, faces=faces, source=source)

    # -- posing -----------------------------------------------------------------
    def shaped(self, expression: np.ndarray) -> np.ndarray:
        """(V, 3) template plus expression offsets (extra or missing coefficients: ignored / zero)."""
        e = np.asarray(expression, np.float32).reshape(-1)[: self.num_expression]
        return self.v_template + (self.expr_dirs[:, : e.size] @ e).reshape(-1, 3)

    def pose(self, expression: np.ndarray, joint_rotations: np.ndarray) -> np.ndarray:
        """(V, 3) posed vertices for one frame; ``joint_rotations`` (5, 3) axis-angle in
        ``JOINT_NAMES`` order."""
        v_shaped = self.shaped(expression)
        joints = self.j_regressor @ v_shaped  # (5, 3)
        rot = rotations.axis_angle_to_matrix(np.asarray(joint_rotations, np.float64).reshape(NUM_JOINTS, 3))
        pose_feature = (rot[1:] - np.eye(3)).reshape(-1).astype(np.float32)
        v_posed = v_shaped + (self.pose_dirs @ pose_feature).reshape(-1, 3)
        world = np.zeros((NUM_JOINTS, 4, 4))
        for j in range(NUM_JOINTS):
            local = np.eye(4)
            local[:3, :3] = rot[j]
            p = self.parents[j]
            local[:3, 3] = joints[j] - (joints[p] if p >= 0 else 0.0)
            world[j] = local if p < 0 else world[p] @ local
        # Skinning transforms act on rest-pose points: undo each joint's rest position.
        world[:, :3, 3] -= np.einsum("jab,jb->ja", world[:, :3, :3], joints)
        blend = (self.weights @ world.reshape(NUM_JOINTS, 16).astype(np.float32)).reshape(-1, 4, 4)
        return np.einsum("vab,vb->va", blend[:, :3, :3], v_posed) + blend[:, :3, 3]


def frame_rotations(global_pose: np.ndarray, neck: np.ndarray, jaw: np.ndarray, eyes: np.ndarray) -> np.ndarray:
    """(5, 3) joint rotations of one frame from the clip's pose groups."""
    return np.concatenate([global_pose, neck, jaw, eyes]).reshape(NUM_JOINTS, 3)
