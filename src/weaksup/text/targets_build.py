"""Targets of every photo for one dictionary, built from the tokens of all shards in one process.

The target of a photo is the bag of its dictionary words (Joulin et al. 2016), stored as the sorted unique class
ids of those words, where the class id of a word is its position in the dictionary file.

`build_targets` keeps the targets of the whole corpus in memory while it reads the tokens.
`weaksup.text.sharded_targets` writes the same file from per-shard parts, so that no job keeps all tokens in memory.
"""

from __future__ import annotations

import logging
import os
from array import array
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
from tqdm import tqdm

from weaksup.targets import SPLIT_NAMES, Targets, word_photo_index
from weaksup.text.dictionary import load_dictionary
from weaksup.text.pipeline import read_tokens

log = logging.getLogger(__name__)


def targets_from_tokens(tokens_paths: Sequence[str | os.PathLike], dictionary: Sequence[str]) -> Targets:
    """Return the targets of the photos of the tokens files, numbered in file order, for a dictionary."""
    class_ids = {word: class_id for class_id, word in enumerate(dictionary)}

    # array.array stores 1 to 8 bytes per entry. A list needs about 36 (a pointer and an int object), too much for
    # the 700M targets of YFCC100M.
    indptr = array("q", [0])
    words = array("i")
    split = array("b")
    for path in tokens_paths:
        append_photo_targets(path, class_ids, indptr, words, split)

    indptr_array = np.array(indptr, dtype=np.int64)
    words_array = np.array(words, dtype=np.int32)
    split_array = np.array(split, dtype=np.int8)
    word_photos_indptr, word_photos = word_photo_index(indptr_array, words_array, split_array, len(dictionary))
    return Targets(
        indptr=indptr_array,
        words=words_array,
        split=split_array,
        word_photos_indptr=word_photos_indptr,
        word_photos=word_photos,
        num_classes=len(dictionary),
    )


def build_targets(
    tokens_paths: Sequence[str | os.PathLike], dictionary_path: str | os.PathLike, out_npz: str | os.PathLike
) -> Targets:
    """Write the targets and the word -> training photos index of a corpus to `out_npz`, and return them.

    Photos are numbered by concatenating the tokens files in the given order, which must be corpus shard order
    so that the numbers match `ImageStore`.
    """
    dictionary = load_dictionary(dictionary_path)
    targets = targets_from_tokens(tokens_paths, dictionary)
    targets.save(out_npz)
    log_targets_summary(targets, dictionary, out_npz)
    return targets


def append_photo_targets(
    tokens_tsv: str | os.PathLike, class_ids: Mapping[str, int], indptr: array, words: array, split: array
) -> None:
    """Append the targets and the split of every photo of one tokens TSV, in file order, to CSR arrays.

    `indptr` must already end with `len(words)`, as it does after `array("q", [0])` and after every call.
    """
    photos = tqdm(read_tokens(tokens_tsv), desc=f"targets {Path(tokens_tsv).name}", unit=" photos")
    for _, photo_split, tokens in photos:
        words.extend(sorted({class_ids[token] for token in tokens if token in class_ids}))
        indptr.append(len(words))
        split.append(photo_split)


def log_targets_summary(targets: Targets, dictionary: Sequence[str], out_npz: str | os.PathLike) -> None:
    """Log the photos per split and targets per photo of a Targets file, and warn about words without photos."""
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
