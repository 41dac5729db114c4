import csv
from pathlib import Path

import numpy as np
import pytest

from weaksup.corpus.shards import PhotoText, ShardWriter, shard_stem
from weaksup.targets import TEST, TRAIN, VALIDATION, Targets, word_photo_index
from weaksup.text.dictionary import build_dictionary, merge_counts, read_counts, write_counts
from weaksup.text.pipeline import assign_split, check_split_fractions, read_tokens, tokenize_shard
from weaksup.text.stats import corpus_stats_rows, write_corpus_stats
from weaksup.text.targets_build import build_targets

# The shard writer does not decode images, so any bytes stand in for a JPEG.
FAKE_JPEG = b"\xff\xd8\xff\xd9"


def _write_shard(directory, index, photos):
    tar_path = directory / f"{shard_stem(index)}.tar"
    with ShardWriter(tar_path) as writer:
        for photo in photos:
            writer.write(photo, FAKE_JPEG)
    return tar_path.with_suffix(".tsv")


PHOTOS = [
    PhotoText("1", "Sunset at the Beach!", "We cannot wait... #summer2015", ["beach", "sunset", "Côte d'Azur"]),
    PhotoText("2", "IMG_0042.JPG", "", []),
    PhotoText("3", "Beach beach BEACH", "", ["sea"]),
    PhotoText("4", "東京タワー", "夜景", ["tokyo"]),
]


def test_tokenize_shard_all_train(tmp_path):
    shard = _write_shard(tmp_path, 0, PHOTOS)
    tokens_out, counts_out = tmp_path / "tokens.tsv", tmp_path / "counts.tsv"

    stats = tokenize_shard(shard, tokens_out, counts_out, validation_fraction=0.0, test_fraction=0.0, split_seed=1)

    assert tokens_out.read_text(encoding="utf-8").splitlines() == [
        "photo_id\tsplit\ttokens",
        "1\ttrain\tsunset at the beach we can not wait summer beach sunset cote d azur",
        "2\ttrain\timg jpg",
        "3\ttrain\tbeach beach beach sea",
        "4\ttrain\t東京タワー 夜景 tokyo",
    ]
    counts = dict(read_counts(counts_out))
    # Document frequency: photo 1 has "beach" twice and photo 3 three times, so the count is 2.
    assert counts["beach"] == 2
    assert counts["sea"] == 1
    assert counts["東京タワー"] == 1
    assert stats["photos"] == 4
    assert stats["train_photos"] == 4
    assert stats["tokens"] == 14 + 2 + 4 + 3
    assert stats["photos_without_tokens"] == 0
    assert stats["distinct_training_words"] == len(counts)


def test_tokenize_shard_empty_caption(tmp_path):
    shard = _write_shard(tmp_path, 0, [PhotoText("7", "2015", "!!! 😀", ["123"]), PhotoText("8", "sea")])
    tokens_out, counts_out = tmp_path / "tokens.tsv", tmp_path / "counts.tsv"

    stats = tokenize_shard(shard, tokens_out, counts_out, validation_fraction=0.0, test_fraction=0.0, split_seed=1)

    assert list(read_tokens(tokens_out)) == [("7", TRAIN, []), ("8", TRAIN, ["sea"])]
    assert stats["photos_without_tokens"] == 1


def test_tokenize_shard_counts_only_training(tmp_path):
    photos = [PhotoText(f"photo{i}", f"word{chr(97 + i % 26)} common") for i in range(400)]
    shard = _write_shard(tmp_path, 0, photos)
    tokens_out, counts_out = tmp_path / "tokens.tsv", tmp_path / "counts.tsv"

    stats = tokenize_shard(shard, tokens_out, counts_out, validation_fraction=0.2, test_fraction=0.3, split_seed=5)

    rows = list(read_tokens(tokens_out))
    assert [photo_id for photo_id, _, _ in rows] == [photo.photo_id for photo in photos]
    assert [split for _, split, _ in rows] == [assign_split(p.photo_id, 0.2, 0.3, 5) for p in photos]
    train_photos = sum(1 for _, split, _ in rows if split == TRAIN)
    assert dict(read_counts(counts_out))["common"] == train_photos
    assert stats["train_photos"] == train_photos
    assert stats["validation_photos"] + stats["test_photos"] == 400 - train_photos


def test_assign_split_deterministic():
    ids = [str(i) for i in range(1000)]
    first = [assign_split(photo_id, 0.1, 0.2, 7) for photo_id in ids]
    second = [assign_split(photo_id, 0.1, 0.2, 7) for photo_id in ids]
    other_seed = [assign_split(photo_id, 0.1, 0.2, 8) for photo_id in ids]
    assert first == second
    assert first != other_seed


def test_assign_split_fractions():
    splits = [assign_split(f"{i:08d}", 0.05, 0.1, 0) for i in range(20_000)]
    # Binomial standard deviations at n = 20,000 are at most 0.0026, so 0.01 is at least 3.8 of them.
    assert abs(splits.count(TEST) / 20_000 - 0.1) < 0.01
    assert abs(splits.count(VALIDATION) / 20_000 - 0.05) < 0.01
    assert abs(splits.count(TRAIN) / 20_000 - 0.85) < 0.01


@pytest.mark.parametrize("validation, test", [(-0.1, 0.1), (0.1, 1.0), (0.5, 0.5)])
def test_invalid_split_fractions(validation, test):
    with pytest.raises(ValueError):
        check_split_fractions(validation, test)


def test_read_tokens_bad_split(tmp_path):
    path = tmp_path / "tokens.tsv"
    path.write_text("photo_id\tsplit\ttokens\n1\ttrain\tsea\n2\ttraining\tsky\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"tokens.tsv:3: split 'training'"):
        list(read_tokens(path))


def _build_corpus(tmp_path):
    """Tokenize two shards, merge their counts and build targets for K = 1 and K = 2 after dropping 1 word."""
    shards = [
        _write_shard(tmp_path, 0, [PhotoText("a", "sea sky sun"), PhotoText("b", "sea sky"), PhotoText("c", "")]),
        _write_shard(tmp_path, 1, [PhotoText("d", "sea sun"), PhotoText("e", "sea moon")]),
    ]
    tokens_paths, counts_paths = [], []
    for shard in shards:
        tokens_paths.append(shard.with_suffix(".tokens.tsv"))
        counts_paths.append(shard.with_suffix(".counts.tsv"))
        tokenize_shard(shard, tokens_paths[-1], counts_paths[-1], 0.0, 0.0, split_seed=0)
    merged = tmp_path / "counts.tsv"
    merge_counts(counts_paths, merged)

    targets = {}
    for size in (1, 2):
        dictionary = tmp_path / f"dictionary-{size}.tsv"
        build_dictionary(merged, drop_most_frequent=1, size=size, out_path=dictionary)
        targets[size] = tmp_path / f"targets-{size}.npz"
        build_targets(tokens_paths, dictionary, targets[size])
    return merged, targets


def test_corpus_stats_rows(tmp_path):
    # Counts: sea 4, sky 2, sun 2, moon 1. Dropping "sea" leaves sky, sun, moon.
    merged, targets = _build_corpus(tmp_path)

    rows = corpus_stats_rows("demo", merged, targets, drop_most_frequent=1)

    assert [row["K"] for row in rows] == [1, 2]
    small, large = rows
    assert small["photos"] == 5
    assert small["train_photos"] == 5
    assert small["test_photos"] == 0
    assert small["distinct_training_words"] == 4
    # K = 1 is {sky}: photos a and b have one target each.
    assert small["photos_without_targets"] == 3
    assert small["avg_targets_per_photo"] == 0.4
    assert small["avg_targets_per_photo_with_targets"] == 1.0
    # K = 2 is {sky, sun}: a has 2, b 1, d 1.
    assert large["photos_without_targets"] == 2
    assert large["avg_targets_per_photo"] == 0.8
    assert large["avg_targets_per_photo_with_targets"] == pytest.approx(1.3333, abs=1e-4)


def _save_targets(path, num_classes, indptr, words, split):
    indptr, words, split = np.array(indptr), np.array(words), np.array(split, dtype=np.int8)
    word_photos_indptr, word_photos = word_photo_index(indptr, words, split, num_classes)
    Targets(indptr, words, split, word_photos_indptr, word_photos, num_classes).save(path)


def test_corpus_stats_paper_values(tmp_path):
    from weaksup.paper import annotate_table, load_paper_results

    counts = tmp_path / "counts.tsv"
    write_counts({"sea": 3, "sky": 1}, counts)
    for size in (1_000, 10_000, 100_000, 500):
        _save_targets(tmp_path / f"targets-{size}.npz", size, [0, 2, 2], [0, 5], [TRAIN, TEST])
    targets = {size: tmp_path / f"targets-{size}.npz" for size in (1_000, 10_000, 100_000, 500)}
    paper = load_paper_results(Path(__file__).parents[1] / "config/paper_results.yaml")

    for source, name in (("yfcc100m", "yfcc.csv"), ("demo", "demo.csv")):
        write_corpus_stats(corpus_stats_rows(source, counts, targets, drop_most_frequent=500), tmp_path / name)
        annotate_table(tmp_path / name, "corpus_stats", paper, source, f"{source} corpus")
    yfcc_rows = list(csv.DictReader(open(tmp_path / "yfcc.csv", newline="", encoding="utf-8")))
    demo_rows = list(csv.DictReader(open(tmp_path / "demo.csv", newline="", encoding="utf-8")))

    assert [row["K"] for row in yfcc_rows] == ["500", "1000", "10000", "100000"]
    assert [row["paper_avg_targets_per_photo"] for row in yfcc_rows] == ["", "3.72", "5.62", "6.81"]
    assert yfcc_rows[1]["avg_targets_per_photo_minus_paper"] == str(round(1.0 - 3.72, 4))
    assert "paper_avg_targets_per_photo" not in demo_rows[0]
    assert demo_rows[0]["corpus_description"] == "demo corpus"
    assert yfcc_rows[0]["avg_targets_per_photo"] == "1.0"
    assert yfcc_rows[0]["test_photos"] == "1"


def test_corpus_stats_wrong_size(tmp_path):
    counts = tmp_path / "counts.tsv"
    write_counts({"sea": 3}, counts)
    _save_targets(tmp_path / "targets.npz", 10, [0, 1], [0], [TRAIN])
    with pytest.raises(ValueError, match="K=10 classes but is listed for K=1000"):
        corpus_stats_rows("yfcc100m", counts, {1_000: tmp_path / "targets.npz"}, drop_most_frequent=500)


def test_write_corpus_stats(tmp_path):
    merged, targets = _build_corpus(tmp_path)
    out = tmp_path / "stats.csv"
    write_corpus_stats(corpus_stats_rows("demo", merged, targets, drop_most_frequent=1), out)
    with open(out, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["K"] for row in rows] == ["1", "2"]
    assert rows[1]["avg_targets_per_photo"] == "0.8"
