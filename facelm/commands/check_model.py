"""facelm check-model DIR: verify a model directory before deploying it.

Every file the manifest names: present, full length, sha256, ONNX graphs load
with the chosen provider and their inputs/outputs equal the manifest's, JSON
parses; then the contracts between models (vocabulary, motion codes, fps,
prompt width). Exit 0 when all pass, 1 when one fails, 2 when the manifest
itself cannot be read.
"""
from __future__ import annotations

import json
from pathlib import Path

from facelm.providers import add_provider_args


def register(sub) -> None:
    p = sub.add_parser("check-model", help="verify a model directory (hashes, graphs, contracts)",
                       description=__doc__.split("\n\n", 1)[1])
    p.add_argument("dir", type=Path, nargs="?", default=None,
                   help="model directory with manifest.json (default: $FACELM_MODEL or the shipped artifacts/)")
    p.add_argument("--json", action="store_true", help="print the checks as JSON")
    add_provider_args(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from facelm.model_dir import ModelDir

    model = ModelDir(args.dir, provider=args.provider, threads=args.threads)
    rows = model.check()
    failed = sum(status != "OK" for _, status, _ in rows)
    if args.json:
        print(json.dumps({"model": str(model.path), "ok": not failed,
                          "checks": [{"what": w, "status": s, "detail": d} for w, s, d in rows]}))
    else:
        width = max(len(w) for w, _, _ in rows)
        for what, status, detail in rows:
            print(f"{what:<{width}}  {status:<4}  {detail}")
        print(f"{model.path}: {'all ' + str(len(rows)) + ' checks passed' if not failed else f'{failed} of {len(rows)} checks FAILED'}")
    return 1 if failed else 0
