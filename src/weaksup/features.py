"""Penultimate features of a trained word-prediction model, and the files that store them.

The penultimate features are the E-dimensional input of the model's final layer (`model.penultimate`). They feed
the t-SNE map of test photos and the transfer probes. Photos go through the same decoding, central crop and
per-image standardisation as in training (`weaksup.data`), at the crop size stored in the model file.

A features file is an `.npz` with `features` (N, E), float32 or float16, and `photos` (N,), the global photo
numbers of the rows.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Iterator, Sequence

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from weaksup.atomic import save_npz
from weaksup.corpus.shards import ImageStore
from weaksup.data import make_photo_loader, open_image_store
from weaksup.models import load_model
from weaksup.train import resolve_device

log = logging.getLogger(__name__)


def load_eval_model(
    model_path: str | os.PathLike, device: str = "auto"
) -> tuple[nn.Module, dict[str, Any], torch.device]:
    """Load a model file for inference and return (model in eval mode on the device, meta, device)."""
    torch_device = resolve_device(device, 0)
    model, meta = load_model(model_path, map_location=torch_device)
    if "crop_size" not in meta:
        raise ValueError(f"model file {model_path} has no crop_size in its metadata; save it with weaksup.train")
    return model.to(torch_device).eval(), meta, torch_device


def iter_photo_batches(
    store: ImageStore,
    photos: Sequence[int] | np.ndarray,
    crop: int,
    batch_size: int,
    workers: int,
    device: torch.device,
    desc: str,
) -> Iterator[tuple[np.ndarray, torch.Tensor]]:
    """Yield (positions in `photos`, standardised images on `device`) batch by batch, in the order of `photos`."""
    photos = np.asarray(photos, dtype=np.int64)
    if len(photos) and (photos.min() < 0 or photos.max() >= len(store)):
        bad = photos[(photos < 0) | (photos >= len(store))][0]
        raise ValueError(f"photo number {bad} is outside the corpus of {len(store)} photos "
                         f"({store.tar_paths[0].parent}); use photo numbers of this corpus")
    loader = make_photo_loader(store, photos, crop, batch_size, workers, device.type == "cuda")
    for images, positions in tqdm(loader, desc=desc, unit=" batches", mininterval=30):
        yield positions.numpy(), images.to(device, non_blocking=True)


@torch.no_grad()
def extract_penultimate(
    model_path: str | os.PathLike,
    corpus_dir: str | os.PathLike,
    photos: Sequence[int] | np.ndarray,
    batch_size: int = 256,
    workers: int = 4,
    device: str = "auto",
) -> np.ndarray:
    """Return the penultimate features of `photos` (global photo numbers) as a float32 array (len(photos), E).

    Row i belongs to `photos[i]`, whatever the order of `photos`.
    """
    model, meta, torch_device = load_eval_model(model_path, device)
    features: np.ndarray | None = None
    store = open_image_store(corpus_dir)
    batches = iter_photo_batches(store, photos, meta["crop_size"], batch_size, workers, torch_device,
                                 desc="penultimate features")
    for positions, images in batches:
        batch_features = model.penultimate(images).float().cpu().numpy()
        if features is None:
            features = np.empty((len(photos), batch_features.shape[1]), dtype=np.float32)
        features[positions] = batch_features

    if features is None:
        # With no photo there was no forward pass to give E, so it comes from the head's input size.
        features = np.empty((0, model.head.in_features), dtype=np.float32)
    log.info("extracted %d x %d penultimate features with %s", features.shape[0], features.shape[1], model_path)
    return features


def save_features(
    path: str | os.PathLike, features: np.ndarray, photos: Sequence[int] | np.ndarray, float16: bool = False
) -> None:
    """Write features (N, E) and their photo numbers (N,) to an `.npz` file atomically.

    float16 halves the file. Penultimate features are ReLU outputs of moderate size, so their relative rounding
    error of about 5e-4 does not matter for t-SNE or linear probes, but values above 65,504 would become inf.
    """
    features = np.asarray(features)
    photos = np.asarray(photos, dtype=np.int64)
    if features.ndim != 2 or photos.shape != (features.shape[0],):
        raise ValueError(f"features must be (N, E) with one photo number per row; got features {features.shape} "
                         f"and photos {photos.shape}")
    dtype = np.float16 if float16 else np.float32
    if float16 and features.size and np.abs(features).max() > np.finfo(np.float16).max:
        raise ValueError(f"features reach {np.abs(features).max():.4g}, beyond the float16 range; "
                         f"save {path} as float32")
    save_npz(path, features=features.astype(dtype), photos=photos)
    log.info("wrote %s: %d photos x %d features (%s)", path, features.shape[0], features.shape[1], dtype.__name__)


def load_features(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read a features file and return (features as float32 (N, E), photo numbers as int64 (N,))."""
    with np.load(path) as data:
        missing = {"features", "photos"} - set(data.files)
        if missing:
            raise ValueError(f"{path} has no {', '.join(sorted(missing))} array; write it with save_features")
        features = data["features"].astype(np.float32)
        photos = data["photos"].astype(np.int64)
    if features.ndim != 2 or photos.shape != (features.shape[0],):
        raise ValueError(f"{path}: features {features.shape} and photos {photos.shape} do not match; "
                         "expected (N, E) and (N,)")
    return features, photos
