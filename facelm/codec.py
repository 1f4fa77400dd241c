"""The motion tokenizer as a codec on onnxruntime: clip <-> token ids, offline and streaming.

Feature layout and normalisation come from the model manifest; the graphs do the
(de)normalisation themselves, so the runtime only converts clips to feature rows.
"""
from __future__ import annotations

import numpy as np

from facelm.clip import MotionClip
from facelm.errors import FacelmError
from facelm.model_dir import ModelDir, motion_codes_sha256


class MotionCodec:
    def __init__(self, model: ModelDir | str | None = None):
        self.model = model if isinstance(model, ModelDir) else ModelDir(model)
        spec = self.model.section("tokenizer")
        self.spec = spec
        self.num_codes = int(spec["num_codes"])
        self.frames_per_token = int(spec["frames_per_token"])
        self.fps = float(spec["fps"])
        self.num_expression = int(spec["num_expression"])
        self.include_global = bool(spec["include_global"])
        self.input_dim = int(spec["input_dim"])
        self.state_size = int(spec["decoder_step"]["state_size"])
        # Tokens the decoder reads ahead before a token's frames come out (0: none).
        self.lookahead = int(spec.get("decoder_lookahead", 0))
        # Names the codes (encoder + codebook); older manifests only name the decoder file.
        self.codes_sha256 = motion_codes_sha256(spec) or spec["decoder_step"]["sha256"]
        self._encoder = self.model.session(spec["encoder"])
        self._decoder = self.model.session(spec["decoder_step"])

    # -- clip <-> features ------------------------------------------------------
    def features(self, clip: MotionClip) -> np.ndarray:
        """(T, D) float32 rows in the tokenizer's layout, at its fps."""
        clip = clip.with_expression_size(self.num_expression).resample(self.fps)
        return clip.to_array(self.include_global)

    def to_clip(self, frames: np.ndarray) -> MotionClip:
        return MotionClip.from_array(frames, self.num_expression, self.include_global, fps=self.fps)

    # -- offline ----------------------------------------------------------------
    def encode(self, clip: MotionClip) -> np.ndarray:
        """Clip -> (N,) int64 token ids; a tail shorter than a token is padded with its last frame."""
        return self.encode_frames(self.features(clip))

    def encode_frames(self, frames: np.ndarray) -> np.ndarray:
        frames = np.asarray(frames, np.float32)
        if frames.ndim != 2 or frames.shape[1] != self.input_dim:
            raise FacelmError(f"frames must have shape (T, {self.input_dim}), got {frames.shape}")
        if not np.isfinite(frames).all():
            raise FacelmError("frames contain NaN or inf")
        pad = (-len(frames)) % self.frames_per_token
        if pad:
            frames = np.concatenate([frames, np.repeat(frames[-1:], pad, 0)])
        return self._encoder.run(None, {"frames": frames[None]})[0][0].astype(np.int64)

    def decode(self, ids) -> MotionClip:
        """Token ids -> clip (N * frames_per_token frames)."""
        dec = self.streaming_decoder()
        return self.to_clip(np.concatenate([dec.push(i) for i in self.check_ids(ids)] + [dec.flush()]))

    def check_ids(self, ids) -> np.ndarray:
        arr = np.asarray(ids)
        if arr.ndim != 1 or arr.size == 0 or arr.dtype.kind not in "iu":
            raise FacelmError(f"token ids must be a non-empty 1-D list of integers, got shape {arr.shape}")
        if arr.min() < 0 or arr.max() >= self.num_codes:
            raise FacelmError(f"token ids must lie in [0, {self.num_codes}), got [{arr.min()}, {arr.max()}]")
        return arr.astype(np.int64)

    # -- streaming ----------------------------------------------------------------
    def streaming_decoder(self) -> "StreamingDecoder":
        return StreamingDecoder(self)

    def streaming_encoder(self) -> "StreamingEncoder":
        return StreamingEncoder(self)


class StreamingDecoder:
    """Tokens in one at a time -> ``frames_per_token`` frames out, bounded state, equal to offline.

    With a look-ahead decoder (``codec.lookahead`` = L > 0) a token's frames come out when
    the token L places later is pushed, so the first L pushes of a stream return no rows;
    ``flush`` ends the stream by repeating its last token L times, as offline decoding does.
    """

    def __init__(self, codec: MotionCodec):
        self.codec = codec
        self.reset()

    def reset(self) -> None:
        self.state = np.zeros((1, self.codec.state_size), np.float32)
        self.steps = 0          # decoder steps since the stream started
        self.last_id = None     # what ``flush`` repeats

    def push(self, token_id: int) -> np.ndarray:
        """One token id -> (frames_per_token, D) raw feature rows, or (0, D) while the look-ahead fills."""
        tid = int(token_id)
        if not 0 <= tid < self.codec.num_codes:
            raise FacelmError(f"token id {tid} outside [0, {self.codec.num_codes})")
        frames, self.state = self.codec._decoder.run(None, {"ids": np.array([tid], np.int64), "state": self.state})
        self.steps += 1
        self.last_id = tid
        return frames[0] if self.steps > self.codec.lookahead else frames[0, :0]

    def flush(self) -> np.ndarray:
        """The frames still held back by the look-ahead, (L * fpt, D) at most; the stream then starts over."""
        out = [self.push(self.last_id) for _ in range(self.codec.lookahead)] if self.last_id is not None else []
        self.reset()
        return np.concatenate(out) if out else np.zeros((0, self.codec.input_dim), np.float32)


class StreamingEncoder:
    """Frames in as they come -> a token each ``frames_per_token`` frames, delay fpt-1 frames.

    Keeps the last receptive-field's worth of frames (aligned to whole tokens) and
    re-encodes that window, which is exact because the encoder is causal.
    """

    def __init__(self, codec: MotionCodec):
        self.codec = codec
        fpt = codec.frames_per_token
        rf = int(codec.spec["encoder_receptive_field"])
        self.window = -(-rf // fpt) * fpt + fpt  # whole tokens covering the receptive field
        self.reset()

    def reset(self) -> None:
        self.buffer = np.zeros((0, self.codec.input_dim), np.float32)
        self.pending = 0  # frames received since the last emitted token

    def push(self, frames: np.ndarray) -> list[int]:
        """Append (n, D) frames; returns the token ids completed by them (possibly none)."""
        frames = np.asarray(frames, np.float32).reshape(-1, self.codec.input_dim)
        if not np.isfinite(frames).all():
            raise FacelmError("frames contain NaN or inf")
        fpt = self.codec.frames_per_token
        out = []
        for row in frames:
            self.buffer = np.concatenate([self.buffer, row[None]])[-self.window:]
            self.pending += 1
            if self.pending == fpt:
                self.pending = 0
                usable = len(self.buffer) - len(self.buffer) % fpt  # keep the stride phase
                ids = self.codec.encode_frames(self.buffer[len(self.buffer) - usable:])
                out.append(int(ids[-1]))
        return out
