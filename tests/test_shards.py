import tarfile

import numpy as np
import pytest
import torch
from PIL import Image

from weaksup.corpus.shards import ImageStore, PhotoText, ShardWriter, read_shard_text
from weaksup.images import decode_rgb, encode_jpeg, load_standardized


def make_jpeg(color, size=16):
    return encode_jpeg(Image.new("RGB", (size, size), color), size)


def write_shard(path, photos):
    with ShardWriter(path) as writer:
        for text, color in photos:
            writer.write(text, make_jpeg(color))


def test_shard_round_trip(tmp_path):
    photos = [
        (PhotoText("a1", "Red\tsquare", "line one\nline two", ["tag one", "x,y"]), (255, 0, 0)),
        (PhotoText("b2"), (0, 0, 255)),
    ]
    write_shard(tmp_path / "shard-00000.tar", photos)

    texts = list(read_shard_text(tmp_path / "shard-00000.tsv"))
    assert [t.photo_id for t in texts] == ["a1", "b2"]
    assert texts[0].title == "Red square"
    assert texts[0].description == "line one line two"
    assert texts[0].tags == ["tag one", "x y"]
    assert texts[1].tags == []

    with tarfile.open(tmp_path / "shard-00000.tar") as tar:
        assert tar.getnames() == ["a1.jpg", "b2.jpg"]


def test_image_store_reads_across_shards(tmp_path):
    write_shard(tmp_path / "shard-00000.tar", [(PhotoText("p0"), (255, 0, 0)), (PhotoText("p1"), (0, 255, 0))])
    write_shard(tmp_path / "shard-00001.tar", [(PhotoText("p2"), (0, 0, 255))])
    store = ImageStore(sorted(tmp_path.glob("shard-*.tar")))

    assert len(store) == 3
    assert store.locate(2) == (1, 0)
    blue = np.asarray(decode_rgb(store.read(2)), dtype=float).mean(axis=(0, 1))
    assert blue[2] > 200
    assert blue[0] < 50
    with pytest.raises(IndexError):
        store.read(3)


def test_failed_shard_leaves_no_files(tmp_path):
    with pytest.raises(RuntimeError):
        with ShardWriter(tmp_path / "shard-00000.tar") as writer:
            writer.write(PhotoText("p0"), make_jpeg((1, 2, 3)))
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_duplicate_photo_id_rejected(tmp_path):
    with pytest.raises(ValueError, match="duplicate photo id"):
        with ShardWriter(tmp_path / "shard-00000.tar") as writer:
            writer.write(PhotoText("p0"), make_jpeg((1, 2, 3)))
            writer.write(PhotoText("p0"), make_jpeg((1, 2, 3)))


def test_standardized_image_has_zero_mean_unit_std():
    rng = np.random.default_rng(0)
    array = rng.integers(0, 255, size=(40, 40, 3), dtype=np.uint8)
    data = encode_jpeg(Image.fromarray(array), 40)
    tensor = load_standardized(data, crop=32)
    assert tensor.shape == (3, 32, 32)
    assert abs(tensor.mean().item()) < 1e-5
    assert abs(tensor.std().item() - 1) < 1e-4


def test_constant_image_standardizes_to_zeros():
    tensor = load_standardized(make_jpeg((90, 90, 90), 20), crop=16)
    assert torch.isfinite(tensor).all()
    assert tensor.abs().max().item() == 0


def test_rgba_image_becomes_rgb_on_white():
    image = Image.new("RGBA", (8, 8), (255, 0, 0, 0))
    import io

    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    rgb = decode_rgb(buffer.getvalue())
    assert rgb.mode == "RGB"
    assert rgb.getpixel((0, 0)) == (255, 255, 255)
