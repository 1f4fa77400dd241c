"""Speech with phoneme timing from eSpeak NG, through ``libespeak-ng.so.1`` and ctypes.

Debian's ``espeak-ng`` CLI cannot print phoneme timing (``--pho`` needs mbrola
voices), but the library reports it: initialised with the phoneme-events option
in synchronous mode, ``espeak_Synth`` calls our synth callback with blocks of
22,050 Hz int16 samples and, alongside, events; a PHONEME event carries the
phoneme's eSpeak mnemonic (``h``, ``@``, ``oU``) and where it starts in the audio
(``sample``; ``audio_position`` is the same in whole ms).

The library keeps global state (one callback, one voice, one set of parameters),
so this module keeps one initialised instance per process behind a lock and sets
every parameter before every utterance. It also carries synthesis state from one
utterance to the next that no call resets (a pitch-flutter phase, gain control),
so the same text twice in one process gives slightly different audio and timing.
For reproducible corpora each utterance is therefore synthesised in a forked
child of a process whose library has never spoken: every utterance starts from
the same state (about 5 ms extra per utterance). Where fork is unavailable it
runs in process and is not reproducible.

System packages: ``libespeak-ng1`` (the library, pulls in ``espeak-ng-data``);
``espeak-ng`` (the CLI) is optional.
"""
from __future__ import annotations

import ctypes
import os
import pickle
import threading
from dataclasses import dataclass

import numpy as np

from facelm.errors import FacelmError

# Another build or platform (macOS: libespeak-ng.dylib) can be named in FACELM_ESPEAK_LIBRARY.
LIBRARY = os.environ.get("FACELM_ESPEAK_LIBRARY", "libespeak-ng.so.1")
INSTALL_HINT = "install espeak-ng: apt-get install -y espeak-ng libespeak-ng1"

# speak_lib.h constants (eSpeak NG 1.51).
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_PHONEME_EVENTS = 0x0001
_INITIALIZE_DONT_EXIT = 0x8000
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_EVENT_LIST_TERMINATED, _EVENT_WORD, _EVENT_PHONEME = 0, 1, 7
_PARAM = {"rate": 1, "volume": 2, "pitch": 3, "range": 4, "wordgap": 7}
_EE_NOT_FOUND = 2


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    """espeak_EVENT: 40 bytes on x86-64 and aarch64."""

    _fields_ = [
        ("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int), ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p), ("id", _EventId),
    ]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                             ctypes.POINTER(_Event))


@dataclass(frozen=True)
class Voice:
    """What eSpeak is asked to speak with.

    ``name``: a voice or language (``en-us``, ``en-gb-x-rp``), optionally with a
    variant (``en-us+m3``). ``rate``: words per minute (80..450). ``pitch`` and
    ``pitch_range``: 0..100 (50 normal). ``word_gap``: extra pause between words,
    units of 10 ms.
    """

    name: str = "en-us"
    rate: int = 175
    pitch: int = 50
    pitch_range: int = 50
    word_gap: int = 0
    volume: int = 100

    def as_dict(self) -> dict:
        return {"name": self.name, "rate": self.rate, "pitch": self.pitch,
                "pitch_range": self.pitch_range, "word_gap": self.word_gap, "volume": self.volume}


@dataclass(frozen=True)
class PhonemeMark:
    """One PHONEME event: mnemonic and where it starts (source samples, seconds, eSpeak's whole ms)."""

    phoneme: str
    sample: int
    time: float
    ms: int
    text_position: int


@dataclass(frozen=True)
class WordMark:
    """One WORD event: the word's characters in the text and where it starts."""

    word: str
    sample: int
    time: float


@dataclass
class Utterance:
    """Synthesised speech: int16 samples at ``sample_rate`` and its phoneme/word marks."""

    samples: np.ndarray
    sample_rate: int
    phonemes: list[PhonemeMark]
    words: list[WordMark]
    text: str
    voice: Voice

    @property
    def duration(self) -> float:
        return self.samples.size / self.sample_rate


class _Engine:
    """The process's one initialised libespeak-ng."""

    def __init__(self) -> None:
        try:
            lib = ctypes.CDLL(LIBRARY)
        except OSError:
            raise FacelmError(f"{LIBRARY} not found; {INSTALL_HINT}") from None
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Info.argtypes = [ctypes.c_void_p]
        lib.espeak_Info.restype = ctypes.c_char_p
        lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                     ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, None,
                                     _INITIALIZE_PHONEME_EVENTS | _INITIALIZE_DONT_EXIT)
        if rate <= 0:
            raise FacelmError(f"{LIBRARY} failed to initialise (espeak-ng-data missing?); {INSTALL_HINT}")
        self.lib = lib
        self.sample_rate = int(rate)
        self.version = (lib.espeak_Info(None) or b"").decode("utf-8", "replace")
        self.lock = threading.Lock()
        self._blocks: list[np.ndarray] = []
        self._events: list[tuple[int, int, int, int, int, str]] = []
        self._error: BaseException | None = None
        self._callback = _CALLBACK(self._on_synth)  # kept referenced: C holds the pointer
        lib.espeak_SetSynthCallback(self._callback)

    def _on_synth(self, wav, num_samples, events) -> int:
        try:
            if num_samples > 0 and wav:
                self._blocks.append(np.ctypeslib.as_array(wav, (num_samples,)).copy())
            i = 0
            while events[i].type != _EVENT_LIST_TERMINATED:
                ev = events[i]
                where = (ev.sample, ev.audio_position, ev.text_position)
                if ev.type == _EVENT_PHONEME:
                    name = bytes(ev.id.string).split(b"\0")[0].decode("utf-8", "replace")
                    self._events.append((_EVENT_PHONEME, *where, 0, name))
                elif ev.type == _EVENT_WORD:
                    self._events.append((_EVENT_WORD, *where, ev.length, ""))
                i += 1
            return 0
        except BaseException as exc:  # never let a Python error unwind through C
            self._error = exc
            return 1

    def synthesize(self, text: str, voice: Voice) -> Utterance:
        """Speak in a forked child (same start state every time) when the platform can fork."""
        with self.lock:
            if not hasattr(os, "fork"):
                return self._speak(text, voice)
            return self._speak_in_child(text, voice)

    def _speak_in_child(self, text: str, voice: Voice) -> Utterance:
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: speak, send the result, leave without running any cleanup
            status = 0
            try:
                os.close(read_fd)
                ctypes.CDLL(None).srand(1)  # breathy/klatt variants draw noise from rand()
                try:
                    payload = pickle.dumps(("ok", self._speak(text, voice)))
                except FacelmError as exc:
                    payload = pickle.dumps(("error", str(exc)))
                with os.fdopen(write_fd, "wb") as out:
                    out.write(payload)
            except BaseException:
                status = 1
            finally:
                os._exit(status)
        os.close(write_fd)
        with os.fdopen(read_fd, "rb") as inp:
            payload = inp.read()
        _, wait_status = os.waitpid(pid, 0)
        if not payload or os.waitstatus_to_exitcode(wait_status) != 0:
            raise FacelmError(f"espeak-ng synthesis process failed for {text[:40]!r} "
                              f"(exit {os.waitstatus_to_exitcode(wait_status)})")
        kind, value = pickle.loads(payload)
        if kind == "error":
            raise FacelmError(value)
        return value

    def _speak(self, text: str, voice: Voice) -> Utterance:
        lib = self.lib
        if lib.espeak_SetVoiceByName(voice.name.encode()) != 0:
            raise FacelmError(f"espeak-ng has no voice {voice.name!r} (try en-us, en, en-gb-x-rp)")
        for key, value in (("rate", voice.rate), ("pitch", voice.pitch), ("range", voice.pitch_range),
                           ("wordgap", voice.word_gap), ("volume", voice.volume)):
            lib.espeak_SetParameter(_PARAM[key], int(value), 0)
        self._blocks, self._events, self._error = [], [], None
        data = text.encode("utf-8")
        buf = ctypes.create_string_buffer(data)
        status = lib.espeak_Synth(buf, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        lib.espeak_Synchronize()
        if self._error is not None:
            raise self._error
        if status != 0:
            raise FacelmError(f"espeak-ng could not synthesise {text[:40]!r} (status {status})")
        samples = (np.concatenate(self._blocks) if self._blocks else np.zeros(0, np.int16))
        events = list(self._events)
        return _utterance(text, voice, samples.astype(np.int16, copy=False), self.sample_rate, events)


def _utterance(text: str, voice: Voice, samples: np.ndarray, rate: int, events: list) -> Utterance:
    # text_position counts characters from 1.
    phonemes, words = [], []
    for kind, sample, ms, pos, length, name in events:
        sample = int(min(max(sample, 0), samples.size))
        if kind == _EVENT_PHONEME:
            phonemes.append(PhonemeMark(name, sample, sample / rate, int(ms), pos))
        else:
            word = text[max(pos - 1, 0): max(pos - 1, 0) + length]
            words.append(WordMark(word, sample, sample / rate))
    return Utterance(samples, rate, phonemes, words, text, voice)


_engine: _Engine | None = None
_engine_lock = threading.Lock()


def engine() -> _Engine:
    """The process's initialised libespeak-ng (FacelmError if it is not installed)."""
    global _engine
    with _engine_lock:
        if _engine is None:
            _engine = _Engine()
        return _engine


def available() -> bool:
    """True when libespeak-ng loads and initialises."""
    try:
        engine()
        return True
    except FacelmError:
        return False


def version() -> str:
    """libespeak-ng's version string (e.g. "1.51")."""
    return engine().version


def synthesize(text: str, voice: Voice = Voice()) -> Utterance:
    """Speak ``text`` with ``voice``: 22,050 Hz int16 audio plus phoneme and word marks."""
    if not text or not text.strip():
        raise FacelmError("text to speak is empty")
    return engine().synthesize(text, voice)
