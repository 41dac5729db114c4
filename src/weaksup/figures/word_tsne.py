"""Figure 6: a t-SNE map of word embeddings, each word drawn as text at its point.

Joulin et al. (ECCV 2016) map 10,000 words of a network's final layer. Here the words are the first `max_words`
rows of an embedding file, which are the most frequent ones because dictionaries are in frequency order. Vectors
are scaled to unit length first, because the embedding evaluations compare words by cosine similarity, then
reduced to 50 dimensions with PCA and embedded with scikit-learn's Barnes-Hut t-SNE (`weaksup.figures.tsne`).
Given a word -> language mapping, words are coloured by language with a legend.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections import Counter
from typing import Any, Mapping

import numpy as np
from matplotlib import colormaps
from matplotlib.lines import Line2D

from weaksup.embeddings.demo_dictionary import SEVERAL_LANGUAGES
from weaksup.embeddings.vectors import load_embedding
from weaksup.figures.common import MISSING_GLYPH, PNG_DPI, drawable, new_figure, save_figure, style
from weaksup.figures.tsne import embed_tsne

log = logging.getLogger(__name__)

# Legend label of the words that `word_languages` does not list.
UNLISTED = "unlisted"
NEUTRAL_COLOURS = {SEVERAL_LANGUAGES: "#555555", UNLISTED: "#999999"}
SINGLE_COLOUR = "#1f4e79"
# Map side in inches grows with the square root of the word count: 10,000 words get 24 inches, so each word has
# about 0.24 x 0.24 inches. Font size shrinks in the same way, from 8 points for 300 words or fewer to 2.5 points
# for 3,072 words or more.
MIN_SIDE_INCHES, MAX_SIDE_INCHES = 8.0, 24.0
SIDE_INCHES_PER_SQRT_WORD = 0.24
MAX_FONT_POINTS, MIN_FONT_POINTS = 8.0, 2.5
FONT_REFERENCE_WORDS = 300
WORD_ALPHA = 0.8
# A 2.5-point word is 10 pixels high at 300 dpi, enough to read in the PNG. The PDF keeps the text as vectors.
LARGE_MAP_WORDS, LARGE_MAP_DPI = 2000, 300
MARGIN_FRACTION = 0.03


def _layout(count: int) -> tuple[float, float]:
    """Return the side of the map in inches and the font size in points for `count` words."""
    side = min(MAX_SIDE_INCHES, max(MIN_SIDE_INCHES, SIDE_INCHES_PER_SQRT_WORD * math.sqrt(count)))
    font = MAX_FONT_POINTS * math.sqrt(FONT_REFERENCE_WORDS / max(count, 1))
    return side, min(MAX_FONT_POINTS, max(MIN_FONT_POINTS, font))


def _language_colours(labels: list[str]) -> dict[str, str]:
    """Return a colour per label: a qualitative palette for languages, greys for "several" and "unlisted"."""
    palette = colormaps["tab10"].colors
    languages = sorted(set(labels) - NEUTRAL_COLOURS.keys())
    if len(languages) > len(palette):
        log.warning("%d languages but only %d distinct colours; colours repeat", len(languages), len(palette))
    colours = {language: palette[number % len(palette)] for number, language in enumerate(languages)}
    colours.update({label: colour for label, colour in NEUTRAL_COLOURS.items() if label in labels})
    return colours


def _draw_words(axes, points: np.ndarray, words: list[str], colours: list, font_points: float) -> int:
    """Draw each word at its point; return how many characters the font could not draw."""
    replaced_total = 0
    for (x, y), word, colour in zip(points, words, colours):
        text, replaced = drawable(word)
        replaced_total += replaced
        axes.text(x, y, text, fontsize=font_points, color=colour, alpha=WORD_ALPHA, ha="center", va="center",
                  parse_math=False)
    return replaced_total


def _set_limits(axes, points: np.ndarray) -> None:
    low, high = points.min(axis=0), points.max(axis=0)
    margin = MARGIN_FRACTION * np.maximum(high - low, 1e-9)
    axes.set_xlim(low[0] - margin[0], high[0] + margin[0])
    axes.set_ylim(low[1] - margin[1], high[1] + margin[1])
    axes.set_xticks([])
    axes.set_yticks([])


def figure6_word_tsne(
    embedding_path: str | os.PathLike,
    out_stem: str | os.PathLike,
    max_words: int = 10000,
    word_languages: Mapping[str, str] | None = None,
    perplexity: float = 30.0,
    seed: int = 0,
    iterations: int = 1000,
    pca_dims: int = 50,
    description: str = "word embeddings",
    n_jobs: int | None = None,
) -> dict[str, Any]:
    """Draw the t-SNE map of the first `max_words` words of an embedding file as `<out_stem>.png` and `.pdf`.

    With `word_languages`, each word is coloured by its language, and words the mapping lacks are "unlisted".
    Returns the word counts, words per language, t-SNE settings, final KL divergence, seconds spent on t-SNE and
    the number of characters that the figure font could not draw.
    """
    embedding = load_embedding(embedding_path)
    available = len(embedding)
    count = min(max_words, available)
    words = embedding.words[:count]
    log.info("t-SNE of the first %d of the %d words in %s", count, available, embedding_path)

    start = time.perf_counter()
    points, settings = embed_tsne(embedding.unit_vectors()[:count], seed, perplexity, iterations, pca_dims, n_jobs)
    tsne_seconds = time.perf_counter() - start

    if word_languages is None:
        labels = []
        colours = [SINGLE_COLOUR] * count
    else:
        labels = [word_languages.get(word, UNLISTED) for word in words]
        palette = _language_colours(labels)
        colours = [palette[label] for label in labels]

    side, font_points = _layout(count)
    with style():
        figure = new_figure(side, side)
        axes = figure.add_axes((0.01, 0.01, 0.98, 0.95))
        replaced = _draw_words(axes, points, words, colours, font_points)
        _set_limits(axes, points)
        if labels:
            by_count = Counter(labels).most_common()
            handles = [Line2D([], [], linestyle="none", marker="s", color=palette[label],
                              label=f"{label} ({number:,})") for label, number in by_count]
            axes.legend(handles=handles, loc="upper right", title="language (words)", framealpha=0.9)
        figure.suptitle(f"t-SNE map of {count:,} {description}", parse_math=False, y=0.99)
        save_figure(figure, out_stem, dpi=LARGE_MAP_DPI if count > LARGE_MAP_WORDS else PNG_DPI)

    if replaced:
        log.warning("%d characters of the words have no glyph in the figure font and are drawn as %r", replaced,
                    MISSING_GLYPH)
    drawn = {"words": count, "words_available": available, "font_points": round(font_points, 2),
             "side_inches": round(side, 2), "languages": dict(Counter(labels)) if labels else None,
             "characters_replaced": replaced, **settings, "tsne_seconds": round(tsne_seconds, 1)}
    log.info("figure 6: %s", drawn)
    return drawn
