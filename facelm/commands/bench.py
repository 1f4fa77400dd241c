"""facelm bench [--json]: latency, speed, memory and start-up against ARCHITECTURE's targets.

onnxruntime and (in a checkout with torch) torch side by side; see facelm/bench.py
for what each row measures. Numbers are for this machine under its current load.
"""
from __future__ import annotations

import json
from pathlib import Path

from facelm.commands._common import add_model_arg
from facelm.providers import add_provider_args


def register(sub) -> None:
    p = sub.add_parser("bench", help="measure latency, speed, memory and start-up against the targets",
                       description=__doc__.split("\n\n", 1)[1])
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--markdown", action="store_true", help="print the table as Markdown (for the README)")
    p.add_argument("--seconds", type=float, default=12.0,
                   help="clip length for generation speed and the audio stream (default 12)")
    p.add_argument("--quick", action="store_true", help="few repeats and 4 s clips (a smoke test, noisy numbers)")
    p.add_argument("--torch", choices=("auto", "on", "off"), default="auto",
                   help="torch column: auto (when torch and the checkout's models/ import), on (required), off")
    p.add_argument("--lm-checkpoint", type=Path, default=None,
                   help="a torch LM checkpoint for the torch column's LM rows (none is shipped)")
    add_model_arg(p)
    add_provider_args(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from facelm.bench import format_table, run_bench
    from facelm.errors import FacelmError
    from facelm.model_dir import ModelDir

    if not 0 < args.seconds <= 12:
        raise FacelmError(f"--seconds must lie in (0, 12], got {args.seconds:g}")
    model = ModelDir(args.model, provider=args.provider, threads=args.threads)
    result = run_bench(model, quick=args.quick, seconds=args.seconds, torch=args.torch,
                       lm_checkpoint=str(args.lm_checkpoint) if args.lm_checkpoint else None)
    print(json.dumps(result, indent=1) if args.json else format_table(result, markdown=args.markdown))
    return 0
