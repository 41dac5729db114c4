"""YFCC100M metadata: parse the official 25-column TSV or its SQLite copy, and write the download list.

Each line of the metadata file (`yfcc100m_dataset`, plain, `.bz2` or `.gz`) has 25 tab-separated columns.
By 0-based index they are: 0 line number, 1 photo id, 2 photo hash, 3 user NSID, 4 user nickname, 5 date taken,
6 date uploaded, 7 capture device, 8 title, 9 description, 10 user tags (comma-separated), 11 machine tags,
12 longitude, 13 latitude, 14 accuracy, 15 page URL, 16 download URL, 17 licence name, 18 licence URL,
19 server id, 20 farm id, 21 secret, 22 original secret, 23 extension, 24 marker (0 photo, 1 video).

The Multimedia Commons copy of the metadata (`yfcc100m_dataset.sql`) is a SQLite database with one table,
`yfcc100m_dataset`, whose columns carry the same values under names such as `photoid`, `usertags`, `downloadurl`
and `marker`, but no photo hash. `iter_metadata` and `write_download_list` take either file and tell them apart by
their first bytes. For SQLite rows the hash comes from `multimedia_commons_hash(download URL)`.

Title, description and tags are URL-encoded form-style (`+` is a space, `%XX` a byte of UTF-8), and descriptions
contain HTML markup. Joulin et al. (ECCV 2016) decode both before tokenizing, and so does `parse_line`.

Nothing here fetches images: `write_download_list` writes a TSV that img2dataset (or the built-in
`weaksup.corpus.fetch.download_shard`) turns into webdataset shards, and `weaksup.corpus.webdataset` turns those
into corpus shards. A matching img2dataset command is

    img2dataset --url_list download.tsv --input_format tsv --url_col url \\
        --save_additional_columns '["photo_id","title","description","tags"]' \\
        --output_format webdataset --image_size 256 --resize_mode keep_ratio --output_folder shards/

`keep_ratio` scales the shorter side to 256 pixels without cropping (img2dataset/resizer.py), so the corpus build
still stretches the whole photo to 256x256 as Joulin et al. do. Give no `--caption_col title`, because img2dataset renames the caption column to
`caption` and then no longer finds `title` among the additional columns.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import hashlib
import logging
import os
import re
import sqlite3
import string
from collections import Counter
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import BinaryIO, Iterator

from tqdm import tqdm

from weaksup.atomic import atomic_open

log = logging.getLogger(__name__)

NUM_COLUMNS = 25
TITLE, DESCRIPTION, USER_TAGS = 8, 9, 10
PHOTO_ID, PHOTO_HASH, DOWNLOAD_URL, EXTENSION, MARKER = 1, 2, 16, 23, 24

# Number of line numbers kept per skip reason or issue, so the log points at examples without growing with the file.
FIRST_LINES_KEPT = 10

# Seconds between progress updates: the metadata file has 100M lines and the progress bar goes to a job log.
PROGRESS_INTERVAL_S = 30.0

DOWNLOAD_LIST_COLUMNS = ("photo_id", "url", "title", "description", "tags")

# The Multimedia Commons S3 bucket mirrors YFCC100M photos at data/images/<hash[0:3]>/<hash[3:6]>/<hash>.jpg.
MULTIMEDIA_COMMONS_URL_TEMPLATE = (
    "https://multimedia-commons.s3-us-west-2.amazonaws.com/data/images/{hash_0_3}/{hash_3_6}/{hash}.jpg"
)
# The Flickr download URL of column 16.
FLICKR_URL_TEMPLATE = "{download_url}"

# Placeholders of a URL template. str.format cannot slice, so the two hash prefixes have their own names.
URL_FIELDS = ("photo_id", "hash", "hash_0_3", "hash_3_6", "download_url", "extension")
_HASH_FIELDS = frozenset({"hash", "hash_0_3", "hash_3_6"})
_PHOTO_HASH = re.compile(r"[0-9a-f]{32}")
# An md5 digest written byte by byte without zero padding: 16 bytes of 1 or 2 hex digits each.
_UNPADDED_HASH = re.compile(r"[0-9a-f]{16,32}")

# The first 16 bytes of every SQLite 3 database file (https://www.sqlite.org/fileformat.html).
SQLITE_MAGIC = b"SQLite format 3\x00"
SQLITE_TABLE = "yfcc100m_dataset"
# Columns read from the SQLite table, by their Multimedia Commons names. Table column names are matched
# case-insensitively with underscores removed, so `download_url` matches `downloadurl`.
SQLITE_COLUMNS = ("photoid", "title", "description", "usertags", "downloadurl", "ext", "marker")
_SQLITE_ALIASES = {"extension": "ext"}
# Rows per fetchmany call: large enough to amortise the call, small enough to keep memory flat.
SQLITE_FETCH_ROWS = 10_000

_ESCAPE = re.compile(rb"%([0-9A-Fa-f]{2})")


@dataclass(frozen=True)
class YfccPhoto:
    """The fields of one metadata line that the corpus needs, with text decoded.

    `issues` names the repairs made while decoding: `non_utf8` (invalid UTF-8 replaced by U+FFFD) and `bad_escape`
    (a `%` without two hex digits, kept literally). `hash_unpadded` is True when `hash` was derived from the
    download URL by `multimedia_commons_hash` (SQLite copy), so it may have fewer than 32 hex digits.
    """

    line_number: int
    photo_id: str
    hash: str
    title: str
    description: str
    tags: tuple[str, ...]
    download_url: str
    extension: str
    issues: tuple[str, ...] = ()
    hash_unpadded: bool = False


@dataclass(frozen=True)
class Skip:
    """A metadata line that yields no photo, with the reason as a short identifier (`video`, ...)."""

    reason: str
    line_number: int
    detail: str = ""


@dataclass
class ParseStats:
    """Counts of every outcome over the lines of one metadata file.

    Every line is either a photo or a skip, so `lines == photos + sum(skips.values())`. `issues` counts photos, not
    occurrences: a photo with two bad escapes counts once.
    """

    lines: int = 0
    photos: int = 0
    skips: Counter = field(default_factory=Counter)
    issues: Counter = field(default_factory=Counter)
    first_lines: dict[str, list[int]] = field(default_factory=dict)
    first_details: dict[str, str] = field(default_factory=dict)

    def record(self, result: YfccPhoto | Skip) -> None:
        self.lines += 1
        if isinstance(result, Skip):
            self.skips[result.reason] += 1
            self._remember(result.reason, result.line_number)
            if result.detail:
                self.first_details.setdefault(result.reason, result.detail)
            return
        self.photos += 1
        for issue in result.issues:
            self.issues[issue] += 1
            self._remember(issue, result.line_number)

    def _remember(self, name: str, line_number: int) -> None:
        lines = self.first_lines.setdefault(name, [])
        if len(lines) < FIRST_LINES_KEPT:
            lines.append(line_number)

    def log_summary(self, source: str | os.PathLike) -> None:
        skipped = sum(self.skips.values())
        log.info("%s: read %d lines, kept %d photos, skipped %d lines", source, self.lines, self.photos, skipped)
        for reason, count in sorted(self.skips.items()):
            detail = self.first_details.get(reason)
            log.warning(
                "%s: skipped %d lines (%s), first at lines %s%s",
                source, count, reason, self.first_lines[reason], f"; first case: {detail}" if detail else "",
            )
        for issue, count in sorted(self.issues.items()):
            log.warning("%s: %d photos kept with %s, first at lines %s", source, count, issue, self.first_lines[issue])

    def as_dict(self) -> dict:
        return {
            "lines": self.lines,
            "photos": self.photos,
            "skips": dict(sorted(self.skips.items())),
            "issues": dict(sorted(self.issues.items())),
            "first_lines": dict(sorted(self.first_lines.items())),
            "first_details": dict(sorted(self.first_details.items())),
        }


class _TextExtractor(HTMLParser):
    """Collect the text of an HTML fragment: tags dropped, entities unescaped, script and style bodies dropped."""

    # Tags that separate words when rendered, so each becomes a space rather than gluing two words together.
    BREAKING_TAGS = frozenset(
        "br p div li ul ol tr td th table h1 h2 h3 h4 h5 h6 blockquote hr pre dd dt dl".split()
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden_depth = 0

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag in ("script", "style"):
            self._hidden_depth += 1
        elif tag in self.BREAKING_TAGS:
            self.parts.append(" ")

    def handle_startendtag(self, tag: str, attrs) -> None:
        if tag in self.BREAKING_TAGS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._hidden_depth = max(0, self._hidden_depth - 1)
        elif tag in self.BREAKING_TAGS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._hidden_depth:
            self.parts.append(data)


def strip_html(text: str) -> str:
    """Remove HTML markup from `text` and unescape its entities. Runs of whitespace become one space."""
    if "<" not in text and "&" not in text:
        return " ".join(text.split())
    extractor = _TextExtractor()
    extractor.feed(text)
    extractor.close()
    return " ".join("".join(extractor.parts).split())


def url_decode(text: str, issues: set[str]) -> str:
    """Decode a form-encoded field: `+` becomes a space, then `%XX` escapes become bytes, read as UTF-8.

    A `%` without two hex digits after it stays as it is and adds `bad_escape` to `issues`. Decoded bytes that are
    not UTF-8 become U+FFFD and add `non_utf8`.
    """
    if "%" not in text and "+" not in text:
        return text

    # `+` goes first so that an escaped plus (%2B) stays a plus.
    encoded = text.replace("+", " ").encode("utf-8")
    if encoded.count(b"%") > len(_ESCAPE.findall(encoded)):
        issues.add("bad_escape")
    decoded = _ESCAPE.sub(lambda match: bytes([int(match.group(1), 16)]), encoded)

    try:
        return decoded.decode("utf-8")
    except UnicodeDecodeError:
        issues.add("non_utf8")
        return decoded.decode("utf-8", errors="replace")


def parse_line(raw: bytes, line_number: int) -> YfccPhoto | Skip:
    """Parse one line of the metadata file (with or without its line break) into a photo or a skip."""
    issues: set[str] = set()
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError:
        issues.add("non_utf8")
        line = raw.decode("utf-8", errors="replace")

    columns = line.rstrip("\r\n").split("\t")
    if len(columns) != NUM_COLUMNS:
        return Skip("wrong_column_count", line_number, f"{len(columns)} columns, expected {NUM_COLUMNS}")
    fields = _RawFields(
        photo_id=columns[PHOTO_ID],
        photo_hash=columns[PHOTO_HASH],
        title=columns[TITLE],
        description=columns[DESCRIPTION],
        user_tags=columns[USER_TAGS],
        download_url=columns[DOWNLOAD_URL],
        extension=columns[EXTENSION],
        marker=columns[MARKER],
    )
    return _photo_from_fields(fields, line_number, issues)


@dataclass(frozen=True, slots=True)
class _RawFields:
    """The fields of one metadata record as stored: text still URL-encoded, values not yet checked."""

    photo_id: str
    photo_hash: str
    title: str
    description: str
    user_tags: str
    download_url: str
    extension: str
    marker: str
    hash_unpadded: bool = False


def _photo_from_fields(fields: _RawFields, line_number: int, issues: set[str]) -> YfccPhoto | Skip:
    """Check the marker and photo id of one record and decode its text. The TSV and SQLite readers both use it."""
    marker = fields.marker.strip()
    if marker == "1":
        return Skip("video", line_number)
    if marker != "0":
        return Skip("invalid_marker", line_number, f"marker {marker!r}, expected 0 (photo) or 1 (video)")
    photo_id = fields.photo_id.strip()
    if not photo_id.isdigit():
        return Skip("invalid_photo_id", line_number, f"photo id {photo_id!r} is not a decimal number")

    title = url_decode(fields.title, issues).strip()
    description = strip_html(url_decode(fields.description, issues))
    tags = tuple(tag for tag in (url_decode(part, issues).strip() for part in fields.user_tags.split(",")) if tag)
    return YfccPhoto(
        line_number=line_number,
        photo_id=photo_id,
        hash=fields.photo_hash.strip(),
        title=title,
        description=description,
        tags=tags,
        download_url=fields.download_url.strip(),
        extension=fields.extension.strip(),
        issues=tuple(sorted(issues)),
        hash_unpadded=fields.hash_unpadded,
    )


def _open_binary(path: Path) -> BinaryIO:
    if path.suffix == ".bz2":
        return bz2.open(path, "rb")
    if path.suffix == ".gz":
        return gzip.open(path, "rb")
    return open(path, "rb")


def iter_lines(path: str | os.PathLike) -> Iterator[tuple[int, bytes]]:
    """Yield (line number from 1, raw bytes) for each line of a plain, `.bz2` or `.gz` file (chosen by suffix)."""
    path = Path(path)
    with _open_binary(path) as handle:
        lines = tqdm(handle, desc=path.name, unit=" lines", mininterval=PROGRESS_INTERVAL_S)
        yield from enumerate(lines, start=1)


def is_sqlite(path: str | os.PathLike) -> bool:
    """Return whether `path` is a SQLite database, judged by its first 16 bytes and not by its name."""
    with open(path, "rb") as handle:
        return handle.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC


def _check_not_compressed_sqlite(path: Path) -> None:
    if path.suffix not in (".bz2", ".gz"):
        return
    with _open_binary(path) as handle:
        if handle.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC:
            raise ValueError(
                f"{path} is a compressed SQLite database. SQLite cannot read it compressed: decompress it and pass "
                "the decompressed file"
            )


def _iter_results(path: str | os.PathLike) -> Iterator[YfccPhoto | Skip]:
    """Yield the outcome of every record of a metadata file, TSV or SQLite (chosen by content)."""
    path = Path(path)
    if is_sqlite(path):
        log.info("reading %s as the SQLite copy of the metadata (table %s)", path, SQLITE_TABLE)
        yield from _iter_sqlite_results(path)
        return
    _check_not_compressed_sqlite(path)
    for line_number, raw in iter_lines(path):
        yield parse_line(raw, line_number)


def _record_photos(results: Iterator[YfccPhoto | Skip], stats: ParseStats) -> Iterator[YfccPhoto]:
    for result in results:
        stats.record(result)
        if isinstance(result, YfccPhoto):
            yield result


def iter_metadata(path: str | os.PathLike, stats: ParseStats | None = None) -> Iterator[YfccPhoto]:
    """Yield the photos of a metadata file in file order and record every line's outcome in `stats`.

    The file is either the 25-column TSV (plain, `.bz2` or `.gz`) or the SQLite copy, recognised by its first
    bytes. Nothing is logged per line. Call `stats.log_summary` when the iteration ends.
    """
    stats = ParseStats() if stats is None else stats
    yield from _record_photos(_iter_results(path), stats)


def multimedia_commons_hash(url: str) -> str:
    """Return the Multimedia Commons hash of a photo: the md5 of its download URL, unpadded lower-case hex.

    Each of the 16 digest bytes is written with `%x`, so a byte below 0x10 gives one digit and the hash can be
    shorter than 32 digits.
    """
    # NOTE: this follows datadings (datadings/sets/YFCC100m_write.py, `yfcc_hash`). It was not checked against
    # the S3 bucket here.
    digest = hashlib.md5(url.encode("utf-8")).digest()
    return "".join(f"{byte:x}" for byte in digest)


def _sqlite_columns(connection: sqlite3.Connection, path: Path) -> dict[str, str]:
    """Map each name of SQLITE_COLUMNS to the table's spelling of it. Raises ValueError for a missing one."""
    issues: set[str] = set()
    names = [_sqlite_text(row[1], issues) for row in connection.execute(f'PRAGMA table_info("{SQLITE_TABLE}")')]
    if not names:
        query = "SELECT name FROM sqlite_master WHERE type = 'table'"
        tables = [_sqlite_text(row[0], issues) for row in connection.execute(query)]
        raise ValueError(f"{path}: no table {SQLITE_TABLE!r} in this SQLite database. Its tables are {tables}")

    found: dict[str, str] = {}
    for name in names:
        normalized = name.lower().replace("_", "")
        canonical = _SQLITE_ALIASES.get(normalized, normalized)
        if canonical in found:
            raise ValueError(f"{path}: columns {found[canonical]!r} and {name!r} both match {canonical!r}")
        found[canonical] = name

    for canonical in SQLITE_COLUMNS:
        if canonical not in found:
            raise ValueError(
                f"{path}: table {SQLITE_TABLE!r} has no column {canonical!r}, with or without underscores. "
                f"Its columns are {names}"
            )
    return {canonical: found[canonical] for canonical in SQLITE_COLUMNS}


def _sqlite_text(value: object, issues: set[str]) -> str:
    """Return a SQLite value as text. NULL becomes "", and an integral REAL such as 12.0 becomes "12"."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            issues.add("non_utf8")
            return value.decode("utf-8", errors="replace")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _sqlite_record(row: tuple) -> YfccPhoto | Skip:
    """Parse one row of the query in `_iter_sqlite_results`: rowid, then the columns of SQLITE_COLUMNS."""
    issues: set[str] = set()
    rowid, *values = row
    photo_id, title, description, user_tags, download_url, extension, marker = (
        _sqlite_text(value, issues) for value in values
    )
    fields = _RawFields(
        photo_id=photo_id,
        photo_hash=multimedia_commons_hash(download_url.strip()) if download_url.strip() else "",
        title=title,
        description=description,
        user_tags=user_tags,
        download_url=download_url,
        extension=extension,
        marker=marker,
        hash_unpadded=True,
    )
    return _photo_from_fields(fields, rowid, issues)


def _iter_sqlite_results(path: Path) -> Iterator[YfccPhoto | Skip]:
    """Stream the rows of the SQLite copy in rowid order, with the rowid as line number."""
    # Read-only, so a wrong path raises instead of creating an empty database. as_uri() escapes '?' and '#'.
    connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    # Bytes, so that invalid UTF-8 is repaired and counted like in the TSV instead of raising.
    connection.text_factory = bytes
    try:
        columns = _sqlite_columns(connection, path)
        selected = ", ".join('"' + columns[name].replace('"', '""') + '"' for name in SQLITE_COLUMNS)
        # max(rowid) is read from the b-tree in O(log n); count(*) would scan 100M rows.
        last_rowid = connection.execute(f'SELECT max(rowid) FROM "{SQLITE_TABLE}"').fetchone()[0]
        cursor = connection.execute(f'SELECT rowid, {selected} FROM "{SQLITE_TABLE}" ORDER BY rowid')
        with tqdm(total=last_rowid, desc=path.name, unit=" rows", mininterval=PROGRESS_INTERVAL_S) as progress:
            while rows := cursor.fetchmany(SQLITE_FETCH_ROWS):
                for row in rows:
                    yield _sqlite_record(row)
                progress.update(len(rows))
    except sqlite3.DatabaseError as error:
        raise ValueError(f"{path}: cannot read the SQLite database ({error})") from error
    finally:
        connection.close()


def iter_sqlite_metadata(path: str | os.PathLike, stats: ParseStats | None = None) -> Iterator[YfccPhoto]:
    """Yield the photos of the SQLite copy of the metadata (table yfcc100m_dataset) in rowid order.

    Each row's outcome is recorded in `stats`, with the rowid as `line_number`. Rows are skipped for the same
    reasons as TSV lines (`video`, `invalid_marker`, `invalid_photo_id`). The copy has no hash column, so `hash`
    is `multimedia_commons_hash(download_url)`, or "" when the URL is empty. Raises ValueError when the file is
    not SQLite, lacks the table or lacks a column of SQLITE_COLUMNS.
    """
    path = Path(path)
    if not is_sqlite(path):
        raise ValueError(f"{path} is not a SQLite database: it does not start with {SQLITE_MAGIC!r}")
    stats = ParseStats() if stats is None else stats
    yield from _record_photos(_iter_sqlite_results(path), stats)


def check_url_template(template: str) -> frozenset[str]:
    """Return the placeholder names of a URL template.

    Raises ValueError for a placeholder outside URL_FIELDS, one with a format spec or conversion, or no placeholder.
    """
    names = set()
    for _, name, spec, conversion in string.Formatter().parse(template):
        if name is None:
            continue
        if name not in URL_FIELDS or spec or conversion:
            raise ValueError(
                f"invalid placeholder {{{name}}} in URL template {template!r}: use only {{name}} with a name from "
                f"{', '.join(URL_FIELDS)}; hash_0_3 and hash_3_6 are hash[0:3] and hash[3:6]"
            )
        names.add(name)
    if not names:
        raise ValueError(f"URL template {template!r} has no placeholder, so every photo would get the same URL")
    return frozenset(names)


def render_url(template: str, photo: YfccPhoto, names: frozenset[str]) -> str | Skip:
    """Fill a checked URL template (`names` from `check_url_template`) for one photo, or skip the photo."""
    values = {
        "photo_id": photo.photo_id,
        "hash": photo.hash,
        "hash_0_3": photo.hash[0:3],
        "hash_3_6": photo.hash[3:6],
        "download_url": photo.download_url,
        "extension": photo.extension,
    }
    if names & _HASH_FIELDS:
        if photo.hash_unpadded and not photo.hash:
            return Skip("empty_download_url", photo.line_number, "no download URL to derive the hash from")
        # A hash from the TSV must have 32 digits. One derived from the URL is unpadded, so it has 16 to 32.
        pattern, expected = (_UNPADDED_HASH, "16 to 32") if photo.hash_unpadded else (_PHOTO_HASH, "32")
        if not pattern.fullmatch(photo.hash):
            detail = f"hash {photo.hash!r} is not {expected} lower-case hex digits"
            return Skip("invalid_hash", photo.line_number, detail)
    for name in sorted(names):
        if not values[name]:
            return Skip(f"empty_{name}", photo.line_number)
    return template.format(**values)


def _tsv_cell(text: str) -> str:
    """Replace tabs and line breaks by spaces.

    img2dataset reads TSV with pyarrow's CSV reader (img2dataset/reader.py), which by default does not accept line
    breaks inside values.
    """
    return " ".join(text.replace("\t", " ").splitlines())


def write_download_list(
    metadata_path: str | os.PathLike, out_tsv: str | os.PathLike, url_template: str
) -> ParseStats:
    """Write the img2dataset URL list for the photos of a metadata file and return the counts of every outcome.

    The metadata file is the 25-column TSV or its SQLite copy, recognised by content (see `iter_metadata`).
    `out_tsv` is a tab-separated file with the header photo_id, url, title, description, tags. Text is decoded.
    Tags are joined by commas, and a comma inside a tag becomes a space. `url_template` is a str.format string
    over URL_FIELDS, for example MULTIMEDIA_COMMONS_URL_TEMPLATE or FLICKR_URL_TEMPLATE. A photo whose template
    field is empty, or whose hash is malformed when the template uses it, is skipped and counted. Nothing is
    fetched here.
    """
    names = check_url_template(url_template)
    stats = ParseStats()
    log.info("writing the download list of %s to %s with URL template %s", metadata_path, out_tsv, url_template)

    # Cells no longer contain tabs or line breaks, so QUOTE_MINIMAL quotes only cells with a double quote. The
    # pyarrow CSV reader that img2dataset uses removes that quoting again.
    with atomic_open(out_tsv, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
        writer.writerow(DOWNLOAD_LIST_COLUMNS)
        for result in _iter_results(metadata_path):
            if isinstance(result, YfccPhoto):
                url = render_url(url_template, result, names)
                if isinstance(url, Skip):
                    result = url
                else:
                    tags = ",".join(_tsv_cell(tag).replace(",", " ") for tag in result.tags)
                    writer.writerow(
                        (result.photo_id, url, _tsv_cell(result.title), _tsv_cell(result.description), tags)
                    )
            stats.record(result)

    stats.log_summary(metadata_path)
    return stats
