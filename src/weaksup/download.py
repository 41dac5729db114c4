"""Resumable, checksummed HTTP downloads for the workflow's download rules."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import urllib.request
from pathlib import Path

from tqdm import tqdm

log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20


def digest_of(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Return the hex digest of a file with a `hashlib` algorithm ("sha256", "md5")."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_of(path: str | os.PathLike) -> str:
    return digest_of(path, "sha256")


def download_file(url: str | None, out_path: str | os.PathLike, sha256: str | None = None, timeout: float = 60,
                  md5: str | None = None) -> None:
    """Download `url` to `out_path`, resuming a partial `.part` file with an HTTP Range request.

    The file appears at `out_path` only once complete and, when `sha256` (the full hex digest or a prefix of at
    least 8 digits) or `md5` (the full hex digest, the form several dataset pages publish) is given, verified.
    """
    out_path = Path(out_path)
    if not url:
        raise ValueError(
            f"no download URL is configured for {out_path}: set the URL in the config, or place the file there "
            "by hand (Snakemake then skips this download)"
        )
    part = out_path.with_name(out_path.name + ".part")
    part.parent.mkdir(parents=True, exist_ok=True)
    start = part.stat().st_size if part.exists() else 0

    request = urllib.request.Request(url, headers={"Range": f"bytes={start}-"} if start else {})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        resumed = start > 0 and response.status == 206
        if start and not resumed:
            log.info("server ignored the range request; restarting %s from byte 0", url)
        length = response.headers.get("Content-Length")
        total = None
        if length:
            total = int(length) + (start if resumed else 0)
        log.info("downloading %s to %s (%s bytes%s)", url, out_path, total or "unknown",
                 f", resuming at byte {start}" if resumed else "")
        with open(part, "ab" if resumed else "wb") as handle, tqdm(
            total=total, initial=start if resumed else 0, unit="B", unit_scale=True, mininterval=5
        ) as progress:
            for chunk in iter(lambda: response.read(CHUNK_BYTES), b""):
                handle.write(chunk)
                progress.update(len(chunk))

    if sha256:
        actual = sha256_of(part)
        # A prefix is accepted because torchvision publishes only the first 8 hex digits (in its file names).
        if not actual.startswith(sha256.lower()):
            part.unlink()
            raise ValueError(f"checksum mismatch for {url}: expected sha256 {sha256}, got {actual}; the partial file was removed")
        log.info("sha256 verified: %s", actual)
    if md5:
        actual = digest_of(part, "md5")
        if actual != md5.lower():
            part.unlink()
            raise ValueError(f"checksum mismatch for {url}: expected md5 {md5}, got {actual}; the partial file was removed")
        log.info("md5 verified: %s", actual)
    if not sha256 and not md5:
        log.warning("no checksum configured for %s; the file is not verified (sha256 %s)", url, sha256_of(part))
    shutil.move(part, out_path)
