"""Bad text and metadata: empty fields, a huge caption, a shard with no usable photo, a missing dataset path."""

import time

import pytest

from test_webdataset_source import as_json, write_tar
from test_yfcc import make_line, parse_photo
from weaksup.corpus.shards import PhotoText, ShardWriter
from weaksup.corpus.webdataset import build_shard_from_webdataset
from weaksup.corpus.yfcc import ParseStats, iter_metadata
from weaksup.text.clean import clean_text
from weaksup.text.pipeline import read_tokens, tokenize_shard
from weaksup.text.tokenize import tokenize

IMAGE_SIZE = 16


def test_empty_fields_kept_as_photo():
    photo = parse_photo(make_line(title="", description="", tags=""))
    assert photo.title == ""
    assert photo.description == ""
    assert photo.tags == ()


def test_empty_fields_counted_as_photos(tmp_path):
    path = tmp_path / "meta.tsv"
    path.write_bytes(make_line(photo_id="1", title="") + make_line(photo_id="2", title="", tags=""))
    stats = ParseStats()
    photos = list(iter_metadata(path, stats))
    assert [photo.photo_id for photo in photos] == ["1", "2"]
    assert stats.photos == 2
    assert stats.lines == 2


def test_huge_caption_parsed_and_tokenized():
    words = " ".join(f"word{i % 97}+sunset" for i in range(8_000))
    caption = (words * 2)[:100_000]
    start = time.perf_counter()
    photo = parse_photo(make_line(title=caption))
    tokens = tokenize(clean_text(photo.title))
    seconds = time.perf_counter() - start

    assert len(photo.title) == 100_000
    assert "sunset" in tokens
    assert len(tokens) > 10_000
    # Linear-time text handling; a quadratic step would take minutes on 100,000 characters.
    assert seconds < 30


def test_shard_without_usable_photo(tmp_path):
    source = tmp_path / "in.tar"
    write_tar(source, [("a.jpg", b"not an image"), ("a.json", as_json({"photo_id": "1", "title": "x"})),
                       ("b.jpg", b""), ("b.json", as_json({"photo_id": "2", "title": "y"}))])
    stats = build_shard_from_webdataset([source], tmp_path / "shard-00000.tar", IMAGE_SIZE)
    assert stats["written"] == 0
    assert stats["corrupt_image"] == 2

    with pytest.raises(ValueError, match="corpus.max_skipped_fraction"):
        build_shard_from_webdataset([source], tmp_path / "shard-00001.tar", IMAGE_SIZE, max_skipped_fraction=0.5)
    assert not (tmp_path / "shard-00001.tar").exists()


def test_tokenize_empty_shard(tmp_path):
    with ShardWriter(tmp_path / "shard-00000.tar") as writer:
        writer.write(PhotoText("p1", "", "", []), b"\xff\xd8")
    stats = tokenize_shard(tmp_path / "shard-00000.tsv", tmp_path / "tokens.tsv", tmp_path / "counts.tsv",
                           0.1, 0.1, 0)
    rows = list(read_tokens(tmp_path / "tokens.tsv"))
    assert rows[0][2] == []
    assert stats["photos_without_tokens"] == 1


def test_missing_transfer_path_names_key(tmp_path):
    from weaksup.transfer.build import prepare_released

    with pytest.raises(FileNotFoundError, match="transfer.datasets.voc2007.path"):
        prepare_released("voc2007", tmp_path / "absent", tmp_path / "out", 32, 1, 0.01)
