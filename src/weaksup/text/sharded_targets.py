"""Targets built one corpus shard at a time, then merged, so that no job keeps the tokens of the whole corpus in memory.

`build_shard_targets` reads the tokens TSV of one shard and writes that shard's part of the targets: the CSR
targets and the split of its photos, and its word -> training photos index, with photos numbered from 0 within the
shard. Its memory grows with the shard. `merge_shard_targets` concatenates the parts in corpus shard order into the
same Targets file that `build_targets` writes from all tokens at once. Its memory is the output plus one part, and
it never reads tokens.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm import tqdm

from weaksup.atomic import save_npz
from weaksup.targets import SPLIT_NAMES, TRAIN, Targets
from weaksup.text.dictionary import load_dictionary
from weaksup.text.targets_build import log_targets_summary, targets_from_tokens

log = logging.getLogger(__name__)

SHARD_ARRAYS = ("indptr", "words", "split", "word_photos_indptr", "word_photos")
SHARD_KEYS = (*SHARD_ARRAYS, "num_classes", "dictionary_sha256")


@dataclass
class ShardTargets:
    """Targets of the photos of one corpus shard, with photos numbered from 0 within the shard.

    The arrays have the layout and dtypes of the `Targets` arrays. `dictionary_sha256` identifies the dictionary,
    so that parts built from different dictionaries are never merged.
    """

    indptr: np.ndarray
    words: np.ndarray
    split: np.ndarray
    word_photos_indptr: np.ndarray
    word_photos: np.ndarray
    num_classes: int
    dictionary_sha256: str

    @property
    def num_photos(self) -> int:
        return len(self.split)

    def save(self, path: str | os.PathLike) -> None:
        arrays = {name: getattr(self, name) for name in SHARD_ARRAYS}
        save_npz(
            path,
            **arrays,
            num_classes=np.array(self.num_classes),
            dictionary_sha256=np.array(self.dictionary_sha256),
        )


def dictionary_sha256(dictionary: Sequence[str]) -> str:
    """Return the SHA-256 hex digest of the dictionary words in class-id order, one per line."""
    return hashlib.sha256("\n".join(dictionary).encode("utf-8")).hexdigest()


def build_shard_targets(
    tokens_tsv: str | os.PathLike, dictionary_path: str | os.PathLike, out_npz: str | os.PathLike
) -> ShardTargets:
    """Write the targets of the photos of one tokens TSV to `out_npz`, and return them."""
    dictionary = load_dictionary(dictionary_path)
    targets = targets_from_tokens([tokens_tsv], dictionary)
    part = ShardTargets(
        indptr=targets.indptr,
        words=targets.words,
        split=targets.split,
        word_photos_indptr=targets.word_photos_indptr,
        word_photos=targets.word_photos,
        num_classes=targets.num_classes,
        dictionary_sha256=dictionary_sha256(dictionary),
    )
    part.save(out_npz)

    target_counts = targets.target_counts()
    log.info(
        "wrote %s from %s: %d photos (%d train), K=%d, %d targets, %d photos without targets",
        out_npz, tokens_tsv, part.num_photos, np.count_nonzero(targets.split == TRAIN), len(dictionary),
        len(targets.words), np.count_nonzero(target_counts == 0),
    )
    return part


def load_shard_targets(path: str | os.PathLike) -> ShardTargets:
    """Read and check the part that `build_shard_targets` wrote, raising ValueError when it is invalid."""
    with np.load(path) as data:
        missing = [key for key in SHARD_KEYS if key not in data.files]
        if missing:
            raise ValueError(
                f"{path}: missing arrays {missing}, so it is not a shard targets file. Rebuild it with "
                f"build_shard_targets."
            )
        part = ShardTargets(
            **{name: data[name] for name in SHARD_ARRAYS},
            num_classes=int(data["num_classes"]),
            dictionary_sha256=str(data["dictionary_sha256"]),
        )

    problems = _shard_problems(part)
    if problems:
        raise ValueError(f"{path}: invalid shard targets: {'; '.join(problems)}. Rebuild it with build_shard_targets.")
    return part


def _shard_problems(part: ShardTargets) -> list[str]:
    """Return what breaks the CSR invariants of a part, or an empty list."""
    if len(part.indptr) != part.num_photos + 1:
        return [f"indptr has {len(part.indptr)} entries for {part.num_photos} photos, expected {part.num_photos + 1}"]
    if len(part.word_photos_indptr) != part.num_classes + 1:
        return [f"word_photos_indptr has {len(part.word_photos_indptr)} entries for K={part.num_classes}"]

    problems = []
    if part.indptr[0] != 0 or part.indptr[-1] != len(part.words) or np.any(np.diff(part.indptr) < 0):
        problems.append(f"indptr does not rise from 0 to the {len(part.words)} targets")
    if len(part.words) and (part.words.min() < 0 or part.words.max() >= part.num_classes):
        problems.append(f"class ids outside [0, {part.num_classes})")
    if len(part.split) and (part.split.min() < 0 or part.split.max() >= len(SPLIT_NAMES)):
        problems.append(f"split numbers outside [0, {len(SPLIT_NAMES)})")
    word_photos_indptr = part.word_photos_indptr
    if word_photos_indptr[0] != 0 or word_photos_indptr[-1] != len(part.word_photos) or np.any(
        np.diff(word_photos_indptr) < 0
    ):
        problems.append(f"word_photos_indptr does not rise from 0 to the {len(part.word_photos)} training targets")
    if len(part.word_photos) and (part.word_photos.min() < 0 or part.word_photos.max() >= part.num_photos):
        problems.append(f"word_photos has photo numbers outside [0, {part.num_photos})")
    return problems


@dataclass
class _MergePlan:
    num_photos: int
    num_targets: int
    word_photo_counts: np.ndarray
    num_classes: int
    dictionary_sha256: str


def merge_shard_targets(
    shard_paths: Sequence[str | os.PathLike],
    out_path: str | os.PathLike,
    dictionary_path: str | os.PathLike | None = None,
) -> Targets:
    """Concatenate the parts of every shard, in corpus shard order, into a Targets file at `out_path`, and return it.

    The file equals the one `build_targets` writes from the tokens of the same shards. When `dictionary_path` is
    given, every part must have been built from that dictionary, and the log names unused words instead of class
    ids. Every part is read twice: once to size the output arrays, which are then filled in place and never grown.
    """
    if not shard_paths:
        raise ValueError("no shard targets files to merge. Pass one per corpus shard, in shard order.")
    dictionary = load_dictionary(dictionary_path) if dictionary_path is not None else None
    plan = _plan_merge(shard_paths, dictionary_path, dictionary)

    word_photos_indptr = np.zeros(plan.num_classes + 1, dtype=np.int64)
    np.cumsum(plan.word_photo_counts, out=word_photos_indptr[1:])
    targets = Targets(
        indptr=np.zeros(plan.num_photos + 1, dtype=np.int64),
        words=np.empty(plan.num_targets, dtype=np.int32),
        split=np.empty(plan.num_photos, dtype=np.int8),
        word_photos_indptr=word_photos_indptr,
        word_photos=np.empty(int(word_photos_indptr[-1]), dtype=np.int64),
        num_classes=plan.num_classes,
    )

    # next_slot[k] is where the next training photo of word k goes in targets.word_photos.
    next_slot = word_photos_indptr[:-1].copy()
    first_photo = first_target = 0
    for path in tqdm(shard_paths, desc="merge shard targets", unit=" shards"):
        part = load_shard_targets(path)
        _copy_part(part, targets, first_photo, first_target, next_slot)
        first_photo += part.num_photos
        first_target += len(part.words)

    targets.save(out_path)
    names = dictionary if dictionary is not None else [f"class {k}" for k in range(plan.num_classes)]
    log.info("merged %d shard targets files", len(shard_paths))
    log_targets_summary(targets, names, out_path)
    return targets


def _plan_merge(
    shard_paths: Sequence[str | os.PathLike],
    dictionary_path: str | os.PathLike | None,
    dictionary: Sequence[str] | None,
) -> _MergePlan:
    """Check that all parts share one dictionary, and add up their sizes."""
    expected = dictionary_sha256(dictionary) if dictionary is not None else None
    expected_source = dictionary_path
    plan: _MergePlan | None = None
    for path in tqdm(shard_paths, desc="check shard targets", unit=" shards"):
        part = load_shard_targets(path)
        if expected is None:
            expected, expected_source = part.dictionary_sha256, path
        if part.dictionary_sha256 != expected:
            raise ValueError(
                f"{path} was built from another dictionary than {expected_source} (SHA-256 "
                f"{part.dictionary_sha256[:12]}... against {expected[:12]}...). Rebuild the shard targets from one "
                f"dictionary."
            )

        if plan is None:
            plan = _MergePlan(0, 0, np.zeros(part.num_classes, dtype=np.int64), part.num_classes, expected)
        plan.num_photos += part.num_photos
        plan.num_targets += len(part.words)
        plan.word_photo_counts += np.diff(part.word_photos_indptr)
    assert plan is not None
    return plan


def _copy_part(
    part: ShardTargets, targets: Targets, first_photo: int, first_target: int, next_slot: np.ndarray
) -> None:
    """Copy one part into the output arrays, numbering its photos from `first_photo` and targets from `first_target`."""
    end_photo = first_photo + part.num_photos
    targets.split[first_photo:end_photo] = part.split
    targets.indptr[first_photo + 1 : end_photo + 1] = part.indptr[1:] + first_target
    targets.words[first_target : first_target + len(part.words)] = part.words

    # The training photos of word k in this part go right after those of the earlier parts. Parts come in shard
    # order and each lists its photos in ascending order, so every word's photo list stays sorted.
    counts = np.diff(part.word_photos_indptr)
    offsets = next_slot - part.word_photos_indptr[:-1]
    slots = np.repeat(offsets, counts) + np.arange(len(part.word_photos))
    targets.word_photos[slots] = part.word_photos + first_photo
    next_slot += counts
