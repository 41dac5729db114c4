"""Word embeddings in memory and on disk, and nearest-neighbour search by cosine similarity in bounded memory.

Joulin et al. (ECCV 2016) read the final layer W of a word-prediction network as a word embedding: one E-vector
per dictionary word. In this project that layer is the model's `head`, an `nn.Linear(E, K)` whose weight (K, E)
has row k for dictionary word k (see `weaksup.models`).

An embedding file is an uncompressed `.npz` with the arrays `words` (unicode, K), `vectors` (float32, K x E) and
`missing_words` (unicode): dictionary words without a vector, as left by `train_word2vec`.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np
import torch
from tqdm import tqdm

from weaksup.atomic import save_npz
from weaksup.models import load_model
from weaksup.text.dictionary import load_dictionary

log = logging.getLogger(__name__)

# Scores computed per block of queries: 2**24 float32 values are 64 MiB, so searching 20,000 analogy questions
# against K = 100,000 words takes blocks of 167 questions instead of one 8 GB matrix.
DEFAULT_BLOCK_ELEMENTS = 1 << 24


@dataclass(eq=False)
class WordEmbedding:
    """Word vectors: row i of `vectors` (float32, shape (len(words), E)) belongs to `words[i]`.

    `missing_words` are dictionary words that have no vector. Evaluation treats them like words outside the
    dictionary, and they are kept here only so that reports can count them.
    """

    words: list[str]
    vectors: np.ndarray
    missing_words: list[str] = field(default_factory=list)
    _index: dict[str, int] = field(init=False, repr=False)
    _unit: np.ndarray | None = field(init=False, repr=False, default=None)

    def __post_init__(self) -> None:
        self.words = list(self.words)
        self.missing_words = list(self.missing_words)
        self.vectors = np.ascontiguousarray(self.vectors, dtype=np.float32)
        if self.vectors.ndim != 2 or self.vectors.shape[0] != len(self.words):
            raise ValueError(
                f"vectors of shape {self.vectors.shape} do not match {len(self.words)} words; "
                "expected one row per word"
            )

        self._index = {word: row for row, word in enumerate(self.words)}
        if len(self._index) != len(self.words):
            repeated = sorted(word for word, count in Counter(self.words).items() if count > 1)
            raise ValueError(f"words listed more than once: {repeated[:10]}")

        bad_rows = np.flatnonzero(~np.isfinite(self.vectors).all(axis=1))
        if len(bad_rows):
            examples = [self.words[row] for row in bad_rows[:10]]
            raise ValueError(
                f"{len(bad_rows)} word vectors contain NaN or infinite values, for example {examples}; "
                "the training that produced them diverged"
            )

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self._index

    @property
    def dimension(self) -> int:
        return self.vectors.shape[1]

    def index(self, word: str) -> int:
        """Return the row of `word`; raise KeyError if it has no vector."""
        return self._index[word]

    def indices(self, words: Iterable[str]) -> np.ndarray:
        """Return the row of each word as int64, with -1 for a word that has no vector."""
        return np.array([self._index.get(word, -1) for word in words], dtype=np.int64)

    def unit_vectors(self) -> np.ndarray:
        """Return a copy of `vectors` with every row scaled to length 1, computed once and cached.

        A zero row stays zero, so its cosine similarity with every word is 0.
        """
        if self._unit is None:
            norms = np.linalg.norm(self.vectors, axis=1, keepdims=True)
            zero_rows = int(np.count_nonzero(norms == 0))
            if zero_rows:
                log.warning("%d of %d word vectors are zero; their cosine similarity is 0 with every word",
                            zero_rows, len(self))
            self._unit = self.vectors / np.where(norms == 0, 1, norms)
        return self._unit


def load_word_embedding(
    model_path: str | os.PathLike, dictionary_path: str | os.PathLike
) -> tuple[list[str], np.ndarray]:
    """Return the dictionary words and the model's final-layer weight (float32, K x E), row k for word k.

    The dictionary must be the one the model was trained with. Only its length is checked against K.
    """
    model, _ = load_model(model_path)
    weight = model.head.weight.detach().cpu().numpy().astype(np.float32)
    words = load_dictionary(dictionary_path)
    if len(words) != weight.shape[0]:
        raise ValueError(
            f"{model_path} has K={weight.shape[0]} output words but {dictionary_path} lists {len(words)}; "
            "pass the dictionary that the model was trained with"
        )
    log.info("read a word embedding of %d words x %d dimensions from %s", weight.shape[0], weight.shape[1], model_path)
    return words, weight


def save_embedding(path: str | os.PathLike, embedding: WordEmbedding) -> None:
    """Write `embedding` as an embedding `.npz` file, atomically."""
    save_npz(
        path,
        words=np.array(embedding.words, dtype=str),
        vectors=embedding.vectors,
        missing_words=np.array(embedding.missing_words, dtype=str),
    )
    log.info("wrote %s: %d word vectors of dimension %d, %d missing words",
             path, len(embedding), embedding.dimension, len(embedding.missing_words))


def load_embedding(path: str | os.PathLike) -> WordEmbedding:
    """Read an embedding `.npz` file written by `save_embedding`."""
    with np.load(path, allow_pickle=False) as arrays:
        absent = {"words", "vectors", "missing_words"} - set(arrays.files)
        if absent:
            raise ValueError(f"{path}: not an embedding file, the arrays {sorted(absent)} are missing")
        return WordEmbedding(arrays["words"].tolist(), arrays["vectors"], arrays["missing_words"].tolist())


def top_k_dot(
    queries: np.ndarray,
    candidates: np.ndarray,
    k: int,
    excluded: np.ndarray | None = None,
    block_elements: int = DEFAULT_BLOCK_ELEMENTS,
    device: str | torch.device = "cpu",
    desc: str = "nearest neighbours",
) -> tuple[np.ndarray, np.ndarray]:
    """Return the scores and candidate positions (both (Q, k), best first) of the k largest dot products per query.

    With unit-length `candidates` (N, E), the order is that of cosine similarity, whatever the length of each row
    of `queries` (Q, E). `excluded` (Q, m) lists candidate positions that a query must skip, padded with -1.
    Scores are computed for blocks of queries of about `block_elements` values, so memory stays bounded for any
    N. k is capped at N. An excluded candidate can still appear, with score -inf, only when k exceeds the number
    of candidates left.
    """
    num_queries, num_candidates = len(queries), len(candidates)
    k = min(k, num_candidates)
    top_scores = np.empty((num_queries, k), dtype=np.float32)
    top_positions = np.empty((num_queries, k), dtype=np.int64)
    if num_queries == 0 or k == 0:
        return top_scores, top_positions

    candidate_tensor = torch.from_numpy(np.ascontiguousarray(candidates, dtype=np.float32)).to(device)
    rows = max(1, block_elements // num_candidates)
    for start in tqdm(range(0, num_queries, rows), desc=desc, unit=" blocks"):
        stop = min(start + rows, num_queries)
        block = torch.from_numpy(np.ascontiguousarray(queries[start:stop], dtype=np.float32)).to(device)
        scores = block @ candidate_tensor.T

        if excluded is not None:
            skip = torch.from_numpy(excluded[start:stop]).to(device)
            query_rows, columns = torch.nonzero(skip >= 0, as_tuple=True)
            scores[query_rows, skip[query_rows, columns]] = -torch.inf

        values, positions = torch.topk(scores, k, dim=1)
        top_scores[start:stop] = values.cpu().numpy()
        top_positions[start:stop] = positions.cpu().numpy()
    return top_scores, top_positions
