"""Shared ONNX export plumbing: the exporter settings ARCHITECTURE prescribes, hashing, manifest merge."""
from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import onnx
import torch

OPSET = 18


def export_graph(module: torch.nn.Module, args: tuple, path: Path, input_names: list[str],
                 output_names: list[str], dynamic_shapes=None) -> Path:
    """torch.onnx.export with the dynamo exporter and weights inside the file."""
    module.eval()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(module, args, str(path), dynamo=True, external_data=False, opset_version=OPSET,
                          input_names=input_names, output_names=output_names, dynamic_shapes=dynamic_shapes,
                          verbose=False)
    onnx.checker.check_model(str(path))
    return path


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def code_version() -> str:
    """Git commit of the training/export code (``unknown`` outside a checkout)."""
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).resolve().parents[1], timeout=10)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def update_manifest(out_dir: Path, section: str, content: dict) -> Path:
    """Merge one model's section into ``out_dir/manifest.json`` (other sections are kept).

    The section gets the fields ``export.manifest`` defines: file sizes, graph opsets
    and the exporter versions it was made with.
    """
    from export.manifest import describe_entries, exporter_versions, write_manifest

    path = Path(out_dir) / "manifest.json"
    manifest = json.loads(path.read_text()) if path.exists() else {}
    manifest.setdefault("format", "facelm-model/1")
    versions = exporter_versions(code_version())
    manifest["exporter"] = versions
    manifest[section] = {**describe_entries(out_dir, content), "exporter": versions}
    write_manifest(path, manifest)
    return path
