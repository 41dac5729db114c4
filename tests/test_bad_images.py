"""Bad images at corpus ingestion: mode conversions, skips counted by reason, and the skipped-fraction threshold."""

from __future__ import annotations

import io
import json
import logging
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, UnidentifiedImageError

from weaksup.corpus.folder import build_shard_from_folder, photo_id_for
from weaksup.corpus.quality import CONFIG_KEY, check_skipped_fraction, image_skip_counts
from weaksup.corpus.shards import ImageStore, read_shard_text
from weaksup.corpus.webdataset import build_shard_from_webdataset
from weaksup.images import decode_rgb

# The oversized test images exceed MAX_IMAGE_PIXELS on purpose, so Pillow's warning about some is expected.
pytestmark = pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")

IMAGE_SIZE = 16
# Small, so that the oversized images stay small files. Every image meant to be kept has at most 32 x 32 pixels.
MAX_PIXELS = 2_500
# Between one and two times MAX_PIXELS, Pillow (13.0) only warns. Above two times it raises by itself.
WARN_ONLY_SIZE = (60, 60)
BOMB_SIZE = (80, 80)
# Colour tolerance for JPEG round trips of a uniform image.
TOLERANCE = 12


def encoded(image: Image.Image, image_format: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, **options)
    return buffer.getvalue()


def truncated_jpeg() -> bytes:
    """Return the first half of a JPEG of noise, cut inside its entropy-coded data."""
    pixels = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    data = encoded(Image.fromarray(pixels), "JPEG")
    return data[: len(data) // 2]


def palette_with_transparency() -> bytes:
    image = Image.new("P", (10, 10), 0)
    image.putpalette([0, 0, 255] + [0, 0, 0] * 255)
    return encoded(image, "PNG", transparency=0)


# name -> (file bytes, expected RGB colour after decoding). Transparent pixels become white.
CONVERTED = {
    "rgba.png": (lambda: encoded(Image.new("RGBA", (12, 8), (200, 0, 0, 0)), "PNG"), (255, 255, 255)),
    "palette.png": (palette_with_transparency, (255, 255, 255)),
    "la.png": (lambda: encoded(Image.new("LA", (8, 8), (30, 0)), "PNG"), (255, 255, 255)),
    "cmyk.jpg": (lambda: encoded(Image.new("CMYK", (8, 8), (255, 0, 0, 0)), "JPEG"), (0, 255, 255)),
    "gray.jpg": (lambda: encoded(Image.new("L", (9, 7), 100), "JPEG"), (100, 100, 100)),
    "pixel.jpg": (lambda: encoded(Image.new("RGB", (1, 1), (10, 200, 30)), "JPEG"), (10, 200, 30)),
}
GOOD = {f"good{index}.jpg": color for index, color in enumerate([(250, 0, 0), (0, 250, 0), (0, 0, 250)])}
# name -> the reason under which the folder builder counts it.
SKIPPED = {
    "truncated.jpg": "corrupt_image",
    "empty.jpg": "corrupt_image",
    "html.jpg": "corrupt_image",
    "warn_only.png": "image_too_large",
    "bomb.png": "image_too_large",
}


def skipped_bytes(name: str) -> bytes:
    if name == "truncated.jpg":
        return truncated_jpeg()
    if name == "empty.jpg":
        return b""
    if name == "html.jpg":
        return b"<html><body>404 Not Found</body></html>"
    size = WARN_ONLY_SIZE if name == "warn_only.png" else BOMB_SIZE
    return encoded(Image.new("RGB", size, (1, 2, 3)), "PNG")


@pytest.fixture
def small_pixel_limit(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", MAX_PIXELS)


@pytest.fixture
def bad_folder(tmp_path) -> Path:
    """An image folder with good, convertible and unusable images, each with a side-car caption."""
    root = tmp_path / "images"
    root.mkdir()
    for name, (make, _) in CONVERTED.items():
        (root / name).write_bytes(make())
    for name, color in GOOD.items():
        (root / name).write_bytes(encoded(Image.new("RGB", (32, 20), color), "JPEG"))
    for name in SKIPPED:
        (root / name).write_bytes(skipped_bytes(name))
    for image in root.iterdir():
        image.with_suffix(".txt").write_text(f"caption of {image.name}")
    return root


def assert_close(actual: tuple[int, ...], expected: tuple[int, ...], label: str) -> None:
    for channel, (got, want) in enumerate(zip(actual, expected)):
        assert abs(got - want) <= TOLERANCE, f"{label} channel {channel}: {actual} != {expected}"


@pytest.mark.parametrize("name", sorted(CONVERTED))
def test_decode_rgb_converts_mode(name):
    make, expected = CONVERTED[name]

    image = decode_rgb(make())

    assert image.mode == "RGB"
    assert_close(image.getpixel((0, 0)), expected, name)


@pytest.mark.parametrize("data", [b"", b"<html>404</html>"], ids=["zero-byte", "non-image"])
def test_decode_rgb_rejects_non_image(data):
    with pytest.raises(UnidentifiedImageError):
        decode_rgb(data)


def test_decode_rgb_rejects_truncated_jpeg():
    with pytest.raises(OSError, match="truncated"):
        decode_rgb(truncated_jpeg())


@pytest.mark.parametrize("size", [WARN_ONLY_SIZE, BOMB_SIZE], ids=["warn-only", "over-twice"])
def test_decode_rgb_rejects_too_many_pixels(size, small_pixel_limit):
    data = encoded(Image.new("RGB", size), "PNG")

    with pytest.raises(Image.DecompressionBombError, match=f"MAX_IMAGE_PIXELS (=|is) {MAX_PIXELS}"):
        decode_rgb(data)


def test_decode_rgb_accepts_pixel_limit_exactly(small_pixel_limit):
    image = decode_rgb(encoded(Image.new("RGB", (50, 50)), "PNG"))

    assert image.size == (50, 50)


def test_folder_shard_keeps_convertible_images(bad_folder, tmp_path, small_pixel_limit):
    out = tmp_path / "corpus" / "shard-00000.tar"

    stats = build_shard_from_folder(bad_folder, out, 0, 1, IMAGE_SIZE)

    expected_ids = sorted(photo_id_for(name) for name in [*CONVERTED, *GOOD])
    photo_ids = [photo.photo_id for photo in read_shard_text(out.with_suffix(".tsv"))]
    assert sorted(photo_ids) == expected_ids
    assert stats["written"] == len(expected_ids)
    store = ImageStore([out])
    for number, photo_id in enumerate(photo_ids):
        image = Image.open(io.BytesIO(store.read(number)))
        assert image.mode == "RGB", photo_id
        assert image.size == (IMAGE_SIZE, IMAGE_SIZE), photo_id
    for name, (_, color) in CONVERTED.items():
        image = decode_rgb(store.read(photo_ids.index(photo_id_for(name))))
        assert_close(image.getpixel((IMAGE_SIZE // 2, IMAGE_SIZE // 2)), color, name)


def test_folder_shard_counts_skips_by_reason(bad_folder, tmp_path, small_pixel_limit, caplog):
    out = tmp_path / "shard-00000.tar"

    with caplog.at_level(logging.WARNING, logger="weaksup.corpus.folder"):
        stats = build_shard_from_folder(bad_folder, out, 0, 1, IMAGE_SIZE)

    for reason in ("corrupt_image", "image_too_large"):
        expected = sorted(str(bad_folder / name) for name, kind in SKIPPED.items() if kind == reason)
        assert stats[reason] == len(expected), reason
        assert sorted(stats["examples"][reason]) == expected, reason
    for name in SKIPPED:
        assert str(bad_folder / name) in caplog.text, name
    for name in ("warn_only.png", "bomb.png"):
        line = next(record.getMessage() for record in caplog.records if name in record.getMessage())
        assert "MAX_IMAGE_PIXELS" in line, line


def test_folder_threshold_rejects_shard(bad_folder, tmp_path, small_pixel_limit):
    out = tmp_path / "shard-00000.tar"
    # 5 of the 14 images are skipped: a fraction of 0.357.

    with pytest.raises(ValueError, match=r"5 of 14 images were skipped") as raised:
        build_shard_from_folder(bad_folder, out, 0, 1, IMAGE_SIZE, max_skipped_fraction=0.3)

    message = str(raised.value)
    assert "3 corrupt_image, 2 image_too_large" in message
    assert "0.3571" in message
    assert CONFIG_KEY in message
    assert str(bad_folder / "bomb.png") in message
    assert list(tmp_path.glob("shard-00000*")) == []


def test_folder_threshold_accepts_shard(bad_folder, tmp_path, small_pixel_limit, caplog):
    out = tmp_path / "shard-00000.tar"

    with caplog.at_level(logging.INFO, logger="weaksup.corpus.quality"):
        stats = build_shard_from_folder(bad_folder, out, 0, 1, IMAGE_SIZE, max_skipped_fraction=0.4)

    assert stats["written"] == len(CONVERTED) + len(GOOD)
    assert out.exists()
    assert "5 of 14 images skipped" in caplog.text


def test_folder_threshold_missing_images(tmp_path):
    root = tmp_path / "images"
    root.mkdir()
    for name, color in GOOD.items():
        (root / name).write_bytes(encoded(Image.new("RGB", (8, 8), color), "JPEG"))
    captions = tmp_path / "captions.tsv"
    lines = [f"{name}\tcaption" for name in [*GOOD, "gone1.jpg", "gone2.jpg"]]
    captions.write_text("\n".join(lines) + "\n")
    # 2 of 5 captioned images are missing: a fraction of 0.4, checked against the folder, not the shard.

    with pytest.raises(ValueError, match=r"2 of 5 images were skipped \(2 missing_image\)"):
        build_shard_from_folder(root, tmp_path / "shard-00001.tar", 1, 2, IMAGE_SIZE, captions, 0.3)
    stats = build_shard_from_folder(root, tmp_path / "shard-00001.tar", 1, 2, IMAGE_SIZE, captions, 0.5)

    assert stats["missing_image"] == 2
    assert stats["written"] == 2


def write_tar(path: Path, members: list[tuple[str, bytes]]) -> None:
    with tarfile.open(path, "w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


@pytest.fixture
def webdataset_tar(tmp_path) -> Path:
    """An img2dataset-like tar: 3 good samples, 1 corrupt, 1 too large, 1 failed download, 1 duplicate key."""
    good = encoded(Image.new("RGB", (8, 8), (9, 99, 199)), "JPEG")
    path = tmp_path / "00000.tar"
    write_tar(path, [
        ("a0.jpg", good), ("a1.jpg", good), ("a2.jpg", good),
        ("b0.jpg", truncated_jpeg()),
        ("b1.png", encoded(Image.new("RGB", WARN_ONLY_SIZE), "PNG")),
        ("b2.json", json.dumps({"key": "b2", "status": "failed_to_download"}).encode()),
        ("b3.jpg", good), ("b3.json", json.dumps({"photo_id": "a0"}).encode()),
    ])
    return path


def test_webdataset_threshold(webdataset_tar, tmp_path, small_pixel_limit):
    out = tmp_path / "shard-00000.tar"
    # 3 image skips against 3 written: a fraction of 0.5. The duplicate key is not an image skip.

    with pytest.raises(ValueError, match=r"3 of 6 images were skipped") as raised:
        build_shard_from_webdataset([webdataset_tar], out, IMAGE_SIZE, max_skipped_fraction=0.49)
    stats = build_shard_from_webdataset([webdataset_tar], out, IMAGE_SIZE, max_skipped_fraction=0.5)

    assert "1 corrupt_image, 1 download_failed, 1 image_too_large" in str(raised.value)
    assert "00000.tar:b1" in str(raised.value)
    assert stats["written"] == 3
    assert stats["duplicate_key"] == 1
    assert stats["image_too_large"] == 1
    assert out.exists()


def test_webdataset_no_threshold_keeps_going(webdataset_tar, tmp_path, small_pixel_limit):
    stats = build_shard_from_webdataset([webdataset_tar], tmp_path / "shard-00000.tar", IMAGE_SIZE)

    assert stats["written"] == 3
    assert stats["corrupt_image"] == 1


def test_check_skipped_fraction_boundary():
    examples = {"corrupt_image": ["x.jpg"]}

    assert check_skipped_fraction("src", 3, {"corrupt_image": 1}, 0.25, examples) == 0.25
    with pytest.raises(ValueError, match="0.2500, more than corpus.max_skipped_fraction = 0.2"):
        check_skipped_fraction("src", 3, {"corrupt_image": 1}, 0.2, examples)


def test_check_skipped_fraction_empty_source():
    assert check_skipped_fraction("src", 0, {}, 0.0, {}) == 0.0


@pytest.mark.parametrize("value", [-0.1, 1.5, float("nan")])
def test_check_skipped_fraction_rejects_invalid_limit(value):
    with pytest.raises(ValueError, match="expected a fraction from 0 to 1"):
        check_skipped_fraction("src", 1, {}, value, {})


def test_image_skip_counts_ignores_other_outcomes():
    stats = {"written": 5, "corrupt_image": 2, "duplicate_key": 4, "missing_text": 1, "download_failed": 0}

    assert image_skip_counts(stats) == {"corrupt_image": 2}
