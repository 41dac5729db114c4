"""The on-disk corpus format that every corpus source writes and every later step reads.

A corpus is a directory of shards. Shard `i` is three files that share the stem `shard-{i:05d}`:

- `.tar`: an uncompressed tar of `{photo_id}.jpg` members (webdataset-compatible, so `tar tf` and webdataset
  readers work on it);
- `.tsv`: a header line, then one line per photo in the same order as the tar members, with the columns
  `photo_id`, `title`, `description`, `tags` (tags joined by commas); text is decoded (no URL escapes, no HTML)
  but otherwise raw, so cleaning choices can change without rebuilding the corpus;
- `.index.npy`: an int64 array of shape (photos, 2) with the byte offset and size of each JPEG in the tar, so an
  image is read with one seek and one read (random access, needed for exact class-uniform sampling).

Photos are numbered globally by concatenating shards in order; `ImageStore` maps that number to bytes.
"""

from __future__ import annotations

import io
import logging
import os
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from weaksup.atomic import atomic_path

log = logging.getLogger(__name__)

TEXT_COLUMNS = ("photo_id", "title", "description", "tags")
TAG_SEPARATOR = ","


def shard_stem(index: int) -> str:
    return f"shard-{index:05d}"


def _one_line(text: str) -> str:
    """Make a text field safe for one TSV cell: tabs and line breaks become spaces."""
    return " ".join(text.replace("\t", " ").splitlines()) if text else ""


@dataclass
class PhotoText:
    photo_id: str
    title: str = ""
    description: str = ""
    tags: list[str] = field(default_factory=list)

    def caption(self) -> str:
        """Return title, description and tags as one string, the text that the tokenizer reads."""
        return " ".join(part for part in (self.title, self.description, " ".join(self.tags)) if part)


class ShardWriter:
    """Write one shard; the three files appear only when `close()` succeeds (atomic per file).

    Use as a context manager. An exception inside the block leaves no shard files behind.
    """

    def __init__(self, tar_path: str | os.PathLike):
        self.tar_path = Path(tar_path)
        if self.tar_path.suffix != ".tar":
            raise ValueError(f"shard path must end in .tar, got {self.tar_path}")
        self._tar_ctx = atomic_path(self.tar_path)
        self._tar_tmp = self._tar_ctx.__enter__()
        self._tar = tarfile.open(self._tar_tmp, "w", format=tarfile.USTAR_FORMAT)
        self._rows: list[str] = []
        self._ids: set[str] = set()

    def write(self, text: PhotoText, jpeg: bytes) -> None:
        if text.photo_id in self._ids:
            raise ValueError(f"duplicate photo id {text.photo_id!r} in shard {self.tar_path}")
        if not text.photo_id or any(c in text.photo_id for c in "\t\n/ ."):
            raise ValueError(f"invalid photo id {text.photo_id!r}: it must be non-empty, without '/', '.', blanks")
        self._ids.add(text.photo_id)

        info = tarfile.TarInfo(f"{text.photo_id}.jpg")
        info.size = len(jpeg)
        info.mode = 0o644
        self._tar.addfile(info, io.BytesIO(jpeg))

        tags = TAG_SEPARATOR.join(_one_line(tag).replace(TAG_SEPARATOR, " ") for tag in text.tags if tag)
        cells = (text.photo_id, _one_line(text.title), _one_line(text.description), tags)
        self._rows.append("\t".join(cells))

    def __len__(self) -> int:
        return len(self._rows)

    def close(self) -> None:
        self._tar.close()
        offsets = _member_offsets(self._tar_tmp)
        stem = self.tar_path.with_suffix("")
        with atomic_path(f"{stem}.tsv") as tmp:
            tmp.write_text("\t".join(TEXT_COLUMNS) + "\n" + "".join(row + "\n" for row in self._rows), "utf-8")
        with atomic_path(f"{stem}.index.npy") as tmp:
            with open(tmp, "wb") as handle:
                np.save(handle, offsets)
        # The tar goes last: its presence is what marks the shard as complete.
        self._tar_ctx.__exit__(None, None, None)

    def abort(self) -> None:
        self._tar.close()
        self._tar_ctx.__exit__(RuntimeError, RuntimeError("aborted"), None)

    def __enter__(self) -> "ShardWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def _member_offsets(tar_path: Path) -> np.ndarray:
    with tarfile.open(tar_path, "r") as tar:
        members = tar.getmembers()
    return np.array([(m.offset_data, m.size) for m in members], dtype=np.int64).reshape(-1, 2)


def read_shard_text(tsv_path: str | os.PathLike) -> Iterator[PhotoText]:
    """Yield the photos of one shard's text table in shard order."""
    with open(tsv_path, encoding="utf-8") as handle:
        header = handle.readline().rstrip("\n").split("\t")
        if tuple(header) != TEXT_COLUMNS:
            raise ValueError(f"{tsv_path}: header is {header}, expected {list(TEXT_COLUMNS)}")
        for line_number, line in enumerate(handle, start=2):
            cells = line.rstrip("\n").split("\t")
            if len(cells) != len(TEXT_COLUMNS):
                raise ValueError(f"{tsv_path}:{line_number}: {len(cells)} columns, expected {len(TEXT_COLUMNS)}")
            photo_id, title, description, tags = cells
            yield PhotoText(photo_id, title, description, tags.split(TAG_SEPARATOR) if tags else [])


class ImageStore:
    """Random access to the JPEG bytes of every photo of a corpus, by global photo number.

    File handles are opened lazily per process, so a store can be handed to DataLoader workers.
    """

    def __init__(self, tar_paths: Sequence[str | os.PathLike]):
        self.tar_paths = [Path(p) for p in tar_paths]
        indexes = [np.load(p.with_suffix(".index.npy")) for p in self.tar_paths]
        sizes = np.array([len(index) for index in indexes], dtype=np.int64)
        self.shard_starts = np.concatenate([[0], np.cumsum(sizes)])
        self.offsets = np.concatenate(indexes) if indexes else np.zeros((0, 2), dtype=np.int64)
        self._handles: dict[int, object] = {}
        self._pid = None

    def __len__(self) -> int:
        return len(self.offsets)

    def locate(self, photo: int) -> tuple[int, int]:
        """Return (shard number, row within the shard) of a global photo number."""
        shard = int(np.searchsorted(self.shard_starts, photo, side="right")) - 1
        return shard, photo - int(self.shard_starts[shard])

    def read(self, photo: int) -> bytes:
        if not 0 <= photo < len(self):
            raise IndexError(f"photo {photo} out of range for a corpus of {len(self)} photos")
        if self._pid != os.getpid():
            self._handles = {}
            self._pid = os.getpid()
        shard, _ = self.locate(photo)
        handle = self._handles.get(shard)
        if handle is None:
            handle = self._handles[shard] = open(self.tar_paths[shard], "rb", buffering=0)
        offset, size = self.offsets[photo]
        # pread does not move a shared file position, so threads may read from one store at the same time.
        return os.pread(handle.fileno(), int(size), int(offset))

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_handles"] = {}
        state["_pid"] = None
        return state
