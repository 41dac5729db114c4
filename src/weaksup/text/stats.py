"""Corpus statistics per dictionary size: photos per split, vocabulary, and targets per photo."""

from __future__ import annotations

import csv
import logging
import os
from typing import Mapping, Sequence

import numpy as np

from weaksup.atomic import atomic_open
from weaksup.targets import TEST, TRAIN, VALIDATION, load_targets
from weaksup.text.dictionary import read_counts

log = logging.getLogger(__name__)

STATS_COLUMNS = (
    "corpus",
    "K",
    "dropped_most_frequent",
    "photos",
    "train_photos",
    "validation_photos",
    "test_photos",
    "distinct_training_words",
    "photos_without_targets",
    "avg_targets_per_photo",
    "avg_targets_per_photo_with_targets",
)


def _mean(values: np.ndarray) -> float | None:
    return round(float(values.mean()), 4) if len(values) else None


def corpus_stats_rows(
    corpus_name: str,
    counts_path: str | os.PathLike,
    targets_by_size: Mapping[int, str | os.PathLike],
    drop_most_frequent: int,
) -> list[dict]:
    """Return one statistics row per dictionary size K, in increasing K, with the columns of STATS_COLUMNS.

    `counts_path` is the merged training counts TSV and `targets_by_size` maps K to its targets `.npz`. Averages
    are rounded to 4 decimals, and an average over no photos is None. The paper's values are added by
    `weaksup.paper.annotate_table`.
    """
    distinct_training_words = sum(1 for _ in read_counts(counts_path))
    rows = []
    for size in sorted(targets_by_size):
        targets = load_targets(targets_by_size[size])
        if targets.num_classes != size:
            raise ValueError(f"{targets_by_size[size]} has K={targets.num_classes} classes but is listed for K={size}")

        target_counts = targets.target_counts()
        rows.append({
            "corpus": corpus_name,
            "K": size,
            "dropped_most_frequent": drop_most_frequent,
            "photos": targets.num_photos,
            "train_photos": int(np.count_nonzero(targets.split == TRAIN)),
            "validation_photos": int(np.count_nonzero(targets.split == VALIDATION)),
            "test_photos": int(np.count_nonzero(targets.split == TEST)),
            "distinct_training_words": distinct_training_words,
            "photos_without_targets": int(np.count_nonzero(target_counts == 0)),
            "avg_targets_per_photo": _mean(target_counts),
            "avg_targets_per_photo_with_targets": _mean(target_counts[target_counts > 0]),
        })
    return rows


def write_corpus_stats(rows: Sequence[dict], out_csv: str | os.PathLike) -> None:
    """Write statistics rows as CSV with the columns of STATS_COLUMNS. None becomes an empty cell."""
    with atomic_open(out_csv, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=STATS_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    log.info("wrote %d corpus statistics rows to %s", len(rows), out_csv)
