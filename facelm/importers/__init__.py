"""Importers: external facial-motion layouts -> the facelm clip contract.

``import_clip(path, format=None, options=None)`` reads any known layout (detected
from the content, or forced by name) and returns an ``ImportResult`` whose
``clip`` is a ``MotionClip`` at ``options.fps`` (25 by default). One module a
layout; pickles are read only through ``safe_pickle``.
"""
from facelm.importers.common import ImportOptions, ImportResult
from facelm.importers.registry import FORMATS, detect, format_named, import_clip

__all__ = ["FORMATS", "ImportOptions", "ImportResult", "detect", "format_named", "import_clip"]
