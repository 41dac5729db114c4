"""Shared figure code: one text style, text that matplotlib can draw, and atomic PNG + PDF output."""

from __future__ import annotations

import functools
import logging
import os
import textwrap
from contextlib import AbstractContextManager
from pathlib import Path

import matplotlib
from matplotlib import font_manager, ft2font
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from weaksup.atomic import atomic_path

log = logging.getLogger(__name__)

# Sizes in points, legible when a figure is shown at its saved size or shrunk to a page width.
STYLE = {
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 9,
    "figure.titlesize": 13,
}
PNG_DPI = 150
# Stands in for a character that the figure font has no glyph for (matplotlib would draw an empty box and warn).
MISSING_GLYPH = "\ufffd"


def new_figure(width: float, height: float) -> Figure:
    """Create a figure of width x height inches drawn by Agg, independent of pyplot's global state."""
    figure = Figure(figsize=(width, height))
    FigureCanvasAgg(figure)
    return figure


def style() -> AbstractContextManager:
    """Return a context manager that applies `STYLE` while a figure is built and saved."""
    return matplotlib.rc_context(STYLE)


def figure_paths(out_stem: str | os.PathLike) -> tuple[Path, Path]:
    """Return the PNG and PDF paths of a figure stem; a stem given with a .png or .pdf suffix loses it first."""
    stem = Path(out_stem)
    if stem.suffix in (".png", ".pdf"):
        stem = stem.with_suffix("")
    return stem.with_name(stem.name + ".png"), stem.with_name(stem.name + ".pdf")


def save_figure(figure: Figure, out_stem: str | os.PathLike, dpi: int = PNG_DPI) -> tuple[Path, Path]:
    """Write the figure as `<stem>.png` and `<stem>.pdf`, each atomically, and return the two paths.

    The PDF creation date is left out, so the same figure gives the same bytes on every run.
    """
    png_path, pdf_path = figure_paths(out_stem)
    with atomic_path(png_path) as tmp:
        figure.savefig(tmp, format="png", dpi=dpi)
    with atomic_path(pdf_path) as tmp:
        figure.savefig(tmp, format="pdf", dpi=dpi, metadata={"CreationDate": None})
    log.info("wrote %s and %s", png_path, pdf_path)
    return png_path, pdf_path


@functools.lru_cache(maxsize=None)
def _font_charmap() -> frozenset[int]:
    path = font_manager.findfont(font_manager.FontProperties(family=matplotlib.rcParams["font.family"]))
    return frozenset(ft2font.FT2Font(path).get_charmap())


def drawable(text: str) -> tuple[str, int]:
    """Return the text with characters that the figure font cannot draw replaced, and the number replaced."""
    charmap = _font_charmap()
    replaced = 0
    characters = []
    for character in text:
        if character.isspace() or ord(character) in charmap:
            characters.append(character)
        else:
            characters.append(MISSING_GLYPH)
            replaced += 1
    return "".join(characters), replaced


def wrap_field(label: str, value: str, width: int, max_lines: int) -> list[str]:
    """Wrap `label: value` to lines of at most `width` characters, ending with an ellipsis after `max_lines`."""
    lines = textwrap.wrap(f"{label}: {value}", width=width, break_long_words=True, break_on_hyphens=False)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1][: width - 1].rstrip() + "\u2026"
    return lines
