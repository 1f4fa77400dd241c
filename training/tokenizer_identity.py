"""What names a motion tokenizer checkpoint, and the codes it writes.

A language model records the sha256 of the tokenizer checkpoint whose token ids it
was trained on. The same ids can later be decoded by another checkpoint: a shipped
slim copy (fp16, named by ``source_sha256`` in the manifest beside it) or a decoder
retrained on the frozen encoder and codebook (``train_tokenizer --decoder-only``,
which stores ``codes_sha256``).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch


def _shipped_source(path: Path) -> str | None:
    """``source_sha256`` of a model directory's slim copy at ``path``, if it is one."""
    manifest = path.parent / "manifest.json"
    if not manifest.is_file():
        return None
    try:
        section = json.loads(manifest.read_text()).get("tokenizer", {})
    except json.JSONDecodeError:
        return None
    if section.get("checkpoint", {}).get("file") == path.name:
        return section.get("source_sha256")
    return None


def codes_sha256(path: Path, ckpt: dict | None = None) -> str:
    """The name of the codes the checkpoint at ``path`` writes: the checkpoint they were trained in."""
    ckpt = ckpt if ckpt is not None else torch.load(path, map_location="cpu", weights_only=False)
    return ckpt.get("codes_sha256") or _shipped_source(path) or hashlib.sha256(path.read_bytes()).hexdigest()


def tokenizer_identities(path: Path) -> set[str]:
    """sha256 values a language model may use to name the tokenizer at ``path``: its own, its
    source checkpoint's for a shipped slim copy, and that of the checkpoint whose codes it keeps."""
    ids = {hashlib.sha256(path.read_bytes()).hexdigest(), codes_sha256(path)}
    source = _shipped_source(path)
    return ids | ({source} if source else set())
