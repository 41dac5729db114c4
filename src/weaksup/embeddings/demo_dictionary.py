"""The English-French dictionary and the word languages of the demo corpus, from its glyph names.

The demo corpus (`weaksup.corpus.demo`) names every glyph in each of its languages, so its glyph catalogue gives
an English-French dictionary for the translation evaluation (Tables 6 and 7) without any download. A name counts
only as the single dictionary word it can become: it is cleaned with `clean_text` and split with `tokenize`, as
`weaksup.text.pipeline` does with every caption, and must give exactly one token.

The catalogue depends on the corpus languages (a glyph enters only with a name in every one of them) and on
`max_glyphs`, so both must be the demo corpus's settings.
"""

from __future__ import annotations

import logging
import os
from collections import Counter, defaultdict
from typing import Sequence

from weaksup.atomic import atomic_open
from weaksup.corpus.demo import LANGUAGE_WORDS, load_glyph_catalog
from weaksup.text.clean import clean_text
from weaksup.text.tokenize import tokenize

log = logging.getLogger(__name__)

# Language of a word that occurs in the names or filler words of more than one language.
SEVERAL_LANGUAGES = "several"


def caption_words(text: str) -> list[str]:
    """Return the tokens that the text pipeline makes of `text`."""
    return tokenize(clean_text(text))


def demo_bilingual_pairs(languages: Sequence[str], max_glyphs: int | None) -> list[tuple[str, str]]:
    """Return the distinct (English, French) glyph-name pairs whose names are one word each and differ.

    Pairs are in catalogue (code-point) order. An English word may appear with several French words, one pair
    each, as in MUSE's dictionaries. Raises ValueError unless `languages` contains "en" and "fr".
    """
    absent = [language for language in ("en", "fr") if language not in languages]
    if absent:
        raise ValueError(f"the demo corpus languages {list(languages)} lack {absent}; an English-French dictionary "
                         "needs both")

    skipped: Counter[str] = Counter()
    pairs: dict[tuple[str, str], None] = {}
    catalogue = load_glyph_catalog(languages, max_glyphs)
    for glyph in catalogue:
        english, french = caption_words(glyph.names["en"]), caption_words(glyph.names["fr"])
        if len(english) != 1:
            skipped["English name not one word"] += 1
        elif len(french) != 1:
            skipped["French name not one word"] += 1
        elif english == french:
            skipped["same word in both languages"] += 1
        elif (english[0], french[0]) in pairs:
            skipped["repeated pair"] += 1
        else:
            pairs[english[0], french[0]] = None

    log.info("demo English-French dictionary: %d pairs from %d glyphs; skipped %s", len(pairs), len(catalogue),
             ", ".join(f"{count} {reason}" for reason, count in skipped.most_common()) or "none")
    return list(pairs)


# Questions per section of the demo analogy set; a section of n glyphs has n * (n - 1) possible questions.
MAX_ANALOGIES_PER_SECTION = 1000


def demo_analogy_questions(languages: Sequence[str], max_glyphs: int | None, seed: int = 0,
                           max_per_section: int = MAX_ANALOGIES_PER_SECTION) -> list[tuple[str, list[str]]]:
    """Return translation analogies of the demo corpus, grouped in one section per language pair.

    Section `translation-en-fr` contains questions such as "cat is to chat as dog is to chien", for glyphs whose
    English and French names are single, different words. Every section is semantic in the sense of Mikolov's
    set (no `gram` prefix). At most `max_per_section` questions per section, a seeded random choice.
    """
    import numpy as np

    catalogue = load_glyph_catalog(languages, max_glyphs)
    sections = []
    for other in [language for language in languages if language != "en"]:
        names = []
        for glyph in catalogue:
            english, translated = caption_words(glyph.names["en"]), caption_words(glyph.names[other])
            if len(english) == 1 and len(translated) == 1 and english != translated:
                names.append((english[0], translated[0]))
        questions = [[*names[i], *names[j]] for i in range(len(names)) for j in range(len(names))
                     if i != j and names[i][0] != names[j][0] and names[i][1] != names[j][1]]
        if len(questions) > max_per_section:
            rng = np.random.default_rng([seed, len(sections)])
            questions = [questions[i] for i in np.sort(rng.choice(len(questions), max_per_section, replace=False))]
        sections.append((f"translation-en-{other}", questions))
        log.info("demo analogies translation-en-%s: %d glyphs with one-word names, %d questions", other,
                 len(names), len(questions))
    return sections


def write_analogy_questions(path: str | os.PathLike, sections: Sequence[tuple[str, Sequence[Sequence[str]]]]) -> None:
    """Write analogy questions in the questions-words format: `: section` lines, then `a b c d` lines."""
    with atomic_open(path, "w", encoding="utf-8", newline="\n") as handle:
        for section, questions in sections:
            handle.write(f": {section}\n")
            for question in questions:
                handle.write(" ".join(question) + "\n")
    log.info("wrote %d analogy questions in %d sections to %s", sum(len(q) for _, q in sections), len(sections),
             path)


def write_bilingual_dictionary(path: str | os.PathLike, pairs: Sequence[tuple[str, str]]) -> None:
    """Write word pairs in MUSE's format, one `english french` line per pair, atomically.

    Raises ValueError for a word that is empty or contains whitespace, because the line could not be read back.
    """
    for number, pair in enumerate(pairs):
        for word in pair:
            if not word or len(word.split()) != 1 or word != word.strip():
                raise ValueError(f"pair {number} {pair!r}: word {word!r} is not one word without whitespace")

    with atomic_open(path, "w", encoding="utf-8", newline="\n") as handle:
        for english, french in pairs:
            handle.write(f"{english} {french}\n")
    log.info("wrote %d word pairs to %s", len(pairs), path)


def _glyph_name_words(name: str) -> list[str]:
    """Return the words of a glyph name, also in its joined hashtag form ("#pommerouge" -> "pommerouge")."""
    words = caption_words(name)
    # The demo corpus writes some tags as "#" + the name without spaces, which cleans to one joined word.
    joined = caption_words("".join(name.split()))
    return words + [word for word in joined if word not in words]


def demo_word_languages(languages: Sequence[str], max_glyphs: int | None) -> dict[str, str]:
    """Return the language of every word of the demo corpus's glyph names and filler words, after cleaning.

    Filler words include each language's word for "and". A word of several languages maps to
    `SEVERAL_LANGUAGES`. Camera file names and years, the remaining text of the demo corpus, have no language
    and are not listed.
    """
    word_languages: defaultdict[str, set[str]] = defaultdict(set)
    for glyph in load_glyph_catalog(languages, max_glyphs):
        for language in languages:
            for word in _glyph_name_words(glyph.names[language]):
                word_languages[word].add(language)

    for language in languages:
        filler_text = " ".join((LANGUAGE_WORDS[language].conjunction, *LANGUAGE_WORDS[language].fillers))
        for word in caption_words(filler_text):
            word_languages[word].add(language)

    result = {word: next(iter(found)) if len(found) == 1 else SEVERAL_LANGUAGES
              for word, found in sorted(word_languages.items())}
    counts = Counter(result.values())
    log.info("demo word languages: %d words; %s", len(result),
             ", ".join(f"{language} {count}" for language, count in sorted(counts.items())))
    return result
