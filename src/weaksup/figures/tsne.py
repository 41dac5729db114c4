"""Figure 4: a t-SNE map of test photos from their penultimate features, drawn as a grid of thumbnails.

Features are reduced to 50 dimensions with PCA, then embedded in 2-D with scikit-learn's Barnes-Hut t-SNE.
Each photo is then moved to the nearest free cell of a grid with more cells than photos (twice as many by
default), so that thumbnails never overlap. The thumbnails are pasted into one image rather than drawn as one
matplotlib artist each, so that a map of 20,000 photos (the size of the map in Joulin et al., ECCV 2016) is
quick to draw and save.
"""

from __future__ import annotations

import logging
import math
import os
import time
from typing import Any

import numpy as np
from PIL import Image
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE
from tqdm import tqdm

from weaksup.corpus.shards import ImageStore
from weaksup.data import open_image_store
from weaksup.features import load_features
from weaksup.figures.common import PNG_DPI, new_figure, save_figure, style
from weaksup.figures.photos import read_rgb

log = logging.getLogger(__name__)

# Width of the drawn map in inches. The PNG resolution is raised so that each thumbnail keeps its pixels.
MAP_WIDTH_INCHES = 12.0
TITLE_INCHES = 0.6
BACKGROUND = 255
# Points beyond these quantiles of either t-SNE axis are drawn on the map's border instead of stretching it.
OUTLIER_QUANTILE = 0.001
# Maximum side of the thumbnail map in pixels. Larger maps get smaller thumbnails: 20,000 photos at a grid fill of
# 0.5 need about 200 x 200 cells, so about 20-pixel thumbnails. Photo content barely compresses: the 3,300-pixel
# map of 5,000 demo photos is a 10 MB PNG and a 9 MB PDF.
MAX_MAP_PIXELS = 4096


def embed_tsne(
    features: np.ndarray, seed: int, perplexity: float, iterations: int, pca_dims: int, n_jobs: int | None
) -> tuple[np.ndarray, dict[str, Any]]:
    """Return 2-D t-SNE positions (N, 2) of features (N, E) after PCA, and the settings used."""
    count = len(features)
    if count < 5:
        raise ValueError(f"a t-SNE map needs at least 5 photos, got {count}")
    # scikit-learn's Barnes-Hut t-SNE uses 3 * perplexity + 1 neighbours per point, so a small sample needs a
    # lower perplexity.
    usable = (count - 1) / 3
    if perplexity > usable:
        log.warning("perplexity %.1f is too high for %d photos; using %.1f", perplexity, count, usable)
        perplexity = usable

    dims = min(pca_dims, count, features.shape[1])
    reduced = PCA(n_components=dims, random_state=seed).fit_transform(features)
    tsne = TSNE(n_components=2, perplexity=perplexity, max_iter=iterations, init="pca", learning_rate="auto",
                random_state=seed, n_jobs=n_jobs)
    points = tsne.fit_transform(reduced)
    return points, {"pca_dims": dims, "perplexity": perplexity, "iterations": iterations,
                    "kl_divergence": float(tsne.kl_divergence_)}


def snap_to_grid(points: np.ndarray, fill: float, seed: int) -> tuple[np.ndarray, int, int]:
    """Assign each 2-D point its own cell of a grid with about len(points) / fill cells; return (cells, rows, columns).

    cells[i] is (row, column), row 0 at the top (largest y). The grid spans the points from the 0.1 to the 99.9
    percentile on each axis with square cells, and the few points outside are moved to its border. A t-SNE cloud
    covers only part of its bounding box and is denser in clusters, so a fill well below 1 keeps its shape.
    Points are placed in a seeded random order. Each takes the free cell nearest to its position within the
    smallest square window around it that has a free cell, which can be one ring further out than the nearest.
    """
    if not 0 < fill <= 1:
        raise ValueError(f"grid fill must be in (0, 1], got {fill}")
    count = len(points)
    low, high = np.quantile(points, [OUTLIER_QUANTILE, 1 - OUTLIER_QUANTILE], axis=0)
    points = np.clip(points, low, high)
    span = np.maximum(high - low, 1e-12)
    cell_count = count / fill
    columns = min(math.ceil(cell_count), max(1, math.ceil(math.sqrt(cell_count * span[0] / span[1]))))
    rows = math.ceil(cell_count / columns)
    x = (points[:, 0] - low[0]) / span[0] * (columns - 1)
    y = (high[1] - points[:, 1]) / span[1] * (rows - 1)

    occupied = np.zeros((rows, columns), dtype=bool)
    cells = np.empty((count, 2), dtype=np.int64)
    for i in np.random.default_rng(seed).permutation(count):
        row, column = int(round(y[i])), int(round(x[i]))
        radius = 0
        while True:
            top, left = max(0, row - radius), max(0, column - radius)
            free = np.argwhere(~occupied[top : row + radius + 1, left : column + radius + 1])
            if len(free):
                break
            radius += 1
        free += (top, left)
        cell = free[np.argmin((free[:, 0] - y[i]) ** 2 + (free[:, 1] - x[i]) ** 2)]
        occupied[cell[0], cell[1]] = True
        cells[i] = cell
    return cells, rows, columns


def thumbnail_canvas(store: ImageStore, photos: np.ndarray, cells: np.ndarray, rows: int, columns: int,
                     thumbnail_px: int) -> np.ndarray:
    """Paste a thumbnail of each photo into its grid cell of a white RGB canvas and return the canvas."""
    canvas = np.full((rows * thumbnail_px, columns * thumbnail_px, 3), BACKGROUND, dtype=np.uint8)
    for photo, (row, column) in tqdm(zip(photos, cells), total=len(photos), desc="thumbnails", mininterval=30):
        image = read_rgb(store, int(photo)).resize((thumbnail_px, thumbnail_px), Image.Resampling.BILINEAR)
        top, left = row * thumbnail_px, column * thumbnail_px
        canvas[top : top + thumbnail_px, left : left + thumbnail_px] = np.asarray(image)
    return canvas


def figure4_tsne(
    features_path: str | os.PathLike,
    corpus_dir: str | os.PathLike,
    out_stem: str | os.PathLike,
    max_photos: int = 20000,
    seed: int = 0,
    thumbnail_px: int = 32,
    perplexity: float = 30.0,
    iterations: int = 1000,
    pca_dims: int = 50,
    grid_fill: float = 0.5,
    description: str = "test photos (penultimate features)",
    n_jobs: int | None = None,
) -> dict[str, Any]:
    """Draw the t-SNE map of up to `max_photos` photos of a features file (a seeded random subset if larger).

    Writes `<out_stem>.png` and `<out_stem>.pdf`, titled "t-SNE map of <count> <description>". Returns the photo
    counts, grid size, t-SNE settings, final KL divergence and the seconds spent on t-SNE and on thumbnails.
    """
    features, photos = load_features(features_path)
    available = len(photos)
    if available > max_photos:
        chosen = np.sort(np.random.default_rng(seed).choice(available, size=max_photos, replace=False))
        features, photos = features[chosen], photos[chosen]
    log.info("t-SNE of %d of the %d photos in %s", len(photos), available, features_path)

    start = time.perf_counter()
    points, settings = embed_tsne(features, seed, perplexity, iterations, pca_dims, n_jobs)
    tsne_seconds = time.perf_counter() - start
    cells, rows, columns = snap_to_grid(points, grid_fill, seed)
    if max(rows, columns) * thumbnail_px > MAX_MAP_PIXELS:
        fitted = max(1, MAX_MAP_PIXELS // max(rows, columns))
        log.warning("thumbnails of %d pixels would make a map of %d x %d cells larger than %d pixels; using %d",
                    thumbnail_px, rows, columns, MAX_MAP_PIXELS, fitted)
        thumbnail_px = fitted

    start = time.perf_counter()
    store = open_image_store(corpus_dir)
    canvas = thumbnail_canvas(store, photos, cells, rows, columns, thumbnail_px)
    thumbnail_seconds = time.perf_counter() - start

    with style():
        map_height = MAP_WIDTH_INCHES * rows / columns
        figure = new_figure(MAP_WIDTH_INCHES, map_height + TITLE_INCHES)
        axes = figure.add_axes((0.0, 0.0, 1.0, map_height / (map_height + TITLE_INCHES)))
        axes.imshow(canvas, interpolation="none")
        axes.axis("off")
        figure.suptitle(f"t-SNE map of {len(photos):,} {description}", parse_math=False,
                        va="center", y=1 - 0.5 * TITLE_INCHES / (map_height + TITLE_INCHES))
        save_figure(figure, out_stem, dpi=max(PNG_DPI, math.ceil(columns * thumbnail_px / MAP_WIDTH_INCHES)))

    drawn = {"photos": int(len(photos)), "photos_available": int(available), "grid": [rows, columns],
             "thumbnail_px": thumbnail_px, **settings, "tsne_seconds": round(tsne_seconds, 1),
             "thumbnail_seconds": round(thumbnail_seconds, 1)}
    log.info("figure 4: %s", drawn)
    return drawn
