"""microphone: a sound card input (sounddevice / PortAudio) -> /face/audio chunks.

Without PortAudio (Debian: ``apt-get install libportaudio2``) or without an input
device, configuring fails with one clear line and the node exits 1; nothing
else in the graph depends on it being there.
"""
from __future__ import annotations

import numpy as np

from facelm.errors import FacelmError
from facelm.ros.audio_source import AudioSourceNode
from facelm.ros.base import main_for


def open_sounddevice():
    try:
        import sounddevice
    except OSError as exc:  # the Python package is there but libportaudio is not
        raise FacelmError(f"microphone: PortAudio is not installed ({exc}); on Debian/Ubuntu: "
                          "apt-get install libportaudio2") from None
    except ImportError:
        raise FacelmError("microphone: the sounddevice package is not installed (pip install sounddevice)") from None
    return sounddevice


def input_device(sd, device: str):
    """The input device's info: by index, by name substring, or the default ('')."""
    try:
        if device == "":
            return sd.query_devices(kind="input")
        return sd.query_devices(int(device) if device.isdigit() else device, kind="input")
    except (sd.PortAudioError, ValueError) as exc:
        found = [d["name"] for d in sd.query_devices() if d["max_input_channels"] > 0]
        raise FacelmError(f"microphone: no audio input device {device!r} ({exc}); input devices here: "
                          f"{', '.join(found) if found else 'none'}") from None


class Microphone(AudioSourceNode):
    def __init__(self, **kwargs):
        super().__init__("microphone", **kwargs)
        self.param("device", "", "input device index or name (empty: the system default)")
        self.param("rate", 16000, "sample rate in Hz (16000 is what the speech model reads)")
        self.param("channels", 1, "channels to record (more are averaged by the receiver)")
        self._stream = None

    def configure(self) -> None:
        sd = open_sounddevice()
        self.device = input_device(sd, str(self.value("device")))
        self.sd = sd

    def activate(self) -> None:
        super().activate()
        rate, channels = int(self.value("rate")), int(self.value("channels"))
        block = max(1, rate * int(self.value("chunk_ms")) // 1000)

        def on_audio(indata, frames, time_info, status):  # PortAudio's thread
            if status:
                self.counts["audio overflows"] += 1
            self.send(np.asarray(indata, np.float32), rate, channels)

        try:
            self._stream = self.sd.InputStream(device=self.device["index"], samplerate=rate, channels=channels,
                                               dtype="float32", blocksize=block, callback=on_audio)
            self._stream.start()
        except self.sd.PortAudioError as exc:
            raise FacelmError(f"microphone: cannot open {self.device['name']!r} at {rate} Hz ({exc})") from None
        self.get_logger().info(f"recording from {self.device['name']!r} at {rate} Hz")

    def deactivate(self) -> None:
        if self._stream is not None:
            self._stream.stop()
            self._stream.close()
            self._stream = None


main = main_for(Microphone)

if __name__ == "__main__":
    raise SystemExit(main())
