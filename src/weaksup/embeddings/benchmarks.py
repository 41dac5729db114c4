"""Readers of the word-embedding benchmark files: analogy questions, word similarity ratings, bilingual dictionaries.

Every word is normalised with `clean_text`, the cleaning that produced the dictionary (lower case, accents
removed, characters other than letters turned into spaces), so "Athens" matches "athens" and the French "écrit"
matches "ecrit". A benchmark word that cleans to nothing or to several words ("ice-cream" -> "ice cream") can
never be a dictionary word, so the questions and pairs that contain it are dropped by the evaluation. The readers
log how many such words they found.

Malformed lines raise ValueError naming the file and line number. Blank lines are skipped.
"""

from __future__ import annotations

import logging
import math
import os
import re
from typing import Iterator, NamedTuple

from weaksup.text.clean import clean_text

log = logging.getLogger(__name__)


class AnalogyQuestion(NamedTuple):
    """Question "a is to b as c is to d" of a named section, with d the expected word."""

    section: str
    a: str
    b: str
    c: str
    d: str


class SimilarityPair(NamedTuple):
    """Two words and their human similarity rating."""

    word1: str
    word2: str
    score: float


def normalize_word(word: str) -> str:
    """Return `word` cleaned like corpus text: the form in which it could appear in a dictionary."""
    return clean_text(word)


def _count_unmatchable(words: list[str]) -> int:
    return sum(1 for word in words if not word or " " in word)


def _content_lines(path: str | os.PathLike) -> Iterator[tuple[int, str]]:
    """Yield (line number, stripped text) of the non-blank lines of a UTF-8 file."""
    with open(path, encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            text = line.strip()
            if text:
                yield line_number, text


def read_analogy_questions(path: str | os.PathLike) -> list[AnalogyQuestion]:
    """Read analogy questions in the format of Mikolov's `questions-words.txt`.

    A line `: name` starts a section, and every other line is one question of four words `a b c d`.
    """
    questions: list[AnalogyQuestion] = []
    section = None
    for line_number, text in _content_lines(path):
        if text.startswith(":"):
            section = text[1:].strip()
            if not section:
                raise ValueError(f"{path}:{line_number}: section line {text!r} has no section name")
            continue

        fields = text.split()
        if len(fields) != 4:
            raise ValueError(f"{path}:{line_number}: expected four words 'a b c d', got {text!r}")
        if section is None:
            raise ValueError(f"{path}:{line_number}: question before the first ': section' line")
        questions.append(AnalogyQuestion(section, *(normalize_word(word) for word in fields)))

    sections = len({question.section for question in questions})
    words = [word for question in questions for word in question[1:]]
    log.info("read %d analogy questions in %d sections from %s; %d of their words are not a single word after "
             "cleaning", len(questions), sections, path, _count_unmatchable(words))
    return questions


# The MEN collection comes in a "lemma" form whose words carry a part-of-speech suffix ("sun-n", "bright-j").
_POS_SUFFIX = re.compile(r".+-[nvj]")


def read_similarity_pairs(path: str | os.PathLike) -> list[SimilarityPair]:
    """Read word pairs with human similarity ratings: `word1 word2 score` per line, tab or space separated.

    This covers gensim's `wordsim353.tsv` and `simlex999.txt` (tab separated, after `#` comment lines) and MEN's
    natural form `MEN_dataset_natural_form_full` (space separated, no header). Lines that start with `#` are
    skipped. MEN's lemma form is rejected, because its suffixed words would match no dictionary word.
    """
    pairs: list[SimilarityPair] = []
    raw_words: list[str] = []
    for line_number, text in _content_lines(path):
        if text.startswith("#"):
            continue

        fields = text.split()
        if len(fields) != 3:
            raise ValueError(f"{path}:{line_number}: expected 'word1 word2 score', got {text!r}")
        word1, word2, score_text = fields
        try:
            score = float(score_text)
        except ValueError:
            raise ValueError(f"{path}:{line_number}: score {score_text!r} is not a number") from None
        if not math.isfinite(score):
            raise ValueError(f"{path}:{line_number}: score {score_text!r} is not a finite number")

        raw_words += [word1, word2]
        pairs.append(SimilarityPair(normalize_word(word1), normalize_word(word2), score))

    if raw_words and all(_POS_SUFFIX.fullmatch(word) for word in raw_words):
        raise ValueError(
            f"{path}: every word ends in a part-of-speech suffix such as '-n'; this is MEN's lemma form, "
            "use MEN_dataset_natural_form_full instead"
        )
    unmatchable = _count_unmatchable([word for pair in pairs for word in pair[:2]])
    log.info("read %d similarity pairs from %s; %d of their words are not a single word after cleaning",
             len(pairs), path, unmatchable)
    return pairs


def read_bilingual_dictionary(path: str | os.PathLike) -> list[tuple[str, str]]:
    """Read (source word, target word) pairs, one pair per line separated by a space or tab (MUSE's format).

    A source word may have several lines, one per translation. Pairs are returned in file order, repeats
    included.
    """
    pairs: list[tuple[str, str]] = []
    for line_number, text in _content_lines(path):
        fields = text.split()
        if len(fields) != 2:
            raise ValueError(f"{path}:{line_number}: expected 'source_word target_word', got {text!r}")
        pairs.append((normalize_word(fields[0]), normalize_word(fields[1])))

    unmatchable = _count_unmatchable([word for pair in pairs for word in pair])
    log.info("read %d word pairs from %s; %d of their words are not a single word after cleaning",
             len(pairs), path, unmatchable)
    return pairs
