"""Figure 2, left: word-prediction precision@10 against the number of training photos, from Table 1.

Rows of the training-set size sweep are the Table 1 rows with a `train_photos` value. Rows whose `model` is
"frequency baseline" or starts with "supervised" do not depend on the training-set size and are drawn as
horizontal lines. Table 1 stores precision in percent.
"""

from __future__ import annotations

import csv
import logging
import os
from collections import defaultdict
from typing import Any

from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

from weaksup.figures.common import new_figure, save_figure, style

log = logging.getLogger(__name__)

FREQUENCY_BASELINE = "frequency baseline"
SUPERVISED_PREFIX = "supervised"
REQUIRED_COLUMNS = ("model", "loss", "K")


def _number(value: str, path: str | os.PathLike, line: int, column: str) -> float | None:
    """Parse a numeric cell; an empty cell is None, anything else unparseable raises ValueError naming the cell."""
    if value.strip() == "":
        return None
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"{path}:{line}: column {column} is {value!r}, not a number") from None


def compact_count(count: float) -> str:
    """Format a photo count with a k or M suffix and at most three significant digits: 5k, 42.6k, 99.2M."""
    for factor, suffix in ((1e6, "M"), (1e3, "k")):
        if count >= factor:
            return f"{count / factor:.3g}{suffix}"
    return f"{count:.3g}"


def set_size_axis(axes, sizes, label: str) -> None:
    """Make the x axis logarithmic with one tick per trained size, labelled 5k, 1M, 99.2M."""
    axes.set_xscale("log")
    # Ticks at the sizes that were trained read more easily than powers of ten.
    axes.xaxis.set_major_locator(FixedLocator(sizes))
    axes.xaxis.set_major_formatter(FuncFormatter(lambda size, _: compact_count(size)))
    axes.xaxis.set_minor_locator(NullLocator())
    axes.set_xlabel(label)


def read_sweep(
    table1_csv: str | os.PathLike, K: int, arch: str, loss: str, metric: str
) -> tuple[list[tuple[float, float]], dict[str, float], int]:
    """Read Table 1 and return (sweep points (train_photos, metric) sorted by size, baselines {label: metric},
    number of matching rows skipped because their metric is empty)."""
    points: list[tuple[float, float]] = []
    baselines: dict[str, float] = {}
    skipped = 0
    with open(table1_csv, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [column for column in (*REQUIRED_COLUMNS, metric) if column not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{table1_csv}: missing columns {missing}; expected a Table 1 file with "
                             f"{', '.join((*REQUIRED_COLUMNS, metric, 'train_photos'))}")
        for line, row in enumerate(reader, start=2):
            row_k = _number(row["K"], table1_csv, line, "K")
            model = row["model"]
            is_baseline = model == FREQUENCY_BASELINE or model.startswith(SUPERVISED_PREFIX)
            in_sweep = model == arch and row["loss"] == loss and (row.get("train_photos") or "").strip() != ""
            if row_k != K or not (is_baseline or in_sweep):
                continue
            value = _number(row[metric], table1_csv, line, metric)
            if value is None:
                skipped += 1
                log.warning("%s:%d: %s %s has no %s; not drawn", table1_csv, line, model, row["loss"], metric)
            elif in_sweep:
                points.append((_number(row["train_photos"], table1_csv, line, "train_photos"), value))
            else:
                label = model if not row["loss"] else f"{model} ({row['loss']})"
                if label in baselines:
                    raise ValueError(f"{table1_csv}:{line}: a second {label} row for K={K}; keep one per K")
                baselines[label] = value
    return sorted(points), baselines, skipped


def figure2_word_prediction(
    table1_csv: str | os.PathLike,
    out_stem: str | os.PathLike,
    K: int,
    arch: str,
    loss: str = "multiclass",
    metric: str = "precision@10",
) -> dict[str, Any]:
    """Draw `metric` (percent) against training photos (log scale) for one architecture, K and loss, with the
    baselines of the same K as labelled horizontal lines.

    Writes `<out_stem>.png` and `<out_stem>.pdf`. Returns the number of sweep points, the baseline labels and
    the number of matching rows skipped for an empty metric.
    """
    points, baselines, skipped = read_sweep(table1_csv, K, arch, loss, metric)
    if not points:
        raise ValueError(f"{table1_csv} has no rows with train_photos and a {metric} for model {arch!r}, "
                         f"loss {loss!r}, K={K}; run the training-set size sweep for that model first")
    repeated = defaultdict(int)
    for size, _ in points:
        repeated[size] += 1
    if max(repeated.values()) > 1:
        raise ValueError(f"{table1_csv}: more than one {arch} {loss} K={K} row for the same train_photos "
                         f"{[size for size, count in repeated.items() if count > 1]}; keep one row per size")

    with style():
        figure = new_figure(6.4, 4.4)
        axes = figure.add_subplot()
        sizes, values = zip(*points)
        axes.plot(sizes, values, marker="o", color="C0", label=f"{arch} ({loss} loss)")
        for index, (label, value) in enumerate(sorted(baselines.items())):
            axes.axhline(value, color=f"C{index + 1}", linestyle="--", linewidth=1.2, label=label)
        set_size_axis(axes, sizes, "training photos (log scale)")
        axes.set_ylabel(f"{metric} (%)")
        axes.set_title(f"Word prediction on test photos, K = {K:,}", parse_math=False)
        axes.grid(True, which="major", alpha=0.3)
        axes.legend(loc="best")
        figure.tight_layout()
        save_figure(figure, out_stem)

    drawn = {"points": len(points), "baselines": sorted(baselines), "skipped_rows": skipped}
    log.info("figure 2 (left): %s", drawn)
    return drawn
