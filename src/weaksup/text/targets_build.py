"""Targets of every photo for one dictionary, built from the tokens of all shards.

The target of a photo is the bag of its dictionary words (Joulin et al. 2016), stored as the sorted unique class
ids of those words, where the class id of a word is its position in the dictionary file.
"""

from __future__ import annotations

import logging
import os
from array import array
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm import tqdm

from weaksup.targets import SPLIT_NAMES, Targets, word_photo_index
from weaksup.text.dictionary import load_dictionary
from weaksup.text.pipeline import read_tokens

log = logging.getLogger(__name__)


def build_targets(
    tokens_paths: Sequence[str | os.PathLike], dictionary_path: str | os.PathLike, out_npz: str | os.PathLike
) -> Targets:
    """Write the targets and the word -> training photos index of a corpus to `out_npz`, and return them.

    Photos are numbered by concatenating the tokens files in the given order, which must be corpus shard order
    so that the numbers match `ImageStore`.
    """
    dictionary = load_dictionary(dictionary_path)
    class_ids = {word: class_id for class_id, word in enumerate(dictionary)}

    # array.array stores 1 to 8 bytes per entry. A list needs about 36 (a pointer and an int object), too much for
    # the 700M targets of YFCC100M.
    indptr = array("q", [0])
    words = array("i")
    split = array("b")
    for path in tokens_paths:
        for _, photo_split, tokens in tqdm(read_tokens(path), desc=f"targets {Path(path).name}", unit=" photos"):
            words.extend(sorted({class_ids[token] for token in tokens if token in class_ids}))
            indptr.append(len(words))
            split.append(photo_split)

    indptr_array = np.array(indptr, dtype=np.int64)
    words_array = np.array(words, dtype=np.int32)
    split_array = np.array(split, dtype=np.int8)
    word_photos_indptr, word_photos = word_photo_index(indptr_array, words_array, split_array, len(dictionary))
    targets = Targets(
        indptr=indptr_array,
        words=words_array,
        split=split_array,
        word_photos_indptr=word_photos_indptr,
        word_photos=word_photos,
        num_classes=len(dictionary),
    )
    targets.save(out_npz)
    _log_summary(targets, dictionary, out_npz)
    return targets


def _log_summary(targets: Targets, dictionary: Sequence[str], out_npz: str | os.PathLike) -> None:
    target_counts = targets.target_counts()
    split_sizes = ", ".join(
        f"{name} {np.count_nonzero(targets.split == number)}" for number, name in enumerate(SPLIT_NAMES)
    )
    log.info(
        "wrote %s: %d photos (%s), K=%d, %d photos without targets, %.3f targets per photo",
        out_npz, targets.num_photos, split_sizes, targets.num_classes,
        np.count_nonzero(target_counts == 0), target_counts.mean() if targets.num_photos else 0.0,
    )

    # Class-uniform sampling draws a word, then one of its training photos, so a word without any cannot be drawn.
    # It happens only when the dictionary was built from other tokens or another split.
    unused = np.flatnonzero(np.diff(targets.word_photos_indptr) == 0)
    if len(unused):
        log.warning(
            "%d dictionary words have no training photo (first: %s). Rebuild the dictionary from these tokens.",
            len(unused), [dictionary[k] for k in unused[:10]],
        )
