"""The runtime package must run on a robot without torch."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import facelm

RUNTIME = Path(facelm.__file__).parent


def test_no_torch_import_in_runtime_source():
    offenders = []
    for path in RUNTIME.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path}:{node.lineno}" for n in names if n.split(".")[0] in ("torch", "models", "training", "export")]
    assert not offenders, f"runtime imports torch or dev-only packages: {offenders}"


def test_every_runtime_module_imports_with_torch_blocked():
    code = (
        "import sys, pkgutil, importlib\n"
        "sys.modules['torch'] = None  # any 'import torch' now raises ImportError\n"
        "import facelm\n"
        "mods = [m.name for m in pkgutil.walk_packages(facelm.__path__, 'facelm.')]\n"
        "for m in mods: importlib.import_module(m)\n"
        "assert 'torch' not in [k for k, v in sys.modules.items() if v is not None]\n"
        "print(len(mods))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert int(out.stdout.strip()) >= 5
