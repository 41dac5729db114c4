"""Tests of the YFCC100M metadata parser and the img2dataset download list."""

from __future__ import annotations

import bz2
import csv
import gzip
import logging

import pytest

from weaksup.corpus.yfcc import (
    FIRST_LINES_KEPT,
    FLICKR_URL_TEMPLATE,
    MULTIMEDIA_COMMONS_URL_TEMPLATE,
    ParseStats,
    Skip,
    YfccPhoto,
    check_url_template,
    iter_metadata,
    parse_line,
    write_download_list,
)

PHOTO_HASH = "0123456789abcdef0123456789abcdef"


def make_line(
    photo_id: str = "6985418911",
    title: str = "Sunset",
    description: str = "",
    tags: str = "",
    marker: str = "0",
    photo_hash: str = PHOTO_HASH,
    download_url: str = "http://farm8.staticflickr.com/7/6985418911_4d6e9a8f1c.jpg",
) -> bytes:
    """Return one metadata line in the 25-column layout, with a trailing line break."""
    columns = [""] * 25
    columns[0] = "1"
    columns[1] = photo_id
    columns[2] = photo_hash
    columns[3] = "12345678@N00"
    columns[4] = "some+user"
    columns[5] = "2012-03-24 17:22:41.0"
    columns[6] = "1332641261"
    columns[7] = "Canon+EOS+7D"
    columns[8] = title
    columns[9] = description
    columns[10] = tags
    columns[15] = f"http://www.flickr.com/photos/12345678@N00/{photo_id}/"
    columns[16] = download_url
    columns[17] = "Attribution License"
    columns[23] = "jpg"
    columns[24] = marker
    return ("\t".join(columns) + "\n").encode("utf-8")


def parse_photo(raw: bytes) -> YfccPhoto:
    result = parse_line(raw, 7)
    assert isinstance(result, YfccPhoto), result
    return result


def test_parse_line_well_formed():
    photo = parse_photo(make_line(title="Sunset", description="Over the bay", tags="beach,sea"))

    assert photo.line_number == 7
    assert photo.photo_id == "6985418911"
    assert photo.hash == PHOTO_HASH
    assert photo.title == "Sunset"
    assert photo.description == "Over the bay"
    assert photo.tags == ("beach", "sea")
    assert photo.download_url == "http://farm8.staticflickr.com/7/6985418911_4d6e9a8f1c.jpg"
    assert photo.extension == "jpg"
    assert photo.issues == ()


def test_parse_line_url_decoding():
    tags = "caf%C3%A9,new+york,%E6%9D%B1%E4%BA%AC"

    photo = parse_photo(make_line(title="Sunset+over+the+%22bay%22+1%2B1", tags=tags))

    assert photo.title == 'Sunset over the "bay" 1+1'
    assert photo.tags == ("café", "new york", "東京")
    assert photo.issues == ()


def test_parse_line_strips_html_description():
    description = (
        "%3Ca+href%3D%22http%3A%2F%2Fx.org%22%3ELink%3C%2Fa%3E+%26amp%3B+more%3Cbr%2F%3Enext+line+%26eacute%3B"
    )

    photo = parse_photo(make_line(description=description))

    assert photo.description == "Link & more next line é"


def test_parse_line_drops_empty_tags():
    photo = parse_photo(make_line(tags="a,,+,b,"))

    assert photo.tags == ("a", "b")


def test_parse_line_video_skipped():
    result = parse_line(make_line(marker="1"), 3)

    assert result == Skip("video", 3)


def test_parse_line_wrong_column_count():
    raw = b"\t".join([b"x"] * 24) + b"\n"

    result = parse_line(raw, 5)

    assert isinstance(result, Skip)
    assert result.reason == "wrong_column_count"
    assert result.line_number == 5
    assert "24 columns" in result.detail


def test_parse_line_invalid_marker_and_id():
    assert parse_line(make_line(marker="x"), 1).reason == "invalid_marker"
    assert parse_line(make_line(photo_id="12a"), 1).reason == "invalid_photo_id"


def test_parse_line_bad_escape_kept_literally():
    photo = parse_photo(make_line(title="100%ZZ+sure", tags="ok,ends%4"))

    assert photo.title == "100%ZZ sure"
    assert photo.tags == ("ok", "ends%4")
    assert photo.issues == ("bad_escape",)


def test_parse_line_escaped_non_utf8():
    photo = parse_photo(make_line(title="caf%E9"))

    assert photo.title == "caf\ufffd"
    assert photo.issues == ("non_utf8",)


def test_parse_line_raw_non_utf8_kept():
    raw = make_line(title="TITLE").replace(b"TITLE", b"caf\xe9")

    photo = parse_photo(raw)

    assert photo.title == "caf\ufffd"
    assert photo.issues == ("non_utf8",)


def write_metadata(path, lines: list[bytes]) -> None:
    data = b"".join(lines)
    if path.suffix == ".bz2":
        path.write_bytes(bz2.compress(data))
    elif path.suffix == ".gz":
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)


@pytest.mark.parametrize("name", ["yfcc100m_dataset", "yfcc100m_dataset.bz2", "yfcc100m_dataset.gz"])
def test_iter_metadata_counts_outcomes(tmp_path, name):
    path = tmp_path / name
    lines = [
        make_line(photo_id="1", title="one"),
        make_line(photo_id="2", marker="1"),
        b"too\tfew\tcolumns\n",
        make_line(photo_id="4", title="50%+off"),
        make_line(photo_id="5", title="five"),
    ]
    write_metadata(path, lines)
    stats = ParseStats()

    photos = list(iter_metadata(path, stats))

    assert [photo.photo_id for photo in photos] == ["1", "4", "5"]
    assert [photo.line_number for photo in photos] == [1, 4, 5]
    assert stats.lines == 5
    assert stats.photos == 3
    assert stats.skips == {"video": 1, "wrong_column_count": 1}
    assert stats.issues == {"bad_escape": 1}
    assert stats.first_lines == {"video": [2], "wrong_column_count": [3], "bad_escape": [4]}


def test_parse_stats_keeps_first_lines_only():
    stats = ParseStats()

    for line_number in range(1, 16):
        stats.record(Skip("video", line_number))

    assert stats.skips["video"] == 15
    assert stats.first_lines["video"] == list(range(1, FIRST_LINES_KEPT + 1))


def read_download_list(path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def test_download_list_multimedia_commons(tmp_path, caplog):
    metadata = tmp_path / "meta.bz2"
    lines = [
        make_line(photo_id="1", title="%22Quoted%22+title", description="a%3Cb%3Eb%3C%2Fb%3E", tags="x,y%2Cz"),
        make_line(photo_id="2", marker="1"),
        make_line(photo_id="3", photo_hash="nothex"),
        make_line(photo_id="4", title="tab%09inside+and%0Anewline"),
    ]
    write_metadata(metadata, lines)
    out = tmp_path / "download.tsv"

    with caplog.at_level(logging.WARNING, logger="weaksup.corpus.yfcc"):
        stats = write_download_list(metadata, out, MULTIMEDIA_COMMONS_URL_TEMPLATE)

    assert out.read_text(encoding="utf-8").splitlines()[0] == "photo_id\turl\ttitle\tdescription\ttags"
    rows = read_download_list(out)
    assert [row["photo_id"] for row in rows] == ["1", "4"]
    base = "https://multimedia-commons.s3-us-west-2.amazonaws.com/data/images"
    assert rows[0]["url"] == f"{base}/012/345/{PHOTO_HASH}.jpg"
    assert rows[0]["title"] == '"Quoted" title'
    assert rows[0]["description"] == "ab"
    assert rows[0]["tags"] == "x,y z"
    assert rows[1]["title"] == "tab inside and newline"
    assert stats.lines == 4
    assert stats.photos == 2
    assert stats.skips == {"video": 1, "invalid_hash": 1}
    assert "skipped 1 lines (invalid_hash)" in caplog.text
    assert "skipped 1 lines (video), first at lines [2]" in caplog.text


def test_download_list_flickr_url(tmp_path):
    metadata = tmp_path / "meta.txt"
    write_metadata(metadata, [make_line(photo_id="1"), make_line(photo_id="2", download_url="")])
    out = tmp_path / "download.tsv"

    stats = write_download_list(metadata, out, FLICKR_URL_TEMPLATE)

    rows = read_download_list(out)
    assert [row["url"] for row in rows] == ["http://farm8.staticflickr.com/7/6985418911_4d6e9a8f1c.jpg"]
    assert stats.skips == {"empty_download_url": 1}


def test_download_list_custom_template(tmp_path):
    metadata = tmp_path / "meta.txt"
    write_metadata(metadata, [make_line(photo_id="42")])
    out = tmp_path / "download.tsv"

    write_download_list(metadata, out, "http://mirror.example/{hash_3_6}/{photo_id}.{extension}")

    assert read_download_list(out)[0]["url"] == "http://mirror.example/345/42.jpg"


@pytest.mark.parametrize("template", ["{hash[0:3]}/{hash}.jpg", "{owner}.jpg", "{hash!r}", "{}", "no-placeholder"])
def test_url_template_rejected(template):
    with pytest.raises(ValueError, match="URL template"):
        check_url_template(template)


def test_url_template_fields():
    assert check_url_template(MULTIMEDIA_COMMONS_URL_TEMPLATE) == {"hash", "hash_0_3", "hash_3_6"}
