"""Tests of the embedding evaluation entry point, Tables 4 to 7, the demo English-French dictionary and Figure 6."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from weaksup.corpus.demo import load_glyph_catalog
from weaksup.embeddings.benchmarks import read_bilingual_dictionary
from weaksup.embeddings.demo_dictionary import (
    SEVERAL_LANGUAGES,
    caption_words,
    demo_bilingual_pairs,
    demo_word_languages,
    write_bilingual_dictionary,
)
from weaksup.embeddings.evaluate import (
    evaluate_embedding,
    gensim_analogy_path,
    gensim_similarity_paths,
    write_embedding_result,
)
from weaksup.embeddings.tables import (
    TABLE4_COLUMNS,
    TABLE5_COLUMNS,
    TABLE7_COLUMNS,
    write_table4,
    write_table5,
    write_table6,
    write_table7,
)
from weaksup.embeddings.vectors import WordEmbedding, save_embedding
from weaksup.figures.word_tsne import figure6_word_tsne

DEMO_LANGUAGES = ["en", "fr"]
DEMO_MAX_GLYPHS = 300
DIMENSION = 16


def basis(*weights: tuple[int, float]) -> list[float]:
    vector = [0.0] * DIMENSION
    for axis, weight in weights:
        vector[axis] = weight
    return vector


# Analogy words use axes 0-5: king - man + woman points to queen, quickly - quick + slow to slowly.
# Translation words use axes 6-12: "chat" and "chien" are near "cat" and "dog", "maison" points away from "house",
# and "train" is the same word in both languages.
WORD_VECTORS = {
    "man": basis((0, 1)),
    "woman": basis((1, 1)),
    "king": basis((0, 1), (2, 1)),
    "queen": basis((1, 1), (2, 1)),
    "quick": basis((3, 1)),
    "quickly": basis((3, 1), (4, 1)),
    "slow": basis((5, 1)),
    "slowly": basis((5, 1), (4, 1)),
    "cat": basis((6, 1)),
    "chat": basis((6, 1), (7, 0.1)),
    "dog": basis((8, 1)),
    "chien": basis((8, 1), (9, 0.3)),
    "house": basis((10, 1)),
    "maison": basis((11, 1), (10, -0.5)),
    "train": basis((12, 1)),
}

# "man king quick slowly" is answered "quickly", so it is wrong, and "worse" has no vector, so that question is
# dropped. So 1 of 2 semantic questions is correct, and the one kept syntactic question is correct.
ANALOGY_TEXT = """: capital-common-countries
man king woman queen
Man King quick slowly
: gram3-comparative
quick quickly slow slowly
good better bad worse
"""

# Cosines 0.995, 0.958, 0 and -0.447 against ratings ranked 4, 3, 1, 2: Spearman 1 - 6 * 2 / (4 * 15) = 0.8.
# "unicorn" has no vector, so its pair is dropped.
SIMILARITY_TEXT = """# word1\tword2\tscore
cat\tchat\t9.0
dog\tchien\t8.0
man\twoman\t0.5
house\tmaison\t1.0
cat\tunicorn\t3.0
"""

# "train train" is identical and "poisson" has no vector, so three pairs are kept.
BILINGUAL_TEXT = "cat chat\ndog chien\nhouse maison\ntrain train\nfish poisson\n"


def small_embedding() -> WordEmbedding:
    return WordEmbedding(list(WORD_VECTORS), np.array(list(WORD_VECTORS.values())))


@pytest.fixture
def benchmark_files(tmp_path):
    paths = {"analogy": tmp_path / "questions.txt", "similarity": tmp_path / "similarity.tsv",
             "bilingual": tmp_path / "en-fr.txt"}
    paths["analogy"].write_text(ANALOGY_TEXT, encoding="utf-8")
    paths["similarity"].write_text(SIMILARITY_TEXT, encoding="utf-8")
    paths["bilingual"].write_text(BILINGUAL_TEXT, encoding="utf-8")
    return paths


def test_evaluate_embedding_all_parts(benchmark_files):
    result = evaluate_embedding(small_embedding(), benchmark_files["analogy"],
                                {"toy": benchmark_files["similarity"], "men": None}, benchmark_files["bilingual"])

    assert result["embedding"] == {"words": 15, "dimension": DIMENSION, "missing_words": 0}

    analogies = result["analogies"]
    assert analogies["semantic"]["kept"] == 2
    assert analogies["semantic"]["accuracy"] == 0.5
    assert analogies["syntactic"]["kept"] == 1
    assert analogies["syntactic"]["dropped"] == 1
    assert analogies["syntactic"]["accuracy"] == 1.0
    assert analogies["total"]["accuracy"] == pytest.approx(2 / 3)
    assert analogies["path"] == str(benchmark_files["analogy"])

    assert list(result["similarity"]) == ["toy"]
    assert result["similarity"]["toy"]["spearman"] == pytest.approx(0.8)
    assert result["similarity"]["toy"]["kept"] == 4
    assert result["similarity"]["toy"]["dropped"] == 1

    translation = result["translation"]
    assert translation["pairs"]["kept"] == 3
    assert translation["pairs"]["identical"] == 1
    assert translation["pairs"]["not_in_dictionary"] == 1
    assert translation["ks"] == [1, 5, 10]
    # "house" and "maison" point away from each other, so they rank each other last among the four candidates.
    assert translation["en_fr"]["precision@1"] == pytest.approx(2 / 3)
    assert translation["en_fr"]["precision@5"] == 1.0
    assert translation["fr_en"]["precision@1"] == pytest.approx(2 / 3)
    assert translation["en_fr"]["chance@1"] == 0.25

    top = result["top_pairs"]
    assert len(top) == 10
    assert (top[0]["english"], top[0]["french"], top[0]["correct"]) == ("cat", "chat", True)
    assert (top[1]["english"], top[1]["french"], top[1]["correct"]) == ("dog", "chien", True)
    assert top[0]["cosine"] == pytest.approx(1 / math.sqrt(1.01), abs=1e-6)
    assert all(pair["english"] != pair["french"] for pair in top)


def test_evaluate_embedding_missing_parts(benchmark_files, tmp_path, caplog):
    result = evaluate_embedding(small_embedding(), None, {}, None)

    assert "analogies" not in result
    assert "translation" not in result
    assert "top_pairs" not in result
    assert result["similarity"] == {}
    assert "no analogy questions given" in caplog.text
    assert "no English-French dictionary given" in caplog.text

    with pytest.raises(FileNotFoundError, match="absent.txt"):
        evaluate_embedding(small_embedding(), tmp_path / "absent.txt", {}, None)


def test_gensim_benchmark_paths():
    assert gensim_analogy_path().name == "questions-words.txt"
    assert gensim_analogy_path().is_file()
    paths = gensim_similarity_paths()
    assert sorted(paths) == ["simlex999", "wordsim353"]
    assert all(path.is_file() for path in paths.values())


def test_write_embedding_result_checks_source(benchmark_files, tmp_path):
    result = evaluate_embedding(small_embedding(), benchmark_files["analogy"], {}, None)
    source = {"name": "alexnet-multiclass", "kind": "network", "arch": "alexnet", "K": 15, "loss": "multiclass"}
    written = write_embedding_result(tmp_path / "result.json", result, source, "demo")

    stored = json.loads((tmp_path / "result.json").read_text(encoding="utf-8"))
    assert stored == written
    assert stored["source"] == source
    assert stored["corpus"] == "demo"
    assert stored["analogies"]["total"]["correct"] == 2

    with pytest.raises(ValueError, match="kind 'glove'"):
        write_embedding_result(tmp_path / "bad.json", result, {**source, "kind": "glove"}, "demo")
    with pytest.raises(ValueError, match=r"lacks the keys \['K'\]"):
        write_embedding_result(tmp_path / "bad.json", result, {k: v for k, v in source.items() if k != "K"}, "demo")
    assert not (tmp_path / "bad.json").exists()


def source(name: str, kind: str, K: int) -> dict:
    arch, loss = (None, None) if kind == "word2vec" else ("alexnet", "multiclass")
    return {"name": name, "kind": kind, "arch": arch, "K": K, "loss": loss}


def analogy_part(semantic: float, syntactic: float, total: float) -> dict:
    return {part: {"questions": 10, "kept": 8, "dropped": 2, "correct": 4, "accuracy": accuracy}
            for part, accuracy in (("semantic", semantic), ("syntactic", syntactic), ("total", total))}


def translation_part(kept: int) -> dict:
    direction = {"queries": kept, "candidates": 40, "precision@1": 0.123456, "chance@1": 0.025,
                 "precision@5": 0.5, "chance@5": 0.125}
    return {"pairs": {"lines": 50, "distinct": 48, "identical": 3, "not_in_dictionary": 45 - kept, "kept": kept},
            "candidate_set": "bilingual_dictionary", "ks": [1, 5], "en_fr": direction,
            "fr_en": {**direction, "precision@1": None}}


@pytest.fixture
def result_files(tmp_path):
    results = {
        "net_1000": {"source": source("alexnet-multiclass", "network", 1000), "corpus": "demo",
                     "analogies": analogy_part(0.123456, 0.5, 0.25),
                     "similarity": {"wordsim353": {"spearman": 0.612345, "pairs": 353, "kept": 100, "dropped": 253},
                                    "men": {"spearman": None, "pairs": 3000, "kept": 1, "dropped": 2999}},
                     "translation": translation_part(30),
                     "top_pairs": [{"english": "cat", "french": "chat", "cosine": 0.987654321, "correct": True},
                                   {"english": "dog", "french": "maison", "cosine": 0.5, "correct": False}]},
        "w2v_1000": {"source": source("word2vec", "word2vec", 1000), "corpus": "demo",
                     "analogies": analogy_part(0.9, 0.8, 0.85), "similarity": {}},
        "net_100": {"source": source("alexnet-multiclass", "network", 100), "corpus": "demo",
                    "analogies": analogy_part(None, 0.1, 0.1), "similarity": {}},
    }
    paths = []
    for name, result in results.items():
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(result), encoding="utf-8")
        paths.append(path)
    return paths


def read_csv(path) -> tuple[list[str], list[dict]]:
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames), list(reader)


def test_table4_values_and_order(result_files, tmp_path):
    write_table4(result_files, tmp_path / "table4.csv")
    columns, rows = read_csv(tmp_path / "table4.csv")

    assert columns == list(TABLE4_COLUMNS)
    assert [(row["K"], row["source"]) for row in rows] == [
        ("100", "alexnet-multiclass"), ("1000", "alexnet-multiclass"), ("1000", "word2vec")]
    assert rows[0]["semantic_accuracy"] == ""
    assert rows[1]["semantic_accuracy"] == "12.35"
    assert rows[1]["total_accuracy"] == "25.0"
    assert rows[1]["total_kept"] == "8"
    assert rows[1]["total_dropped"] == "2"
    assert rows[2]["kind"] == "word2vec"
    assert rows[2]["arch"] == ""
    assert rows[2]["corpus"] == "demo"


def test_table5_one_row_per_set(result_files, tmp_path, caplog):
    write_table5(result_files, tmp_path / "table5.csv")
    columns, rows = read_csv(tmp_path / "table5.csv")

    assert columns == list(TABLE5_COLUMNS)
    assert [row["similarity_set"] for row in rows] == ["men", "wordsim353"]
    assert rows[0]["spearman"] == ""
    assert rows[1]["spearman"] == "0.6123"
    assert rows[1]["kept"] == "100"
    assert rows[1]["dropped"] == "253"
    assert "2 of 3 result files have no similarity part" in caplog.text


def test_table6_both_directions(result_files, tmp_path):
    write_table6(result_files, tmp_path / "table6.csv")
    columns, rows = read_csv(tmp_path / "table6.csv")

    assert columns[-4:] == ["precision@1", "chance@1", "precision@5", "chance@5"]
    assert "pairs" in columns
    assert [row["direction"] for row in rows] == ["en->fr", "fr->en"]
    assert rows[0]["precision@1"] == "12.35"
    assert rows[0]["chance@1"] == "2.5"
    assert rows[0]["precision@5"] == "50.0"
    assert rows[1]["precision@1"] == ""
    assert rows[0]["pairs"] == "30"
    assert rows[0]["candidates"] == "40"


def test_table7_ranks(result_files, tmp_path):
    write_table7(result_files, tmp_path / "table7.csv")
    columns, rows = read_csv(tmp_path / "table7.csv")

    assert columns == list(TABLE7_COLUMNS)
    assert [row["rank"] for row in rows] == ["1", "2"]
    assert (rows[0]["english"], rows[0]["french"]) == ("cat", "chat")
    assert rows[0]["cosine"] == "0.9877"
    assert rows[0]["correct"] == "True"
    assert rows[1]["correct"] == "False"
    assert rows[0]["source"] == "alexnet-multiclass"


def test_tables_from_evaluated_embedding(benchmark_files, tmp_path):
    result = evaluate_embedding(small_embedding(), benchmark_files["analogy"], {"toy": benchmark_files["similarity"]},
                                benchmark_files["bilingual"])
    path = tmp_path / "result.json"
    write_embedding_result(path, result, source("alexnet-multiclass", "network", 15), "toy")

    table4 = write_table4([path], tmp_path / "table4.csv")
    table6 = write_table6([path], tmp_path / "table6.csv")
    table7 = write_table7([path], tmp_path / "table7.csv")
    assert table4[0]["total_accuracy"] == 66.67
    assert table6[0]["precision@1"] == 66.67
    assert table6[0]["chance@10"] == 100.0
    assert len(table7) == 10
    assert table7[0]["english"] == "cat"


def test_table_rejects_other_json(tmp_path):
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"source": source("x", "network", 10)}), encoding="utf-8")
    with pytest.raises(ValueError, match="no 'corpus'"):
        write_table4([path], tmp_path / "table4.csv")


def test_demo_bilingual_pairs():
    pairs = demo_bilingual_pairs(DEMO_LANGUAGES, DEMO_MAX_GLYPHS)

    assert len(pairs) > 20
    assert ("cat", "chat") in pairs
    assert len(set(pairs)) == len(pairs)
    for english, french in pairs:
        assert english != french
        assert caption_words(english) == [english]
        assert caption_words(french) == [french]
    # A French name with an accent is kept without it ("église").
    assert ("church", "eglise") in pairs

    with pytest.raises(ValueError, match=r"lack \['fr'\]"):
        demo_bilingual_pairs(["en", "de"], DEMO_MAX_GLYPHS)


def test_bilingual_dictionary_round_trip(tmp_path):
    pairs = demo_bilingual_pairs(DEMO_LANGUAGES, DEMO_MAX_GLYPHS)
    write_bilingual_dictionary(tmp_path / "en-fr.txt", pairs)
    assert read_bilingual_dictionary(tmp_path / "en-fr.txt") == pairs

    with pytest.raises(ValueError, match="'ice cream'"):
        write_bilingual_dictionary(tmp_path / "bad.txt", [("ice cream", "glace")])


def test_demo_word_languages():
    languages = demo_word_languages(DEMO_LANGUAGES, DEMO_MAX_GLYPHS)

    assert languages["cat"] == "en"
    assert languages["chat"] == "fr"
    assert languages["and"] == "en"
    assert languages["et"] == "fr"
    # "photo" is a filler word in both languages, and "aujourd'hui" cleans to two words.
    assert languages["photo"] == SEVERAL_LANGUAGES
    assert languages["aujourd"] == "fr"
    assert languages["hui"] == "fr"
    assert languages["eglise"] == "fr"
    assert set(languages.values()) == {"en", "fr", SEVERAL_LANGUAGES}

    multi_word = next(glyph.names["fr"] for glyph in load_glyph_catalog(DEMO_LANGUAGES, DEMO_MAX_GLYPHS)
                      if len(caption_words(glyph.names["fr"])) > 1)
    joined = "".join(caption_words(multi_word))
    assert joined in languages
    for word in caption_words(multi_word):
        assert word in languages


def test_figure6_word_tsne(tmp_path):
    rng = np.random.default_rng(0)
    words = [f"word{number}" for number in range(50)]
    save_embedding(tmp_path / "embedding.npz", WordEmbedding(words, rng.normal(size=(50, 20))))
    word_languages = {**{word: "en" for word in words[:20]}, **{word: "fr" for word in words[20:30]}}

    drawn = figure6_word_tsne(tmp_path / "embedding.npz", tmp_path / "figure6", max_words=40,
                              word_languages=word_languages, perplexity=10)
    assert (tmp_path / "figure6.png").stat().st_size > 0
    assert (tmp_path / "figure6.pdf").stat().st_size > 0
    assert drawn["words"] == 40
    assert drawn["words_available"] == 50
    assert drawn["languages"] == {"en": 20, "fr": 10, "unlisted": 10}

    plain = figure6_word_tsne(tmp_path / "embedding.npz", tmp_path / "plain", perplexity=10)
    assert (tmp_path / "plain.png").stat().st_size > 0
    assert plain["words"] == 50
    assert plain["languages"] is None


def test_demo_analogy_sections():
    from weaksup.embeddings.demo_dictionary import demo_analogy_questions

    sections = demo_analogy_questions(["en", "fr", "de"], max_glyphs=60, max_per_section=50)
    names = [name for name, _ in sections]

    assert names == ["translation-en-fr", "translation-en-de"]
    for _, questions in sections:
        assert 0 < len(questions) <= 50
        for a, b, c, d in questions:
            assert a != c
            assert b != d
            assert a != b


def test_demo_analogies_round_trip(tmp_path):
    from weaksup.embeddings.benchmarks import read_analogy_questions
    from weaksup.embeddings.demo_dictionary import write_analogy_questions

    write_analogy_questions(tmp_path / "q.txt", [("translation-en-fr", [["cat", "chat", "dog", "chien"]])])
    questions = read_analogy_questions(tmp_path / "q.txt")
    assert [(q.section, q.a, q.b, q.c, q.d) for q in questions] == [("translation-en-fr", "cat", "chat", "dog", "chien")]


def test_gather_benchmark_sources(tmp_path):
    import zipfile

    from weaksup.embeddings.resources import gather_benchmark

    gather_benchmark("wordsim353", {"gensim": "wordsim353.tsv"}, tmp_path / "ws.txt")
    assert (tmp_path / "ws.txt").read_text().count("\n") > 300

    archive = tmp_path / "MEN.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("MEN/MEN_dataset_natural_form_full", "sun sunlight 50.0\n")
    gather_benchmark("men", {"url": "http://127.0.0.1/MEN.zip", "member": "MEN/MEN_dataset_natural_form_full"},
                     tmp_path / "men.txt", downloaded=archive)
    assert (tmp_path / "men.txt").read_text() == "sun sunlight 50.0\n"

    with pytest.raises(FileNotFoundError, match="no member"):
        gather_benchmark("men", {"url": "http://127.0.0.1/MEN.zip", "member": "absent"}, tmp_path / "x.txt",
                         downloaded=archive)
    with pytest.raises(FileNotFoundError, match="fix 'path'"):
        gather_benchmark("men", {"path": str(tmp_path / "absent.txt")}, tmp_path / "y.txt")


def test_gather_demo_dictionary(tmp_path):
    from weaksup.embeddings.benchmarks import read_bilingual_dictionary
    from weaksup.embeddings.resources import gather_benchmark

    demo = {"languages": ["en", "fr"], "max_glyphs": 60}
    gather_benchmark("bilingual_dictionary", {"demo": True}, tmp_path / "en-fr.txt", demo_corpus=demo)
    pairs = read_bilingual_dictionary(tmp_path / "en-fr.txt")
    assert pairs
    assert all(english != french for english, french in pairs)
