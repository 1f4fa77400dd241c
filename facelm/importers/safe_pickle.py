"""Load pickles that may only hold numpy arrays and plain containers.

Dataset pickles (MMHead, TDMM-LM/SMIRK tracking) come from strangers. A plain
``pickle.load`` runs whatever callable the file names, so a crafted file could run
``os.system``. ``SafeUnpickler`` resolves only an allow-list of globals: the
functions numpy uses to rebuild arrays, dtypes and scalars, and builtin container
and number types. Anything else (os, subprocess, builtins.eval, torch tensors...)
is refused with a ``FacelmError`` before it can be called.
"""
from __future__ import annotations

import codecs
import collections
import io
import os
import pickle
from typing import Any

import numpy as np
from numpy._core import multiarray as _multiarray
from numpy._core import numeric as _numeric

from facelm.errors import FacelmError


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    # Protocol 0-2 pickles carry array bytes as ``_codecs.encode(text, 'latin1')``;
    # only that exact use is allowed, not arbitrary codecs.
    if codecs.lookup(encoding).name != "iso8859-1":
        raise pickle.UnpicklingError(f"_codecs.encode with encoding {encoding!r} is not allowed")
    return text.encode("latin1")


# (module, name) -> object. numpy 1.x wrote 'numpy.core.*', numpy 2 writes 'numpy._core.*'.
_ALLOWED: dict[tuple[str, str], Any] = {}
for _mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
    _ALLOWED[(_mod, "_reconstruct")] = _multiarray._reconstruct
    _ALLOWED[(_mod, "scalar")] = _multiarray.scalar
for _mod in ("numpy.core.numeric", "numpy._core.numeric"):
    _ALLOWED[(_mod, "_frombuffer")] = _numeric._frombuffer
_ALLOWED[("numpy", "ndarray")] = np.ndarray
_ALLOWED[("numpy", "dtype")] = np.dtype
_ALLOWED[("_codecs", "encode")] = _latin1_encode
for _name in ("dict", "list", "tuple", "set", "frozenset", "int", "float", "complex",
              "str", "bytes", "bytearray", "bool"):
    _ALLOWED[("builtins", _name)] = getattr(__import__("builtins"), _name)
    _ALLOWED[("__builtin__", _name)] = _ALLOWED[("builtins", _name)]  # Python 2 pickles
_ALLOWED[("collections", "OrderedDict")] = collections.OrderedDict


class RefusedGlobal(pickle.UnpicklingError):
    """The pickle named a global outside the allow-list."""


class SafeUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` that resolves only allow-listed globals."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise RefusedGlobal(f"{module}.{name}") from None


def loads(data: bytes, source: str = "<bytes>") -> Any:
    """Unpickle ``data`` safely; every failure is a one-line ``FacelmError``."""
    # latin1 lets numpy arrays written by Python 2 load; Python 3 pickles ignore it.
    unpickler = SafeUnpickler(io.BytesIO(data), encoding="latin1")
    try:
        obj = unpickler.load()
    except RefusedGlobal as exc:
        ref = str(exc)
        hint = " (torch tensors: save them as numpy arrays)" if ref.startswith("torch") else ""
        raise FacelmError(
            f"{source}: pickle refers to {ref}, which is not allowed; only numpy arrays and "
            f"plain containers are loaded{hint}") from None
    except EOFError:
        raise FacelmError(f"{source}: pickle is truncated (ended before its STOP)") from None
    except pickle.UnpicklingError as exc:
        if "truncated" in str(exc):
            raise FacelmError(f"{source}: pickle is truncated ({exc})") from None
        raise FacelmError(f"{source}: not a readable pickle ({exc})") from None
    except ( ValueError, TypeError, AttributeError, IndexError,
            KeyError, MemoryError, OverflowError, UnicodeError) as exc:
        raise FacelmError(f"{source}: not a readable pickle ({exc.__class__.__name__}: {exc})") from None
    return obj


def load(path: str | os.PathLike) -> Any:
    """Read and safely unpickle the file at ``path``."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise FacelmError(f"{path}: cannot read ({exc.strerror})") from None
    return loads(data, source=path)
