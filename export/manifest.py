"""Manifest fields every exporter writes, and a refresh for a manifest written before them.

    python -m export.manifest --model artifacts     # add the fields, keep every sha256

Each file entry ({file, sha256}) also records ``bytes`` (so a truncated file is
named as such) and, for an ONNX graph, its ``opset`` and ``ir_version``; each
section records the ``exporter`` versions (torch, onnx, opset, training-code
commit) it was exported with. ``update_manifest`` (export.onnx_utils) applies the
same function, so a re-export keeps the fields. The refresh refuses a file whose
sha256 no longer matches: it never blesses a changed file.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import onnx

from facelm import __version__ as FACELM_VERSION
from facelm.errors import FacelmError

FORMAT = "facelm-model/1"


def file_fields(path: Path) -> dict[str, Any]:
    """Size and, for ONNX graphs, opset and IR version (read from the file, not assumed)."""
    fields: dict[str, Any] = {"bytes": path.stat().st_size}
    if path.suffix == ".onnx":
        proto = onnx.load(str(path), load_external_data=False)
        fields["opset"] = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)
        fields["ir_version"] = int(proto.ir_version)
    return fields


def describe_entries(out_dir: Path, section: dict[str, Any], check_sha: bool = False) -> dict[str, Any]:
    """``section`` with ``file_fields`` added to each of its file entries (nested ones too)."""
    from facelm.model_dir import file_sha256

    def walk(node):
        if isinstance(node, dict):
            node = {k: walk(v) for k, v in node.items()}
            if "file" in node and "sha256" in node:
                path = Path(out_dir) / node["file"]
                if check_sha and file_sha256(path) != node["sha256"]:
                    raise FacelmError(f"{path}: sha256 mismatch (file changed since export); not refreshed")
                node.update(file_fields(path))
            return node
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(section)


def exporter_versions(code_version: str) -> dict[str, Any]:
    import torch

    from export.onnx_utils import OPSET
    return {"torch": torch.__version__, "onnx": onnx.__version__, "opset": OPSET, "facelm": FACELM_VERSION,
            "code_version": code_version}


def write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=1))
    os.replace(tmp, path)


def refresh(model_dir: Path) -> dict[str, Any]:
    """Add the per-file and per-section fields to an existing manifest; sha256 values are kept."""
    path = Path(model_dir) / "manifest.json"
    manifest = json.loads(path.read_text())
    if manifest.get("format") != FORMAT:
        raise FacelmError(f"{path}: manifest format {manifest.get('format')!r} is not {FORMAT!r}")
    top = manifest.get("exporter", {})
    for name, section in list(manifest.items()):
        if not isinstance(section, dict) or name == "exporter":
            continue
        section = describe_entries(model_dir, section, check_sha=True)
        # Sections exported before per-section versions: the manifest-level record is the best known.
        section.setdefault("exporter", dict(top, recorded="manifest-level, before per-section records"))
        manifest[name] = section
    write_manifest(path, manifest)
    return manifest


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m export.manifest", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=Path("artifacts"),
                    help="model directory whose manifest.json to refresh (default artifacts)")
    args = ap.parse_args(argv)
    try:
        manifest = refresh(args.model)
    except FacelmError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    count = sum(1 for s in manifest.values() if isinstance(s, dict) and "exporter" in s)
    print(f"{args.model / 'manifest.json'}: file sizes, opsets and exporter versions recorded ({count} sections)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
