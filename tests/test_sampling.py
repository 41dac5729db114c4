"""Tests of class-uniform sampling."""

from __future__ import annotations

import math

import numpy as np
import pytest

from weaksup.sampling import ClassUniformSampler
from weaksup.targets import TEST, TRAIN, VALIDATION, Targets, word_photo_index


def make_targets(rows: list[list[int]], split: list[int], num_classes: int) -> Targets:
    indptr = np.concatenate([[0], np.cumsum([len(row) for row in rows])]).astype(np.int64)
    words = np.array([word for row in rows for word in row], dtype=np.int64)
    split_array = np.array(split, dtype=np.int8)
    word_photos_indptr, word_photos = word_photo_index(indptr, words, split_array, num_classes)
    return Targets(indptr, words, split_array, word_photos_indptr, word_photos, num_classes)


def skewed_targets(num_words: int = 20) -> Targets:
    """Word k is on k + 1 photos of its own (Zipf-like skew); photo 0 also carries word 0 and word 1."""
    rows, split = [], []
    for word in range(num_words):
        for _ in range(word + 1):
            rows.append([word])
            split.append(TRAIN)
    rows[0] = [0, 1]
    return make_targets(rows, split, num_words)


def test_word_frequencies_uniform():
    targets = skewed_targets()
    sampler = ClassUniformSampler(targets, batch_size=100, seed=3)
    words = np.concatenate([sampler.batch(step)[1] for step in range(400)])
    counts = np.bincount(words, minlength=targets.num_classes)
    expected = len(words) / targets.num_classes
    chi_square = float(((counts - expected) ** 2 / expected).sum())
    degrees = targets.num_classes - 1
    # Under uniform draws chi-square has mean `degrees` and standard deviation sqrt(2 * degrees).
    assert chi_square < degrees + 5 * math.sqrt(2 * degrees)
    assert counts.min() > 0.85 * expected


def test_photo_frequencies_follow_word_rarity():
    targets = skewed_targets()
    sampler = ClassUniformSampler(targets, batch_size=100, seed=4)
    photos = np.concatenate([sampler.batch(step)[0] for step in range(400)])
    counts = np.bincount(photos, minlength=targets.num_photos)
    # Photo 0 is the only photo of word 0 and one of the three photos of word 1.
    assert abs(counts[0] / len(photos) - (1 + 1 / 3) / 20) < 0.004
    # Each of the 20 photos of word 19 is drawn with probability 1 / 400.
    last_word_photos = targets.photos_of_word(19)
    assert counts[last_word_photos].max() < counts[0] / 10


def test_drawn_pairs_are_valid():
    targets = skewed_targets()
    photos, words = ClassUniformSampler(targets, batch_size=64, seed=0).batch(5)
    for photo, word in zip(photos, words):
        assert word in targets.targets_of(photo)


def test_batch_is_function_of_step():
    targets = skewed_targets()
    first = ClassUniformSampler(targets, batch_size=32, seed=7)
    second = ClassUniformSampler(targets, batch_size=32, seed=7)
    later_batch = [batch for _, batch in zip(range(4), second.iter_batches(start_step=10))][2]
    assert np.array_equal(first.batch(12)[0], later_batch[0])
    assert np.array_equal(first.batch(12)[1], later_batch[1])
    assert not np.array_equal(first.batch(12)[1], first.batch(13)[1])


def test_ranks_draw_different_batches():
    targets = skewed_targets()
    rank0 = ClassUniformSampler(targets, batch_size=32, seed=7, rank=0, world_size=2)
    rank1 = ClassUniformSampler(targets, batch_size=32, seed=7, rank=1, world_size=2)
    assert not np.array_equal(rank0.batch(0)[1], rank1.batch(0)[1])


def test_words_without_training_photo_never_drawn():
    rows = [[0, 1], [1], [2], [3], [1, 3]]
    split = [TRAIN, TRAIN, VALIDATION, TEST, TRAIN]
    targets = make_targets(rows, split, num_classes=5)
    sampler = ClassUniformSampler(targets, batch_size=200, seed=1)
    photos, words = sampler.batch(0)
    assert sampler.num_words == 3
    assert set(words.tolist()) == {0, 1, 3}
    assert set(photos.tolist()) <= {0, 1, 4}


def test_train_subset_restricts_photos_and_words():
    rows = [[0, 1], [1], [2], [1, 2], [3]]
    targets = make_targets(rows, [TRAIN] * 5, num_classes=4)
    sampler = ClassUniformSampler(targets, batch_size=300, seed=2, train_subset={1, 3})
    photos, words = sampler.batch(0)
    assert set(photos.tolist()) == {1, 3}
    assert set(words.tolist()) == {1, 2}


def test_train_subset_rejects_non_training_photo():
    targets = make_targets([[0], [1]], [TRAIN, VALIDATION], num_classes=2)
    with pytest.raises(ValueError, match="not training photos, e.g. photo 1"):
        ClassUniformSampler(targets, batch_size=4, seed=0, train_subset=[0, 1])


def test_sampler_rejects_corpus_without_training_words():
    targets = make_targets([[0], [1]], [TEST, VALIDATION], num_classes=2)
    with pytest.raises(ValueError, match="no dictionary word has a training photo"):
        ClassUniformSampler(targets, batch_size=4, seed=0)
