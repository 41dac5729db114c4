"""Download the images of a URL list into webdataset tars, one tar per part: an alternative to img2dataset.

The URL list is the TSV that `weaksup.corpus.yfcc.write_download_list` writes: a header with `photo_id` and
`url`, optionally `title`, `description` and `tags` (comma-separated), then one row per line. Part `p` of `n`
takes data rows p, p + n, p + 2n, ... (0-based, in file order), so parts are independent jobs. Each part writes

- `{part:05d}.tar`: per photo `KEY.jpg` (the image rescaled to image_size x image_size) and `KEY.json`
  (photo_id, title, description, tags as a list, url), with KEY the photo id, the layout that
  `weaksup.corpus.webdataset.build_shard_from_webdataset` reads. Only successful downloads are in the tar.
- `{part:05d}_stats.json`: the count of each outcome of the part's rows (OUTCOMES) and the first failures.

Both files are written to a temporary name and renamed when complete, the stats file last. A part whose two
files exist is skipped, so a rerun after a killed job fetches only the unfinished parts. `gather_download_stats`
turns these stats files, or img2dataset's own, into one CSV table.

Example, part 3 of 100 at 256x256, the image size that Joulin et al. (ECCV 2016) train on:

    download_shard("download_list.tsv", 3, 100, "shards/", 256)
"""

from __future__ import annotations

import csv
import http.client
import io
import json
import logging
import os
import re
import tarfile
import time
import urllib.error
import urllib.request
from collections import Counter, deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

from PIL import Image
from tqdm import tqdm

from weaksup.atomic import atomic_open, atomic_path, write_json
from weaksup.images import decode_rgb, encode_jpeg

log = logging.getLogger(__name__)

# Every row of a part ends in exactly one outcome, so the counts add up to `rows`.
OUTCOMES = (
    "success",
    "failed_download",  # HTTP error status, refused connection, unknown host, connection reset
    "failed_timeout",  # no connection or no data within `timeout` seconds
    "failed_decode",  # not an image, or a truncated one
    "failed_too_large",  # more pixels than PIL.Image.MAX_IMAGE_PIXELS, or a response over MAX_RESPONSE_BYTES
    "invalid_row",  # empty or malformed photo id or URL, photo id repeated within the part, wrong cell count
)
CSV_COLUMNS = ("part", "downloader", "rows", *OUTCOMES)

REQUIRED_COLUMNS = ("photo_id", "url")
TEXT_COLUMNS = ("title", "description", "tags")
TAG_SEPARATOR = ","

# Failures kept in the stats file and logged one by one; later ones are only counted.
FAILURES_KEPT = 10
# Upper bound on one response body, so that a wrong URL (a video, an archive) cannot fill memory. It is a guess
# far above the size of a web JPEG, not a measured limit.
MAX_RESPONSE_BYTES = 64 * 2**20
# Seconds before retry k (1-based) is RETRY_DELAY_S * k.
RETRY_DELAY_S = 1.0
# Statuses after which a later attempt may succeed. Other 4xx statuses (404, 403, 410) are not retried.
RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
# Requests in flight or finished but not yet written, per thread: bounds memory while keeping row order.
WINDOW_PER_THREAD = 4
PROGRESS_INTERVAL_S = 10.0
USER_AGENT = "weaksup-fetch/1.0 (Python urllib)"

# Characters that a webdataset key (the part of a member name before its first dot) cannot contain.
_INVALID_KEY_CHARACTERS = frozenset("\t\n\r/ .")
_STATS_NAME = re.compile(r"(\d+)_stats\.json")


@dataclass(frozen=True)
class UrlRow:
    """One data row of the URL list, with the 1-based line number it was read from."""

    line_number: int
    photo_id: str
    url: str
    title: str = ""
    description: str = ""
    tags: tuple[str, ...] = ()


@dataclass
class FetchResult:
    """The outcome of one row: one of OUTCOMES, the reason of a failure, and the JPEG bytes of a success."""

    row: UrlRow
    outcome: str
    reason: str = ""
    jpeg: bytes | None = None


class _FetchFailure(Exception):
    def __init__(self, outcome: str, reason: str, retryable: bool = False) -> None:
        super().__init__(reason)
        self.outcome = outcome
        self.reason = reason
        self.retryable = retryable


def part_paths(out_dir: str | os.PathLike, part: int) -> tuple[Path, Path]:
    """Return the tar and stats paths of one part."""
    out_dir = Path(out_dir)
    return out_dir / f"{part:05d}.tar", out_dir / f"{part:05d}_stats.json"


def _read_header(handle, path: Path) -> list[str]:
    header_line = handle.readline()
    header = next(csv.reader([header_line], delimiter="\t"), [])
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        raise ValueError(
            f"{path}: the header {header} lacks the columns {missing}. A URL list needs photo_id and url, and may "
            f"have {', '.join(TEXT_COLUMNS)} (write_download_list writes all five)"
        )
    return header


def _parse_row(line: str, line_number: int, header: list[str]) -> UrlRow | FetchResult:
    """Parse one data line. A row that cannot be fetched comes back as an `invalid_row` result."""
    cells = next(csv.reader([line.rstrip("\r\n")], delimiter="\t"), [])
    values = dict(zip(header, cells))
    row = UrlRow(line_number, values.get("photo_id", "").strip(), values.get("url", "").strip())
    if len(cells) != len(header):
        return FetchResult(row, "invalid_row", f"{len(cells)} cells, expected {len(header)}")
    if not row.photo_id or _INVALID_KEY_CHARACTERS & set(row.photo_id):
        return FetchResult(row, "invalid_row", f"photo id {row.photo_id!r} is empty or has '/', '.' or blanks")
    if not row.url.startswith(("http://", "https://")):
        return FetchResult(row, "invalid_row", f"URL {row.url!r} does not start with http:// or https://")

    tags = tuple(tag.strip() for tag in values.get("tags", "").split(TAG_SEPARATOR) if tag.strip())
    return UrlRow(
        line_number, row.photo_id, row.url, values.get("title", "").strip(), values.get("description", "").strip(),
        tags,
    )


def iter_part_rows(url_list_tsv: str | os.PathLike, part: int, num_parts: int) -> Iterator[UrlRow | FetchResult]:
    """Yield the rows of one part of a URL list in file order; rows that cannot be fetched as `invalid_row`.

    Blank lines are not rows. Each row must be on one line, as `write_download_list` writes them, because rows are
    split at line breaks before CSV parsing. That lets a part skip other parts' rows without parsing them.
    """
    path = Path(url_list_tsv)
    seen_ids: set[str] = set()
    with open(path, encoding="utf-8", newline="") as handle:
        header = _read_header(handle, path)
        row_index = 0
        for line_number, line in enumerate(handle, start=2):
            if not line.strip():
                continue
            row_index += 1
            if (row_index - 1) % num_parts != part:
                continue

            row = _parse_row(line, line_number, header)
            if isinstance(row, UrlRow) and row.photo_id in seen_ids:
                row = FetchResult(row, "invalid_row", f"photo id {row.photo_id} already appears in this part")
            elif isinstance(row, UrlRow):
                seen_ids.add(row.photo_id)
            yield row


def _read_url(url: str, timeout: float) -> bytes:
    """Return the body of one GET request. Raises _FetchFailure with the outcome of a failed request."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            data = response.read(MAX_RESPONSE_BYTES + 1)
    except urllib.error.HTTPError as error:
        error.close()
        reason = f"HTTP {error.code} {error.reason}"
        raise _FetchFailure("failed_download", reason, error.code in RETRYABLE_STATUSES) from None
    except TimeoutError as error:
        raise _FetchFailure("failed_timeout", f"timed out after {timeout} s ({error})", True) from None
    except urllib.error.URLError as error:
        if isinstance(error.reason, TimeoutError):
            raise _FetchFailure("failed_timeout", f"timed out after {timeout} s ({error.reason})", True) from None
        raise _FetchFailure("failed_download", f"URLError: {error.reason}", True) from None
    except (http.client.InvalidURL, ValueError) as error:
        raise _FetchFailure("failed_download", f"invalid URL: {error}") from None
    except (http.client.HTTPException, OSError) as error:
        raise _FetchFailure("failed_download", f"{type(error).__name__}: {error}", True) from None

    if len(data) > MAX_RESPONSE_BYTES:
        raise _FetchFailure("failed_too_large", f"response larger than {MAX_RESPONSE_BYTES} bytes")
    return data


def _read_url_with_retries(url: str, timeout: float, retries: int) -> bytes:
    for attempt in range(1, retries + 2):
        try:
            return _read_url(url, timeout)
        except _FetchFailure as failure:
            if not failure.retryable or attempt > retries:
                if attempt > 1:
                    failure.reason += f" (after {attempt} attempts)"
                raise
            time.sleep(RETRY_DELAY_S * attempt)
    raise AssertionError("unreachable: the last attempt returns or raises")


def _rescale(data: bytes, image_size: int) -> bytes:
    """Decode image bytes and return them as an image_size x image_size JPEG. Raises _FetchFailure on any error."""
    # Both steps catch any exception: a web image is untrusted input for Pillow's format plugins, and one bad file
    # must not end the part. img2dataset's resize_image (downloader.py) also catches Exception.
    try:
        with Image.open(io.BytesIO(data)) as probe:
            width, height = probe.size
    except Image.DecompressionBombError as error:
        raise _FetchFailure("failed_too_large", str(error)) from None
    except Image.UnidentifiedImageError:
        reason = f"not an image format that Pillow reads ({len(data)} bytes starting {data[:16]!r})"
        raise _FetchFailure("failed_decode", reason) from None
    except Exception as error:
        raise _FetchFailure("failed_decode", f"{type(error).__name__}: {error}") from None

    # Pillow (13.0, Image._decompression_bomb_check) raises only above twice MAX_IMAGE_PIXELS and merely warns
    # between one and two times it.
    limit = Image.MAX_IMAGE_PIXELS
    if limit and width * height > limit:
        raise _FetchFailure("failed_too_large", f"{width}x{height} pixels, more than MAX_IMAGE_PIXELS = {limit}")

    try:
        return encode_jpeg(decode_rgb(data), image_size)
    except Image.DecompressionBombError as error:
        raise _FetchFailure("failed_too_large", str(error)) from None
    except Exception as error:
        raise _FetchFailure("failed_decode", f"{type(error).__name__}: {error}") from None


def fetch_row(row: UrlRow, image_size: int, timeout: float, retries: int) -> FetchResult:
    """Download, decode and rescale the image of one row.

    Network, HTTP and image errors become a failed result. Only an error in this module's own code propagates.
    """
    # NOTE: Flickr serves a placeholder image for removed photos (9,218 bytes according to datadings'
    # YFCC100m reader). It decodes, so it counts as a success here.
    try:
        jpeg = _rescale(_read_url_with_retries(row.url, timeout, retries), image_size)
    except _FetchFailure as failure:
        return FetchResult(row, failure.outcome, failure.reason)
    return FetchResult(row, "success", jpeg=jpeg)


def _fetch_in_order(
    rows: Iterator[UrlRow | FetchResult], image_size: int, threads: int, timeout: float, retries: int
) -> Iterator[FetchResult]:
    """Fetch rows in a thread pool and yield their results in row order, with a bounded number in flight."""
    pending: deque[Future | FetchResult] = deque()
    window = threads * WINDOW_PER_THREAD
    pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="fetch")
    try:
        for row in rows:
            if isinstance(row, FetchResult):
                pending.append(row)
            else:
                pending.append(pool.submit(fetch_row, row, image_size, timeout, retries))
            while len(pending) > window:
                yield _resolve(pending.popleft())
        while pending:
            yield _resolve(pending.popleft())
    finally:
        # Returns at once after an error or an abandoned iteration: queued requests are cancelled.
        pool.shutdown(wait=False, cancel_futures=True)


def _resolve(item: Future | FetchResult) -> FetchResult:
    return item.result() if isinstance(item, Future) else item


def _add_member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def _write_sample(tar: tarfile.TarFile, result: FetchResult) -> None:
    """Append `KEY.jpg` and then `KEY.json`: webdataset readers need a sample's members to be adjacent."""
    row = result.row
    metadata = {
        "photo_id": row.photo_id,
        "title": row.title,
        "description": row.description,
        "tags": list(row.tags),
        "url": row.url,
    }
    _add_member(tar, f"{row.photo_id}.jpg", result.jpeg)
    _add_member(tar, f"{row.photo_id}.json", json.dumps(metadata, ensure_ascii=False).encode("utf-8"))


@dataclass
class _Tally:
    counts: Counter = field(default_factory=Counter)
    failures: list[dict] = field(default_factory=list)

    def add(self, result: FetchResult) -> None:
        self.counts["rows"] += 1
        self.counts[result.outcome] += 1
        if result.outcome == "success" or len(self.failures) >= FAILURES_KEPT:
            return
        row = result.row
        self.failures.append(
            {"line": row.line_number, "photo_id": row.photo_id, "url": row.url, "outcome": result.outcome,
             "reason": result.reason}
        )
        log.warning("line %d, photo %s: %s, %s (%s)", row.line_number, row.photo_id, result.outcome, result.reason,
                    row.url)


def _check_arguments(part: int, num_parts: int, image_size: int, threads: int, timeout: float, retries: int) -> None:
    if num_parts < 1 or not 0 <= part < num_parts:
        raise ValueError(f"part {part} is out of range for {num_parts} parts: expected 0 <= part < num_parts")
    if image_size < 1 or threads < 1 or timeout <= 0 or retries < 0:
        raise ValueError(
            f"invalid download settings image_size={image_size}, threads={threads}, timeout={timeout}, "
            f"retries={retries}: image_size and threads must be at least 1, timeout positive, retries at least 0"
        )


def _load_finished_part(stats_path: Path, num_parts: int, image_size: int) -> dict:
    """Return the stats of a finished part. Raises ValueError if it was made with other settings."""
    with open(stats_path, encoding="utf-8") as handle:
        stats = json.load(handle)
    previous = (stats.get("num_parts"), stats.get("image_size"))
    if previous != (num_parts, image_size):
        raise ValueError(
            f"{stats_path} was written with num_parts={previous[0]}, image_size={previous[1]}, but this call uses "
            f"num_parts={num_parts}, image_size={image_size}. Use another output directory or delete its parts"
        )
    return stats


def download_shard(
    url_list_tsv: str | os.PathLike,
    part: int,
    num_parts: int,
    out_dir: str | os.PathLike,
    image_size: int,
    threads: int = 16,
    timeout: float = 10,
    retries: int = 2,
) -> dict:
    """Download part `part` of `num_parts` of a URL list into `out_dir` and return its stats.

    Writes `{part:05d}.tar` and `{part:05d}_stats.json` (see the module docstring). `timeout` is in seconds per
    connection attempt or read, as urllib applies it, not per download. Timeouts, connection errors and the HTTP
    statuses in RETRYABLE_STATUSES are retried up to `retries` times. The returned dict has `rows`, one count per
    name in OUTCOMES, `failures` (the first FAILURES_KEPT), the settings and `duration_s`. A part whose two files
    exist is not fetched again, and its stored stats are returned.
    """
    _check_arguments(part, num_parts, image_size, threads, timeout, retries)
    tar_path, stats_path = part_paths(out_dir, part)
    if tar_path.exists() and stats_path.exists():
        log.info("part %d already downloaded (%s and %s exist), not fetched again", part, tar_path, stats_path)
        return _load_finished_part(stats_path, num_parts, image_size)

    log.info("part %d of %d: fetching rows %d, %d, ... of %s into %s with %d threads",
             part, num_parts, part, part + num_parts, url_list_tsv, tar_path, threads)
    tally = _Tally()
    start = time.monotonic()
    rows = iter_part_rows(url_list_tsv, part, num_parts)
    progress = tqdm(desc=f"part {part:05d}", unit=" rows", mininterval=PROGRESS_INTERVAL_S)
    with progress, atomic_path(tar_path) as tmp, tarfile.open(tmp, "w", format=tarfile.USTAR_FORMAT) as tar:
        for result in _fetch_in_order(rows, image_size, threads, timeout, retries):
            tally.add(result)
            if result.outcome == "success":
                _write_sample(tar, result)
            progress.update()

    stats = {
        "part": part,
        "num_parts": num_parts,
        "image_size": image_size,
        "url_list": str(url_list_tsv),
        "rows": tally.counts["rows"],
        **{outcome: tally.counts[outcome] for outcome in OUTCOMES},
        "failures": tally.failures,
        "duration_s": round(time.monotonic() - start, 3),
    }
    # The stats file goes last: with the tar, its presence marks the part as finished.
    write_json(stats_path, stats)
    _log_part_summary(tar_path, stats)
    return stats


def _log_part_summary(tar_path: Path, stats: dict) -> None:
    failed = ", ".join(f"{outcome} {stats[outcome]}" for outcome in OUTCOMES[1:])
    log.info("part %d: wrote %d of %d rows to %s in %.1f s; %s",
             stats["part"], stats["success"], stats["rows"], tar_path, stats["duration_s"], failed)


def read_download_stats(path: str | os.PathLike) -> dict:
    """Read one part's stats file, written by `download_shard` or by img2dataset, as one CSV_COLUMNS row.

    The part number comes from the file name `NNNNN_stats.json`. img2dataset (its `write_stats` in logger.py)
    writes `count`, `successes`, `failed_to_download` and `failed_to_resize`. They map to rows, success,
    failed_download (timeouts included) and failed_decode (every decode or resize error). img2dataset has no
    separate timeout, too-large or invalid-row counts, so those cells are None.
    """
    path = Path(path)
    match = _STATS_NAME.fullmatch(path.name)
    if match is None:
        raise ValueError(f"{path}: a stats file name must be NNNNN_stats.json, with NNNNN the part number")
    with open(path, encoding="utf-8") as handle:
        stats = json.load(handle)
    if not isinstance(stats, dict):
        raise ValueError(f"{path}: top level is {type(stats).__name__}, expected an object")

    row = {"part": int(match.group(1))}
    if all(name in stats for name in ("rows", *OUTCOMES)):
        row.update(downloader="weaksup", rows=stats["rows"], **{outcome: stats[outcome] for outcome in OUTCOMES})
    elif all(name in stats for name in ("count", "successes", "failed_to_download", "failed_to_resize")):
        row.update(dict.fromkeys(OUTCOMES))
        row.update(downloader="img2dataset", rows=stats["count"], success=stats["successes"],
                   failed_download=stats["failed_to_download"], failed_decode=stats["failed_to_resize"])
    else:
        raise ValueError(
            f"{path}: neither a download_shard stats file (rows, {', '.join(OUTCOMES)}) nor an img2dataset one "
            f"(count, successes, failed_to_download, failed_to_resize); its keys are {sorted(stats)}"
        )
    return row


def _total_row(rows: list[dict]) -> dict:
    """Sum each count over the parts that report it; a count that no part reports stays None."""
    total = {"part": "total", "downloader": "+".join(sorted({row["downloader"] for row in rows}))}
    for name in ("rows", *OUTCOMES):
        values = [row[name] for row in rows if row[name] is not None]
        total[name] = sum(values) if values else None
    return total


def gather_download_stats(stats_paths: Sequence[str | os.PathLike], out_csv: str | os.PathLike) -> list[dict]:
    """Write one CSV row per stats file (in the given order) plus a `total` row, and return the rows.

    The columns are CSV_COLUMNS. A cell is empty where the downloader does not report that count (see
    `read_download_stats`), and the total sums only the parts that report it.
    """
    if not stats_paths:
        raise ValueError(f"no stats files given for {out_csv}: expected the NNNNN_stats.json file of each part")
    rows = [read_download_stats(path) for path in stats_paths]
    rows.append(_total_row(rows))

    with atomic_open(out_csv, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)

    total = rows[-1]
    log.info("wrote the download stats of %d parts to %s: %s of %s rows downloaded",
             len(rows) - 1, out_csv, total["success"], total["rows"])
    return rows
