"""One tiny end-to-end Snakemake run of the demo chain: corpus, text, training, evaluation, Table 1."""

import csv
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def tiny_config():
    config = yaml.safe_load((ROOT / "config/demo.yaml").read_text())
    config["corpus"].update(name="tiny", num_shards=2)
    config["corpus"]["demo"].update(photos=300, max_glyphs=40)
    config["text"].update(drop_most_frequent=5, dictionary_sizes=[20], validation_fraction=0.1, test_fraction=0.2)
    config["training"].update(epoch_size=256, max_epochs=2, validation_photos=32, checkpoint_every=1)
    config["training"]["models"]["alexnet"].update(width=0.1, embedding_dim=32)
    return config


@pytest.mark.slow
def test_demo_chain_writes_table1(tmp_path):
    config_path = tmp_path / "tiny.yaml"
    config_path.write_text(yaml.safe_dump(tiny_config()))
    command = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(tmp_path),
               "--cores", "2", "all", "--configfile", str(config_path)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    rows = list(csv.DictReader(open(tmp_path / "results/table1.csv")))
    assert [(row["model"], row["K"]) for row in rows] == [("alexnet", "20"), ("frequency baseline", "20")]
    assert all(0 <= float(row["precision@10"]) <= 100 for row in rows)
    stats = list(csv.DictReader(open(tmp_path / "results/corpus_stats.csv")))
    assert stats[0]["photos"] == "300"
    assert (tmp_path / "data/models/tiny/alexnet-K20-multiclass/run/metrics.jsonl").read_text().count("\n") == 2
    assert (tmp_path / "logs/tiny/train/alexnet-K20-multiclass.log").stat().st_size > 0

    rerun = subprocess.run(command + ["-n"], capture_output=True, text=True, timeout=300)
    assert "Nothing to be done" in rerun.stdout + rerun.stderr
