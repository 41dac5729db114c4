"""Figure 1: random training photos with their raw text, and the photo-grid helpers that Figure 3 shares."""

from __future__ import annotations

import logging
import math
import os
from typing import Any, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.gridspec import GridSpec
from PIL import Image

from weaksup.corpus.shards import ImageStore, PhotoText, read_shard_text
from weaksup.data import open_image_store
from weaksup.figures.common import drawable, new_figure, save_figure, style, wrap_field
from weaksup.images import decode_rgb
from weaksup.targets import TRAIN, load_targets

log = logging.getLogger(__name__)

# Caption layout under each photo of Figure 1: characters per line at 8.5 pt in a 3.4-inch column, and the most
# lines each field may take before it is cut with an ellipsis.
CAPTION_WIDTH_CHARS = 44
CAPTION_FONT_SIZE = 8.5
CAPTION_FIELD_LINES = {"title": 2, "description": 4, "tags": 3}


def read_photo_texts(store: ImageStore, photos: Sequence[int] | np.ndarray) -> list[PhotoText]:
    """Return the text row of each photo, read from its shard's TSV table (each table is read at most once)."""
    positions_by_shard: dict[int, dict[int, list[int]]] = {}
    for position, photo in enumerate(photos):
        shard, row = store.locate(int(photo))
        positions_by_shard.setdefault(shard, {}).setdefault(row, []).append(position)

    texts: list[PhotoText | None] = [None] * len(photos)
    for shard, positions_by_row in positions_by_shard.items():
        tsv_path = store.tar_paths[shard].with_suffix(".tsv")
        last_row = max(positions_by_row)
        for row, text in enumerate(read_shard_text(tsv_path)):
            for position in positions_by_row.get(row, ()):
                texts[position] = text
            if row == last_row:
                break
        else:
            raise ValueError(f"{tsv_path} has fewer text rows than its shard has images (row {last_row} is "
                             "missing); rebuild the shard")
    return texts  # type: ignore[return-value]  # every position was filled, or the loop raised


def caption_lines(text: PhotoText) -> list[str]:
    """Return the wrapped, truncated lines of a photo's title, description and tags ("(empty)" for an empty one)."""
    fields = {"title": text.title, "description": text.description, "tags": ", ".join(text.tags)}
    lines: list[str] = []
    for label, value in fields.items():
        lines += wrap_field(label, value.strip() or "(empty)", CAPTION_WIDTH_CHARS, CAPTION_FIELD_LINES[label])
    return lines


def read_rgb(store: ImageStore, photo: int) -> Image.Image:
    """Decode the stored image of a photo. A decoding error names the photo and its shard."""
    try:
        return decode_rgb(store.read(photo))
    except OSError as error:
        shard, row = store.locate(photo)
        raise ValueError(f"photo {photo} (row {row} of {store.tar_paths[shard]}) could not be decoded: {error}; "
                         "rebuild that shard") from error


def draw_photo(axes: Axes, store: ImageStore, photo: int) -> None:
    """Show the stored image of a photo (the full stored square, not the training crop) without ticks."""
    axes.imshow(np.asarray(read_rgb(store, photo)))
    axes.set_xticks([])
    axes.set_yticks([])


def grid_shape(count: int, max_columns: int) -> tuple[int, int]:
    """Return (rows, columns) of a grid of `count` panels at most `max_columns` wide."""
    columns = max(1, min(max_columns, count))
    return math.ceil(count / columns), columns


def _caption_grid(figure: Figure, rows: int, columns: int) -> GridSpec:
    # Each photo row is an image row and a caption row below it.
    return figure.add_gridspec(
        2 * rows, columns, height_ratios=[3.2, 1.7] * rows, left=0.02, right=0.98, top=0.92, bottom=0.01,
        hspace=0.06, wspace=0.08,
    )


def figure1_random_photos(
    corpus_dir: str | os.PathLike,
    targets_path: str | os.PathLike,
    out_stem: str | os.PathLike,
    n: int = 6,
    seed: int = 0,
) -> dict[str, Any]:
    """Draw `n` training photos chosen at random (seeded) with their title, description and tags under each.

    Writes `<out_stem>.png` and `<out_stem>.pdf`. The targets file supplies the train/validation/test split.
    Returns the chosen photo ids and numbers, the number of training photos drawn from, and how many characters
    the font could not draw.
    """
    targets = load_targets(targets_path)
    store = open_image_store(corpus_dir, expected_photos=targets.num_photos)
    training = targets.photos_in_split(TRAIN)
    if not 1 <= n <= len(training):
        raise ValueError(f"cannot draw {n} photos from the {len(training)} training photos of {targets_path}; "
                         "choose n between 1 and that number")
    photos = np.random.default_rng(seed).choice(training, size=n, replace=False)
    texts = read_photo_texts(store, photos)

    rows, columns = grid_shape(n, max_columns=3)
    replaced = 0
    with style():
        figure = new_figure(3.4 * columns, 5.0 * rows + 0.5)
        grid = _caption_grid(figure, rows, columns)
        for index, (photo, text) in enumerate(zip(photos, texts)):
            row, column = divmod(index, columns)
            draw_photo(figure.add_subplot(grid[2 * row, column]), store, int(photo))
            caption_axes = figure.add_subplot(grid[2 * row + 1, column])
            caption_axes.axis("off")
            caption, count = drawable("\n".join(caption_lines(text)))
            replaced += count
            # Clipped to its column, so that a line of wide capitals cannot run into the next caption.
            caption_axes.text(0.0, 1.0, caption, transform=caption_axes.transAxes, ha="left", va="top",
                              fontsize=CAPTION_FONT_SIZE, parse_math=False, clip_on=True)
        figure.suptitle(f"{n} random training photos with their raw text (title, description, tags)",
                        parse_math=False)
        save_figure(figure, out_stem)

    if replaced:
        log.warning("figure 1: %d characters have no glyph in the figure font and are drawn as %r", replaced, "\ufffd")
    drawn = {"photos": [text.photo_id for text in texts], "photo_numbers": [int(p) for p in photos],
             "training_photos": int(len(training)), "replaced_characters": replaced}
    log.info("figure 1: %s", drawn)
    return drawn
