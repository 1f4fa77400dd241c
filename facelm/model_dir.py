"""A model directory: ``manifest.json`` plus the files it names, verified before use.

The manifest records every file's sha256; a missing, truncated or tampered file
is refused with a one-line error naming it, before onnxruntime ever sees it.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

from facelm.errors import FacelmError

MANIFEST = "manifest.json"
FORMAT = "facelm-model/1"


def default_model_dir() -> Path:
    """$FACELM_MODEL, else the checkout's ``artifacts/``, else the installed share/facelm/artifacts."""
    env = os.environ.get("FACELM_MODEL")
    if env:
        return Path(env)
    candidates = [Path(__file__).resolve().parents[1] / "artifacts",
                  Path(sys.prefix) / "share" / "facelm" / "artifacts"]
    for c in candidates:
        if (c / MANIFEST).is_file():
            return c
    return candidates[0]


@lru_cache(maxsize=64)
def _sha256(path: str, size: int, mtime_ns: int) -> str:  # cached per (path, size, mtime)
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def file_sha256(path: Path) -> str:
    st = path.stat()
    return _sha256(str(path), st.st_size, st.st_mtime_ns)


class ModelDir:
    """Read-only view of a verified model directory."""

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = Path(path) if path is not None else default_model_dir()
        mpath = self.path / MANIFEST
        if not mpath.is_file():
            raise FacelmError(f"{mpath}: no model manifest here (train and export a model, or pass --model DIR)")
        try:
            self.manifest: dict[str, Any] = json.loads(mpath.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise FacelmError(f"{mpath}: manifest is not valid JSON ({exc})") from None
        if not isinstance(self.manifest, dict) or self.manifest.get("format") != FORMAT:
            raise FacelmError(f"{mpath}: unknown manifest format {self.manifest.get('format')!r}, want {FORMAT!r}")

    def section(self, name: str) -> dict[str, Any]:
        if name not in self.manifest:
            raise FacelmError(f"{self.path / MANIFEST}: has no '{name}' model")
        return self.manifest[name]

    def file(self, entry: dict[str, Any]) -> Path:
        """Path of a manifest file entry ({file, sha256}) after checking it exists and matches."""
        path = self.path / entry["file"]
        if not path.is_file():
            raise FacelmError(f"{path}: model file is missing")
        if file_sha256(path) != entry.get("sha256"):
            raise FacelmError(f"{path}: sha256 does not match the manifest (truncated, modified or from another model)")
        return path

    def entries(self) -> list[tuple[str, dict[str, Any]]]:
        """Every (section/key, file entry) the manifest names."""
        found = []

        def walk(prefix: str, node: Any) -> None:
            if isinstance(node, dict):
                if "file" in node and "sha256" in node:
                    found.append((prefix, node))
                for k, v in node.items():
                    walk(f"{prefix}/{k}" if prefix else k, v)

        walk("", self.manifest)
        return found

    def verify(self) -> list[str]:
        """Check every file; returns the list of verified paths (raises on the first bad one)."""
        return [str(self.file(entry)) for _, entry in self.entries()]

    def session(self, entry: dict[str, Any]):
        """An onnxruntime session for a verified graph file."""
        from facelm.onnx_session import create_session
        return create_session(self.file(entry))
