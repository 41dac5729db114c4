"""Tests of the corpus source that reads img2dataset webdataset tars."""

from __future__ import annotations

import io
import json
import logging
import tarfile

import pytest
from PIL import Image

from weaksup.corpus.shards import ImageStore, read_shard_text
from weaksup.corpus.webdataset import assign_inputs, build_shard_from_webdataset
from weaksup.images import decode_rgb

IMAGE_SIZE = 16


def image_bytes(color: tuple[int, int, int], image_format: str, size: tuple[int, int] = (12, 8)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format=image_format)
    return buffer.getvalue()


def write_tar(path, members: list[tuple[str, bytes]]) -> None:
    with tarfile.open(path, "w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def as_json(data: dict) -> bytes:
    return json.dumps(data, indent=4).encode("utf-8")


@pytest.fixture
def input_tars(tmp_path):
    """Two img2dataset-like tars with one sample of each kind the source must handle."""
    first = tmp_path / "00000.tar"
    write_tar(
        first,
        [
            ("00000000.jpg", image_bytes((255, 0, 0), "JPEG")),
            ("00000000.txt", b"a red bicycle"),
            ("00000001.jpg", image_bytes((0, 255, 0), "JPEG")),
            ("00000001.json", as_json({"key": "00000001", "photo_id": 123, "title": "Green field",
                                       "description": "grass", "tags": "green,summer", "status": "success"})),
            ("00000001.txt", b"ignored caption"),
            ("00000002.png", b"\x89PNG\r\n\x1a\nthis is not a png"),
            ("00000002.txt", b"broken"),
            ("00000003.json", as_json({"key": "00000003", "status": "failed_to_download", "error_message": "404"})),
            ("00000004.jpeg", image_bytes((0, 0, 255), "JPEG")),
            ("00000005.txt", b"caption without image"),
            ("00000006.webp", image_bytes((255, 255, 0), "WEBP")),
            ("00000006.json", as_json({"key": "00000006", "caption": "yellow", "tags": None})),
            ("00000007.png", image_bytes((0, 255, 255), "PNG", size=(40, 3))),
            ("00000007.json", as_json({"key": "00000007", "tags": ["cyan", "", "sky"], "title": None})),
            ("00000008.jpg", image_bytes((10, 10, 10), "JPEG")),
            ("00000008.json", b"{not json"),
            ("00000008.txt", b"dark"),
        ],
    )
    second = tmp_path / "00001.tar"
    write_tar(
        second,
        [
            ("00001000.jpg", image_bytes((1, 2, 3), "JPEG")),
            ("00001000.json", as_json({"key": "00001000", "photo_id": "123", "title": "Copy"})),
            ("00001001.jpg", image_bytes((200, 100, 0), "JPEG")),
            ("00001001.txt", "Café crème".encode("utf-8")),
            ("00001001.parquet", b"unexpected member"),
            ("00001002.jpg", image_bytes((5, 5, 5), "JPEG")),
            ("00001002.json", as_json({"key": "00001002", "photo_id": 456.0, "title": None, "caption": "float id"})),
            ("00001001.txt", b"the key again, after another key"),
        ],
    )
    return [first, second]


def test_build_shard_texts(tmp_path, input_tars):
    out = tmp_path / "corpus" / "shard-00000.tar"

    build_shard_from_webdataset(input_tars, out, IMAGE_SIZE)

    photos = {photo.photo_id: photo for photo in read_shard_text(out.with_suffix(".tsv"))}
    assert list(photos) == ["00000000", "123", "00000004", "00000006", "00000007", "00000008", "00001001", "456"]
    assert photos["00000000"].title == "a red bicycle"
    assert photos["123"].title == "Green field"
    assert photos["123"].description == "grass"
    assert photos["123"].tags == ["green", "summer"]
    assert photos["00000004"].caption() == ""
    assert photos["00000006"].title == "yellow"
    assert photos["00000007"].title == ""
    assert photos["00000007"].tags == ["cyan", "sky"]
    assert photos["00000008"].title == "dark"
    assert photos["00001001"].title == "Café crème"
    assert photos["456"].title == "float id"


def test_build_shard_images(tmp_path, input_tars):
    out = tmp_path / "shard-00000.tar"

    build_shard_from_webdataset(input_tars, out, IMAGE_SIZE)

    store = ImageStore([out])
    assert len(store) == 8
    images = [decode_rgb(store.read(photo)) for photo in range(len(store))]
    assert all(image.size == (IMAGE_SIZE, IMAGE_SIZE) for image in images)
    red, green, blue = images[0].getpixel((IMAGE_SIZE // 2, IMAGE_SIZE // 2))
    assert red > 200
    assert green < 60
    assert blue < 60


def test_build_shard_stats(tmp_path, input_tars, caplog):
    out = tmp_path / "shard-00000.tar"

    with caplog.at_level(logging.WARNING, logger="weaksup.corpus.webdataset"):
        stats = build_shard_from_webdataset(input_tars, out, IMAGE_SIZE)

    assert stats["written"] == 8
    assert stats["corrupt_image"] == 1
    assert stats["examples"]["corrupt_image"] == ["00000.tar:00000002"]
    assert stats["download_failed"] == 1
    assert stats["missing_image"] == 1
    assert stats["examples"]["missing_image"] == ["00000.tar:00000005"]
    assert stats["duplicate_key"] == 2
    assert stats["examples"]["duplicate_key"] == ["00001.tar:00001000", "00001.tar:00001001"]
    assert stats["missing_text"] == 1
    assert stats["invalid_json"] == 1
    assert stats["ignored_member"] == 1
    assert stats["input_tars"] == [str(path) for path in input_tars]
    assert "00000.tar:00000002: corrupt image" in caplog.text


def test_build_shard_no_inputs(tmp_path):
    out = tmp_path / "shard-00003.tar"

    stats = build_shard_from_webdataset([], out, IMAGE_SIZE)

    assert stats["written"] == 0
    assert len(ImageStore([out])) == 0
    assert list(read_shard_text(out.with_suffix(".tsv"))) == []


@pytest.mark.parametrize("bytes_after_header", [0, 100, tarfile.BLOCKSIZE + 10])
def test_build_shard_truncated_tar(tmp_path, input_tars, bytes_after_header):
    with tarfile.open(input_tars[0]) as tar:
        third_header = tar.getmembers()[2].offset
    size = third_header + bytes_after_header
    truncated = tmp_path / "truncated.tar"
    truncated.write_bytes(input_tars[0].read_bytes()[:size])
    out = tmp_path / "shard-00000.tar"

    with pytest.raises(ValueError, match="truncated.tar"):
        build_shard_from_webdataset([truncated], out, IMAGE_SIZE)

    assert not out.exists()
    assert not out.with_suffix(".tsv").exists()


def test_assign_inputs_round_robin(tmp_path):
    for index in range(5):
        (tmp_path / f"{index:05d}.tar").write_bytes(b"")
    (tmp_path / "00000_stats.json").write_text("{}")

    shard0 = assign_inputs(tmp_path, 0, 2)
    shard1 = assign_inputs(tmp_path, 1, 2)

    assert [path.name for path in shard0] == ["00000.tar", "00002.tar", "00004.tar"]
    assert [path.name for path in shard1] == ["00001.tar", "00003.tar"]
    assert assign_inputs(tmp_path, 6, 7) == []


def test_assign_inputs_errors(tmp_path):
    with pytest.raises(ValueError, match="out of range"):
        assign_inputs(tmp_path, 2, 2)
    with pytest.raises(FileNotFoundError, match="no \\*.tar files"):
        assign_inputs(tmp_path, 0, 2)
    with pytest.raises(FileNotFoundError, match="not found"):
        assign_inputs(tmp_path / "missing", 0, 2)
