"""Unpacking the released archives of a transfer dataset into one directory that its reader reads."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path
from typing import Sequence

log = logging.getLogger(__name__)

TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")
# Command lines that unpack a RAR archive (UIUC Sports is released as one) into the current directory, tried in
# this order. Python's standard library cannot read RAR.
RAR_TOOLS = (("unrar", "x", "-o+", "-idq"), ("bsdtar", "-xf"), ("7z", "x", "-y"))


def _safe_tar_extract(archive: Path, out_dir: Path) -> None:
    with tarfile.open(archive) as tar:
        # The "data" filter (Python 3.12, backported to 3.11.4) rejects absolute paths, links out of the tree
        # and device files, which a downloaded archive must not be trusted with.
        tar.extractall(out_dir, filter="data")


def _safe_zip_extract(archive: Path, out_dir: Path) -> None:
    root = out_dir.resolve()
    with zipfile.ZipFile(archive) as handle:
        for member in handle.namelist():
            target = (out_dir / member).resolve()
            if root != target and root not in target.parents:
                raise ValueError(f"{archive}: member {member!r} would be written outside {out_dir}; the archive "
                                 "is not a released dataset archive")
        handle.extractall(out_dir)


def _rar_extract(archive: Path, out_dir: Path) -> None:
    for command in RAR_TOOLS:
        if shutil.which(command[0]):
            subprocess.run([*command, str(archive.resolve())], cwd=out_dir, check=True)
            return
    raise RuntimeError(f"{archive} is a RAR archive and none of {', '.join(c[0] for c in RAR_TOOLS)} is installed; "
                       "install one (for example `conda install -c conda-forge libarchive` for bsdtar), or "
                       "extract it by hand and set the dataset's 'path' in the config")


def extract_archives(archives: Sequence[str | os.PathLike], out_dir: str | os.PathLike) -> None:
    """Unpack every archive (tar, zip, rar) into `out_dir` and copy any other file there unchanged.

    Files go to a temporary sibling directory that is renamed to `out_dir` at the end, so an interrupted
    extraction never leaves a directory that looks complete.
    """
    out_dir = Path(out_dir)
    partial = out_dir.with_name(out_dir.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)
    partial.mkdir(parents=True)
    for archive in map(Path, archives):
        name = archive.name.lower()
        log.info("unpacking %s (%.1f MB)", archive, archive.stat().st_size / 1e6)
        if name.endswith(TAR_SUFFIXES):
            _safe_tar_extract(archive, partial)
        elif name.endswith(".zip"):
            _safe_zip_extract(archive, partial)
        elif name.endswith(".rar"):
            _rar_extract(archive, partial)
        else:
            shutil.copy2(archive, partial / archive.name)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    partial.rename(out_dir)
    log.info("unpacked %d files into %s", len(archives), out_dir)
