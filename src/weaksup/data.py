"""Data loading for training and evaluation: corpus photos as standardised image tensors.

Training batches come from `ClassUniformSampler`, one batch per global step, through a DataLoader batch sampler,
so the images of step s are the same whatever the number of workers and however often the run was resumed.
Validation and test loaders visit a fixed list of photos in order.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from weaksup.corpus.shards import ImageStore
from weaksup.images import load_standardized
from weaksup.sampling import ClassUniformSampler

log = logging.getLogger(__name__)


def corpus_tar_paths(corpus_dir: str | os.PathLike) -> list[Path]:
    """Return the corpus shards `<corpus_dir>/shard-*.tar` in photo-numbering order."""
    paths = sorted(Path(corpus_dir).glob("shard-*.tar"))
    if not paths:
        raise FileNotFoundError(f"no shard-*.tar files in corpus directory {corpus_dir}")
    return paths


def open_image_store(corpus_dir: str | os.PathLike, expected_photos: int | None = None) -> ImageStore:
    """Open the corpus images and check that the corpus has `expected_photos` photos when given."""
    paths = corpus_tar_paths(corpus_dir)
    store = ImageStore(paths)
    if expected_photos is not None and len(store) != expected_photos:
        raise ValueError(
            f"corpus {corpus_dir} has {len(store)} photos in {len(paths)} shards, but the targets describe "
            f"{expected_photos}; rebuild the targets from this corpus"
        )
    log.info("opened corpus %s: %d photos in %d shards", corpus_dir, len(store), len(paths))
    return store


def load_photo(store: ImageStore, photo: int, crop: int) -> torch.Tensor:
    """Return the standardised (3, crop, crop) image of a photo. A decoding error names the photo and its shard."""
    try:
        return load_standardized(store.read(photo), crop)
    except (OSError, ValueError) as error:
        shard, row = store.locate(photo)
        raise ValueError(
            f"photo {photo} (row {row} of {store.tar_paths[shard]}) could not be loaded: {error}; "
            "rebuild that shard or remove the photo from the targets"
        ) from error


class PairDataset(Dataset):
    """Map a (photo, word) pair to (image tensor, word)."""

    def __init__(self, store: ImageStore, crop: int):
        self.store = store
        self.crop = crop

    def __getitem__(self, pair: tuple[int, int]) -> tuple[torch.Tensor, int]:
        photo, word = pair
        return load_photo(self.store, photo, self.crop), word


class StepBatches:
    """Batch sampler that yields the (photo, word) pairs of global steps `start_step` to `stop_step` (exclusive)."""

    def __init__(self, sampler: ClassUniformSampler, start_step: int, stop_step: int):
        self.sampler = sampler
        self.start_step = start_step
        self.stop_step = stop_step

    def __len__(self) -> int:
        return max(0, self.stop_step - self.start_step)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for photos, words in self.sampler.iter_batches(self.start_step, self.stop_step):
            yield list(zip(photos.tolist(), words.tolist()))


def make_train_loader(
    store: ImageStore,
    sampler: ClassUniformSampler,
    crop: int,
    start_step: int,
    stop_step: int,
    workers: int,
    pin_memory: bool,
    prefetch_factor: int = 2,
) -> DataLoader:
    """Return a loader of (images (B, 3, crop, crop), words (B,)) for steps start_step..stop_step - 1, in order."""
    return DataLoader(
        PairDataset(store, crop),
        batch_sampler=StepBatches(sampler, start_step, stop_step),
        num_workers=workers,
        pin_memory=pin_memory,
        # DataLoader accepts a prefetch factor only with worker processes.
        prefetch_factor=prefetch_factor if workers > 0 else None,
        persistent_workers=False,
    )


class PhotoDataset(Dataset):
    """Map a position in a fixed photo list to (image tensor, position)."""

    def __init__(self, store: ImageStore, photos: Sequence[int] | np.ndarray, crop: int):
        self.store = store
        self.photos = np.asarray(photos, dtype=np.int64)
        self.crop = crop

    def __len__(self) -> int:
        return len(self.photos)

    def __getitem__(self, position: int) -> tuple[torch.Tensor, int]:
        return load_photo(self.store, int(self.photos[position]), self.crop), position


def make_photo_loader(
    store: ImageStore,
    photos: Sequence[int] | np.ndarray,
    crop: int,
    batch_size: int,
    workers: int,
    pin_memory: bool,
) -> DataLoader:
    """Return a loader of (images, positions in `photos`) that visits `photos` in the given order."""
    return DataLoader(
        PhotoDataset(store, photos, crop),
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers,
        pin_memory=pin_memory,
    )
