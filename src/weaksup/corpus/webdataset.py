"""Build corpus shards from webdataset tars as img2dataset writes them.

An input tar contains one group of members per sample, named `KEY.jpg` (or .jpeg, .png, .webp) with `KEY.txt`
and/or `KEY.json`. The key is the member's base name up to its first dot. As in the webdataset format, the
members of one sample must be adjacent in the tar. A key that appears again after other keys, in the same tar or
a later one, counts as a duplicate and is skipped.

The corpus shard count is fixed by the configuration, whatever the number of input tars: corpus shard i takes
every num_shards-th input tar (`assign_inputs`), so the workflow needs no Snakemake checkpoint.
"""

from __future__ import annotations

import json
import logging
import math
import os
import tarfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

from PIL import Image
from tqdm import tqdm

from weaksup.corpus.quality import check_skipped_fraction, image_skip_counts
from weaksup.corpus.shards import TAG_SEPARATOR, PhotoText, ShardWriter
from weaksup.images import decode_rgb, encode_jpeg

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset({"jpg", "jpeg", "png", "webp"})
TEXT_EXTENSION = "txt"
JSON_EXTENSION = "json"

# Number of samples per outcome that are logged one by one and kept as examples. Later ones are only counted.
EXAMPLES_KEPT = 10

PROGRESS_INTERVAL_S = 30.0

# Errors that Pillow raises on a corrupt or truncated image. DecompressionBombError is not an OSError.
IMAGE_ERRORS = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)

# Characters that ShardWriter rejects in a photo id.
_INVALID_ID_CHARACTERS = frozenset("\t\n/ .")


@dataclass
class _Sample:
    tar_path: Path
    key: str
    image: bytes | None = None
    text: bytes | None = None
    metadata: bytes | None = None
    repeated: bool = False

    @property
    def name(self) -> str:
        return f"{self.tar_path.name}:{self.key}"


@dataclass
class _Tally:
    """Outcome counts of one corpus shard, with the first few sample names per outcome."""

    counts: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def add(self, outcome: str, name: str, reason: str = "") -> None:
        self.counts[outcome] += 1
        examples = self.examples.setdefault(outcome, [])
        if len(examples) < EXAMPLES_KEPT:
            examples.append(name)
            log.warning("%s: %s%s", name, outcome.replace("_", " "), f" ({reason})" if reason else "")


def assign_inputs(input_dir: str | os.PathLike, shard_index: int, num_shards: int) -> list[Path]:
    """Return the input tars of corpus shard `shard_index`: every `num_shards`-th of the sorted `*.tar` files."""
    input_dir = Path(input_dir)
    if num_shards < 1 or not 0 <= shard_index < num_shards:
        raise ValueError(f"shard index {shard_index} is out of range for {num_shards} shards")
    if not input_dir.is_dir():
        raise FileNotFoundError(f"input directory {input_dir} not found. It should contain img2dataset's *.tar files")

    tars = sorted(input_dir.glob("*.tar"))
    if not tars:
        raise FileNotFoundError(f"no *.tar files in {input_dir}. Run img2dataset with --output_format webdataset")
    return tars[shard_index::num_shards]


def _split_member_name(name: str) -> tuple[str, str]:
    """Return (key, lower-case extension) of a member name: the base name split at its first dot."""
    base = name.rsplit("/", 1)[-1]
    key, _, extension = base.partition(".")
    return key, extension.lower()


def _iter_samples(tar_path: Path, tally: _Tally) -> Iterator[_Sample]:
    """Stream one tar and yield its samples, grouping adjacent members by key."""
    sample: _Sample | None = None
    closed_keys: set[str] = set()
    try:
        with tarfile.open(tar_path, "r|") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                key, extension = _split_member_name(member.name)
                if sample is not None and key != sample.key:
                    closed_keys.add(sample.key)
                    yield sample
                    sample = None
                if sample is None:
                    sample = _Sample(tar_path, key, repeated=key in closed_keys)

                slot = _member_slot(extension)
                if slot is None:
                    tally.add("ignored_member", f"{tar_path.name}:{member.name}")
                elif getattr(sample, slot) is not None:
                    tally.add("duplicate_member", f"{tar_path.name}:{member.name}", "a second member of the same kind")
                else:
                    setattr(sample, slot, tar.extractfile(member).read())
            _check_end_marker(tar_path, tar.offset)
    except tarfile.TarError as error:
        raise ValueError(f"{tar_path}: invalid tar ({error}). Download this shard again or remove it") from error

    if sample is not None:
        yield sample


def _check_end_marker(tar_path: Path, end_of_members: int) -> None:
    """Raise if the tar lacks its end-of-archive marker (two zero blocks) after the last member.

    tarfile (Python 3.11) stops without an error when a file is cut inside a member header, so a truncated
    download would otherwise lose its remaining samples without notice.
    """
    trailing = tar_path.stat().st_size - end_of_members
    if trailing < 2 * tarfile.BLOCKSIZE:
        raise tarfile.ReadError(f"truncated: the end-of-archive marker is missing after byte {end_of_members}")


def _member_slot(extension: str) -> str | None:
    if extension in IMAGE_EXTENSIONS:
        return "image"
    if extension == TEXT_EXTENSION:
        return "text"
    if extension == JSON_EXTENSION:
        return "metadata"
    return None


def _parse_metadata(sample: _Sample, tally: _Tally) -> dict:
    if sample.metadata is None:
        return {}
    try:
        metadata = json.loads(sample.metadata)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        tally.add("invalid_json", sample.name, str(error))
        return {}
    if not isinstance(metadata, dict):
        tally.add("invalid_json", sample.name, f"top level is {type(metadata).__name__}, expected an object")
        return {}
    return metadata


def _metadata_text(metadata: dict, name: str) -> str:
    """Return a json field as text. Null and NaN (missing values in img2dataset's metadata) become ""."""
    value = metadata.get(name)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        # An integer column with missing values reaches pandas as float, so photo id 123 may arrive as 123.0.
        value = int(value)
    return str(value).strip()


def _metadata_tags(metadata: dict) -> list[str]:
    value = metadata.get("tags")
    if isinstance(value, list):
        parts = ["" if part is None else str(part) for part in value]
    else:
        parts = _metadata_text(metadata, "tags").split(TAG_SEPARATOR)
    return [part.strip() for part in parts if part.strip()]


def _sample_text(sample: _Sample, metadata: dict, tally: _Tally) -> tuple[str, str, list[str]]:
    """Return (title, description, tags): json fields first, then json `caption`, then the `.txt` caption."""
    title = _metadata_text(metadata, "title")
    description = _metadata_text(metadata, "description")
    tags = _metadata_tags(metadata)
    if not (title or description or tags):
        title = _metadata_text(metadata, "caption")
    if not title and sample.text is not None:
        try:
            title = sample.text.decode("utf-8").strip()
        except UnicodeDecodeError:
            tally.add("non_utf8_text", sample.name, "invalid UTF-8 replaced by U+FFFD")
            title = sample.text.decode("utf-8", errors="replace").strip()
    return title, description, tags


def _photo_id(sample: _Sample, metadata: dict) -> str:
    return _metadata_text(metadata, "photo_id") or _metadata_text(metadata, "key") or sample.key


def _add_sample(
    sample: _Sample, writer: ShardWriter, image_size: int, written_ids: set[str], tally: _Tally
) -> None:
    """Write one sample to the shard, or count why it is skipped."""
    if sample.repeated:
        tally.add("duplicate_key", sample.name, "key appears again after other keys, this group is skipped")
        return

    metadata = _parse_metadata(sample, tally)
    if sample.image is None:
        status = _metadata_text(metadata, "status")
        if status and status != "success":
            tally.add("download_failed", sample.name)
        else:
            tally.add("missing_image", sample.name, "no .jpg, .jpeg, .png or .webp member")
        return

    photo_id = _photo_id(sample, metadata)
    if not photo_id or _INVALID_ID_CHARACTERS & set(photo_id):
        tally.add("invalid_photo_id", sample.name, f"photo id {photo_id!r} is empty or has '/', '.' or blanks")
        return
    if photo_id in written_ids:
        tally.add("duplicate_key", sample.name, f"photo id {photo_id} already written, this copy is skipped")
        return

    try:
        jpeg = encode_jpeg(decode_rgb(sample.image), image_size)
    except Image.DecompressionBombError as error:
        tally.add("image_too_large", sample.name, str(error))
        return
    except IMAGE_ERRORS as error:
        tally.add("corrupt_image", sample.name, f"{type(error).__name__}: {error}")
        return

    title, description, tags = _sample_text(sample, metadata, tally)
    if not (title or description or tags):
        tally.add("missing_text", sample.name)
    writer.write(PhotoText(photo_id, title, description, tags), jpeg)
    written_ids.add(photo_id)
    tally.counts["written"] += 1


def build_shard_from_webdataset(
    input_tars: Sequence[str | os.PathLike],
    out_tar: str | os.PathLike,
    image_size: int,
    max_skipped_fraction: float | None = None,
) -> dict:
    """Write one corpus shard from img2dataset tars, read in the given order, and return the outcome counts.

    Each image is rescaled to image_size x image_size. The returned dict has `written` and one count per skip or
    repair: `corrupt_image`, `image_too_large` (more pixels than `PIL.Image.MAX_IMAGE_PIXELS`), `missing_image`,
    `download_failed` (a json whose status is not "success", with no image), `duplicate_key` (photo id already
    written, or key repeated in a tar), `invalid_photo_id`, `invalid_json`, `duplicate_member`, `ignored_member`,
    `non_utf8_text`, and `missing_text` (photos kept with empty text). `examples` names the first samples of each
    outcome as `TAR:KEY`.

    With `max_skipped_fraction` set, ValueError is raised and no shard files are written when the image skips
    (`weaksup.corpus.quality.IMAGE_SKIP_REASONS`) exceed that fraction of the samples written or skipped for them.
    None disables the check.
    """
    input_tars = [Path(path) for path in input_tars]
    out_tar = Path(out_tar)
    tally = _Tally()
    written_ids: set[str] = set()
    if not input_tars:
        log.warning("no input tars for %s, so it is empty: there are more corpus shards than input tars", out_tar)

    progress = tqdm(desc=out_tar.name, unit=" samples", mininterval=PROGRESS_INTERVAL_S)
    with ShardWriter(out_tar) as writer, progress:
        for tar_path in input_tars:
            log.info("reading %s", tar_path)
            for sample in _iter_samples(tar_path, tally):
                _add_sample(sample, writer, image_size, written_ids, tally)
                progress.update()
        if max_skipped_fraction is not None:
            # Inside the block, so that a failed check leaves no shard files behind.
            # NOTE: weaksup.corpus.fetch leaves failed downloads out of its tars, so they are not counted here;
            # results/download_stats.csv counts them.
            skipped = image_skip_counts(tally.counts)
            check_skipped_fraction(str(out_tar), tally.counts["written"], skipped, max_skipped_fraction,
                                   tally.examples)

    stats = {"input_tars": [str(path) for path in input_tars], "written": 0, **tally.counts}
    stats["examples"] = tally.examples
    _log_summary(out_tar, stats)
    return stats


def _log_summary(out_tar: Path, stats: dict) -> None:
    log.info("wrote %d photos to %s from %d tars", stats["written"], out_tar, len(stats["input_tars"]))
    for outcome, examples in sorted(stats["examples"].items()):
        log.warning("%s: %s in %d samples, first: %s", out_tar.name, outcome, stats[outcome], ", ".join(examples))
