"""The torch column of ``facelm bench``: the runtime's classes with torch modules behind their sessions.

Each ONNX graph is defined by a torch wrapper (``export.*_graphs``); wrapped in
``TorchGraph`` (onnxruntime's ``run(None, feed)`` call), it replaces the
onnxruntime session inside ``MotionCodec``, ``AudioToMotion`` and
``MotionLanguageModel``, so the bench measures both backends with the same code
and the same pre/post-processing. The checkpoints are the shipped ones
(``artifacts/tokenizer.pt``, ``artifacts/audio.pt``); the LM ships no torch
checkpoint, so its rows need ``--lm-checkpoint``. A development tool: imports torch.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch

from facelm.audio import AudioToMotion
from facelm.codec import MotionCodec
from facelm.errors import FacelmError
from facelm.model_dir import ModelDir


class TorchGraph:
    """``run(output_names, feed)`` over a torch module called as ``call(module, feed)``."""

    def __init__(self, module: torch.nn.Module, call: Callable, output_names: list[str]):
        self.module = module.eval()
        self.call = call
        self.output_names = output_names

    def run(self, output_names, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        with torch.inference_mode():
            out = self.call(self.module, {k: torch.from_numpy(np.asarray(v)) for k, v in feed.items()})
        out = [o.numpy() for o in (out if isinstance(out, (tuple, list)) else (out,))]
        return out if not output_names else [out[self.output_names.index(n)] for n in output_names]


def torch_codec(model: ModelDir) -> MotionCodec:
    from export.tokenizer_graphs import DecoderStepGraph, EncoderGraph
    from models.motion_tokenizer import MotionTokenizer

    codec = MotionCodec(model)
    net = MotionTokenizer.from_checkpoint(model.file(codec.spec["checkpoint"]))
    codec._encoder = TorchGraph(EncoderGraph(net), lambda m, f: m(f["frames"]), ["ids"])
    codec._decoder = TorchGraph(DecoderStepGraph(net), lambda m, f: m(f["ids"], f["state"]), ["frames", "next_state"])
    return codec


def torch_audio(model: ModelDir) -> AudioToMotion:
    from export.audio_graphs import StreamStepGraph
    from models.audio_to_motion import AudioToMotion as TorchAudio

    engine = AudioToMotion(model)
    net = TorchAudio.from_checkpoint(model.file(engine.spec["checkpoint"]))
    engine._session = TorchGraph(StreamStepGraph(net), lambda m, f: m(f["mel"], f["style"], f["state"]),
                                 ["motion", "next_state"])
    return engine


class TorchTextEncoder:
    """The fp32 sentence encoder (training's) with the runtime TextEncoder's ``embed``/``truncated``."""

    def __init__(self, runtime_encoder):
        from training.sentence_embed import SentenceEmbedder
        self._embedder = SentenceEmbedder()
        self._runtime = runtime_encoder

    def embed(self, texts) -> np.ndarray:
        self._embedder._cache.clear()  # measure the encoder, not its cache
        return self._embedder.embed(list(texts))

    def truncated(self, text: str) -> bool:
        return self._runtime.truncated(text)


def torch_lm(model: ModelDir, checkpoint: Path):
    """The runtime LM with the torch model of ``checkpoint`` behind its graph call."""
    from export.lm_graphs import LMStepGraph
    from facelm.lm_runtime import MotionLanguageModel
    from models.motion_lm import MotionLM

    lm = MotionLanguageModel(model)
    net = MotionLM.from_checkpoint(str(checkpoint))
    if net.cfg.vocab_size != lm.vocab.size:
        raise FacelmError(f"{checkpoint}: vocabulary of {net.cfg.vocab_size} ids, the model's is {lm.vocab.size}")
    names = lm._past_names

    def call(m, f):
        return m(f["ids"], f["prefix"], [f[n] for n in names])

    lm._session = TorchGraph(LMStepGraph(net), call, [])
    lm._text_encoder = TorchTextEncoder(lm.text_encoder)
    return lm


def torch_backend(model: ModelDir, lm_checkpoint: Path | None = None, threads: int = 1) -> dict:
    """{'codec', 'audio', 'lm' (None without a checkpoint)} running on torch with ``threads`` threads."""
    torch.set_num_threads(threads)  # as onnxruntime's intra-op threads: a like-for-like column
    return {"codec": torch_codec(model), "audio": torch_audio(model),
            "lm": torch_lm(model, lm_checkpoint) if lm_checkpoint else None}
