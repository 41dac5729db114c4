"""Linear probes on penultimate features of a transfer dataset, repeated over runs (Joulin et al., ECCV 2016,
Tables 2 and 3, Figures 2 right and 5).

In every run (see `weaksup.transfer.protocol`), an L2-regularised logistic regression is fitted on the training
images for every C of a grid, the C with the best validation score is kept, and its probe is scored once on the
test images. Multiclass datasets get the multinomial probe and accuracy. Multi-label datasets get one binary probe
per class. Each class gets the Pascal VOC 2007 average precision (mean of the interpolated precision at the 11
recalls 0, 0.1, ..., 1) and the area under the precision-recall curve (scikit-learn's `average_precision_score`).
Labels marked "difficult" are left out for their class, as the VOC 2007 evaluation does. The regulariser of a
multi-label probe is selected on the validation 11-point mAP.
"""

from __future__ import annotations

import logging
import warnings
import os
from typing import Any, Sequence

import numpy as np
from sklearn.metrics import average_precision_score

from weaksup.features import load_features
from weaksup.probes import ProbeData, ProbeOptions, TargetRows, eleven_point_average_precision, score_probe, \
    search_regularisation
from weaksup.transfer.prepared import IGNORED, MULTICLASS, POSITIVE, TEST, TRAIN, VALIDATION, PreparedDataset
from weaksup.transfer.protocol import Protocol, run_split

log = logging.getLogger(__name__)

ACCURACY, VOC_MAP = "accuracy", "mAP-voc07"


def load_transfer_features(paths: Sequence[str | os.PathLike], dataset: PreparedDataset) -> np.ndarray:
    """Return the features of every image of `dataset`, concatenated along the feature axis when several files
    are given (the "combined" features of two networks)."""
    parts = []
    for path in paths:
        features, photos = load_features(path)
        if not np.array_equal(photos, np.arange(len(dataset))):
            raise ValueError(f"{path} has features of {len(photos)} images, but dataset {dataset.name} has "
                             f"{len(dataset)}; extract the features again from the prepared dataset")
        parts.append(features)
    return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)


def _probe_data(features: np.ndarray, dataset: PreparedDataset, rows: np.ndarray) -> ProbeData:
    if dataset.task == MULTICLASS:
        return ProbeData(features[rows], TargetRows.from_labels(dataset.class_ids()[rows], dataset.num_classes))
    labels = dataset.labels[rows].astype(np.float64)
    labels[dataset.labels[rows] == IGNORED] = np.nan
    return ProbeData(features[rows], labels)


def per_class_average_precision(scores: np.ndarray, labels: np.ndarray) -> tuple[list, list]:
    """Return, per class, the VOC 2007 11-point AP and the area under the precision-recall curve.

    `labels` contains 1, 0 or -1 (ignored). A class without a positive test image gets None in both lists.
    """
    eleven_point, area = [], []
    for k in range(labels.shape[1]):
        known = labels[:, k] != IGNORED
        positives = labels[known, k] == POSITIVE
        if not positives.any():
            eleven_point.append(None)
            area.append(None)
            continue
        eleven_point.append(eleven_point_average_precision(scores[known, k], positives.astype(np.int64)))
        area.append(float(average_precision_score(positives, scores[known, k])))
    return eleven_point, area


def _mean_of_known(values: Sequence[float | None]) -> float:
    known = [v for v in values if v is not None]
    if not known:
        raise ValueError("no class has a positive test image, so mean average precision is undefined")
    return float(np.mean(known))


def evaluate_run(features: np.ndarray, dataset: PreparedDataset, split: np.ndarray, grid: Sequence[float],
                 options: ProbeOptions) -> dict[str, Any]:
    """Select C on the validation images, fit on the training images and score the test images of one run."""
    parts = {name: np.flatnonzero(split == code) for name, code in
             (("train", TRAIN), ("validation", VALIDATION), ("test", TEST))}
    empty = [name for name, rows in parts.items() if len(rows) == 0]
    if empty:
        raise ValueError(f"dataset {dataset.name}: the run has no {' or '.join(empty)} images; check its split "
                         "files or the protocol's fractions")
    metric = ACCURACY if dataset.task == MULTICLASS else VOC_MAP
    train, validation, test = (_probe_data(features, dataset, parts[name]) for name in ("train", "validation", "test"))
    search = search_regularisation(train, validation, grid, metric, options)
    result: dict[str, Any] = {
        "C": search.best_C,
        "validation": {f"{C:g}": score for C, score in search.scores.items()},
        **{f"{name}_images": int(len(rows)) for name, rows in parts.items()},
        "fit": {"iterations": search.best_probe.fit.iterations, "stop_reason": search.best_probe.fit.stop_reason},
    }
    if dataset.task == MULTICLASS:
        result[ACCURACY] = score_probe(search.best_probe, test, ACCURACY, options)
        return result

    scores = search.best_probe.predict_scores(test.features, options.chunk_rows, options.device).double().numpy()
    eleven_point, area = per_class_average_precision(scores, dataset.labels[parts["test"]])
    result.update({VOC_MAP: _mean_of_known(eleven_point), "mAP": _mean_of_known(area),
                   "ap_voc07": eleven_point, "ap": area})
    return result


def _summary(values: Sequence[float]) -> dict[str, float]:
    """Mean and sample standard deviation (0 for a single run)."""
    array = np.asarray(values, dtype=np.float64)
    return {"mean": float(array.mean()), "std": float(array.std(ddof=1)) if len(array) > 1 else 0.0}


def evaluate_transfer(features: np.ndarray, dataset: PreparedDataset, protocol: Protocol, grid: Sequence[float],
                      options: ProbeOptions | None = None) -> dict[str, Any]:
    """Run the probe `protocol.runs` times and return every run and the mean and standard deviation per metric."""
    options = options or ProbeOptions()
    if features.shape[0] != len(dataset):
        raise ValueError(f"{features.shape[0]} feature rows but dataset {dataset.name} has {len(dataset)} images")
    runs = []
    for run in range(protocol.runs):
        outcome = evaluate_run(features, dataset, run_split(dataset, run, protocol), grid, options)
        metric = ACCURACY if dataset.task == MULTICLASS else VOC_MAP
        log.info("%s run %d of %d: C=%g, test %s %.4f", dataset.name, run + 1, protocol.runs, outcome["C"],
                 metric, outcome[metric])
        runs.append({"run": run, **outcome})

    result: dict[str, Any] = {"dataset": dataset.name, "task": dataset.task, "classes": dataset.classes,
                              "feature_dim": int(features.shape[1]), "runs": runs}
    if dataset.task == MULTICLASS:
        result[ACCURACY] = _summary([run[ACCURACY] for run in runs])
    else:
        for metric in (VOC_MAP, "mAP"):
            result[metric] = _summary([run[metric] for run in runs])
        for key in ("ap_voc07", "ap"):
            per_run = np.array([[np.nan if v is None else v for v in run[key]] for run in runs], dtype=np.float64)
            # A class without a positive test image in some run is averaged over the other runs.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                means = np.nanmean(per_run, axis=0) if len(per_run) else per_run
            result[f"{key}_mean"] = [None if np.isnan(v) else float(v) for v in means]
    return result


def protocol_from_settings(settings: dict[str, Any], seed: int = 0) -> Protocol:
    """Build the protocol of one dataset from its `transfer.datasets.<name>` config section."""
    fields = ("runs", "validation_fraction", "test_fraction", "train_per_class", "test_per_class")
    return Protocol(**{name: settings[name] for name in fields if settings.get(name) is not None}, seed=seed)


def run_transfer_probe(feature_paths: Sequence[str | os.PathLike], dataset_dir: str | os.PathLike,
                       out_json: str | os.PathLike, source: dict[str, Any], settings: dict[str, Any],
                       transfer: dict[str, Any], targets_path: str | os.PathLike | None = None) -> dict[str, Any]:
    """Evaluate one feature source on one prepared dataset and write the result file.

    `source` describes the features (see `weaksup.transfer.results`). For a Flickr network trained on the whole
    training split, `targets_path` gives its targets file so the result records how many training photos it had.
    """
    import torch

    from weaksup.atomic import write_json
    from weaksup.targets import TRAIN as CORPUS_TRAIN, load_targets
    from weaksup.transfer.prepared import load_prepared

    dataset = load_prepared(dataset_dir)
    features = load_transfer_features(feature_paths, dataset)
    log.info("probing %s features (%d x %d) on %s (%s, %d classes)", source["name"], *features.shape,
             dataset.name, dataset.task, dataset.num_classes)
    dtype = getattr(torch, transfer.get("probe_dtype", "float64"))
    # float32 cannot resolve the line search below a gradient of about 1e-5 (see ProbeOptions).
    options = ProbeOptions(max_iter=transfer["probe_max_iter"], dtype=dtype,
                           tolerance_grad=1e-4 if dtype == torch.float32 else 1e-5)
    result = evaluate_transfer(features, dataset, protocol_from_settings(settings), transfer["probe_grid"], options)

    source = dict(source)
    if source.get("train_photos") == "all" and targets_path is not None:
        source["train_photos"] = int(np.sum(load_targets(targets_path).split == CORPUS_TRAIN))
    result = {"source": source, "feature_files": [str(p) for p in feature_paths], **result}
    write_json(out_json, result)
    return result
