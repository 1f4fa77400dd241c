"""Audio-driven talking head: 16 kHz log-mel front end, streaming audio-to-mouth model on onnxruntime."""
from facelm.audio.features import FeatureStream, log_mel
from facelm.audio.io import load_audio
from facelm.audio.motion import AudioToMotion, MotionStream
from facelm.audio.style import Style, parse_style

__all__ = ["AudioToMotion", "FeatureStream", "MotionStream", "Style", "load_audio", "log_mel", "parse_style"]
