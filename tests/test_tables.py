import csv
import json

from weaksup.launch import train_argv
from weaksup.tables import write_word_prediction_table


def write_result(path, model, K, p10, loss="multiclass"):
    path.write_text(json.dumps({
        "model": model, "loss": loss, "K": K,
        "precision@1": p10 * 2, "precision@5": p10 * 1.5, "precision@10": p10,
        "photos_evaluated": 90, "photos_skipped_no_targets": 10,
    }))
    return path


def test_table1_rows_sorted_by_K_with_baseline_last(tmp_path):
    paths = [
        write_result(tmp_path / "a.json", "frequency baseline", 100, 0.05, loss=""),
        write_result(tmp_path / "b.json", "alexnet", 1000, 0.2),
        write_result(tmp_path / "c.json", "alexnet", 100, 0.3),
    ]
    write_word_prediction_table("demo", paths, tmp_path / "table1.csv")
    rows = list(csv.DictReader(open(tmp_path / "table1.csv")))
    assert [(r["model"], r["K"]) for r in rows] == [("alexnet", "100"), ("frequency baseline", "100"), ("alexnet", "1000")]
    assert rows[0]["precision@10"] == "30.0"
    assert rows[0]["corpus"] == "demo"
    assert rows[0]["test_photos_without_targets"] == "10"


def test_train_argv_maps_config_keys():
    training = {"crop_size": 64, "batch_size": 128, "lr": 0.1, "max_epochs": None, "seed": 3}
    argv = train_argv(training, {"width": 0.25, "embedding_dim": 512}, "alexnet", "multiclass", "corpus", "t.npz",
                      "d.tsv", None, "run", "m.pt", 1, "cpu")
    assert argv[argv.index("--crop-size") + 1] == "64"
    assert argv[argv.index("--width") + 1] == "0.25"
    assert argv[argv.index("--embedding-dim") + 1] == "512"
    assert "--max-epochs" not in argv
    assert "--train-subset" not in argv
    assert argv[argv.index("--loss") + 1] == "multiclass"
