"""Class-uniform sampling of training examples (Joulin et al., ECCV 2016).

A training example is drawn by picking a dictionary word uniformly at random among the words that have at least
one training photo, then a training photo that has that word, uniformly. That word is the example's only positive
target. Every other word is a negative for it, even the other words of the same photo. Frequent words therefore
do not dominate training although word frequencies follow a Zipf law.

The batch of global step s on rank r is drawn from a generator seeded with (seed, s, r), so it is a pure function
of the step. A resumed run therefore draws exactly the batches of an uninterrupted one with no generator state to
save, and the ranks of a distributed run draw different batches.
"""

from __future__ import annotations

import logging
from typing import Iterable, Iterator

import numpy as np

from weaksup.targets import TRAIN, Targets

log = logging.getLogger(__name__)


class ClassUniformSampler:
    """Draw batches of (photo, word) training pairs by class-uniform sampling.

    `batch_size` is the number of pairs per step for this rank. `train_subset`, when given, restricts sampling to
    those training photos (for training-set-size sweeps). A word with no allowed photo is never drawn.
    """

    def __init__(
        self,
        targets: Targets,
        batch_size: int,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
        train_subset: Iterable[int] | np.ndarray | None = None,
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is outside 0..{world_size - 1}")
        self.batch_size = batch_size
        self.seed = seed
        self.rank = rank

        photos_indptr, photos = targets.word_photos_indptr, targets.word_photos
        if train_subset is not None:
            photos_indptr, photos = _restrict_to_subset(targets, train_subset)
        counts = np.diff(photos_indptr)
        self.words = np.flatnonzero(counts > 0)
        if len(self.words) == 0:
            raise ValueError("no dictionary word has a training photo, so class-uniform sampling has nothing to draw")
        self.word_starts = photos_indptr[self.words]
        self.word_counts = counts[self.words]
        self.photos = photos

        skipped = targets.num_classes - len(self.words)
        if skipped:
            log.info("%d of %d dictionary words have no training photo and are never drawn",
                     skipped, targets.num_classes)

    @property
    def num_words(self) -> int:
        """Number of words that can be drawn."""
        return len(self.words)

    def batch(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        """Return (photos, words) of global step `step`: two int64 arrays of length `batch_size`."""
        if step < 0:
            raise ValueError(f"step must be non-negative, got {step}")
        rng = np.random.default_rng([self.seed, step, self.rank])
        chosen = rng.integers(0, len(self.words), size=self.batch_size)
        offsets = rng.integers(0, self.word_counts[chosen])
        photos = self.photos[self.word_starts[chosen] + offsets]
        return photos.astype(np.int64), self.words[chosen].astype(np.int64)

    def iter_batches(
        self, start_step: int = 0, stop_step: int | None = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield the batches of steps start_step, start_step + 1, ... up to stop_step, exclusive (None: forever)."""
        step = start_step
        while stop_step is None or step < stop_step:
            yield self.batch(step)
            step += 1


def _restrict_to_subset(targets: Targets, train_subset: Iterable[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the word -> training photos index with only the photos in `train_subset` kept."""
    subset = np.unique(np.fromiter(train_subset, dtype=np.int64))
    outside = subset[(subset < 0) | (subset >= targets.num_photos)]
    if len(outside):
        raise ValueError(
            f"train_subset has {len(outside)} photo numbers outside 0..{targets.num_photos - 1}, e.g. {outside[0]}"
        )
    not_train = subset[targets.split[subset] != TRAIN]
    if len(not_train):
        raise ValueError(
            f"train_subset has {len(not_train)} photos that are not training photos, e.g. photo {not_train[0]}"
        )

    keep = np.isin(targets.word_photos, subset)
    word_of_entry = np.repeat(np.arange(targets.num_classes), np.diff(targets.word_photos_indptr))
    counts = np.bincount(word_of_entry[keep], minlength=targets.num_classes)
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    log.info("training subset: %d photos, %d of %d word-photo pairs kept", len(subset), int(keep.sum()), len(keep))
    return indptr, targets.word_photos[keep]
