"""Result tables written from the per-model evaluation JSON files."""

from __future__ import annotations

import csv
import json
import logging
import os
from typing import Sequence

from weaksup.atomic import atomic_open

log = logging.getLogger(__name__)


def _baseline_rank(model: str) -> int:
    """Order rows as end-to-end models, then supervised-feature baselines, then the frequency baseline."""
    if model == "frequency baseline":
        return 2
    return 1 if model.startswith("supervised") else 0


def write_word_prediction_table(corpus: str, result_paths: Sequence[str | os.PathLike], out_csv: str | os.PathLike) -> list[dict]:
    """Write Table 1 (precision@k per model and dictionary size) from word-prediction result files."""
    rows = []
    for path in result_paths:
        with open(path, encoding="utf-8") as handle:
            result = json.load(handle)
        row = {
            "corpus": corpus,
            "model": result["model"],
            "loss": result.get("loss", ""),
            "K": result["K"],
            # Training photos the model or probe was fit on; empty for the frequency baseline.
            "train_photos": result.get("train_photos", ""),
            "size_sweep": result.get("size_sweep", False),
        }
        ks = sorted(int(key.split("@")[1]) for key in result if key.startswith("precision@"))
        for k in ks:
            value = result[f"precision@{k}"]
            row[f"precision@{k}"] = None if value is None else round(100 * value, 2)
        row["test_photos_evaluated"] = result["photos_evaluated"]
        row["test_photos_without_targets"] = result["photos_skipped_no_targets"]
        rows.append(row)
        log.info("read %s: %s", path, row)

    rows.sort(key=lambda r: (r["K"], r["size_sweep"], _baseline_rank(r["model"]), r["model"], r["loss"],
                             -1 if r["train_photos"] == "" else r["train_photos"]))
    write_rows(rows, out_csv)
    log.info("precision in %s is in percent, as Joulin et al. report it", out_csv)
    return rows


def write_rows(rows: Sequence[dict], out_csv: str | os.PathLike, columns: Sequence[str] | None = None) -> None:
    """Write rows as a CSV file atomically. The columns default to every key, in order of first appearance."""
    if columns is None:
        columns = list(dict.fromkeys(key for row in rows for key in row))
    with atomic_open(out_csv, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns))
        writer.writeheader()
        writer.writerows(rows)
    log.info("wrote %d rows to %s", len(rows), out_csv)
