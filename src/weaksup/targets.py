"""Per-photo targets for one dictionary, and the word -> training photos index that class-uniform sampling needs.

Photos are numbered globally in corpus shard order (the numbering of `ImageStore`). Both relations are stored in
compressed sparse row form, which is compact at paper scale (100M photos, about 7 targets each).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from weaksup.atomic import save_npz

TRAIN, VALIDATION, TEST = 0, 1, 2
SPLIT_NAMES = ("train", "validation", "test")


@dataclass
class Targets:
    """Targets of every photo of a corpus for one dictionary of `num_classes` words.

    indptr, words: photo p has the dictionary words `words[indptr[p]:indptr[p+1]]` (sorted word ids).
    split: TRAIN, VALIDATION or TEST per photo.
    word_photos_indptr, word_photos: word k appears in the training photos
        `word_photos[word_photos_indptr[k]:word_photos_indptr[k+1]]` (sorted global photo numbers).
    """

    indptr: np.ndarray
    words: np.ndarray
    split: np.ndarray
    word_photos_indptr: np.ndarray
    word_photos: np.ndarray
    num_classes: int

    @property
    def num_photos(self) -> int:
        return len(self.split)

    def targets_of(self, photo: int) -> np.ndarray:
        return self.words[self.indptr[photo] : self.indptr[photo + 1]]

    def target_counts(self) -> np.ndarray:
        """Return the number of dictionary words of every photo."""
        return np.diff(self.indptr)

    def photos_in_split(self, split: int) -> np.ndarray:
        return np.flatnonzero(self.split == split)

    def photos_of_word(self, word: int) -> np.ndarray:
        return self.word_photos[self.word_photos_indptr[word] : self.word_photos_indptr[word + 1]]

    def save(self, path: str | os.PathLike) -> None:
        save_npz(
            path,
            indptr=self.indptr,
            words=self.words,
            split=self.split,
            word_photos_indptr=self.word_photos_indptr,
            word_photos=self.word_photos,
            num_classes=np.array(self.num_classes),
        )


def load_targets(path: str | os.PathLike) -> Targets:
    with np.load(path) as data:
        return Targets(
            indptr=data["indptr"],
            words=data["words"],
            split=data["split"],
            word_photos_indptr=data["word_photos_indptr"],
            word_photos=data["word_photos"],
            num_classes=int(data["num_classes"]),
        )


def word_photo_index(indptr: np.ndarray, words: np.ndarray, split: np.ndarray, num_classes: int):
    """Invert photo -> words into word -> training photos; return (word_photos_indptr, word_photos)."""
    photos = np.repeat(np.arange(len(split), dtype=np.int64), np.diff(indptr))
    keep = split[photos] == TRAIN
    photos, keyed_words = photos[keep], words[keep]
    # A stable sort by word keeps each word's photos in ascending order.
    order = np.argsort(keyed_words, kind="stable")
    counts = np.bincount(keyed_words, minlength=num_classes)
    word_photos_indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return word_photos_indptr, photos[order]
