"""Read a FLAME model pickle without running code from it.

The allowlist unpickler of ``facelm.importers.safe_pickle`` (numpy arrays, plain
containers) is extended with the two kinds of object the official FLAME 2020 file
holds, neither of which is ever instantiated here:

- chumpy ``Ch`` arrays (``shapedirs``, ``v_template``...): a stand-in keeps the
  pickled state, whose ``x`` is the plain array;
- scipy sparse matrices (``J_regressor``): a stand-in keeps ``data``/``indices``/
  ``indptr`` (or ``row``/``col``) and ``dense_array`` densifies them with numpy,
  so neither chumpy nor scipy is imported.

Anything else in the file is refused with a FacelmError naming it.
"""
from __future__ import annotations

import os
import pickle
from typing import Any

import numpy as np

from facelm.errors import FacelmError
from facelm.importers.safe_pickle import RefusedGlobal, SafeUnpickler


class _State:
    """Stand-in for a pickled object: keeps its state, runs none of its code."""

    kind = "object"

    def __init__(self, *args: Any) -> None:  # NEWOBJ may pass constructor args: ignored
        self.state: dict = {}

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2 and isinstance(state[1], dict):
            state = state[1]  # (slot state, dict state) form
        self.state = state if isinstance(state, dict) else {"value": state}


class _ChumpyArray(_State):
    kind = "chumpy"


class _SparseCSC(_State):
    kind = "csc"


class _SparseCSR(_State):
    kind = "csr"


class _SparseCOO(_State):
    kind = "coo"


def _safe_reconstructor(cls: type, base: type, state: Any) -> Any:
    """copyreg._reconstructor for stand-ins only (protocol 0/1 pickles of new-style objects)."""
    if not (isinstance(cls, type) and issubclass(cls, _State)) or base is not object:
        raise pickle.UnpicklingError(f"refusing to rebuild {cls!r} from {base!r}")
    return object.__new__(cls)


_MODEL_GLOBALS: dict[tuple[str, str], Any] = {
    ("chumpy.ch", "Ch"): _ChumpyArray,
    ("copy_reg", "_reconstructor"): _safe_reconstructor,
    ("copyreg", "_reconstructor"): _safe_reconstructor,
    ("__builtin__", "object"): object,
    ("builtins", "object"): object,
}
for _fmt, _cls in (("csc", _SparseCSC), ("csr", _SparseCSR), ("coo", _SparseCOO)):
    for _mod in (f"scipy.sparse.{_fmt}", f"scipy.sparse._{_fmt}"):
        _MODEL_GLOBALS[(_mod, f"{_fmt}_matrix")] = _cls
        _MODEL_GLOBALS[(_mod, f"{_fmt}_array")] = _cls


class _ModelUnpickler(SafeUnpickler):
    def find_class(self, module: str, name: str) -> Any:
        found = _MODEL_GLOBALS.get((module, name))
        return found if found is not None else super().find_class(module, name)


def dense_array(value: Any, what: str = "value") -> np.ndarray:
    """A plain ndarray from an array, a chumpy stand-in or a sparse stand-in."""
    if isinstance(value, _ChumpyArray):
        if "x" not in value.state:
            raise FacelmError(f"{what}: a chumpy expression, not a stored array (re-save the model with numpy arrays)")
        return dense_array(value.state["x"], what)
    if isinstance(value, (_SparseCSC, _SparseCSR, _SparseCOO)):
        return _densify(value, what)
    if isinstance(value, _State):
        raise FacelmError(f"{what}: unsupported object in the model file")
    return np.asarray(value)


def _densify(m: _State, what: str) -> np.ndarray:
    s = m.state
    shape = s.get("_shape", s.get("shape"))
    try:
        rows, cols = (int(v) for v in shape)
        data = np.asarray(s["data"], np.float64)
        out = np.zeros((rows, cols), np.float64)
        if m.kind == "coo":
            r = np.asarray(s.get("row", s.get("coords", [None, None])[0]), np.int64)
            c = np.asarray(s.get("col", s.get("coords", [None, None])[1]), np.int64)
            np.add.at(out, (r, c), data)
            return out
        indices = np.asarray(s["indices"], np.int64)
        indptr = np.asarray(s["indptr"], np.int64)
        # Expand the compressed axis: entry k belongs to major index `major[k]`.
        major = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
        if m.kind == "csc":
            np.add.at(out, (indices, major), data)
        else:
            np.add.at(out, (major, indices), data)
        return out
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise FacelmError(f"{what}: malformed sparse matrix in the model file ({exc})") from None


def load_model_pickle(path: str | os.PathLike) -> dict[str, Any]:
    """The top-level dict of a FLAME-style pickle, loaded through the allowlist."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FacelmError(f"{path}: no such file")
    try:
        with open(path, "rb") as fh:
            # latin1: the official file is a Python 2 pickle holding numpy byte strings.
            content = _ModelUnpickler(fh, encoding="latin1").load()
    except RefusedGlobal as exc:
        raise FacelmError(f"{path}: model pickle refers to {exc}, which is not allowed "
                          "(only numpy arrays, chumpy arrays and scipy sparse matrices are read)") from None
    except pickle.UnpicklingError as exc:
        raise FacelmError(f"{path}: not a loadable FLAME model pickle ({exc})") from None
    except (EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError, MemoryError,
            OverflowError, UnicodeError, OSError) as exc:
        raise FacelmError(f"{path}: not a readable pickle ({exc.__class__.__name__}: {exc})") from None
    if not isinstance(content, dict):
        raise FacelmError(f"{path}: a FLAME model pickle holds a dict, got {type(content).__name__}")
    return content
