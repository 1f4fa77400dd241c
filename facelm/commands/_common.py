"""Argument helpers shared by subcommands."""
from __future__ import annotations

import argparse


def add_model_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", metavar="DIR", default=None,
                        help="model directory with manifest.json (default: $FACELM_MODEL or the shipped artifacts/)")
