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


def _facelm_without_torch(*argv: str, cwd) -> subprocess.CompletedProcess:
    """``facelm ARGV`` in a fresh interpreter where ``import torch`` fails (and is checked not to happen)."""
    code = ("import sys; sys.modules['torch'] = None\n"
            "from facelm.cli import main\n"
            "rc = main(sys.argv[1:])\n"
            "assert sys.modules.get('torch') is None, 'torch was imported'\n"
            "sys.exit(rc)\n")
    return subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=300,
                          cwd=cwd)


def test_cli_runs_on_the_shipped_model_with_torch_unimportable(tmp_path):
    import json
    import wave

    import numpy as np

    from facelm.clip import MotionClip
    from facelm.model_dir import default_model_dir

    model = default_model_dir()
    if not (model / "manifest.json").is_file():
        import pytest
        pytest.skip("no shipped model")
    m = ["--model", str(model)]

    def ok(*argv):
        out = _facelm_without_torch(*argv, *m, cwd=tmp_path)
        assert out.returncode == 0, f"facelm {argv[0]}: {out.stderr[-1500:]}"
        return out.stdout

    ok("generate", "A person nods slowly.", "-o", "gen.npz", "--seconds", "2", "--seed", "1")
    clip = MotionClip.load(tmp_path / "gen.npz")
    assert clip.num_frames == 50 and np.isfinite(clip.to_array()).all()

    described = json.loads(ok("describe", "gen.npz", "--json"))
    assert {"text", "action", "emotion", "expression", "head_pose"} <= set(described)
    assert all(isinstance(v, str) and v for v in described.values())

    ok("encode", "gen.npz", "-o", "tokens.json")
    tokens = json.loads((tmp_path / "tokens.json").read_text())
    assert len(tokens["ids"]) == 50 // tokens["frames_per_token"] + (50 % tokens["frames_per_token"] > 0)
    ok("decode", "tokens.json", "-o", "dec.npz")
    assert MotionClip.load(tmp_path / "dec.npz").num_frames >= 50

    t = np.arange(16000) / 16000
    with wave.open(str(tmp_path / "speech.wav"), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000)
        w.writeframes((8000 * np.sin(2 * np.pi * 150 * t) * (np.sin(2 * np.pi * 3 * t) > 0)).astype("<i2").tobytes())
    ok("speak", "speech.wav", "-o", "talk.npz")
    talk = MotionClip.load(tmp_path / "talk.npz")
    assert talk.num_frames == 25 and np.isfinite(talk.to_array()).all()
