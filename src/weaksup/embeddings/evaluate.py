"""All word-embedding evaluations of one embedding, as one JSON-ready result (Tables 4 to 7 of Joulin et al.).

Joulin et al. (ECCV 2016) evaluate each network's final layer, and a word2vec baseline, on analogy questions
(Table 4), word similarity (Table 5, MEN), English-French translation precision@k (Table 6) and the ten most
similar English-French pairs (Table 7). `evaluate_embedding` runs each evaluation whose benchmark file is given
and leaves out, with a log line, each one whose file is None.

gensim ships Mikolov's analogy questions and two similarity sets (WordSim-353 and SimLex-999) as test data, so
they are available offline. MEN and the English-French dictionary are not shipped with any installed package.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
from gensim.test.utils import datapath

from weaksup.atomic import write_json
from weaksup.embeddings.analogies import evaluate_analogies
from weaksup.embeddings.benchmarks import read_analogy_questions, read_bilingual_dictionary, read_similarity_pairs
from weaksup.embeddings.similarity import evaluate_similarity
from weaksup.embeddings.translation import DEFAULT_KS, evaluate_translation, top_translation_pairs
from weaksup.embeddings.vectors import DEFAULT_BLOCK_ELEMENTS, WordEmbedding

log = logging.getLogger(__name__)

GENSIM_ANALOGY_FILE = "questions-words.txt"
# Similarity-set name -> file name in gensim's test data.
GENSIM_SIMILARITY_FILES = {"wordsim353": "wordsim353.tsv", "simlex999": "simlex999.txt"}
TOP_PAIRS = 10

SOURCE_KINDS = ("network", "word2vec")
SOURCE_KEYS = ("name", "kind", "arch", "K", "loss")


def gensim_data_file(name: str) -> Path:
    """Return the path of a file in gensim's test data (`gensim.test.utils.datapath`), checking that it exists."""
    path = Path(datapath(name))
    if not path.is_file():
        raise FileNotFoundError(f"{name} not found at {path}; the installed gensim lacks its test data, "
                                "reinstall gensim or pass the benchmark file's path")
    return path


def gensim_analogy_path() -> Path:
    """Return the path of Mikolov's `questions-words.txt` (8,869 semantic and 10,675 syntactic questions)."""
    return gensim_data_file(GENSIM_ANALOGY_FILE)


def gensim_similarity_paths() -> dict[str, Path]:
    """Return the paths of the similarity sets that gensim ships, keyed "wordsim353" and "simlex999"."""
    return {name: gensim_data_file(file_name) for name, file_name in GENSIM_SIMILARITY_FILES.items()}


def _existing_file(path: str | os.PathLike, benchmark: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{benchmark} file {path} not found; pass an existing file, or None to skip "
                                f"the {benchmark} evaluation")
    return path


def evaluate_embedding(
    embedding: WordEmbedding,
    analogy_path: str | os.PathLike | None,
    similarity_paths: Mapping[str, str | os.PathLike | None],
    bilingual_path: str | os.PathLike | None,
    ks: Sequence[int] = DEFAULT_KS,
    candidate_set: str = "bilingual_dictionary",
    top_pairs: int = TOP_PAIRS,
    block_elements: int = DEFAULT_BLOCK_ELEMENTS,
    device: str | torch.device = "cpu",
) -> dict[str, Any]:
    """Run the analogy, similarity and translation evaluations of one embedding and return them as one dict.

    Keys: "embedding" (words, dimension, missing_words), "analogies" (see `evaluate_analogies`), "similarity"
    (set name -> `evaluate_similarity` result), "translation" (see `evaluate_translation`) and "top_pairs"
    (`top_translation_pairs`, the `top_pairs` best English-French pairs). Each part also stores its benchmark
    file as "path", and "translation" also stores the sorted `ks`. A part whose benchmark path is None is absent,
    and so is a similarity set whose path is None. A path that does not exist raises FileNotFoundError.
    """
    result: dict[str, Any] = {
        "embedding": {"words": len(embedding), "dimension": embedding.dimension,
                      "missing_words": len(embedding.missing_words)},
    }

    if analogy_path is None:
        log.warning("no analogy questions given; the result has no analogy part (Table 4)")
    else:
        path = _existing_file(analogy_path, "analogy")
        result["analogies"] = {**evaluate_analogies(embedding, read_analogy_questions(path), block_elements, device),
                               "path": str(path)}

    result["similarity"] = {}
    for name, similarity_path in similarity_paths.items():
        if similarity_path is None:
            log.warning("no file given for similarity set %r; it is absent from the result (Table 5)", name)
            continue
        path = _existing_file(similarity_path, f"similarity set {name!r}")
        log.info("evaluating similarity set %r from %s", name, path)
        result["similarity"][name] = {**evaluate_similarity(embedding, read_similarity_pairs(path)),
                                      "path": str(path)}

    if bilingual_path is None:
        log.warning("no English-French dictionary given; the result has no translation part (Tables 6 and 7)")
    else:
        path = _existing_file(bilingual_path, "English-French dictionary")
        pairs = read_bilingual_dictionary(path)
        translation = evaluate_translation(embedding, pairs, ks, candidate_set, block_elements, device)
        result["translation"] = {**translation, "ks": sorted(ks), "path": str(path)}
        result["top_pairs"] = top_translation_pairs(embedding, pairs, top_pairs, block_elements, device)

    parts = [part for part in ("analogies", "translation") if part in result]
    log.info("evaluated an embedding of %d words: %s, similarity sets %s", len(embedding),
             ", ".join(parts) or "no analogy or translation part", sorted(result["similarity"]) or "none")
    return result


def check_source(source: Mapping[str, Any]) -> None:
    """Raise ValueError unless `source` describes an embedding source as the table writers expect."""
    missing = [key for key in SOURCE_KEYS if key not in source]
    if missing:
        raise ValueError(f"embedding source {dict(source)} lacks the keys {missing}; expected {list(SOURCE_KEYS)} "
                         "(arch and loss may be None for word2vec)")
    if not isinstance(source["name"], str) or not source["name"]:
        raise ValueError(f"embedding source name {source['name']!r} is invalid; expected a non-empty string")
    if source["kind"] not in SOURCE_KINDS:
        raise ValueError(f"embedding source kind {source['kind']!r} is invalid; expected one of {SOURCE_KINDS}")
    if isinstance(source["K"], bool) or not isinstance(source["K"], int) or source["K"] < 1:
        raise ValueError(f"embedding source K {source['K']!r} is invalid; expected the dictionary size, an "
                         "integer >= 1")


def write_embedding_result(
    path: str | os.PathLike, result: Mapping[str, Any], source: Mapping[str, Any], corpus: str
) -> dict[str, Any]:
    """Write `result` of `evaluate_embedding` with its `source` and `corpus` to a JSON file, atomically.

    `source` contains name, kind ("network" or "word2vec"), arch, K and loss. The written dict is returned.
    """
    check_source(source)
    document = {**result, "source": dict(source), "corpus": corpus}
    write_json(path, document)
    log.info("wrote %s: embedding %s (%s, K=%d) of corpus %s", path, source["name"], source["kind"], source["K"],
             corpus)
    return document
