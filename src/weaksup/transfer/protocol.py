"""The split of each run of a transfer experiment: the images that train, select and test the probe.

Joulin et al. (ECCV 2016) report transfer accuracy averaged over 10 runs and choose the L2 regulariser on
validation data, but do not say what changes between runs. This module fixes one protocol:

- Datasets released with split sets (SUN397 has ten): run r uses split set r modulo their number, and its test
  images as released. With a released validation split (Oxford Flowers 102, Pascal VOC 2007), run 0 uses it
  as released. Every other run draws a new validation split of the same size from that split set's train and
  validation images. Without a released validation split, every run draws `validation_fraction` of its
  training images. So runs differ in the photos the probe is fitted on and selected with, never in the test.
- Datasets released without a split (UIUC Sports and the demo tasks): every run draws its own test and
  validation images, `train_per_class` and `test_per_class` images per class when set (the UIUC Sports protocol
  takes 70 and 60), else the fractions.

Multiclass draws are stratified by class (every class keeps its share in every part); multi-label draws are
uniform. Run r draws from `numpy.random.default_rng([seed, r])`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from weaksup.transfer.prepared import MULTICLASS, TEST, TRAIN, UNUSED, VALIDATION, PreparedDataset


@dataclass(frozen=True)
class Protocol:
    """Settings of the per-run split of one transfer dataset."""

    runs: int = 10
    validation_fraction: float = 0.2
    test_fraction: float = 0.3
    train_per_class: int | None = None
    test_per_class: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.runs < 1:
            raise ValueError(f"runs must be at least 1, got {self.runs}")
        for name in ("validation_fraction", "test_fraction"):
            if not 0 < getattr(self, name) < 1:
                raise ValueError(f"{name} must be between 0 and 1 (exclusive), got {getattr(self, name)}")
        if (self.train_per_class is None) != (self.test_per_class is None):
            raise ValueError("set both train_per_class and test_per_class, or neither")


def _draw(groups: list[np.ndarray], fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Return a random `fraction` of every group of positions (at least one of a group of two or more)."""
    chosen = []
    for group in groups:
        count = int(round(fraction * len(group)))
        if len(group) >= 2:
            count = min(max(count, 1), len(group) - 1)
        chosen.append(rng.choice(group, count, replace=False))
    return np.concatenate(chosen) if chosen else np.zeros(0, dtype=np.int64)


def _groups(dataset: PreparedDataset, positions: np.ndarray) -> list[np.ndarray]:
    """Split positions by class for a multiclass dataset; a single group for a multi-label one."""
    if dataset.task != MULTICLASS:
        return [positions]
    classes = dataset.class_ids()[positions]
    return [positions[classes == c] for c in np.unique(classes)]


def run_split(dataset: PreparedDataset, run: int, protocol: Protocol) -> np.ndarray:
    """Return the split of every image in run `run`: TRAIN, VALIDATION, TEST or UNUSED (int8, one per image)."""
    rng = np.random.default_rng([protocol.seed, run])
    if dataset.splits.shape[0] > 0:
        return _released_split(dataset, dataset.splits[run % dataset.splits.shape[0]], run, protocol, rng)
    return _drawn_split(dataset, protocol, rng)


def _released_split(dataset: PreparedDataset, released: np.ndarray, run: int, protocol: Protocol,
                    rng: np.random.Generator) -> np.ndarray:
    split = released.astype(np.int8).copy()
    has_validation = np.any(released == VALIDATION)
    if run == 0 and has_validation:
        return split
    pool = np.flatnonzero((released == TRAIN) | (released == VALIDATION))
    fraction = np.mean(released[pool] == VALIDATION) if has_validation else protocol.validation_fraction
    split[pool] = TRAIN
    split[_draw(_groups(dataset, pool), fraction, rng)] = VALIDATION
    return split


def _drawn_split(dataset: PreparedDataset, protocol: Protocol, rng: np.random.Generator) -> np.ndarray:
    split = np.full(len(dataset), UNUSED, dtype=np.int8)
    everything = np.arange(len(dataset))
    if protocol.train_per_class is not None:
        for group in _groups(dataset, everything):
            order = rng.permutation(group)
            needed = protocol.train_per_class + protocol.test_per_class
            if len(order) < needed:
                raise ValueError(f"dataset {dataset.name}: a class has {len(order)} images, fewer than "
                                 f"train_per_class + test_per_class = {needed}")
            split[order[: protocol.train_per_class]] = TRAIN
            split[order[protocol.train_per_class : needed]] = TEST
        train = np.flatnonzero(split == TRAIN)
    else:
        test = _draw(_groups(dataset, everything), protocol.test_fraction, rng)
        split[everything] = TRAIN
        split[test] = TEST
        train = np.flatnonzero(split == TRAIN)
    split[_draw(_groups(dataset, train), protocol.validation_fraction, rng)] = VALIDATION
    return split
