"""Build corpus shards from a directory of images and their captions.

Captions come from one of two places:

- a captions file, with paths relative to the image directory: CSV (suffix `.csv`) with a header that has the
  columns `file` and `caption`, or TSV (any other suffix) with lines `path<TAB>caption` and an optional header
  `path<TAB>caption` or `file<TAB>caption`;
- side-car files: the caption of `dir/photo.jpg` is `dir/photo.txt`, or else `dir/photo.jpg.txt`.

The caption becomes the photo's title. Corpus shard i of n takes a contiguous range of the sorted photo list,
so the shard count is fixed by the configuration and each shard is built by its own job.
"""

from __future__ import annotations

import csv
import logging
import os
import posixpath
import re
from collections import Counter
from pathlib import Path

from PIL import Image
from tqdm import tqdm

from weaksup.corpus.quality import check_skipped_fraction, image_skip_counts
from weaksup.corpus.shards import PhotoText, ShardWriter
from weaksup.corpus.webdataset import IMAGE_ERRORS
from weaksup.images import decode_rgb, encode_jpeg

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"})
TSV_HEADERS = (("path", "caption"), ("file", "caption"))
CSV_PATH_COLUMN = "file"
CSV_CAPTION_COLUMN = "caption"

# Number of problems per kind that are logged one by one and kept as examples. Later ones are only counted.
EXAMPLES_KEPT = 10

PROGRESS_INTERVAL_S = 30.0

_ID_SEPARATORS = re.compile(r"[/.\s]")

# Image skips of one shard's photos, checked against the shard's photo count. `missing_image` (a caption naming
# no image file) concerns the whole folder and is checked against the folder's photo count.
SHARD_SKIP_REASONS = ("corrupt_image", "image_too_large")


def photo_id_for(relative_path: str) -> str:
    """Return the photo id of an image: its relative path with '/', '.' and blanks replaced by '_'."""
    return _ID_SEPARATORS.sub("_", relative_path)


def _warn(stats: Counter, examples: dict[str, list[str]], kind: str, where: str, message: str) -> None:
    """Count one problem, and log and keep it as an example if it is among the first of its kind."""
    stats[kind] += 1
    kind_examples = examples.setdefault(kind, [])
    if len(kind_examples) < EXAMPLES_KEPT:
        kind_examples.append(where)
        log.warning("%s: %s", where, message)


def _find_images(root: Path) -> list[str]:
    """Return the relative POSIX paths of all image files under `root`, sorted."""
    paths = []
    for directory, _, files in os.walk(root):
        for name in files:
            if Path(name).suffix.lower() in IMAGE_SUFFIXES:
                paths.append((Path(directory) / name).relative_to(root).as_posix())
    return sorted(paths)


def _decode_lines(path: Path, stats: Counter, examples: dict[str, list[str]]) -> list[str]:
    """Read a text file as lines with their line breaks. Invalid UTF-8 becomes U+FFFD and is counted per line."""
    lines = []
    for line_number, raw in enumerate(path.read_bytes().splitlines(keepends=True), start=1):
        try:
            lines.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            _warn(stats, examples, "non_utf8", f"{path}:{line_number}", "invalid UTF-8 replaced by U+FFFD")
            lines.append(raw.decode("utf-8", errors="replace"))
    if lines:
        lines[0] = lines[0].removeprefix("\ufeff")
    return lines


def _normalize_path(path: str) -> str | None:
    """Return a caption file's image path in the form `_find_images` uses, or None if it leaves the folder."""
    path = path.strip()
    if not path or path.startswith("/"):
        return None
    normalized = posixpath.normpath(path)
    if normalized == ".." or normalized.startswith("../"):
        return None
    return normalized


def _add_caption(
    captions: dict[str, str], raw_path: str, caption: str, where: str, stats: Counter, examples: dict
) -> None:
    path = _normalize_path(raw_path)
    if path is None:
        message = f"invalid image path {raw_path!r}: it must be relative to the image folder and stay inside it"
        _warn(stats, examples, "malformed_caption_line", where, message)
    elif path in captions:
        _warn(stats, examples, "duplicate_caption", where, f"second caption for {path}, kept the first one")
    else:
        captions[path] = caption.strip()


def _read_tsv_captions(path: Path, stats: Counter, examples: dict) -> dict[str, str]:
    captions: dict[str, str] = {}
    for line_number, line in enumerate(_decode_lines(path, stats, examples), start=1):
        line = line.rstrip("\r\n")
        if not line.strip():
            continue
        cells = line.split("\t", 1)
        if line_number == 1 and tuple(cell.strip().lower() for cell in cells) in TSV_HEADERS:
            continue
        where = f"{path}:{line_number}"
        if len(cells) != 2:
            _warn(stats, examples, "malformed_caption_line", where, "no tab between image path and caption")
            continue
        _add_caption(captions, cells[0], cells[1], where, stats, examples)
    return captions


def _read_csv_captions(path: Path, stats: Counter, examples: dict) -> dict[str, str]:
    reader = csv.reader(_decode_lines(path, stats, examples))
    header = [cell.strip().lower() for cell in next(reader, [])]
    if CSV_PATH_COLUMN not in header or CSV_CAPTION_COLUMN not in header:
        raise ValueError(
            f"{path}:1: header is {header}, expected the columns {CSV_PATH_COLUMN!r} and {CSV_CAPTION_COLUMN!r}"
        )
    path_column = header.index(CSV_PATH_COLUMN)
    caption_column = header.index(CSV_CAPTION_COLUMN)

    captions: dict[str, str] = {}
    try:
        for row in reader:
            where = f"{path}:{reader.line_num}"
            if not row:
                continue
            if len(row) != len(header):
                message = f"{len(row)} fields, expected {len(header)} as in the header"
                _warn(stats, examples, "malformed_caption_line", where, message)
                continue
            _add_caption(captions, row[path_column], row[caption_column], where, stats, examples)
    except csv.Error as error:
        raise ValueError(f"{path}:{reader.line_num}: invalid CSV ({error})") from error
    return captions


def _read_sidecar_captions(root: Path, images: list[str], stats: Counter, examples: dict) -> dict[str, str]:
    captions: dict[str, str] = {}
    for image in images:
        image_path = root / image
        for candidate in (image_path.with_suffix(".txt"), image_path.with_name(image_path.name + ".txt")):
            if candidate.is_file():
                lines = _decode_lines(candidate, stats, examples)
                captions[image] = " ".join(line.strip() for line in lines).strip()
                break
    return captions


def list_photos(
    root: str | os.PathLike,
    captions_file: str | os.PathLike | None = None,
    stats: Counter | None = None,
    examples: dict[str, list[str]] | None = None,
) -> list[tuple[str, str]]:
    """Return (relative image path, caption) for every image under `root`, sorted by path.

    Without `captions_file`, captions come from side-car `.txt` files. Images without a caption, or with an empty
    one, are kept with caption "" and counted as `missing_caption`. Caption lines that are malformed, name a
    path outside `root`, or name an image that does not exist are logged with file and line, counted
    (`malformed_caption_line`, `missing_image`) and skipped. A repeated path counts as `duplicate_caption`, and
    the first caption is kept. Counts go to `stats` and the first locations of each kind to `examples`.
    """
    root = Path(root)
    stats = Counter() if stats is None else stats
    examples = {} if examples is None else examples
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {root} not found")
    images = _find_images(root)
    if not images:
        raise FileNotFoundError(f"no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) under {root}")

    if captions_file is None:
        captions = _read_sidecar_captions(root, images, stats, examples)
    else:
        captions_file = Path(captions_file)
        if not captions_file.is_file():
            raise FileNotFoundError(f"captions file {captions_file} not found")
        reader = _read_csv_captions if captions_file.suffix.lower() == ".csv" else _read_tsv_captions
        captions = reader(captions_file, stats, examples)

    image_set = set(images)
    for path in sorted(set(captions) - image_set):
        _warn(stats, examples, "missing_image", f"{root / path}", "named in the captions but not an image file there")
    photos = [(image, captions.get(image, "")) for image in images]
    for image, caption in photos:
        if not caption:
            _warn(stats, examples, "missing_caption", f"{root / image}", "no caption, kept with empty text")

    captioned = sum(1 for _, caption in photos if caption)
    log.info("found %d images under %s, %d with a caption", len(images), root, captioned)
    return photos


def _check_unique_ids(photos: list[tuple[str, str]]) -> None:
    owners: dict[str, str] = {}
    for path, _ in photos:
        photo_id = photo_id_for(path)
        if photo_id in owners:
            raise ValueError(
                f"images {owners[photo_id]!r} and {path!r} both map to photo id {photo_id!r}; rename one of them"
            )
        owners[photo_id] = path


def shard_range(num_photos: int, shard_index: int, num_shards: int) -> tuple[int, int]:
    """Return [start, end) of the photos of one shard; shard sizes differ by at most one."""
    if num_shards < 1 or not 0 <= shard_index < num_shards:
        raise ValueError(f"shard index {shard_index} is out of range for {num_shards} shards")
    return num_photos * shard_index // num_shards, num_photos * (shard_index + 1) // num_shards


def _encode_photo(root: Path, path: str, image_size: int, stats: Counter, examples: dict) -> bytes | None:
    """Return the stored JPEG of one image, or None after counting why it is skipped."""
    where = str(root / path)
    try:
        return encode_jpeg(decode_rgb((root / path).read_bytes()), image_size)
    except Image.DecompressionBombError as error:
        _warn(stats, examples, "image_too_large", where, f"skipped: {error}")
    except IMAGE_ERRORS as error:
        _warn(stats, examples, "corrupt_image", where, f"skipped: {type(error).__name__}: {error}")
    return None


def build_shard_from_folder(
    root: str | os.PathLike,
    out_tar: str | os.PathLike,
    shard_index: int,
    num_shards: int,
    image_size: int,
    captions_file: str | os.PathLike | None = None,
    max_skipped_fraction: float | None = None,
) -> dict:
    """Write corpus shard `shard_index` of `num_shards` from an image folder and return the outcome counts.

    The shard takes a contiguous range of the sorted photos of `list_photos`, rescaled to image_size x image_size.
    Unreadable or corrupt images are counted as `corrupt_image`, images with more pixels than
    `PIL.Image.MAX_IMAGE_PIXELS` as `image_too_large`, and both are logged with their path and skipped. The caption
    counts of `list_photos` cover the whole folder, because every shard job reads all captions. `examples` lists
    the first locations of each problem.

    With `max_skipped_fraction` set, ValueError is raised and no shard files are written when more than that
    fraction of the shard's images is skipped, or of the folder's captioned images is missing (see
    `weaksup.corpus.quality`). None disables the check.
    """
    root = Path(root)
    stats: Counter = Counter()
    examples: dict[str, list[str]] = {}
    photos = list_photos(root, captions_file, stats, examples)
    _check_unique_ids(photos)
    if max_skipped_fraction is not None:
        missing = image_skip_counts(stats, ("missing_image",))
        check_skipped_fraction(str(captions_file or root), len(photos), missing, max_skipped_fraction, examples)
    start, end = shard_range(len(photos), shard_index, num_shards)
    if start == end:
        log.warning("shard %d of %d is empty: the folder has only %d images", shard_index, num_shards, len(photos))

    progress = tqdm(photos[start:end], desc=Path(out_tar).name, unit=" photos", mininterval=PROGRESS_INTERVAL_S)
    with ShardWriter(out_tar) as writer:
        for path, caption in progress:
            jpeg = _encode_photo(root, path, image_size, stats, examples)
            if jpeg is None:
                continue
            writer.write(PhotoText(photo_id_for(path), title=caption), jpeg)
            stats["written"] += 1
        if max_skipped_fraction is not None:
            # Inside the block, so that a failed check leaves no shard files behind.
            skipped = image_skip_counts(stats, SHARD_SKIP_REASONS)
            check_skipped_fraction(str(out_tar), stats["written"], skipped, max_skipped_fraction, examples)

    log.info("wrote %d photos (%d to %d of %d) to %s", stats["written"], start, end, len(photos), out_tar)
    return {"photos_in_folder": len(photos), "start": start, "end": end, "written": 0, **stats, "examples": examples}
