"""Tests of word-embedding loading, benchmark readers, analogies, similarity, translation and word2vec."""

from __future__ import annotations

import math

import numpy as np
import pytest
from gensim.test.utils import datapath

from weaksup.embeddings import analogies
from weaksup.embeddings.analogies import evaluate_analogies, is_syntactic
from weaksup.embeddings.benchmarks import (
    AnalogyQuestion,
    SimilarityPair,
    read_analogy_questions,
    read_bilingual_dictionary,
    read_similarity_pairs,
)
from weaksup.embeddings.similarity import evaluate_similarity
from weaksup.embeddings.translation import evaluate_translation, top_translation_pairs
from weaksup.embeddings.vectors import (
    WordEmbedding,
    load_embedding,
    load_word_embedding,
    save_embedding,
    top_k_dot,
)
from weaksup.embeddings.word2vec import TokenSentences, restrict_to_dictionary, train_word2vec
from weaksup.models import build_model, save_model
from weaksup.targets import TEST, TRAIN
from weaksup.text.dictionary import write_counts
from weaksup.text.pipeline import TOKENS_COLUMNS


def embedding_at_angles(angles: dict[str, float], lengths: dict[str, float] | None = None) -> WordEmbedding:
    """Build 2-D word vectors at the given angles in degrees, so cosine order follows angular distance."""
    lengths = lengths or {}
    words = list(angles)
    vectors = [
        [lengths.get(word, 1.0) * math.cos(math.radians(angle)), lengths.get(word, 1.0) * math.sin(math.radians(angle))]
        for word, angle in angles.items()
    ]
    return WordEmbedding(words, np.array(vectors))


# Analogy "man is to king as woman is to queen". The query king - man + woman = (-0.2, 1, 0.6) is closest to
# woman (cosine 0.85), which must be skipped, then to queen (0.57). "giant" has a lower cosine (0.33) but is about 14
# times as long as the others, so it would win if vectors were not scaled to unit length first.
ANALOGY_WORDS = {
    "man": [1.0, 0.0, 0.0],
    "king": [0.8, 0.0, 0.6],
    "woman": [0.0, 1.0, 0.0],
    "queen": [0.6, 0.8, 0.0],
    "giant": [-5.0, 10.0, -9.0],
    "apple": [0.0, 0.0, -1.0],
}


def analogy_embedding() -> WordEmbedding:
    return WordEmbedding(list(ANALOGY_WORDS), np.array(list(ANALOGY_WORDS.values())))


def test_word_embedding_rejects_bad_input():
    with pytest.raises(ValueError, match="one row per word"):
        WordEmbedding(["a", "b"], np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"more than once: \['a'\]"):
        WordEmbedding(["a", "b", "a"], np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"NaN or infinite.*\['b'\]"):
        WordEmbedding(["a", "b"], np.array([[1.0, 0.0], [np.nan, 1.0]]))


def test_word_embedding_lookup_and_unit_vectors():
    embedding = WordEmbedding(["a", "b", "zero"], np.array([[3.0, 4.0], [0.0, 2.0], [0.0, 0.0]]))

    assert embedding.vectors.dtype == np.float32
    assert "b" in embedding
    assert "c" not in embedding
    assert embedding.index("b") == 1
    assert embedding.indices(["zero", "c", "a"]).tolist() == [2, -1, 0]
    np.testing.assert_allclose(embedding.unit_vectors(), [[0.6, 0.8], [0.0, 1.0], [0.0, 0.0]], rtol=1e-6)


def test_embedding_file_round_trip(tmp_path):
    embedding = WordEmbedding(["sun", "sea"], np.array([[1.0, 2.0], [3.0, 4.0]]), missing_words=["unicorn"])
    path = tmp_path / "embedding.npz"

    save_embedding(path, embedding)
    loaded = load_embedding(path)

    assert loaded.words == ["sun", "sea"]
    assert loaded.missing_words == ["unicorn"]
    np.testing.assert_array_equal(loaded.vectors, embedding.vectors)


def test_load_word_embedding_from_model(tmp_path):
    model = build_model("alexnet", 3, width=0.05, embedding_dim=8)
    model_path = tmp_path / "model.pt"
    save_model(model_path, model)
    dictionary_path = tmp_path / "dictionary.tsv"
    write_counts({"sunset": 30, "beach": 20, "dog": 10}, dictionary_path)

    words, vectors = load_word_embedding(model_path, dictionary_path)

    assert words == ["sunset", "beach", "dog"]
    assert vectors.dtype == np.float32
    assert vectors.shape == (3, 8)
    np.testing.assert_array_equal(vectors, model.head.weight.detach().numpy())


def test_load_word_embedding_wrong_dictionary(tmp_path):
    model_path = tmp_path / "model.pt"
    save_model(model_path, build_model("alexnet", 3, width=0.05, embedding_dim=8))
    dictionary_path = tmp_path / "dictionary.tsv"
    write_counts({"sunset": 30, "beach": 20}, dictionary_path)

    with pytest.raises(ValueError, match="K=3 output words but .* lists 2"):
        load_word_embedding(model_path, dictionary_path)


def test_top_k_dot_blocks_and_exclusion():
    generator = np.random.default_rng(0)
    queries = generator.normal(size=(7, 4)).astype(np.float32)
    candidates = generator.normal(size=(11, 4)).astype(np.float32)
    excluded = np.full((7, 2), -1, dtype=np.int64)
    excluded[0] = [3, 5]
    excluded[4, 0] = 0

    whole_scores, whole_positions = top_k_dot(queries, candidates, 3, excluded=excluded)
    block_scores, block_positions = top_k_dot(queries, candidates, 3, excluded=excluded, block_elements=1)

    expected = queries @ candidates.T
    expected[0, [3, 5]] = -np.inf
    expected[4, 0] = -np.inf
    assert whole_positions.tolist() == np.argsort(-expected, axis=1)[:, :3].tolist()
    assert block_positions.tolist() == whole_positions.tolist()
    np.testing.assert_allclose(block_scores, whole_scores, rtol=1e-6)


def test_analogy_skips_question_words():
    embedding = analogy_embedding()
    questions = [AnalogyQuestion("family", "man", "king", "woman", "queen")]

    result = evaluate_analogies(embedding, questions)

    # Without exclusion the best match would be woman, one of the question words.
    unit = embedding.unit_vectors()
    query = unit[1] - unit[0] + unit[2]
    assert embedding.words[int(np.argmax(unit @ query))] == "woman"
    assert result["total"]["correct"] == 1
    assert result["total"]["accuracy"] == 1.0


def test_analogy_sections_and_dropped_counts(monkeypatch):
    monkeypatch.setattr(analogies, "QUESTIONS_PER_BATCH", 2)
    embedding = analogy_embedding()
    questions = [
        AnalogyQuestion("family", "man", "king", "woman", "queen"),
        AnalogyQuestion("family", "man", "king", "woman", "apple"),
        AnalogyQuestion("family", "man", "prince", "woman", "princess"),
        AnalogyQuestion("gram1-adjective-to-adverb", "man", "king", "woman", "queen"),
        AnalogyQuestion("gram1-adjective-to-adverb", "quick", "quickly", "slow", "slowly"),
    ]

    result = evaluate_analogies(embedding, questions, block_elements=1)

    assert result["semantic"] == {"questions": 3, "kept": 2, "dropped": 1, "correct": 1, "accuracy": 0.5}
    assert result["syntactic"] == {"questions": 2, "kept": 1, "dropped": 1, "correct": 1, "accuracy": 1.0}
    assert result["total"] == {"questions": 5, "kept": 3, "dropped": 2, "correct": 2, "accuracy": 2 / 3}
    assert list(result["sections"]) == ["family", "gram1-adjective-to-adverb"]
    assert result["sections"]["family"]["dropped"] == 1


def test_analogy_no_kept_question():
    result = evaluate_analogies(analogy_embedding(), [AnalogyQuestion("family", "boy", "girl", "son", "daughter")])

    assert result["total"]["kept"] == 0
    assert result["total"]["accuracy"] is None


def test_similarity_spearman_by_hand():
    # Word "w3" is 100 times longer than the others: with dot products in place of cosines, (w0, w3) would rank
    # first instead of third and the correlation would change.
    embedding = embedding_at_angles({"w0": 0, "w1": 10, "w2": 30, "w3": 60, "w4": 90}, lengths={"w3": 100.0})
    pairs = [
        SimilarityPair("w0", "w1", 9.0),
        SimilarityPair("w0", "w2", 5.0),
        SimilarityPair("w0", "w3", 6.0),
        SimilarityPair("w0", "w4", 1.0),
        SimilarityPair("w0", "absent", 3.0),
    ]

    result = evaluate_similarity(embedding, pairs)

    # Cosine ranks (ascending) of the kept pairs are 4, 3, 2, 1 and rating ranks 4, 2, 3, 1. The squared rank
    # differences sum to 2, so rho = 1 - 6 * 2 / (4 * (16 - 1)) = 0.8.
    assert result["spearman"] == pytest.approx(0.8)
    assert result["pairs"] == 5
    assert result["kept"] == 4
    assert result["dropped"] == 1


def test_similarity_undefined_correlation():
    embedding = embedding_at_angles({"a": 0, "b": 10, "c": 20})

    too_few = evaluate_similarity(embedding, [SimilarityPair("a", "b", 1.0), SimilarityPair("a", "z", 2.0)])
    constant_ratings = evaluate_similarity(embedding, [SimilarityPair("a", "b", 1.0), SimilarityPair("a", "c", 1.0)])

    assert too_few["spearman"] is None
    assert too_few["kept"] == 1
    assert constant_ratings["spearman"] is None


# Angles in degrees. English words: cat, dog, house, taxi, car; French words: chat, domicile, chien, maison, taxi.
TRANSLATION_ANGLES = {
    "cat": 0, "chat": 10, "domicile": 40, "dog": 60, "chien": 100,
    "house": 120, "taxi": 135, "maison": 150, "car": 170,
}
TRANSLATION_PAIRS = [
    ("cat", "chat"),
    ("cat", "chat"),
    ("dog", "chien"),
    ("house", "maison"),
    ("house", "domicile"),
    ("taxi", "taxi"),
    ("car", "voiture"),
    ("bird", "oiseau"),
]


def test_translation_precision_by_hand():
    embedding = embedding_at_angles(TRANSLATION_ANGLES)

    result = evaluate_translation(embedding, TRANSLATION_PAIRS, ks=(1, 2, 3))

    assert result["pairs"] == {"lines": 8, "distinct": 7, "identical": 1, "not_in_dictionary": 2, "kept": 4}
    # en->fr over chat, domicile, chien, maison, taxi. Query cat ranks chat first. Query dog ranks domicile
    # (20 degrees away), then chien (40). Query house ranks taxi (15), chien (20), then maison (30).
    assert result["en_fr"]["queries"] == 3
    assert result["en_fr"]["candidates"] == 5
    assert result["en_fr"]["precision@1"] == pytest.approx(1 / 3)
    assert result["en_fr"]["precision@2"] == pytest.approx(2 / 3)
    assert result["en_fr"]["precision@3"] == pytest.approx(1.0)
    assert result["en_fr"]["chance@1"] == pytest.approx(1 / 5)
    assert result["en_fr"]["chance@3"] == pytest.approx(3 / 5)
    # fr->en over cat, dog, house, taxi, car. Query chat ranks cat first. Query chien ranks house, taxi, then dog.
    # Query maison ranks taxi, car, then house. Query domicile ranks dog, cat, then house.
    assert result["fr_en"]["queries"] == 4
    assert result["fr_en"]["candidates"] == 5
    assert result["fr_en"]["precision@1"] == pytest.approx(1 / 4)
    assert result["fr_en"]["precision@2"] == pytest.approx(1 / 4)
    assert result["fr_en"]["precision@3"] == pytest.approx(1.0)


def test_translation_kept_pairs_candidates():
    embedding = embedding_at_angles(TRANSLATION_ANGLES)

    result = evaluate_translation(embedding, TRANSLATION_PAIRS, ks=(1, 2), candidate_set="kept_pairs")

    # Without taxi among the French candidates, house ranks chien, then maison.
    assert result["en_fr"]["candidates"] == 4
    assert result["en_fr"]["precision@2"] == pytest.approx(1.0)
    assert result["en_fr"]["chance@1"] == pytest.approx(1 / 4)
    assert result["fr_en"]["candidates"] == 3


def test_translation_skips_query_word():
    # "table" is also a French candidate (from the identical pair), and would otherwise be its own best match.
    embedding = embedding_at_angles({"table": 0, "bureau": 80, "chaise": 60})
    pairs = [("table", "bureau"), ("table", "table"), ("chair", "chaise")]

    result = evaluate_translation(embedding, pairs, ks=(1,))

    assert result["en_fr"]["candidates"] == 3
    assert result["en_fr"]["precision@1"] == 0.0
    embedding = embedding_at_angles({"table": 0, "bureau": 50, "chaise": 60})
    assert evaluate_translation(embedding, pairs, ks=(1,))["en_fr"]["precision@1"] == 1.0


def test_translation_unknown_candidate_set():
    with pytest.raises(ValueError, match="unknown candidate set 'all'"):
        evaluate_translation(embedding_at_angles(TRANSLATION_ANGLES), TRANSLATION_PAIRS, candidate_set="all")


def test_top_translation_pairs():
    # "photo" is on both sides, and the pair photo-photo (cosine 1) must not be listed.
    embedding = embedding_at_angles(
        {"sun": 0, "moon": 50, "tree": 100, "soleil": 4, "lune": 57, "arbre": 129, "maison": 80, "photo": 200}
    )
    pairs = [("sun", "soleil"), ("moon", "lune"), ("tree", "arbre"), ("house", "maison"), ("photo", "photo")]

    top = top_translation_pairs(embedding, pairs, count=4, block_elements=1)

    # Angular distances: sun-soleil 4, moon-lune 7, tree-maison 20, tree-arbre 29, then moon-maison 30.
    assert [(item["english"], item["french"]) for item in top] == [
        ("sun", "soleil"), ("moon", "lune"), ("tree", "maison"), ("tree", "arbre")
    ]
    assert [item["correct"] for item in top] == [True, True, False, True]
    assert top[0]["cosine"] == pytest.approx(math.cos(math.radians(4)), abs=1e-6)
    assert top[3]["cosine"] == pytest.approx(math.cos(math.radians(29)), abs=1e-6)


def test_read_analogy_questions(tmp_path):
    path = tmp_path / "questions.txt"
    path.write_text(": capital-common-countries\nAthens Greece Baghdad Iraq\n\n: gram2-opposite\n"
                    "aware unaware Clear unclear\n", encoding="utf-8")

    questions = read_analogy_questions(path)

    assert questions == [
        AnalogyQuestion("capital-common-countries", "athens", "greece", "baghdad", "iraq"),
        AnalogyQuestion("gram2-opposite", "aware", "unaware", "clear", "unclear"),
    ]


def test_read_analogy_questions_malformed(tmp_path):
    path = tmp_path / "questions.txt"
    path.write_text(": family\nboy girl brother sister\nboy girl brother\n", encoding="utf-8")
    orphan = tmp_path / "orphan.txt"
    orphan.write_text("boy girl brother sister\n", encoding="utf-8")

    with pytest.raises(ValueError, match=r"questions\.txt:3: expected four words"):
        read_analogy_questions(path)
    with pytest.raises(ValueError, match=r"orphan\.txt:1: question before"):
        read_analogy_questions(orphan)


def test_questions_words_section_split():
    questions = read_analogy_questions(datapath("questions-words.txt"))

    syntactic = sum(is_syntactic(question.section) for question in questions)
    assert len(questions) - syntactic == 8_869
    assert syntactic == 10_675


def test_read_similarity_formats(tmp_path):
    men = tmp_path / "MEN_dataset_natural_form_full"
    men.write_text("sun sunlight 50.000000\nCafé bakery 38.5\n", encoding="utf-8")
    wordsim = tmp_path / "wordsim353.tsv"
    wordsim.write_text("# The collection\n# Word 1\tWord 2\tHuman (mean)\nTiger\tcat\t7.35\n", encoding="utf-8")

    assert read_similarity_pairs(men) == [SimilarityPair("sun", "sunlight", 50.0), SimilarityPair("cafe", "bakery", 38.5)]
    assert read_similarity_pairs(wordsim) == [SimilarityPair("tiger", "cat", 7.35)]


def test_read_similarity_gensim_files():
    assert len(read_similarity_pairs(datapath("wordsim353.tsv"))) == 353
    assert len(read_similarity_pairs(datapath("simlex999.txt"))) == 999


def test_read_similarity_malformed(tmp_path):
    extra_field = tmp_path / "extra.txt"
    extra_field.write_text("sun sunlight 50\nsun moon 40 41\n", encoding="utf-8")
    bad_score = tmp_path / "score.txt"
    bad_score.write_text("sun moon high\n", encoding="utf-8")
    lemma_form = tmp_path / "MEN_dataset_lemma_form_full"
    lemma_form.write_text("sun-n sunlight-n 50.000000\nbright-j sun-n 41.0\n", encoding="utf-8")

    with pytest.raises(ValueError, match=r"extra\.txt:2: expected 'word1 word2 score'"):
        read_similarity_pairs(extra_field)
    with pytest.raises(ValueError, match=r"score\.txt:1: score 'high' is not a number"):
        read_similarity_pairs(bad_score)
    with pytest.raises(ValueError, match="lemma form"):
        read_similarity_pairs(lemma_form)


def test_read_bilingual_dictionary(tmp_path):
    path = tmp_path / "en-fr.txt"
    path.write_text("the le\nthe la\nschool\técole\n", encoding="utf-8")
    broken = tmp_path / "broken.txt"
    broken.write_text("the le\nice cream glace\n", encoding="utf-8")

    assert read_bilingual_dictionary(path) == [("the", "le"), ("the", "la"), ("school", "ecole")]
    with pytest.raises(ValueError, match=r"broken\.txt:2: expected 'source_word target_word'"):
        read_bilingual_dictionary(broken)


def write_tokens(path, rows):
    lines = ["\t".join(TOKENS_COLUMNS)] + [f"{photo_id}\t{split}\t{tokens}" for photo_id, split, tokens in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_token_sentences_reiterable(tmp_path):
    path = tmp_path / "shard-00000.tokens.tsv"
    write_tokens(path, [("1", "train", "sun sea"), ("2", "test", "beach"), ("3", "train", "")])

    every_split = TokenSentences([path])
    train_only = TokenSentences([path], splits={TRAIN})

    assert list(every_split) == [["sun", "sea"], ["beach"]]
    assert list(every_split) == [["sun", "sea"], ["beach"]]
    assert every_split.passes == 2
    assert list(train_only) == [["sun", "sea"]]
    assert list(TokenSentences([path], splits={TEST})) == [["beach"]]


def test_train_word2vec_tiny(tmp_path):
    path = tmp_path / "shard-00000.tokens.tsv"
    rows = [(str(i), "train", "sun sea beach sunset" if i % 2 else "dog cat park grass") for i in range(40)]
    write_tokens(path, rows)
    sentences = TokenSentences([path])
    dictionary = ["sunset", "dog", "unicorn", "sea"]

    first = train_word2vec(sentences, dictionary, vector_size=8, min_count=1, epochs=2, workers=1, seed=3)
    second = train_word2vec(sentences, dictionary, vector_size=8, min_count=1, epochs=2, workers=1, seed=3)

    assert first.words == ["sunset", "dog", "sea"]
    assert first.missing_words == ["unicorn"]
    assert first.vectors.shape == (3, 8)
    assert np.isfinite(first.vectors).all()
    np.testing.assert_array_equal(first.vectors, second.vectors)


def test_train_word2vec_rejects_generator():
    sentences = (tokens for tokens in [["sun", "sea"]])

    with pytest.raises(TypeError, match="one-pass iterator"):
        train_word2vec(sentences, ["sun"])


def test_restrict_to_dictionary_without_matches():
    vocabulary = WordEmbedding(["sun"], np.ones((1, 4), dtype=np.float32))

    embedding = restrict_to_dictionary(vocabulary, ["moon"])

    assert len(embedding) == 0
    assert embedding.vectors.shape == (0, 4)
    assert embedding.missing_words == ["moon"]
