"""Which importer reads a file: by ``--format`` or by looking at the content.

Detection reads the file's first bytes (zip/npz, npy, pickle, text), then asks
each importer in turn whether the content is its layout: npz by its array names,
pickles by their structure (after safe unpickling), CSV by its header. File
extensions are not trusted, except to allow a protocol-0 pickle (which has no
magic bytes) to be tried.
"""
from __future__ import annotations

import os
from types import ModuleType

from facelm.errors import FacelmError
from facelm.importers import beat2, diffposetalk, facelm_npz, livelink, mmhead, tdmm
from facelm.importers.common import ImportOptions, ImportResult, Source

# Detection order: specific layouts before general ones (none overlap today).
FORMATS: dict[str, ModuleType] = {m.NAME: m for m in (facelm_npz, beat2, diffposetalk, mmhead, tdmm, livelink)}
ALIASES = {"smirk": "tdmm", "tdmm-lm": "tdmm", "emage": "beat2", "livelinkface": "livelink",
           "live-link-face": "livelink", "npz": "facelm"}


def format_named(name: str) -> ModuleType:
    key = ALIASES.get(name.lower(), name.lower())
    if key not in FORMATS:
        raise FacelmError(f"unknown format {name!r}; known: {', '.join(FORMATS)}")
    return FORMATS[key]


def detect(source: Source) -> ModuleType:
    """The importer whose layout the file's content matches."""
    if os.path.getsize(source.path) == 0:
        raise FacelmError(f"{source.path}: file is empty")
    for module in FORMATS.values():
        if module.matches(source):
            return module
    kind = source.kind
    seen = {
        "npz": lambda: f"an npz with arrays {', '.join(sorted(source.zip_members())) or '(none)'}",
        "npy": lambda: f"an .npy array of shape {source.npy.shape}",
        "pickle": lambda: f"a pickle holding {type(source.pickle).__name__}",
        "text": lambda: f"text starting {source.first_line[:60]!r}",
        "unknown": lambda: "binary data of no known kind",
    }[kind]()
    raise FacelmError(f"{source.path}: unknown layout ({seen}); known formats: {', '.join(FORMATS)} "
                      f"(use --format to force one)")


def import_clip(path: str | os.PathLike, format: str | None = None,
                options: ImportOptions | None = None) -> ImportResult:
    """Read ``path`` in ``format`` (detected when None) into a clip at ``options.fps``."""
    options = options or ImportOptions()
    if not (options.fps > 0):
        raise FacelmError(f"--fps must be > 0, got {options.fps}")
    module = format_named(format) if format else None
    source = Source(path)
    if module is None:
        module = detect(source)
    elif os.path.getsize(source.path) == 0:
        raise FacelmError(f"{source.path}: file is empty")
    return module.load(source, options)
