"""Tables 2 and 3 of Joulin et al. (ECCV 2016) from the per-run transfer results.

Table 3 has one row per feature source and multiclass dataset: test accuracy in percent, mean and standard
deviation over the runs. Table 2 has two rows per feature source on the multi-label dataset, one per definition of
average precision (Pascal VOC 2007 11-point, and the area under the precision-recall curve). A row gives the AP of
every class in percent, averaged over the runs, and the mean AP with its standard deviation over the runs.

A feature source is described in every result file by `source`: its name, its kind ("flickr" for a network
trained on the corpus's words, "supervised" for the clean-label or ImageNet network, "combined" for both
concatenated, "random" for the untrained network of the same architecture), its architecture, and for Flickr
networks K, the loss and the number of training photos.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any, Sequence

from weaksup.tables import write_rows

log = logging.getLogger(__name__)

KIND_ORDER = {"supervised": 0, "flickr": 1, "combined": 2, "random": 3}
SOURCE_COLUMNS = ("corpus", "features", "kind", "arch", "K", "loss", "train_photos")


def read_result(path: str | os.PathLike) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        result = json.load(handle)
    for key in ("source", "dataset", "task", "runs"):
        if key not in result:
            raise ValueError(f"{path} has no {key!r}; it is not a transfer result file of weaksup.transfer")
    return result


def _source_cells(corpus: str, source: dict[str, Any]) -> dict[str, Any]:
    return {"corpus": corpus, "features": source["name"], "kind": source["kind"], "arch": source["arch"],
            "K": source.get("K", ""), "loss": source.get("loss", ""), "train_photos": source.get("train_photos", "")}


def _percent(value: float | None) -> float | None:
    return None if value is None else round(100 * value, 2)


def _sort_key(row: dict[str, Any]) -> tuple:
    size = row["train_photos"] if isinstance(row["train_photos"], int) else -1
    return (row.get("dataset", ""), row["arch"], KIND_ORDER.get(row["kind"], 9), str(row["K"]), row["loss"], -size)


def write_table3(corpus: str, result_paths: Sequence[str | os.PathLike], out_csv: str | os.PathLike) -> list[dict]:
    """Write Table 3 (accuracy per multiclass dataset and feature source) from transfer result files."""
    rows = []
    for path in result_paths:
        result = read_result(path)
        if result["task"] != "multiclass":
            raise ValueError(f"{path} is a {result['task']} result; Table 3 takes multiclass datasets only")
        rows.append({
            **_source_cells(corpus, result["source"]),
            "dataset": result["dataset"],
            "accuracy_mean": _percent(result["accuracy"]["mean"]),
            "accuracy_std": _percent(result["accuracy"]["std"]),
            "runs": len(result["runs"]),
            "test_images": result["runs"][0]["test_images"],
            "feature_dim": result["feature_dim"],
        })
    rows.sort(key=_sort_key)
    write_rows(rows, out_csv)
    return rows


def write_table2(corpus: str, result_paths: Sequence[str | os.PathLike], out_csv: str | os.PathLike) -> list[dict]:
    """Write Table 2 (per-class AP and mAP on one multi-label dataset per feature source)."""
    rows = []
    datasets = set()
    for path in result_paths:
        result = read_result(path)
        if result["task"] != "multilabel":
            raise ValueError(f"{path} is a {result['task']} result; Table 2 takes a multi-label dataset")
        datasets.add(result["dataset"])
        for definition, per_class, mean in (("voc07_11point", "ap_voc07_mean", "mAP-voc07"),
                                            ("area", "ap_mean", "mAP")):
            row = {**_source_cells(corpus, result["source"]), "dataset": result["dataset"],
                   "ap_definition": definition}
            row.update({name: _percent(value) for name, value in zip(result["classes"], result[per_class])})
            row.update({"mAP_mean": _percent(result[mean]["mean"]), "mAP_std": _percent(result[mean]["std"]),
                        "runs": len(result["runs"]), "test_images": result["runs"][0]["test_images"]})
            rows.append(row)
    if len(datasets) > 1:
        raise ValueError(f"Table 2 takes one multi-label dataset, got {sorted(datasets)}")
    rows.sort(key=lambda row: (row["ap_definition"] != "voc07_11point", *_sort_key(row)))
    write_rows(rows, out_csv)
    return rows
