"""Analogy questions "a is to b as c is to d" answered with a word embedding (3CosAdd).

Joulin et al. (ECCV 2016, Table 4) follow Mikolov et al.: d is predicted as the dictionary word whose vector has
the highest cosine similarity with w_b - w_a + w_c, excluding a, b and c themselves. As in Mikolov's evaluation, every
vector is first scaled to unit length. Only questions whose four words are all in the dictionary are kept.
Sections of `questions-words.txt` whose name starts with "gram" are syntactic (10,675 questions), the other
sections semantic (8,869 questions).
"""

from __future__ import annotations

import logging
from typing import Sequence

import numpy as np
import torch

from weaksup.embeddings.benchmarks import AnalogyQuestion
from weaksup.embeddings.vectors import DEFAULT_BLOCK_ELEMENTS, WordEmbedding, top_k_dot

log = logging.getLogger(__name__)

SYNTACTIC_PREFIX = "gram"


def is_syntactic(section: str) -> bool:
    return section.startswith(SYNTACTIC_PREFIX)


# Questions whose query vectors w_b - w_a + w_c are built at once. At E = 4,096, 8,192 float32 queries take 128 MiB.
QUESTIONS_PER_BATCH = 8192


def answer_analogies(
    embedding: WordEmbedding,
    rows: np.ndarray,
    block_elements: int = DEFAULT_BLOCK_ELEMENTS,
    device: str | torch.device = "cpu",
) -> np.ndarray:
    """Return the row of the predicted word d for each question, given rows (Q, 3) of a, b and c.

    Among words tied at the best cosine, the one ranked first by `torch.topk` wins.
    """
    unit = embedding.unit_vectors()
    predicted = np.empty(len(rows), dtype=np.int64)
    for start in range(0, len(rows), QUESTIONS_PER_BATCH):
        batch = rows[start : start + QUESTIONS_PER_BATCH]
        # Scaling a query does not change its ranking, so w_b - w_a + w_c is left unnormalised.
        queries = unit[batch[:, 1]] - unit[batch[:, 0]] + unit[batch[:, 2]]
        _, best = top_k_dot(queries, unit, 1, excluded=batch, block_elements=block_elements, device=device,
                            desc="analogy questions")
        predicted[start : start + len(batch)] = best[:, 0]
    return predicted


def _summary(questions: int, kept: int, correct: int) -> dict:
    accuracy = correct / kept if kept else None
    return {"questions": questions, "kept": kept, "dropped": questions - kept, "correct": correct,
            "accuracy": accuracy}


def evaluate_analogies(
    embedding: WordEmbedding,
    questions: Sequence[AnalogyQuestion],
    block_elements: int = DEFAULT_BLOCK_ELEMENTS,
    device: str | torch.device = "cpu",
) -> dict:
    """Return analogy accuracy over the questions whose four words all have a vector in `embedding`.

    The result has the keys "semantic", "syntactic" and "total", and "sections" keyed by section name in file
    order. Each value contains questions, kept, dropped (a word without a vector), correct and accuracy
    (correct / kept, None when no question is kept).
    """
    words = [word for question in questions for word in question[1:]]
    rows = embedding.indices(words).reshape(len(questions), 4)
    kept = (rows >= 0).all(axis=1)

    correct = np.zeros(len(questions), dtype=bool)
    if kept.any():
        predicted = answer_analogies(embedding, rows[kept, :3], block_elements, device)
        correct[kept] = predicted == rows[kept, 3]

    section_names = np.array([question.section for question in questions], dtype=object)
    result: dict = {"sections": {}}
    for section in dict.fromkeys(section_names):
        members = section_names == section
        result["sections"][section] = _summary(
            int(members.sum()), int(kept[members].sum()), int(correct[members].sum())
        )

    syntactic = np.array([is_syntactic(question.section) for question in questions], dtype=bool)
    for part, members in (("semantic", ~syntactic), ("syntactic", syntactic), ("total", np.ones_like(kept))):
        result[part] = _summary(int(members.sum()), int(kept[members].sum()), int(correct[members].sum()))

    total = result["total"]
    log.info("analogies: kept %d of %d questions (%d dropped for words without a vector); accuracy semantic %s, "
             "syntactic %s, total %s", total["kept"], total["questions"], total["dropped"],
             _percent(result["semantic"]["accuracy"]), _percent(result["syntactic"]["accuracy"]),
             _percent(total["accuracy"]))
    return result


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}%"
