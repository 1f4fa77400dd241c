"""Render a motion clip to GIF, MP4 or a PNG contact sheet: a schematic face (or a
user-supplied FLAME mesh) beside curves of its parameters. Numpy + Pillow only."""
from facelm.render.renderer import (FrameComposer, RenderOptions, RenderResult, SUFFIXES, render_clip,
                                    render_file)

__all__ = ["FrameComposer", "RenderOptions", "RenderResult", "SUFFIXES", "render_clip", "render_file"]
