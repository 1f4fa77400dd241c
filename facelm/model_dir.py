"""A model directory: ``manifest.json`` plus the files it names, verified before use.

The manifest records every file's sha256 and size; a missing, truncated or
tampered file is refused with a one-line error naming it, before onnxruntime ever
sees it, and a graph whose inputs or outputs differ from the manifest's (names,
ranks, fixed sizes such as the vocabulary) is refused when its session is made.
``check()`` runs every test at once for ``facelm check-model``.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

from facelm.errors import FacelmError
from facelm.providers import RuntimeOptions, available_providers

MANIFEST = "manifest.json"
FORMAT = "facelm-model/1"


def motion_codes_sha256(tok: dict[str, Any]) -> str | None:
    """What names a tokenizer section's motion codes (its encoder and codebook): the training
    checkpoint they come from. A decoder retrained on the same codes keeps that name."""
    return tok.get("codes_sha256") or tok.get("source_sha256")


def speaks_same_codes(lm: dict[str, Any], tok: dict[str, Any]) -> bool:
    """Whether an ``lm`` section writes the codes of a ``tokenizer`` section: by the tokenizer checkpoint
    the LM was trained on where both sections name one, else by the decoder it was exported beside."""
    trained = lm.get("trained_on_motion_tokenizer_sha256") or lm.get("motion_tokenizer_codes_sha256")
    codes = motion_codes_sha256(tok)
    if trained and codes:
        return trained == codes
    return lm.get("motion_tokenizer_decoder_sha256") in (None, tok.get("decoder_step", {}).get("sha256"))


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
    """Read-only view of a verified model directory; ``options`` say how its graphs run."""

    def __init__(self, path: str | os.PathLike | None = None, provider: str | None = None,
                 threads: int | None = None, options: RuntimeOptions | None = None):
        self.path = Path(path) if path is not None else default_model_dir()
        self.options = options or RuntimeOptions.from_env(provider, threads)
        mpath = self.path / MANIFEST
        if not mpath.is_file():
            raise FacelmError(f"{mpath}: no model manifest here (train and export a model, or pass --model DIR)")
        try:
            self.manifest: dict[str, Any] = json.loads(mpath.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise FacelmError(f"{mpath}: manifest is not valid JSON ({exc})") from None
        if not isinstance(self.manifest, dict):
            raise FacelmError(f"{mpath}: manifest is not a JSON object")
        if self.manifest.get("format") != FORMAT:
            raise FacelmError(f"{mpath}: manifest format {self.manifest.get('format')!r} is not {FORMAT!r} "
                              "(exported for another facelm version)")

    def section(self, name: str) -> dict[str, Any]:
        if name not in self.manifest:
            raise FacelmError(f"{self.path / MANIFEST}: has no '{name}' model")
        return self.manifest[name]

    def file(self, entry: dict[str, Any]) -> Path:
        """Path of a manifest file entry ({file, sha256[, bytes]}) after checking it exists and matches."""
        path = self.path / entry["file"]
        if not path.is_file():
            raise FacelmError(f"{path}: model file is missing")
        if file_sha256(path) != entry.get("sha256"):  # the hash decides; the size only names the damage
            want, size = entry.get("bytes"), path.stat().st_size
            if want is not None and size < int(want):
                raise FacelmError(f"{path}: truncated ({size} of {want} bytes)")
            raise FacelmError(f"{path}: sha256 mismatch (file changed since export)")
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
        """A session for a verified graph whose inputs and outputs are the manifest's.

        onnxruntime with the chosen provider, or a prebuilt TensorRT engine
        (provider ``tensorrt-engine``); both answer ``run(None, feed)`` and ``get_inputs()``.
        """
        path = self.file(entry)
        if self.options.provider == "tensorrt-engine":
            from facelm.tensorrt_backend import load_engine_session
            session = load_engine_session(path, entry, self.options)
        else:
            from facelm.onnx_session import create_session
            uses_trt = self.options.provider == "tensorrt" and "TensorrtExecutionProvider" in available_providers()
            profile = self.trt_profile(entry) if uses_trt else None
            session = create_session(path, options=self.options, trt_profile=profile)
        check_io(session, entry, path)
        return session

    def trt_profile(self, entry: dict[str, Any]) -> dict:
        """TensorRT optimisation profile of a graph: input -> (min, opt, max) shapes.

        Reads the graph's inputs with a plain CPU session (fixed sizes stay fixed); the
        ranges of its dynamic sizes come from the manifest (``tensorrt_backend.dim_range``).
        """
        import onnxruntime as ort

        from facelm.tensorrt_backend import profile_shapes
        section = next((name.split("/")[0] for name, e in self.entries() if e is entry), None)
        if section is None:
            raise FacelmError(f"{entry.get('file')}: not an entry of {self.path / MANIFEST}")
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        graph = ort.InferenceSession(str(self.file(entry)), opts, providers=["CPUExecutionProvider"])
        return profile_shapes(section, self.section(section), entry, [(i.name, i.shape) for i in graph.get_inputs()])

    def check(self) -> list[tuple[str, str, str]]:
        """Every test ``facelm check-model`` reports: rows of (what, "OK" | "FAIL", detail)."""
        rows = []
        for name, entry in self.entries():
            try:
                path = self.file(entry)
                detail = f"{path.stat().st_size} bytes, sha256 {entry['sha256'][:12]}"
                if path.suffix == ".onnx":
                    session = self.session(entry)
                    detail += f", {len(session.get_inputs())} inputs / {len(session.get_outputs())} outputs match"
                elif path.suffix == ".json":
                    json.loads(path.read_text())
                rows.append((str(path), "OK", detail))
            except FacelmError as exc:
                rows.append((str(self.path / entry["file"]), "FAIL", str(exc).split(": ", 1)[-1]))
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                rows.append((str(self.path / entry["file"]), "FAIL", f"not valid JSON ({exc})"))
        for what, problem in consistency(self):
            rows.append((what, "FAIL" if problem else "OK", problem or "consistent"))
        return rows


# -- graph I/O against the manifest -----------------------------------------------------------
def io_pattern(name: str) -> re.Pattern:
    """Manifest I/O names may stand for a family: ``past_key_<layer>`` is past_key_0, past_key_1, ..."""
    return re.compile("".join(r"\d+" if part.startswith("<") else re.escape(part)
                              for part in re.split(r"(<[^>]+>)", name)) + "$")


def check_io(session, entry: dict[str, Any], path: Path) -> None:
    """Graph inputs/outputs must be the manifest's: same names, ranks and fixed sizes.

    A size the manifest writes as a number (the vocabulary, a feature width) must
    be that number in the graph; a named size (B, T) may be anything the graph accepts.
    """
    for kind, nodes in (("input", session.get_inputs()), ("output", session.get_outputs())):
        declared = entry.get(f"{kind}s")
        if declared is None:
            continue
        patterns = {name: io_pattern(name) for name in declared}
        seen = set()
        for node in nodes:
            match = next((n for n, p in patterns.items() if p.match(node.name)), None)
            if match is None:
                raise FacelmError(f"{path}: graph {kind} '{node.name}' is not in the manifest "
                                  f"(it lists {', '.join(declared)})")
            seen.add(match)
            want, have = list(declared[match]), list(node.shape)
            fixed_differs = any(isinstance(w, int) and isinstance(h, int) and w != h for w, h in zip(want, have))
            if len(want) != len(have) or fixed_differs:
                raise FacelmError(f"{path}: graph {kind} '{node.name}' has shape {_dims(have)}, "
                                  f"the manifest says {_dims(want)}")
        missing = [n for n in declared if n not in seen]
        if missing:
            raise FacelmError(f"{path}: graph has no {kind} '{missing[0]}' that the manifest lists")


def _dims(shape) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


# -- sections against each other ---------------------------------------------------------------
def consistency(model: ModelDir) -> list[tuple[str, str]]:
    """(what, problem or "") for each cross-section contract the present sections make."""
    m, out = model.manifest, []

    def rule(what: str, ok: bool, problem: str) -> None:
        out.append((what, "" if ok else problem))

    lm, tok, audio = m.get("lm"), m.get("tokenizer"), m.get("audio")
    if lm:
        cfg = lm.get("config", {})
        size = cfg.get("vocab_size")
        logits = lm.get("graph", {}).get("outputs", {}).get("logits", [None, None])[-1]
        rule("lm: vocab_size", logits in (None, size),
             f"config vocab_size {size} but the graph's logits are {logits} wide")
        rule("lm: vocabulary layout", lm.get("motion_offset", 0) + lm.get("num_motion", 0) == size,
             f"motion_offset {lm.get('motion_offset')} + num_motion {lm.get('num_motion')} != vocab_size {size}")
        try:
            from facelm.vocab import Vocab
            vocab = Vocab.load(model.file(lm["vocab"]))
            layout = {"size": vocab.size, "text_offset": vocab.text_offset, "motion_offset": vocab.motion_offset,
                      "special_ids": {name: i for i, name in enumerate(vocab.specials)}}
            want = {"size": size, **{k: lm.get(k, layout[k]) for k in ("text_offset", "motion_offset", "special_ids")}}
            differs = [k for k in layout if layout[k] != want[k]]
            rule("lm: vocabulary file", not differs, f"{lm['vocab']['file']} disagrees with the manifest on "
                 f"{', '.join(differs)}")
        except (FacelmError, KeyError, ValueError, TypeError) as exc:
            rule("lm: vocabulary file", False, str(exc))
    if lm and tok:
        rule("lm + tokenizer: motion codes", lm.get("num_motion") == tok.get("num_codes"),
             f"lm has {lm.get('num_motion')} motion ids, the tokenizer {tok.get('num_codes')} codes")
        rule("lm + tokenizer: frames per token", lm.get("frames_per_token") == tok.get("frames_per_token")
             and lm.get("fps") == tok.get("fps"),
             f"lm {lm.get('frames_per_token')} frames/token at {lm.get('fps')} fps, tokenizer "
             f"{tok.get('frames_per_token')} at {tok.get('fps')}")
        rule("lm + tokenizer: same motion codes", speaks_same_codes(lm, tok),
             "the lm was trained on the codes of another motion tokenizer")
    if lm and "text_encoder" in m:
        dim = m["text_encoder"].get("dim")
        rule("lm + text_encoder: prefix width", lm.get("config", {}).get("cond_dim") in (None, dim),
             f"lm reads {lm.get('config', {}).get('cond_dim')}-d prompts, the text encoder writes {dim}-d")
    if tok:
        width = tok.get("input_dim")
        rule("tokenizer: normalisation", len(tok.get("mean", [])) == width == len(tok.get("std", [])),
             f"mean/std have {len(tok.get('mean', []))}/{len(tok.get('std', []))} values, input_dim {width}")
    if audio and tok:
        rule("audio + tokenizer: fps", audio.get("fps") == tok.get("fps"),
             f"audio at {audio.get('fps')} fps, tokenizer at {tok.get('fps')}")
    return out
