"""Tests of the corpus source that reads a folder of images with a captions file or side-car text files."""

from __future__ import annotations

import logging
from collections import Counter

import pytest
from PIL import Image

from weaksup.corpus.folder import build_shard_from_folder, list_photos, photo_id_for
from weaksup.corpus.shards import ImageStore, read_shard_text
from weaksup.images import decode_rgb

IMAGE_SIZE = 16


def save_image(path, color=(128, 64, 32), size=(10, 6)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)


@pytest.fixture
def image_folder(tmp_path):
    """A folder with five decodable images, one corrupt image and one non-image file."""
    root = tmp_path / "images"
    save_image(root / "a.jpg", (255, 0, 0))
    save_image(root / "sub" / "b.png", (0, 255, 0))
    save_image(root / "sub" / "c d.jpg", (0, 0, 255))
    save_image(root / "e.JPEG", (9, 9, 9))
    save_image(root / "nocap.jpg")
    (root / "corrupt.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    (root / "notes.md").write_text("not an image")
    return root


def test_photo_id_replaces_separators():
    assert photo_id_for("sub/c d.jpg") == "sub_c_d_jpg"
    assert photo_id_for("a.b\tc.png") == "a_b_c_png"


def test_list_photos_tsv_captions(tmp_path, image_folder, caplog):
    captions = tmp_path / "captions.tsv"
    captions.write_text(
        "path\tcaption\n"
        "a.jpg\tA red square\n"
        "./sub/b.png\tGreen\twith a tab\n"
        "sub/c d.jpg\tBlue photo\n"
        "this line has no tab\n"
        "\n"
        "missing.jpg\tNo such file\n"
        "../outside.jpg\tEscapes the folder\n"
        "a.jpg\tSecond caption\n"
        "corrupt.jpg\tBroken\n"
        "e.JPEG\tDark\n",
        encoding="utf-8",
    )
    stats: Counter = Counter()

    with caplog.at_level(logging.WARNING, logger="weaksup.corpus.folder"):
        photos = list_photos(image_folder, captions, stats)

    assert photos == [
        ("a.jpg", "A red square"),
        ("corrupt.jpg", "Broken"),
        ("e.JPEG", "Dark"),
        ("nocap.jpg", ""),
        ("sub/b.png", "Green\twith a tab"),
        ("sub/c d.jpg", "Blue photo"),
    ]
    assert stats["malformed_caption_line"] == 2
    assert stats["missing_image"] == 1
    assert stats["duplicate_caption"] == 1
    assert stats["missing_caption"] == 1
    assert f"{captions}:5: no tab between image path and caption" in caplog.text
    assert f"{captions}:8: invalid image path '../outside.jpg'" in caplog.text


def test_list_photos_csv_captions(tmp_path, image_folder, caplog):
    captions = tmp_path / "captions.csv"
    captions.write_text(
        "file,caption\n"
        'a.jpg,"Red, square"\n'
        "sub/b.png,Green,extra field\n"
        'sub/c d.jpg,"Blue ""photo"""\n',
        encoding="utf-8",
    )
    stats: Counter = Counter()

    with caplog.at_level(logging.WARNING, logger="weaksup.corpus.folder"):
        photos = dict(list_photos(image_folder, captions, stats))

    assert photos["a.jpg"] == "Red, square"
    assert photos["sub/c d.jpg"] == 'Blue "photo"'
    assert photos["sub/b.png"] == ""
    assert stats["malformed_caption_line"] == 1
    assert stats["missing_caption"] == 4
    assert f"{captions}:3: 3 fields, expected 2" in caplog.text


def test_list_photos_csv_bad_header(tmp_path, image_folder):
    captions = tmp_path / "captions.csv"
    captions.write_text("path,text\na.jpg,red\n", encoding="utf-8")

    with pytest.raises(ValueError, match="expected the columns 'file' and 'caption'"):
        list_photos(image_folder, captions)


def test_list_photos_sidecar_captions(image_folder):
    (image_folder / "a.txt").write_text("Red\nsquare\n", encoding="utf-8")
    (image_folder / "sub" / "b.png.txt").write_text("Green", encoding="utf-8")
    (image_folder / "e.txt").write_bytes(b"caf\xe9")
    stats: Counter = Counter()

    photos = dict(list_photos(image_folder, None, stats))

    assert photos["a.jpg"] == "Red square"
    assert photos["sub/b.png"] == "Green"
    assert photos["e.JPEG"] == "caf\ufffd"
    assert photos["nocap.jpg"] == ""
    assert stats["missing_caption"] == 3
    assert stats["non_utf8"] == 1


def test_list_photos_empty_folder(tmp_path):
    (tmp_path / "readme.txt").write_text("no images")

    with pytest.raises(FileNotFoundError, match="no image files"):
        list_photos(tmp_path)


def test_build_shards_cover_folder(tmp_path, image_folder, caplog):
    captions = tmp_path / "captions.tsv"
    captions.write_text("a.jpg\tRed\nsub/c d.jpg\tBlue\n", encoding="utf-8")
    shards = [tmp_path / "corpus" / f"shard-{index:05d}.tar" for index in range(2)]

    with caplog.at_level(logging.WARNING, logger="weaksup.corpus.folder"):
        stats = [build_shard_from_folder(image_folder, shard, index, 2, IMAGE_SIZE, captions)
                 for index, shard in enumerate(shards)]

    texts = [list(read_shard_text(shard.with_suffix(".tsv"))) for shard in shards]
    assert [photo.photo_id for photo in texts[0]] == ["a_jpg", "e_JPEG"]
    assert [photo.photo_id for photo in texts[1]] == ["nocap_jpg", "sub_b_png", "sub_c_d_jpg"]
    assert texts[0][0].title == "Red"
    assert texts[1][2].title == "Blue"
    assert (stats[0]["start"], stats[0]["end"]) == (0, 3)
    assert (stats[1]["start"], stats[1]["end"]) == (3, 6)
    assert stats[0]["written"] == 2
    assert stats[0]["corrupt_image"] == 1
    assert stats[0]["examples"]["corrupt_image"] == [str(image_folder / "corrupt.jpg")]
    assert stats[1]["written"] == 3
    assert "corrupt_image" not in stats[1]
    assert stats[1]["missing_caption"] == 4
    assert f"{image_folder / 'corrupt.jpg'}: skipped: UnidentifiedImageError" in caplog.text

    store = ImageStore(shards)
    assert len(store) == 5
    assert all(decode_rgb(store.read(photo)).size == (IMAGE_SIZE, IMAGE_SIZE) for photo in range(len(store)))


def test_build_shard_more_shards_than_photos(tmp_path):
    root = tmp_path / "images"
    save_image(root / "only.jpg")
    first, second = tmp_path / "shard-00000.tar", tmp_path / "shard-00001.tar"

    first_stats = build_shard_from_folder(root, first, 0, 2, IMAGE_SIZE, None)
    second_stats = build_shard_from_folder(root, second, 1, 2, IMAGE_SIZE, None)

    assert first_stats["written"] == 0
    assert len(ImageStore([first])) == 0
    assert second_stats["written"] == 1
    assert len(ImageStore([second])) == 1


def test_build_shard_photo_id_collision(tmp_path):
    root = tmp_path / "images"
    save_image(root / "a_b.jpg")
    save_image(root / "a" / "b.jpg")

    with pytest.raises(ValueError, match="both map to photo id 'a_b_jpg'"):
        build_shard_from_folder(root, tmp_path / "shard-00000.tar", 0, 1, IMAGE_SIZE, None)


def test_build_shard_index_out_of_range(tmp_path, image_folder):
    with pytest.raises(ValueError, match="out of range"):
        build_shard_from_folder(image_folder, tmp_path / "shard-00002.tar", 2, 2, IMAGE_SIZE, None)
