"""Tests of the SQLite copy of the YFCC100M metadata: parsing, derived hashes and the download list."""

from __future__ import annotations

import bz2
import csv
import sqlite3

import pytest

from weaksup.corpus.yfcc import (
    FLICKR_URL_TEMPLATE,
    MULTIMEDIA_COMMONS_URL_TEMPLATE,
    ParseStats,
    is_sqlite,
    iter_metadata,
    iter_sqlite_metadata,
    multimedia_commons_hash,
    write_download_list,
)

# Multimedia Commons spelling of the 23 columns, and the spelling with underscores that other copies use.
COLUMNS = (
    "photoid", "uid", "unickname", "datetaken", "dateuploaded", "capturedevice", "title", "description",
    "usertags", "machinetags", "longitude", "latitude", "accuracy", "pageurl", "downloadurl", "licensename",
    "licenseurl", "serverid", "farmid", "secret", "secretoriginal", "ext", "marker",
)
UNDERSCORE_COLUMNS = tuple(
    {"photoid": "photo_id", "usertags": "user_tags", "downloadurl": "download_url", "licensename": "license_name",
     "licenseurl": "license_url", "machinetags": "machine_tags", "pageurl": "page_url"}.get(name, name)
    for name in COLUMNS
)

# md5 of this URL has two bytes below 0x10, so its unpadded hash has 30 hex digits.
SHORT_HASH_URL = "http://farm1.staticflickr.com/7/6985418911_4d6e9a8f1c.jpg"
SHORT_HASH = "80dbedae6c214c0613fad280611053"


def flickr_url(photo_id: int) -> str:
    return f"http://farm{photo_id % 10}.staticflickr.com/7/{photo_id}_4d6e9a8f1c.jpg"


# (photo id, title, description, user tags, marker) of the rows of both test files, in row order.
RECORDS = [
    (101, "Sunset+over+the+%22bay%22", "%3Cb%3EBold%3C%2Fb%3E+text", "beach,new+york", 0),
    (102, "a+video", "", "", 1),
    ("10x3", "bad+id", "", "", 0),
    (104, "caf%C3%A9", "", "caf%C3%A9,%E6%9D%B1%E4%BA%AC", 0),
    (105, "100%ZZ", "", "", 0),
]


def make_sqlite(path, columns=COLUMNS, records=RECORDS) -> None:
    """Write a metadata table in the Multimedia Commons layout, with integer photo ids and markers as stored."""
    connection = sqlite3.connect(path)
    with connection:
        connection.execute(f"CREATE TABLE yfcc100m_dataset ({', '.join(columns)})")
        for photo_id, title, description, tags, marker in records:
            values = dict.fromkeys(columns, None)
            values[columns[COLUMNS.index("photoid")]] = photo_id
            values["title"] = title
            values["description"] = description
            values[columns[COLUMNS.index("usertags")]] = tags
            values[columns[COLUMNS.index("downloadurl")]] = flickr_url(photo_id if isinstance(photo_id, int) else 0)
            values["ext"] = "jpg"
            values["marker"] = marker
            placeholders = ", ".join("?" for _ in columns)
            connection.execute(f"INSERT INTO yfcc100m_dataset VALUES ({placeholders})", list(values.values()))
    connection.close()


def make_tsv(path, records=RECORDS) -> None:
    """Write the same records as a bz2-compressed 25-column TSV."""
    lines = []
    for line_number, (photo_id, title, description, tags, marker) in enumerate(records, start=1):
        columns = [""] * 25
        columns[0] = str(line_number)
        columns[1] = str(photo_id)
        columns[2] = "0123456789abcdef0123456789abcdef"
        columns[8] = title
        columns[9] = description
        columns[10] = tags
        columns[16] = flickr_url(photo_id if isinstance(photo_id, int) else 0)
        columns[23] = "jpg"
        columns[24] = str(marker)
        lines.append("\t".join(columns) + "\n")
    path.write_bytes(bz2.compress("".join(lines).encode("utf-8")))


def test_hash_unpadded_hex():
    assert multimedia_commons_hash(SHORT_HASH_URL) == SHORT_HASH


def test_hash_full_length():
    digest = multimedia_commons_hash("http://farm0.staticflickr.com/7/6985418911_4d6e9a8f1c.jpg")

    assert digest == "75b4aacc736e22727c61565bb3d091e7"


def test_is_sqlite_by_content(tmp_path):
    database = tmp_path / "metadata.tsv"
    make_sqlite(database)
    text = tmp_path / "metadata.sql"
    text.write_text("SQLite format 2\n", encoding="utf-8")

    assert is_sqlite(database)
    assert not is_sqlite(text)


@pytest.mark.parametrize("columns", [COLUMNS, UNDERSCORE_COLUMNS], ids=["multimedia_commons", "underscores"])
def test_sqlite_photos_and_stats(tmp_path, columns):
    database = tmp_path / "yfcc100m_dataset.sql"
    make_sqlite(database, columns)
    stats = ParseStats()

    photos = list(iter_sqlite_metadata(database, stats))

    assert [photo.photo_id for photo in photos] == ["101", "104", "105"]
    assert [photo.line_number for photo in photos] == [1, 4, 5]
    assert photos[0].title == 'Sunset over the "bay"'
    assert photos[0].description == "Bold text"
    assert photos[0].tags == ("beach", "new york")
    assert photos[0].download_url == flickr_url(101)
    assert photos[0].extension == "jpg"
    assert photos[0].hash == multimedia_commons_hash(flickr_url(101))
    assert photos[0].hash_unpadded
    assert photos[1].tags == ("café", "東京")
    assert photos[2].issues == ("bad_escape",)
    assert stats.lines == 5
    assert stats.photos == 3
    assert stats.skips == {"video": 1, "invalid_photo_id": 1}
    assert stats.issues == {"bad_escape": 1}
    assert stats.first_lines == {"video": [2], "invalid_photo_id": [3], "bad_escape": [5]}


def test_sqlite_invalid_utf8_repaired(tmp_path):
    database = tmp_path / "meta.sql"
    make_sqlite(database, records=[(7, "x", "", "", 0)])
    connection = sqlite3.connect(database)
    with connection:
        connection.execute("UPDATE yfcc100m_dataset SET title = CAST(? AS TEXT)", (b"caf\xe9",))
    connection.close()

    photos = list(iter_metadata(database))

    assert photos[0].title == "caf\ufffd"
    assert photos[0].issues == ("non_utf8",)


def test_sqlite_missing_column_named(tmp_path):
    database = tmp_path / "meta.sql"
    make_sqlite(database, columns=tuple(name for name in COLUMNS if name != "marker"), records=[])

    with pytest.raises(ValueError, match="no column 'marker'"):
        list(iter_sqlite_metadata(database))


def test_sqlite_missing_table_named(tmp_path):
    database = tmp_path / "meta.sql"
    connection = sqlite3.connect(database)
    connection.execute("CREATE TABLE photos (photoid)")
    connection.close()

    with pytest.raises(ValueError, match="no table 'yfcc100m_dataset'.*photos"):
        list(iter_sqlite_metadata(database))


def test_sqlite_reader_rejects_tsv(tmp_path):
    tsv = tmp_path / "meta.tsv"
    tsv.write_text("1\t2\n", encoding="utf-8")

    with pytest.raises(ValueError, match="not a SQLite database"):
        list(iter_sqlite_metadata(tsv))


def test_compressed_sqlite_rejected(tmp_path):
    database = tmp_path / "meta.sql"
    make_sqlite(database)
    compressed = tmp_path / "meta.sql.bz2"
    compressed.write_bytes(bz2.compress(database.read_bytes()))

    with pytest.raises(ValueError, match="compressed SQLite database"):
        list(iter_metadata(compressed))


def read_rows(path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def test_download_list_same_as_tsv(tmp_path):
    database = tmp_path / "yfcc100m_dataset.sql"
    make_sqlite(database)
    tsv = tmp_path / "yfcc100m_dataset.bz2"
    make_tsv(tsv)

    sqlite_stats = write_download_list(database, tmp_path / "from_sqlite.tsv", FLICKR_URL_TEMPLATE)
    tsv_stats = write_download_list(tsv, tmp_path / "from_tsv.tsv", FLICKR_URL_TEMPLATE)

    from_sqlite = (tmp_path / "from_sqlite.tsv").read_bytes()
    assert from_sqlite == (tmp_path / "from_tsv.tsv").read_bytes()
    assert len(read_rows(tmp_path / "from_sqlite.tsv")) == 3
    assert sqlite_stats.as_dict() == tsv_stats.as_dict()


def test_download_list_unpadded_hash_url(tmp_path):
    database = tmp_path / "yfcc100m_dataset.sql"
    make_sqlite(database, records=[(1, "one", "", "", 0)])
    connection = sqlite3.connect(database)
    with connection:
        connection.execute("UPDATE yfcc100m_dataset SET downloadurl = ?", (SHORT_HASH_URL,))
    connection.close()
    out = tmp_path / "download.tsv"

    stats = write_download_list(database, out, MULTIMEDIA_COMMONS_URL_TEMPLATE)

    base = "https://multimedia-commons.s3-us-west-2.amazonaws.com/data/images"
    assert [row["url"] for row in read_rows(out)] == [f"{base}/80d/bed/{SHORT_HASH}.jpg"]
    assert stats.skips == {}


def test_download_list_empty_url_skipped(tmp_path):
    database = tmp_path / "yfcc100m_dataset.sql"
    make_sqlite(database, records=[(1, "one", "", "", 0), (2, "two", "", "", 0)])
    connection = sqlite3.connect(database)
    with connection:
        connection.execute("UPDATE yfcc100m_dataset SET downloadurl = NULL WHERE photoid = 2")
    connection.close()
    out = tmp_path / "download.tsv"

    stats = write_download_list(database, out, MULTIMEDIA_COMMONS_URL_TEMPLATE)

    assert [row["photo_id"] for row in read_rows(out)] == ["1"]
    assert stats.skips == {"empty_download_url": 1}
    assert stats.first_lines["empty_download_url"] == [2]
