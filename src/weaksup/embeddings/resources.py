"""The benchmark files of the word-embedding experiment, gathered from the sources that the config names.

A benchmark (the analogy questions, a similarity set, the English-French dictionary) is given in the config as
one of:
- `{gensim: FILE}`: a test-data file that ships inside the gensim package (questions-words.txt,
  wordsim353.tsv, simlex999.txt);
- `{url: URL, md5: ..., sha256: ..., member: NAME}`: a download, verified when a checksum is given, and for an
  archive (zip or tar) the member to take from it;
- `{path: PATH}`: a local file;
- `{demo: true}`: for the demo corpus only, its English-French dictionary or its translation analogies, built
  from the glyph names it has in every language (`weaksup.embeddings.demo_dictionary`).
Each is copied to one plain file, so every later step reads the same file whatever the source.
"""

from __future__ import annotations

import logging
import os
import shutil
import tarfile
import zipfile
from pathlib import Path
from typing import Any, Mapping

from weaksup.atomic import atomic_path
from weaksup.embeddings.demo_dictionary import (
    demo_analogy_questions,
    demo_bilingual_pairs,
    write_analogy_questions,
    write_bilingual_dictionary,
)
from weaksup.embeddings.evaluate import gensim_data_file

log = logging.getLogger(__name__)


def _copy_member(archive: Path, member: str, out_path: Path) -> None:
    with atomic_path(out_path) as tmp:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as handle:
                if member not in handle.namelist():
                    raise FileNotFoundError(f"{archive} has no member {member!r}; it has {handle.namelist()[:10]}")
                tmp.write_bytes(handle.read(member))
        else:
            with tarfile.open(archive) as handle:
                try:
                    data = handle.extractfile(member)
                except KeyError:
                    raise FileNotFoundError(f"{archive} has no member {member!r}") from None
                tmp.write_bytes(data.read())


def _copy(source: Path, out_path: Path) -> None:
    with atomic_path(out_path) as tmp:
        shutil.copyfile(source, tmp)


def gather_benchmark(name: str, spec: Mapping[str, Any], out_path: str | os.PathLike,
                     downloaded: str | os.PathLike | None = None,
                     demo_corpus: Mapping[str, Any] | None = None) -> None:
    """Write the benchmark `name` to `out_path` from its config `spec` (see the module docstring).

    `downloaded` is the downloaded file of a `url` spec; `demo_corpus` is the demo corpus's config section, needed
    by a `demo` spec.
    """
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    if "gensim" in spec:
        source = gensim_data_file(spec["gensim"])
        _copy(source, out_path)
    elif "url" in spec:
        if downloaded is None:
            raise ValueError(f"benchmark {name} is a download, but no downloaded file was given")
        source = Path(downloaded)
        if spec.get("member"):
            _copy_member(source, spec["member"], out_path)
        else:
            _copy(source, out_path)
    elif "path" in spec:
        source = Path(spec["path"])
        if not source.is_file():
            raise FileNotFoundError(f"benchmark {name}: file {source} not found; fix 'path' in the embeddings "
                                    "section of the config")
        _copy(source, out_path)
    elif spec.get("demo"):
        if not demo_corpus:
            raise ValueError(f"benchmark {name} is built from the demo corpus, but the corpus is not the demo")
        source = "the demo corpus's glyph names"
        languages, max_glyphs = demo_corpus["languages"], demo_corpus.get("max_glyphs")
        if name == "analogies":
            write_analogy_questions(out_path, demo_analogy_questions(languages, max_glyphs))
        else:
            write_bilingual_dictionary(out_path, demo_bilingual_pairs(languages, max_glyphs))
    else:
        raise ValueError(f"benchmark {name}: {dict(spec)} names no source; use gensim, url, path or demo")
    log.info("benchmark %s: wrote %s from %s", name, out_path, source)
