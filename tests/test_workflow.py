"""One tiny end-to-end Snakemake run of the demo chain: corpus, text, training, baselines, transfer, embeddings, tables, figures."""

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def tiny_config():
    config = yaml.safe_load((ROOT / "config/demo.yaml").read_text())
    config["corpus"].update(name="tiny", num_shards=2)
    config["corpus"]["demo"].update(photos=400, max_glyphs=30)
    config["text"].update(drop_most_frequent=5, dictionary_sizes=[20], validation_fraction=0.15, test_fraction=0.2)
    training = config["training"]
    training.update(architectures=["alexnet"], epoch_size=256, max_epochs=2, validation_photos=32, checkpoint_every=1)
    training["models"]["alexnet"].update(width=0.1, embedding_dim=32)
    training["extra_runs"] = [{"arch": "alexnet", "K": 20, "loss": "one_vs_all"}]
    training["size_sweep"] = {"arch": "alexnet", "K": 20, "loss": "multiclass", "train_photos": [100]}
    config["baseline"].update(probe_grid=[0.1, 1.0])
    config["baseline"]["clean_labels"]["min_photos_per_class"] = 2
    config["figures"]["figure3"].update(K=20)
    config["figures"]["figure4"].update(K=20, max_photos=60, perplexity=5)
    config["transfer"].update(K=20, probe_grid=[0.1, 1.0], figure5_datasets=["new_glyphs", "corpus_glyphs"])
    config["transfer"]["datasets"] = {
        "new_glyphs": {"runs": 2, "glyphs": 4, "images_per_glyph": 8},
        "corpus_glyphs": {"runs": 2, "min_images_per_class": 3, "max_images": 60},
        "corpus_glyphs_multilabel": {"runs": 2, "classes": 5, "max_images": 60},
    }
    config["embeddings"]["figure6"].update(K=20, perplexity=5)
    config["embeddings"]["word2vec"].update(vector_size=16, min_count=1, epochs=1)
    return config


def snakemake(tmp_path, config_path, *targets):
    command = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(tmp_path),
               "--cores", "2", *targets, "--configfile", str(config_path)]
    return subprocess.run(command, capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_demo_chain_writes_every_target(tmp_path):
    config = tiny_config()
    config_path = tmp_path / "tiny.yaml"
    config_path.write_text(yaml.safe_dump(config))
    result = snakemake(tmp_path, config_path, "data/text/tiny/dictionary_K20.tsv")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    # Figure 3's words must be in the dictionary, which exists only now.
    words = [line.split("\t")[0] for line in (tmp_path / "data/text/tiny/dictionary_K20.tsv").read_text().splitlines()[1:4]]
    config["figures"]["figure3"]["words"] = words
    config_path.write_text(yaml.safe_dump(config))
    result = snakemake(tmp_path, config_path, "all")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    rows = list(csv.DictReader(open(tmp_path / "results/table1.csv")))
    assert [(row["model"], row["loss"], row["size_sweep"]) for row in rows] == [
        ("alexnet", "multiclass", "False"),
        ("alexnet", "one_vs_all", "False"),
        ("supervised alexnet (clean labels) + logistic regression", "", "False"),
        ("frequency baseline", "", "False"),
        ("alexnet", "multiclass", "True"),
    ]
    assert rows[-1]["train_photos"] == "100"
    assert all(0 <= float(row["precision@10"]) <= 100 for row in rows)
    stats = list(csv.DictReader(open(tmp_path / "results/corpus_stats.csv")))
    assert stats[0]["photos"] == "400"
    for stem in ("figure1_photos", "figure2_word_prediction", "figure3_top_photos", "figure4_tsne"):
        assert (tmp_path / f"results/{stem}.png").stat().st_size > 1000
        assert (tmp_path / f"results/{stem}.pdf").stat().st_size > 1000
    for stem in ("figure5_transfer_vs_size", "figure2_voc_vs_size"):
        assert (tmp_path / f"results/{stem}.png").stat().st_size > 1000
    table3 = list(csv.DictReader(open(tmp_path / "results/table3.csv")))
    assert {row["dataset"] for row in table3} == {"new_glyphs", "corpus_glyphs"}
    assert {row["kind"] for row in table3} == {"flickr", "supervised", "combined", "random"}
    assert all(row["runs"] == "2" for row in table3)
    table2 = list(csv.DictReader(open(tmp_path / "results/table2.csv")))
    assert {row["ap_definition"] for row in table2} == {"voc07_11point", "area"}
    assert (tmp_path / "results/figure6_word_tsne.png").stat().st_size > 1000
    table4 = list(csv.DictReader(open(tmp_path / "results/table4.csv")))
    assert {row["source"] for row in table4} == {"alexnet-K20-multiclass-nall", "alexnet-K20-one_vs_all-nall",
                                                 "word2vec-K20"}
    for number in (5, 6, 7):
        assert (tmp_path / f"results/table{number}.csv").read_text().startswith("corpus,corpus_description,source")
    metrics = tmp_path / "data/models/tiny/alexnet-K20-multiclass-nall/run/metrics.jsonl"
    assert metrics.read_text().count("\n") == 2
    assert (tmp_path / "logs/tiny/train/alexnet-K20-multiclass-nall.log").stat().st_size > 0

    rerun = snakemake(tmp_path, config_path, "all", "-n")
    assert "Nothing to be done" in rerun.stdout + rerun.stderr

    summary = (tmp_path / "results/SUMMARY.md").read_text()
    assert "not comparable with the paper" in summary
    assert "## Transfer learning" in summary
    check_report(tmp_path, config_path)


RESULT_FILES = ["corpus_stats.csv", "SUMMARY.md", *(f"table{n}.csv" for n in range(1, 8)),
                *(f"{stem}.png" for stem in ("figure1_photos", "figure2_word_prediction", "figure2_voc_vs_size",
                                             "figure3_top_photos", "figure4_tsne", "figure5_transfer_vs_size",
                                             "figure6_word_tsne"))]


def check_report(workdir, config_path):
    """Build the Snakemake report and check that it lists every table and figure.

    With Chromium installed, also render it headless and check that the screenshot is not blank.
    """
    report = workdir / "results/report.html"
    result = snakemake(workdir, config_path, "--report", str(report))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    html = report.read_text(encoding="utf-8")
    for name in RESULT_FILES:
        assert name in html, name

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        return
    screenshot = workdir / "report.png"
    command = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={workdir / 'chrome'}",
               "--window-size=1200,900", "--virtual-time-budget=10000", f"--screenshot={screenshot}",
               report.as_uri()]
    subprocess.run(command, capture_output=True, timeout=120)
    image = Image.open(screenshot).convert("L")
    assert image.size == (1200, 900)
    # A page that failed to render is one flat colour.
    assert max(image.getextrema()) - min(image.getextrema()) > 100
