"""Tests of penultimate-feature extraction and features files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from weaksup.atomic import save_npz
from weaksup.corpus.shards import ImageStore, PhotoText, ShardWriter, shard_stem
from weaksup.features import extract_penultimate, load_eval_model, load_features, save_features
from weaksup.images import encode_jpeg, load_standardized
from weaksup.models import build_model, load_model, save_model

PHOTOS_PER_SHARD = 5
EMBEDDING_DIM = 16


@pytest.fixture(scope="module")
def corpus_and_model(tmp_path_factory) -> tuple[Path, Path]:
    """Two shards of random 64-pixel photos and a small AlexNet with a 64-pixel crop."""
    root = tmp_path_factory.mktemp("features")
    rng = np.random.default_rng(0)
    corpus_dir = root / "corpus"
    for shard in range(2):
        with ShardWriter(corpus_dir / f"{shard_stem(shard)}.tar") as writer:
            for row in range(PHOTOS_PER_SHARD):
                pixels = rng.integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
                writer.write(PhotoText(f"s{shard}r{row}"), encode_jpeg(Image.fromarray(pixels), 64))

    torch.manual_seed(0)
    model_path = root / "model.pt"
    save_model(model_path, build_model("alexnet", 6, width=0.1, embedding_dim=EMBEDDING_DIM), {"crop_size": 64})
    return corpus_dir, model_path


def direct_features(corpus_dir: Path, model_path: Path, photos: list[int]) -> torch.Tensor:
    """Penultimate features computed without the data loader, one photo at a time."""
    model, _ = load_model(model_path)
    store = ImageStore(sorted(corpus_dir.glob("shard-*.tar")))
    images = torch.stack([load_standardized(store.read(photo), 64) for photo in photos])
    with torch.no_grad():
        return model.eval().penultimate(images)


def test_extract_penultimate_shape_and_order(corpus_and_model):
    corpus_dir, model_path = corpus_and_model
    photos = [7, 2, 9, 0, 5]  # unsorted, across both shards
    features = extract_penultimate(model_path, corpus_dir, np.array(photos), batch_size=2, workers=0, device="cpu")
    assert features.shape == (len(photos), EMBEDDING_DIM)
    assert features.dtype == np.float32
    torch.testing.assert_close(torch.from_numpy(features), direct_features(corpus_dir, model_path, photos))


def test_extract_penultimate_independent_of_batch_size(corpus_and_model):
    corpus_dir, model_path = corpus_and_model
    photos = np.arange(2 * PHOTOS_PER_SHARD)
    small = extract_penultimate(model_path, corpus_dir, photos, batch_size=3, workers=0, device="cpu")
    large = extract_penultimate(model_path, corpus_dir, photos, batch_size=64, workers=0, device="cpu")
    np.testing.assert_allclose(small, large, rtol=1e-5, atol=1e-6)


def test_extract_penultimate_no_photos(corpus_and_model):
    corpus_dir, model_path = corpus_and_model
    features = extract_penultimate(model_path, corpus_dir, np.array([], dtype=np.int64), workers=0, device="cpu")
    assert features.shape == (0, EMBEDDING_DIM)


def test_extract_rejects_photo_outside_corpus(corpus_and_model):
    corpus_dir, model_path = corpus_and_model
    with pytest.raises(ValueError, match="photo number 10 is outside the corpus of 10 photos"):
        extract_penultimate(model_path, corpus_dir, [3, 10], workers=0, device="cpu")


def test_eval_model_needs_crop_size(tmp_path):
    model_path = tmp_path / "model.pt"
    save_model(model_path, build_model("alexnet", 3, width=0.1, embedding_dim=8))
    with pytest.raises(ValueError, match="has no crop_size"):
        load_eval_model(model_path, device="cpu")


def test_features_file_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    features = rng.random((4, 3)).astype(np.float32) * 10
    photos = np.array([8, 1, 5, 2])
    save_features(tmp_path / "f32.npz", features, photos)
    loaded, loaded_photos = load_features(tmp_path / "f32.npz")
    assert loaded.dtype == np.float32
    np.testing.assert_array_equal(loaded, features)
    np.testing.assert_array_equal(loaded_photos, photos)


def test_features_file_float16(tmp_path):
    rng = np.random.default_rng(2)
    features = rng.random((200, 64)).astype(np.float32) * 10
    photos = np.arange(200)
    save_features(tmp_path / "f32.npz", features, photos)
    save_features(tmp_path / "f16.npz", features, photos, float16=True)
    loaded, _ = load_features(tmp_path / "f16.npz")
    assert loaded.dtype == np.float32
    np.testing.assert_allclose(loaded, features, rtol=1e-3)
    assert (tmp_path / "f16.npz").stat().st_size < 0.6 * (tmp_path / "f32.npz").stat().st_size


def test_features_float16_rejects_overflow(tmp_path):
    with pytest.raises(ValueError, match="beyond the float16 range"):
        save_features(tmp_path / "f.npz", np.array([[1.0, 70000.0]]), [0], float16=True)


def test_save_features_rejects_mismatched_photos(tmp_path):
    with pytest.raises(ValueError, match="one photo number per row"):
        save_features(tmp_path / "f.npz", np.zeros((3, 2)), [0, 1])


def test_load_features_rejects_missing_array(tmp_path):
    save_npz(tmp_path / "f.npz", features=np.zeros((2, 2)))
    with pytest.raises(ValueError, match="has no photos array"):
        load_features(tmp_path / "f.npz")
