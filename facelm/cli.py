"""The ``facelm`` command line: a thin dispatcher over ``facelm.commands.*``.

Each subcommand lives in its own module under ``facelm/commands`` exposing
``register(subparsers)``, which adds its parser and sets ``func``. User errors
(``FacelmError``) print as one line and exit 2, never as a traceback.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from facelm import __version__
from facelm.errors import FacelmError
from facelm.providers import CHOICES as PROVIDER_CHOICES

# Module names under facelm.commands, in the order ``--help`` lists them.
COMMANDS = (
    "convert",
    "render",
    "preprocess",
    "encode",
    "decode",
    "speak",
    "generate",
    "describe",
    "check-model",
    "bench",
    "launch",
    "record",
    "demo",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="facelm", description="Facial motion as a language: FLAME clips, tokens, text, ROS 2.")
    parser.add_argument("--version", action="version", version=f"facelm {__version__}")
    parser.add_argument("--provider", dest="global_provider", choices=PROVIDER_CHOICES, default=None,
                        help="what runs the graphs of any command: cpu, cuda, tensorrt (onnxruntime execution "
                             "providers, CPU fallback) or tensorrt-engine; sets $FACELM_PROVIDER (default cpu)")
    parser.add_argument("--threads", dest="global_threads", type=int, default=None, metavar="N",
                        help="intra-op threads of each graph session; sets $FACELM_THREADS (default 1)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"facelm.commands.{name.replace('-', '_')}")
        except ModuleNotFoundError as exc:
            if exc.name != f"facelm.commands.{name.replace('-', '_')}":
                raise  # a real missing dependency: let it show
            continue  # command not part of this install
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    # Through the environment, so every model directory a command opens (and its child processes) uses them.
    if args.global_provider:
        os.environ["FACELM_PROVIDER"] = args.global_provider
    if args.global_threads is not None:
        os.environ["FACELM_THREADS"] = str(args.global_threads)
    try:
        return int(args.func(args) or 0)
    except FacelmError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
