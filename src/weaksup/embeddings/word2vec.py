"""The word2vec baseline: gensim Word2Vec trained on all corpus text, then restricted to the dictionary words.

Joulin et al. (ECCV 2016, Tables 4 and 5) compare their embeddings with word2vec trained on all Flickr comments
and evaluated on the dictionary words only. Here a sentence is the token list of one photo, read from the tokens
TSVs that `weaksup.text.pipeline.tokenize_shard` writes.
"""

from __future__ import annotations

import logging
import os
from typing import Collection, Iterable, Iterator, Sequence

import numpy as np
from gensim.models import Word2Vec
from tqdm import tqdm

from weaksup.embeddings.vectors import WordEmbedding
from weaksup.targets import SPLIT_NAMES
from weaksup.text.pipeline import read_tokens

log = logging.getLogger(__name__)


class TokenSentences:
    """Token lists of the photos in tokens TSVs, one list per photo, re-read from disk on every iteration.

    gensim iterates a corpus once to build its vocabulary and once per epoch, so a generator would not do.
    Photos without tokens are skipped and counted per pass. `splits` (TRAIN, VALIDATION, TEST from
    `weaksup.targets`) limits the photos to those splits; None keeps every photo.
    """

    def __init__(self, tokens_paths: Sequence[str | os.PathLike], splits: Collection[int] | None = None):
        if not tokens_paths:
            raise ValueError("no tokens files given; pass the tokens TSVs of the corpus shards")
        self.tokens_paths = list(tokens_paths)
        self.splits = None if splits is None else frozenset(splits)
        self.passes = 0

    def __iter__(self) -> Iterator[list[str]]:
        self.passes += 1
        photos = without_tokens = other_splits = 0
        progress = tqdm(self.tokens_paths, desc=f"word2vec corpus pass {self.passes}", unit=" files")
        for path in progress:
            for _, split, tokens in read_tokens(path):
                if self.splits is not None and split not in self.splits:
                    other_splits += 1
                elif not tokens:
                    without_tokens += 1
                else:
                    photos += 1
                    yield tokens

        log.info("word2vec corpus pass %d: %d photos from %d files; skipped %d without tokens and %d of other "
                 "splits than %s", self.passes, photos, len(self.tokens_paths), without_tokens, other_splits,
                 "all" if self.splits is None else sorted(SPLIT_NAMES[split] for split in self.splits))


def fit_word2vec(
    sentences: Iterable[list[str]],
    skip_gram: bool = True,
    vector_size: int = 300,
    window: int = 5,
    min_count: int = 5,
    negative: int = 5,
    sample: float = 1e-3,
    epochs: int = 5,
    workers: int = 4,
    seed: int = 0,
) -> WordEmbedding:
    """Train gensim Word2Vec on `sentences` and return the vectors of its whole vocabulary.

    `sentences` must be re-iterable (a list or `TokenSentences`). Joulin et al. do not give their word2vec
    settings. window, min_count, negative, sample and epochs default to gensim 4.4's values. Skip-gram in place
    of CBOW and 300 dimensions in place of 100 are this project's choice.
    NOTE: only `workers=1` gives the same vectors on every run, because gensim's worker threads interleave updates.
    """
    if iter(sentences) is sentences:
        raise TypeError("sentences is a one-pass iterator; pass a list or TokenSentences, which gensim can re-read")

    log.info("training word2vec: %s, %d dimensions, window %d, min_count %d, %d negative samples, sample %g, "
             "%d epochs, %d workers, seed %d", "skip-gram" if skip_gram else "CBOW", vector_size, window, min_count,
             negative, sample, epochs, workers, seed)
    model = Word2Vec(
        sentences=sentences, sg=int(skip_gram), vector_size=vector_size, window=window, min_count=min_count,
        negative=negative, sample=sample, epochs=epochs, workers=workers, seed=seed,
    )
    words = list(model.wv.index_to_key)
    vectors = model.wv.vectors if words else np.zeros((0, vector_size), dtype=np.float32)
    return WordEmbedding(words, vectors)


def train_word2vec(sentences: Iterable[list[str]], dictionary_words: Sequence[str], **options) -> WordEmbedding:
    """Train word2vec (see `fit_word2vec` for the options) and return the vectors of the dictionary words.

    Dictionary words that word2vec has no vector for (fewer than `min_count` occurrences) are listed in
    `missing_words`, and evaluation treats them as absent.
    """
    if not dictionary_words:
        raise ValueError("the dictionary is empty")
    return restrict_to_dictionary(fit_word2vec(sentences, **options), dictionary_words)


def restrict_to_dictionary(vocabulary: WordEmbedding, dictionary_words: Sequence[str]) -> WordEmbedding:
    """Return the vectors of the dictionary words that `vocabulary` has, in dictionary order."""
    present = [word for word in dictionary_words if word in vocabulary]
    missing = [word for word in dictionary_words if word not in vocabulary]
    rows = [vocabulary.index(word) for word in present]
    vectors = vocabulary.vectors[rows] if present else np.zeros((0, vocabulary.dimension), dtype=np.float32)

    log.info("word2vec vocabulary: %d words; %d of %d dictionary words have a vector, %d have none%s",
             len(vocabulary), len(present), len(dictionary_words), len(missing),
             f" (for example {missing[:10]})" if missing else "")
    return WordEmbedding(present, vectors, missing_words=missing)
