"""Word similarity: Spearman correlation between cosine similarities and human ratings.

Joulin et al. (ECCV 2016, Table 5) score embeddings on MEN this way, over the pairs whose two words are both in
the dictionary.
"""

from __future__ import annotations

import logging
from typing import Sequence

import numpy as np
from scipy.stats import spearmanr

from weaksup.embeddings.benchmarks import SimilarityPair
from weaksup.embeddings.vectors import WordEmbedding

log = logging.getLogger(__name__)


def evaluate_similarity(embedding: WordEmbedding, pairs: Sequence[SimilarityPair]) -> dict:
    """Return the Spearman correlation of cosine similarity and rating over pairs whose words both have a vector.

    The result contains spearman (None with fewer than two kept pairs, or when either side is constant),
    pairs (all), kept and dropped.
    """
    first = embedding.indices(pair.word1 for pair in pairs)
    second = embedding.indices(pair.word2 for pair in pairs)
    kept = (first >= 0) & (second >= 0)
    kept_count = int(kept.sum())

    spearman = None
    if kept_count >= 2:
        unit = embedding.unit_vectors()
        cosines = np.einsum("ij,ij->i", unit[first[kept]], unit[second[kept]])
        ratings = np.array([pair.score for pair in pairs], dtype=np.float64)[kept]
        # spearmanr returns NaN (with a warning) when one side is constant, where the correlation is undefined.
        if np.ptp(cosines) > 0 and np.ptp(ratings) > 0:
            spearman = float(spearmanr(cosines, ratings).statistic)
        else:
            log.warning("similarity: the %s of the %d kept pairs are all equal, so the correlation is undefined",
                        "cosines" if np.ptp(cosines) == 0 else "ratings", kept_count)

    result = {"spearman": spearman, "pairs": len(pairs), "kept": kept_count, "dropped": len(pairs) - kept_count}
    log.info("similarity: kept %d of %d pairs (%d dropped for words without a vector), Spearman %s",
             kept_count, len(pairs), result["dropped"], "n/a" if spearman is None else f"{spearman:.4f}")
    return result
