"""English-French word translation with a shared word embedding, and the most similar English-French pairs.

Joulin et al. (ECCV 2016, Tables 6 and 7) keep the pairs of an English-French dictionary whose two words are
different and both in the model's dictionary (309 pairs at K = 10,000, 3,008 at K = 100,000), rank the words of
the other language by cosine similarity with a query word, and report precision@k in both directions.

Choices made here, where Joulin et al. give no detail:

- Pairs are compared after `normalize_word` and counted once each. A query is a distinct word of the source side
  of the kept pairs, and its references are all its translations among the kept pairs. It counts as correct at k
  when any reference is among its k highest-ranked candidates.
- Candidates (`candidate_set="bilingual_dictionary"`, the default) are all embedding words that appear on the
  target side of the bilingual dictionary, including words of pairs that were dropped. With
  `candidate_set="kept_pairs"` they are only the target words of the kept pairs.
- A query that is itself a candidate (a word on both sides of the dictionary) is removed from its own ranking,
  because a nonzero vector has cosine 1 with itself and identical pairs are never counted as translations.
- Chance at k is k / candidates, the precision@k of a random ranking for a query with one reference (one
  candidate fewer for a query removed from its own ranking is ignored).

NOTE: Joulin et al.'s chance levels at k = 1 (0.0032 for 309 pairs, 0.00033 for 3,008 pairs) equal 1 / pairs
rounded to two significant digits. That suggests they ranked only the target words of the kept pairs, which is
`candidate_set="kept_pairs"`, but the default follows the wider reading of "the words in the other language".
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Sequence

import numpy as np
import torch

from weaksup.embeddings.vectors import DEFAULT_BLOCK_ELEMENTS, WordEmbedding, top_k_dot

log = logging.getLogger(__name__)

DEFAULT_KS = (1, 5, 10)
CANDIDATE_SETS = ("bilingual_dictionary", "kept_pairs")


def keep_translation_pairs(
    embedding: WordEmbedding, pairs: Sequence[tuple[str, str]]
) -> tuple[list[tuple[str, str]], dict[str, int]]:
    """Return the distinct pairs whose words differ and both have a vector, and counts of what was dropped.

    The counts are lines (pairs in the input), distinct, identical (same word on both sides),
    not_in_dictionary (different words, at least one without a vector) and kept.
    """
    distinct = list(dict.fromkeys(pairs))
    identical = [pair for pair in distinct if pair[0] == pair[1]]
    kept = [(source, target) for source, target in distinct
            if source != target and source in embedding and target in embedding]
    counts = {
        "lines": len(pairs),
        "distinct": len(distinct),
        "identical": len(identical),
        "not_in_dictionary": len(distinct) - len(identical) - len(kept),
        "kept": len(kept),
    }
    return kept, counts


def _side_words(embedding: WordEmbedding, words: Sequence[str]) -> list[str]:
    """Return the distinct words that have a vector, in embedding row order (dictionary rank)."""
    present = {word for word in words if word in embedding}
    return sorted(present, key=embedding.index)


def rank_translations(
    embedding: WordEmbedding,
    kept_pairs: Sequence[tuple[str, str]],
    candidates: Sequence[str],
    ks: Sequence[int] = DEFAULT_KS,
    block_elements: int = DEFAULT_BLOCK_ELEMENTS,
    device: str | torch.device = "cpu",
) -> dict:
    """Return precision@k for translating the source words of `kept_pairs` into `candidates`, one direction.

    The result contains queries, candidates, and precision@k and chance@k for each k.
    """
    references: dict[str, set[str]] = defaultdict(set)
    for source, target in kept_pairs:
        references[source].add(target)
    queries = sorted(references, key=embedding.index)
    position = {word: number for number, word in enumerate(candidates)}
    missing = sorted({target for targets in references.values() for target in targets} - position.keys())
    if missing:
        raise ValueError(f"translations {missing[:10]} are not among the candidates; add every kept target word")

    unit = embedding.unit_vectors()
    excluded = np.array([[position.get(query, -1)] for query in queries], dtype=np.int64).reshape(-1, 1)
    _, ranked = top_k_dot(unit[embedding.indices(queries)], unit[embedding.indices(candidates)], max(ks),
                          excluded=excluded, block_elements=block_elements, device=device, desc="translations")

    hits = np.zeros(ranked.shape, dtype=bool)
    for row, query in enumerate(queries):
        reference_positions = [position[target] for target in references[query]]
        hits[row] = np.isin(ranked[row], reference_positions)

    result: dict = {"queries": len(queries), "candidates": len(candidates)}
    for k in sorted(ks):
        result[f"precision@{k}"] = float(hits[:, :k].any(axis=1).mean()) if queries else None
        result[f"chance@{k}"] = min(1.0, k / len(candidates)) if candidates else None
    return result


def evaluate_translation(
    embedding: WordEmbedding,
    pairs: Sequence[tuple[str, str]],
    ks: Sequence[int] = DEFAULT_KS,
    candidate_set: str = "bilingual_dictionary",
    block_elements: int = DEFAULT_BLOCK_ELEMENTS,
    device: str | torch.device = "cpu",
) -> dict:
    """Return translation precision@k in both directions for bilingual (English, French) `pairs`.

    The result contains "pairs" (the counts of `keep_translation_pairs`), the candidate set, and one dict per
    direction, "en_fr" and "fr_en", as returned by `rank_translations`.
    """
    if candidate_set not in CANDIDATE_SETS:
        raise ValueError(f"unknown candidate set {candidate_set!r}; use one of {CANDIDATE_SETS}")
    if not ks or min(ks) < 1:
        raise ValueError(f"ks must be positive integers, got {list(ks)}")

    kept, counts = keep_translation_pairs(embedding, pairs)
    candidate_pairs = kept if candidate_set == "kept_pairs" else pairs
    english = _side_words(embedding, [source for source, _ in candidate_pairs])
    french = _side_words(embedding, [target for _, target in candidate_pairs])
    reversed_kept = [(target, source) for source, target in kept]

    result = {
        "pairs": counts,
        "candidate_set": candidate_set,
        "en_fr": rank_translations(embedding, kept, french, ks, block_elements, device),
        "fr_en": rank_translations(embedding, reversed_kept, english, ks, block_elements, device),
    }
    k = min(ks)
    log.info("translation: %d pairs kept of %d distinct (%d identical, %d with a word outside the dictionary); "
             "precision@%d en->fr %s over %d candidates, fr->en %s over %d candidates",
             counts["kept"], counts["distinct"], counts["identical"], counts["not_in_dictionary"], k,
             result["en_fr"][f"precision@{k}"], len(french), result["fr_en"][f"precision@{k}"], len(english))
    return result


def top_translation_pairs(
    embedding: WordEmbedding,
    pairs: Sequence[tuple[str, str]],
    count: int = 10,
    block_elements: int = DEFAULT_BLOCK_ELEMENTS,
    device: str | torch.device = "cpu",
) -> list[dict]:
    """Return the `count` English-French word pairs of highest cosine similarity, best first.

    English words are the embedding words on the English side of `pairs`, French words those on the French
    side, and a pair of one word with itself is skipped. Each entry contains english, french, cosine and correct
    (whether the pair is in `pairs`).
    """
    english = _side_words(embedding, [source for source, _ in pairs])
    french = _side_words(embedding, [target for _, target in pairs])
    unit = embedding.unit_vectors()
    english_rows, french_rows = embedding.indices(english), embedding.indices(french)
    # A word on both sides is excluded from its own row, the only row where it equals the English word.
    french_position = {word: number for number, word in enumerate(french)}
    excluded = np.array([[french_position.get(word, -1)] for word in english], dtype=np.int64).reshape(-1, 1)

    # The best `count` pairs are among the best `count` French words of each English word.
    scores, positions = top_k_dot(unit[english_rows], unit[french_rows], count, excluded=excluded,
                                  block_elements=block_elements, device=device, desc="English-French pairs")
    candidates = [
        (float(score), english[row], french[column])
        for row in range(len(english))
        for score, column in zip(scores[row], positions[row])
        if french[column] != english[row]
    ]
    # Pairs of equal cosine are ordered by their words.
    candidates.sort(key=lambda item: (-item[0], item[1], item[2]))

    known = set(pairs)
    top = [{"english": en, "french": fr, "cosine": score, "correct": (en, fr) in known}
           for score, en, fr in candidates[:count]]
    log.info("top %d English-French pairs from %d English and %d French words: %d correct",
             len(top), len(english), len(french), sum(item["correct"] for item in top))
    return top
