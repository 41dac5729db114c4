"""Table 1's supervised baseline: logistic regressors on the penultimate features of a clean-label network.

Joulin et al. (ECCV 2016) train L2-regularised logistic regressors on features of ImageNet-trained networks to
predict the Flickr words, with the regularisation tuned on a held-out validation set. `select_probe_photos`
chooses the photos whose features are extracted once per network, and `run_word_probe` fits and scores the probe
for one dictionary.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Sequence

import numpy as np

from weaksup.features import load_features
from weaksup.probes import ProbeOptions, TargetRows, word_prediction_probe
from weaksup.targets import TEST, TRAIN, VALIDATION, Targets, load_targets

log = logging.getLogger(__name__)


def select_probe_photos(targets: Targets, max_train_photos: int | None, seed: int) -> np.ndarray:
    """Return the sorted photos with at least one target: every validation and test photo, and the training
    photos, of which at most `max_train_photos` drawn with `seed`."""
    has_targets = targets.target_counts() > 0
    chosen = []
    for split in (TRAIN, VALIDATION, TEST):
        photos = np.flatnonzero(has_targets & (targets.split == split))
        if split == TRAIN and max_train_photos is not None and len(photos) > max_train_photos:
            photos = np.sort(np.random.default_rng(seed).choice(photos, size=max_train_photos, replace=False))
            log.info("probe uses %d of the training photos with targets (probe_train_photos)", max_train_photos)
        chosen.append(photos)
        log.info("probe photos in the %s split: %d", ("train", "validation", "test")[split], len(photos))
    return np.sort(np.concatenate(chosen))


def run_word_probe(features_path: str | os.PathLike, targets_path: str | os.PathLike, grid: Sequence[float],
                   ks: Sequence[int], options: ProbeOptions | None = None) -> dict[str, Any]:
    """Fit the word-prediction probe on the features' training photos and return its test precision@k."""
    features, photos = load_features(features_path)
    targets = load_targets(targets_path)
    if photos.size and photos.max() >= targets.num_photos:
        raise ValueError(f"{features_path} has photo {photos.max()}, beyond the {targets.num_photos} photos of "
                         f"{targets_path}; extract the features from the same corpus")

    def part(split: int) -> tuple[np.ndarray, TargetRows]:
        rows = np.flatnonzero(targets.split[photos] == split)
        return features[rows], TargetRows.from_targets(targets, photos[rows])

    train, validation, test = part(TRAIN), part(VALIDATION), part(TEST)
    result = word_prediction_probe(*train, *validation, *test, K=targets.num_classes, grid=grid, ks=ks, options=options)
    # The features cover only photos with a word of the largest dictionary. Skipped test photos are counted over
    # the whole test split, as the end-to-end evaluation counts them, so Table 1's column means the same everywhere.
    test_photos = targets.photos_in_split(TEST)
    result["photos_skipped_no_targets"] = int(np.count_nonzero(targets.target_counts()[test_photos] == 0))
    return result


def save_random_init_model(path: str | os.PathLike, arch: str, num_classes: int, model_options: dict[str, Any],
                           seed: int, crop_size: int) -> None:
    """Write an untrained network built with the architecture, options and seed of a training run.

    Its penultimate features are the floor that learned features must beat on transfer tasks.
    """
    import torch

    from weaksup.models import build_model, save_model, without_aux_classifiers
    from weaksup.train import MODEL_OPTIONS

    options = {name: model_options[name] for name in MODEL_OPTIONS if model_options.get(name) is not None}
    torch.manual_seed(seed)
    model = build_model(arch, num_classes, **options)
    save_model(path, without_aux_classifiers(model), {"crop_size": crop_size, "initialisation": "random",
                                                      "seed": seed})
