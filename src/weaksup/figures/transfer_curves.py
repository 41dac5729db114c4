"""Figure 5 and Figure 2 (right): transfer results against the number of Flickr training photos.

Both read a transfer table (Table 3 for accuracy, Table 2 for mean AP). The points are the rows of Flickr networks
with the sweep's architecture, K and loss, one per training-set size, with dashed lines one standard deviation
over the runs above and below, as Joulin et al. (ECCV 2016) draw them. Rows of the other feature sources of the
same architecture (supervised, combined, random initialisation) do not depend on the Flickr training-set size
and are drawn as horizontal lines.
"""

from __future__ import annotations

import csv
import logging
import math
import os
from typing import Any, Sequence

from weaksup.figures.common import new_figure, save_figure, style
from weaksup.figures.curves import set_size_axis

log = logging.getLogger(__name__)

PANELS_PER_ROW = 3
BASELINE_LABELS = {"supervised": "supervised network", "combined": "combined", "random": "random initialisation"}


def _read_rows(table_csv: str | os.PathLike, mean_column: str, std_column: str) -> list[dict[str, Any]]:
    with open(table_csv, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        needed = ("dataset", "kind", "arch", "K", "loss", "train_photos", mean_column, std_column)
        missing = [column for column in needed if column not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{table_csv}: missing columns {missing}; expected a transfer table of weaksup")
        # Table 2 has a row per AP definition; the figure draws the VOC 2007 11-point one, as the paper does.
        return [row for row in reader if row.get("ap_definition", "voc07_11point") == "voc07_11point"]


def _panel_series(rows: list[dict[str, Any]], dataset: str, arch: str, K: int, loss: str, mean_column: str,
                  std_column: str) -> tuple[list[tuple[float, float, float]], dict[str, float]]:
    """Return the sweep points (train_photos, mean, std) and the baselines {label: mean} of one dataset."""
    points, baselines = [], {}
    for row in rows:
        if row["dataset"] != dataset or row["arch"] != arch or row[mean_column] == "":
            continue
        mean, std = float(row[mean_column]), float(row[std_column] or 0)
        if row["kind"] == "flickr" and row["K"] == str(K) and row["loss"] == loss and row["train_photos"]:
            points.append((float(row["train_photos"]), mean, std))
        elif row["kind"] in BASELINE_LABELS:
            baselines[f"{BASELINE_LABELS[row['kind']]} ({arch})"] = mean
    return sorted(points), baselines


def figure_transfer_vs_size(
    table_csv: str | os.PathLike, out_stem: str | os.PathLike, datasets: Sequence[str], arch: str, K: int,
    loss: str, mean_column: str, std_column: str, ylabel: str, title: str,
) -> dict[str, Any]:
    """Draw one panel per dataset of `mean_column` against Flickr training photos (log scale).

    Writes `<out_stem>.png` and `<out_stem>.pdf` and returns the number of points drawn per dataset.
    """
    rows = _read_rows(table_csv, mean_column, std_column)
    columns = min(len(datasets), PANELS_PER_ROW)
    panel_rows = math.ceil(len(datasets) / columns)
    drawn = {}
    with style():
        figure = new_figure(4.2 * columns, 3.6 * panel_rows + 0.6)
        for index, dataset in enumerate(datasets):
            points, baselines = _panel_series(rows, dataset, arch, K, loss, mean_column, std_column)
            if not points:
                raise ValueError(f"{table_csv} has no Flickr {arch} K={K} {loss} rows for dataset {dataset}; "
                                 "extract and probe the features of the size sweep's models first")
            axes = figure.add_subplot(panel_rows, columns, index + 1)
            _draw_panel(axes, points, baselines, arch, loss)
            axes.set_title(dataset, parse_math=False)
            axes.set_ylabel(ylabel)
            drawn[dataset] = len(points)
        figure.suptitle(title)
        figure.tight_layout()
        save_figure(figure, out_stem)
    log.info("%s: points per dataset %s", out_stem, drawn)
    return drawn


def _draw_panel(axes, points: list[tuple[float, float, float]], baselines: dict[str, float], arch: str,
                loss: str) -> None:
    sizes, means, stds = zip(*points)
    axes.plot(sizes, means, marker="o", color="C3", label=f"weakly supervised {arch} ({loss})")
    for sign in (-1, 1):
        axes.plot(sizes, [m + sign * s for m, s in zip(means, stds)], color="C3", linestyle="--", linewidth=0.8,
                  label="± 1 standard deviation over runs" if sign > 0 else None)
    for index, (label, value) in enumerate(sorted(baselines.items())):
        axes.axhline(value, color=f"C{index}", linestyle="-.", linewidth=1.1, label=label)
    set_size_axis(axes, sizes, "training photos of the corpus (log scale)")
    axes.grid(True, which="major", alpha=0.3)
    # Room above and below, so that a baseline at the edge of the data stays visible and the legend fits.
    axes.margins(y=0.12)
    axes.legend(loc="best", fontsize=7, framealpha=0.6)
