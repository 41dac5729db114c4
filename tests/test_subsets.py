import numpy as np
import pytest

from weaksup.subsets import nested_train_subset
from weaksup.targets import TEST, TRAIN, VALIDATION, Targets, word_photo_index


def make_targets(splits):
    split = np.array(splits, dtype=np.int8)
    indptr = np.arange(len(split) + 1, dtype=np.int64)
    words = np.zeros(len(split), dtype=np.int32)
    word_photos_indptr, word_photos = word_photo_index(indptr, words, split, 1)
    return Targets(indptr, words, split, word_photos_indptr, word_photos, 1)


def test_subsets_are_nested_and_training_only():
    targets = make_targets([TRAIN, TEST, TRAIN, VALIDATION] * 25)
    small = nested_train_subset(targets, 10, seed=3)
    large = nested_train_subset(targets, 30, seed=3)
    assert len(small) == 10
    assert set(small) <= set(large)
    assert (targets.split[large] == TRAIN).all()


def test_subset_larger_than_training_split_is_rejected():
    targets = make_targets([TRAIN, TEST, TRAIN])
    with pytest.raises(ValueError, match="the training split has 2 photos"):
        nested_train_subset(targets, 3, seed=0)
