"""Nested subsets of the training split, for learning curves against training-set size.

Joulin et al. (ECCV 2016, Figures 2 and 5) train on Flickr training sets of growing size. Here every subset is a
prefix of one seeded permutation of the training photos, so a smaller subset is always contained in a larger one
and curves compare like with like.
"""

from __future__ import annotations

import logging
import os

import numpy as np

from weaksup.atomic import atomic_open
from weaksup.targets import TRAIN, Targets

log = logging.getLogger(__name__)


def nested_train_subset(targets: Targets, size: int, seed: int) -> np.ndarray:
    """Return `size` training photos (sorted global numbers), the first `size` of a permutation fixed by `seed`."""
    train = targets.photos_in_split(TRAIN)
    if not 0 < size <= len(train):
        raise ValueError(
            f"training-set size {size} is invalid: the training split has {len(train)} photos; "
            f"set training.size_sweep.train_photos to sizes between 1 and {len(train)}"
        )
    order = np.random.default_rng(seed).permutation(len(train))
    return np.sort(train[order[:size]])


def write_train_subset(targets: Targets, size: int, seed: int, out_path: str | os.PathLike) -> np.ndarray:
    """Write the nested subset of `size` training photos as an int64 `.npy` file (the `--train-subset` input)."""
    subset = nested_train_subset(targets, size, seed)
    with atomic_open(out_path, "wb") as handle:
        np.save(handle, subset.astype(np.int64))
    log.info("wrote %d of %d training photos to %s (seed %d)", len(subset), len(targets.photos_in_split(TRAIN)),
             out_path, seed)
    return subset
