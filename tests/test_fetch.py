"""Tests of the built-in image downloader against a local HTTP server."""

from __future__ import annotations

import csv
import io
import json
import tarfile
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image

from weaksup.corpus import fetch
from weaksup.corpus.fetch import OUTCOMES, download_shard, gather_download_stats, part_paths
from weaksup.corpus.shards import ImageStore, read_shard_text
from weaksup.corpus.webdataset import build_shard_from_webdataset
from weaksup.images import decode_rgb

# /large.jpg is meant to exceed MAX_IMAGE_PIXELS; the warning Pillow gives for it is expected.
pytestmark = pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")

IMAGE_SIZE = 16
# Small, so that the test can make images above it; the good images stay below it (at most 30 x 30).
MAX_PIXELS = 1000
# Seconds: the client gives up on /slow.jpg long before the server responds.
CLIENT_TIMEOUT = 0.3
SLOW_RESPONSE_S = 1.5


def image_bytes(size: tuple[int, int], image_format: str, color=(200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    mode = "RGBA" if image_format == "PNG" else "RGB"
    Image.new(mode, size, color).save(buffer, format=image_format)
    return buffer.getvalue()


def truncated_jpeg() -> bytes:
    # Noise, so that the entropy-coded data is long and the cut falls inside it rather than in the header.
    noise = Image.effect_noise((30, 30), 80).convert("RGB")
    buffer = io.BytesIO()
    noise.save(buffer, format="JPEG", quality=95)
    data = buffer.getvalue()
    return data[: len(data) // 2]


FILES = {
    "/good1.jpg": image_bytes((30, 20), "JPEG"),
    "/good2.jpg": image_bytes((20, 30), "JPEG", color=(10, 200, 10)),
    "/image.png": image_bytes((25, 25), "PNG", color=(0, 0, 255, 128)),
    "/truncated.jpg": truncated_jpeg(),
    "/text.jpg": b"this is a text file, not a JPEG\n",
    # 100 x 100 is more than twice MAX_PIXELS, so Pillow raises DecompressionBombError when opening it.
    "/bomb.png": image_bytes((100, 100), "PNG"),
    # 40 x 40 is between one and two times MAX_PIXELS, where Pillow only warns.
    "/large.jpg": image_bytes((40, 40), "JPEG"),
}


class ImageServer(ThreadingHTTPServer):
    """Serves FILES, 404 for unknown paths, /slow.jpg late, and /busy.jpg with 503 on the first request."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: Counter = Counter()
        self.lock = threading.Lock()

    def handle_error(self, request, client_address) -> None:
        # The client closes /slow.jpg connections after its timeout, so the late write fails. That is expected.
        pass

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"


class _Handler(BaseHTTPRequestHandler):
    server: ImageServer

    def do_GET(self) -> None:
        with self.server.lock:
            self.server.requests[self.path] += 1
            count = self.server.requests[self.path]
        if self.path == "/slow.jpg":
            time.sleep(SLOW_RESPONSE_S)
            self._send(200, FILES["/good1.jpg"])
        elif self.path == "/busy.jpg" and count == 1:
            self._send(503, b"busy")
        elif self.path == "/busy.jpg":
            self._send(200, FILES["/good2.jpg"])
        elif self.path in FILES:
            self._send(200, FILES[self.path])
        else:
            self._send(404, b"not found")

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "image/jpeg" if status == 200 else "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args) -> None:
        pass


@pytest.fixture
def server():
    image_server = ImageServer()
    thread = threading.Thread(target=image_server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield image_server
    image_server.shutdown()
    image_server.server_close()


@pytest.fixture
def fast_failures(monkeypatch):
    monkeypatch.setattr(fetch, "RETRY_DELAY_S", 0.01)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", MAX_PIXELS)


# (photo id, path, expected outcome). With 2 parts, part 0 takes the even rows and part 1 the odd rows.
ROWS = [
    ("1", "/good1.jpg", "success"),
    ("2", "/good2.jpg", "success"),
    ("3", "/image.png", "success"),
    ("4", "/missing.jpg", "failed_download"),
    ("5", "/truncated.jpg", "failed_decode"),
    ("6", "/text.jpg", "failed_decode"),
    ("7", "/slow.jpg", "failed_timeout"),
    ("8", "/busy.jpg", "success"),
    ("9", "/bomb.png", "failed_too_large"),
    ("10", "/large.jpg", "failed_too_large"),
    ("a/b", "/good1.jpg", "invalid_row"),
    ("2", "/good1.jpg", "invalid_row"),  # photo id 2 again, in the same part
]


def write_url_list(path, server: ImageServer) -> None:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(("photo_id", "url", "title", "description", "tags"))
        for photo_id, url_path, _ in ROWS:
            writer.writerow((photo_id, server.url(url_path), f"title {photo_id}", "a description", "red,sky"))


def download_both_parts(url_list, out_dir) -> list[dict]:
    return [
        download_shard(url_list, part, 2, out_dir, IMAGE_SIZE, threads=4, timeout=CLIENT_TIMEOUT, retries=1)
        for part in (0, 1)
    ]


def failure_outcomes(stats: dict) -> dict[str, str]:
    return {failure["photo_id"] + "@" + str(failure["line"]): failure["outcome"] for failure in stats["failures"]}


def test_download_outcomes(tmp_path, server, fast_failures):
    url_list = tmp_path / "download.tsv"
    write_url_list(url_list, server)

    stats = download_both_parts(url_list, tmp_path / "shards")

    expected = [Counter(outcome for _, _, outcome in ROWS[part::2]) for part in (0, 1)]
    for part in (0, 1):
        assert stats[part]["rows"] == 6
        for outcome in OUTCOMES:
            assert stats[part][outcome] == expected[part][outcome], (part, outcome)
    assert failure_outcomes(stats[0]) == {"5@6": "failed_decode", "7@8": "failed_timeout",
                                          "9@10": "failed_too_large", "a/b@12": "invalid_row"}
    assert failure_outcomes(stats[1]) == {"4@5": "failed_download", "6@7": "failed_decode",
                                          "10@11": "failed_too_large", "2@13": "invalid_row"}
    assert "HTTP 404" in stats[1]["failures"][0]["reason"]
    assert server.requests["/busy.jpg"] == 2
    assert server.requests["/missing.jpg"] == 1
    assert server.requests["/slow.jpg"] == 2


def test_download_tar_layout(tmp_path, server, fast_failures):
    url_list = tmp_path / "download.tsv"
    write_url_list(url_list, server)
    out_dir = tmp_path / "shards"

    download_both_parts(url_list, out_dir)

    tar_path, stats_path = part_paths(out_dir, 0)
    assert tar_path.name == "00000.tar"
    assert stats_path.name == "00000_stats.json"
    with tarfile.open(tar_path) as tar:
        assert tar.getnames() == ["1.jpg", "1.json", "3.jpg", "3.json"]
        image = decode_rgb(tar.extractfile("3.jpg").read())
        metadata = json.loads(tar.extractfile("1.json").read())
    assert image.size == (IMAGE_SIZE, IMAGE_SIZE)
    assert metadata == {"photo_id": "1", "title": "title 1", "description": "a description", "tags": ["red", "sky"],
                        "url": server.url("/good1.jpg")}
    with tarfile.open(part_paths(out_dir, 1)[0]) as tar:
        assert tar.getnames() == ["2.jpg", "2.json", "8.jpg", "8.json"]
    assert sorted(path.name for path in out_dir.iterdir()) == [
        "00000.tar", "00000_stats.json", "00001.tar", "00001_stats.json"]


def test_download_tars_build_corpus(tmp_path, server, fast_failures):
    url_list = tmp_path / "download.tsv"
    write_url_list(url_list, server)
    out_dir = tmp_path / "shards"
    download_both_parts(url_list, out_dir)
    shard = tmp_path / "corpus" / "shard-00000.tar"

    counts = build_shard_from_webdataset(sorted(out_dir.glob("*.tar")), shard, IMAGE_SIZE)

    assert counts["written"] == 4
    assert counts["examples"] == {}
    photos = list(read_shard_text(tmp_path / "corpus" / "shard-00000.tsv"))
    assert [photo.photo_id for photo in photos] == ["1", "3", "2", "8"]
    assert photos[0].title == "title 1"
    assert photos[0].tags == ["red", "sky"]
    assert len(ImageStore([shard])) == 4


def test_download_rerun_fetches_nothing(tmp_path, server, fast_failures):
    url_list = tmp_path / "download.tsv"
    write_url_list(url_list, server)
    out_dir = tmp_path / "shards"
    first = download_both_parts(url_list, out_dir)
    requests_after_first = sum(server.requests.values())
    tar_bytes = part_paths(out_dir, 0)[0].read_bytes()

    second = download_both_parts(url_list, out_dir)

    assert sum(server.requests.values()) == requests_after_first
    assert second == first
    assert part_paths(out_dir, 0)[0].read_bytes() == tar_bytes


def test_download_rerun_other_settings_rejected(tmp_path, server, fast_failures):
    url_list = tmp_path / "download.tsv"
    write_url_list(url_list, server)
    out_dir = tmp_path / "shards"
    download_both_parts(url_list, out_dir)

    with pytest.raises(ValueError, match="image_size=16, but this call uses num_parts=2, image_size=32"):
        download_shard(url_list, 0, 2, out_dir, 32, timeout=CLIENT_TIMEOUT)


def test_download_failed_part_leaves_nothing(tmp_path, server, fast_failures, monkeypatch):
    url_list = tmp_path / "download.tsv"
    write_url_list(url_list, server)
    out_dir = tmp_path / "shards"
    out_dir.mkdir()
    real_fetch_row = fetch.fetch_row

    def fetch_row_then_crash(row, *args):
        if row.photo_id == "5":
            raise RuntimeError("worker killed")
        return real_fetch_row(row, *args)

    monkeypatch.setattr(fetch, "fetch_row", fetch_row_then_crash)

    with pytest.raises(RuntimeError, match="worker killed"):
        download_shard(url_list, 0, 2, out_dir, IMAGE_SIZE, threads=2, timeout=CLIENT_TIMEOUT, retries=0)

    assert list(out_dir.iterdir()) == []


def test_url_list_missing_column(tmp_path):
    url_list = tmp_path / "download.tsv"
    url_list.write_text("photo_id\tlink\n1\thttp://127.0.0.1:9/x.jpg\n", encoding="utf-8")

    with pytest.raises(ValueError, match=r"lacks the columns \['url'\]"):
        download_shard(url_list, 0, 1, tmp_path / "shards", IMAGE_SIZE)


@pytest.mark.parametrize("part, num_parts", [(2, 2), (-1, 2), (0, 0)])
def test_part_out_of_range(tmp_path, part, num_parts):
    with pytest.raises(ValueError, match="out of range"):
        download_shard(tmp_path / "download.tsv", part, num_parts, tmp_path / "shards", IMAGE_SIZE)


def read_csv(path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_gather_stats_both_downloaders(tmp_path, server, fast_failures):
    url_list = tmp_path / "download.tsv"
    write_url_list(url_list, server)
    out_dir = tmp_path / "shards"
    download_both_parts(url_list, out_dir)
    img2dataset_stats = tmp_path / "img2dataset" / "00002_stats.json"
    img2dataset_stats.parent.mkdir()
    img2dataset_stats.write_text(json.dumps({
        "count": 10, "successes": 7, "failed_to_download": 2, "failed_to_resize": 1, "duration": 3.5,
        "status_dict": {"success": 7, "HTTP Error 404: Not Found": 2, "cannot identify image file": 1},
    }), encoding="utf-8")
    out_csv = tmp_path / "download_stats.csv"

    rows = gather_download_stats([*sorted(out_dir.glob("*_stats.json")), img2dataset_stats], out_csv)

    table = read_csv(out_csv)
    assert list(table[0]) == ["part", "downloader", "rows", *OUTCOMES]
    assert [row["part"] for row in table] == ["0", "1", "2", "total"]
    assert [row["downloader"] for row in table] == ["weaksup", "weaksup", "img2dataset", "img2dataset+weaksup"]
    assert table[0] == {"part": "0", "downloader": "weaksup", "rows": "6", "success": "2", "failed_download": "0",
                        "failed_timeout": "1", "failed_decode": "1", "failed_too_large": "1", "invalid_row": "1"}
    assert table[2] == {"part": "2", "downloader": "img2dataset", "rows": "10", "success": "7",
                        "failed_download": "2", "failed_timeout": "", "failed_decode": "1",
                        "failed_too_large": "", "invalid_row": ""}
    # Timeout, too-large and invalid-row totals cover only the two parts that report them.
    assert table[3] == {"part": "total", "downloader": "img2dataset+weaksup", "rows": "22", "success": "11",
                        "failed_download": "3", "failed_timeout": "1", "failed_decode": "3",
                        "failed_too_large": "2", "invalid_row": "2"}
    assert rows[3]["success"] == 11


def test_gather_stats_unknown_format(tmp_path):
    stats = tmp_path / "00000_stats.json"
    stats.write_text(json.dumps({"written": 3}), encoding="utf-8")

    with pytest.raises(ValueError, match=r"neither a download_shard stats file.*\['written'\]"):
        gather_download_stats([stats], tmp_path / "out.csv")
