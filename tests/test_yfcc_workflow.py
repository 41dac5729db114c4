"""The YFCC100M download rules end to end: metadata (SQLite) and images from a local HTTP server, through
Snakemake, to corpus shards and results/download_stats.csv."""

import csv
import io
import sqlite3
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from PIL import Image

from weaksup.corpus.shards import read_shard_text

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ("photoid", "uid", "unickname", "datetaken", "dateuploaded", "capturedevice", "title", "description",
           "usertags", "machinetags", "longitude", "latitude", "accuracy", "pageurl", "downloadurl", "licensename",
           "licenseurl", "serverid", "farmid", "secret", "secretoriginal", "ext", "marker")


def jpeg(colour):
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), colour).save(buffer, format="JPEG")
    return buffer.getvalue()


# Photo id -> what the server returns for /images/<id>.jpg (None: 404).
IMAGES = {
    101: jpeg((200, 0, 0)),
    102: jpeg((0, 200, 0)),
    103: jpeg((0, 0, 200)),
    104: None,
    105: b"not an image at all",
    106: jpeg((90, 90, 90))[:40],
}


def metadata_file(path):
    connection = sqlite3.connect(path)
    with connection:
        connection.execute(f"CREATE TABLE yfcc100m_dataset ({', '.join(COLUMNS)})")
        rows = [(photo_id, f"red+sunset+{photo_id}", "a+%3Cb%3Ebeach%3C%2Fb%3E", "sea,sky", 0) for photo_id in IMAGES]
        rows.append((107, "a+video", "", "", 1))
        for photo_id, title, description, tags, marker in rows:
            values = dict.fromkeys(COLUMNS, "")
            values.update(photoid=photo_id, title=title, description=description, usertags=tags, marker=marker,
                          ext="jpg", downloadurl=f"http://farm.example/{photo_id}.jpg")
            connection.execute(f"INSERT INTO yfcc100m_dataset VALUES ({', '.join('?' for _ in COLUMNS)})",
                               [values[name] for name in COLUMNS])
    connection.close()


class Server:
    def __init__(self, metadata: bytes):
        self.requests = []
        files = {"/yfcc100m_dataset.sql": metadata}
        files.update({f"/images/{photo_id}.jpg": data for photo_id, data in IMAGES.items() if data is not None})
        requests = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                requests.append(self.path)
                data = files.get(self.path)
                if data is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def server(tmp_path):
    metadata_file(tmp_path / "meta.sql")
    running = Server((tmp_path / "meta.sql").read_bytes())
    yield running
    running.httpd.shutdown()


def yfcc_config(url):
    config = yaml.safe_load((ROOT / "config/demo.yaml").read_text())
    for section in ("transfer", "embeddings"):
        config.pop(section)
    config["corpus"] = {
        "name": "yfcctiny", "source": "yfcc100m", "num_shards": 2, "image_size": 32,
        "yfcc100m": {"metadata_url": f"{url}/yfcc100m_dataset.sql", "metadata_sha256": None, "metadata_md5": None,
                     "image_url_template": url + "/images/{photo_id}.jpg", "images_dir": "data/downloads/yfcc100m/images",
                     "downloader": "builtin", "download_parts": 2, "download_timeout": 5},
    }
    config["training"]["crop_size"] = 28
    config["baseline"]["source"] = "imagenet"
    config["baseline"]["imagenet_weights"] = {"alexnet": {"url": f"{url}/alexnet.pth", "sha256": None}}
    return config


def snakemake(workdir, config_path, *targets):
    command = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(workdir),
               "--cores", "2", *targets, "--configfile", str(config_path)]
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_download_rules_count_every_outcome(tmp_path, server):
    config_path = tmp_path / "yfcc.yaml"
    config_path.write_text(yaml.safe_dump(yfcc_config(server.url)))
    workdir = tmp_path / "run"
    targets = ["results/download_stats.csv", "data/corpus/yfcctiny/shard-00000.tar",
               "data/corpus/yfcctiny/shard-00001.tar"]
    result = snakemake(workdir, config_path, *targets)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    rows = list(csv.DictReader(open(workdir / "results/download_stats.csv")))
    total = rows[-1]
    assert total["part"] == "total"
    assert total["rows"] == "6"
    assert total["success"] == "3"
    assert total["failed_download"] == "1"
    assert total["failed_decode"] == "2"

    texts = [text for shard in ("00000", "00001")
             for text in read_shard_text(workdir / f"data/corpus/yfcctiny/shard-{shard}.tsv")]
    assert sorted(text.photo_id for text in texts) == ["101", "102", "103"]
    assert all(text.description == "a beach" for text in texts)

    fetched = len(server.requests)
    rerun = snakemake(workdir, config_path, *targets)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    assert len(server.requests) == fetched
