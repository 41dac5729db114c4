import hashlib
import http.server
import threading
from functools import partial

import pytest

from weaksup.download import download_file


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files from a folder and honours `Range: bytes=N-` like a real file server."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        path = self.translate_path(self.path)
        try:
            data = open(path, "rb").read()
        except OSError:
            self.send_error(404)
            return
        start = 0
        if self.headers.get("Range", "").startswith("bytes="):
            start = int(self.headers["Range"][6:].rstrip("-"))
            self.send_response(206)
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(RangeHandler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_download_verifies_checksum(server, tmp_path):
    root, base = server
    payload = b"photo metadata\n" * 1000
    (root / "meta.bz2").write_bytes(payload)
    out = tmp_path / "out" / "meta.bz2"
    download_file(f"{base}/meta.bz2", out, sha256=hashlib.sha256(payload).hexdigest())
    assert out.read_bytes() == payload


def test_download_resumes_partial_file(server, tmp_path):
    root, base = server
    payload = bytes(range(256)) * 100
    (root / "meta.bz2").write_bytes(payload)
    out = tmp_path / "meta.bz2"
    (tmp_path / "meta.bz2.part").write_bytes(payload[:1000])
    download_file(f"{base}/meta.bz2", out)
    assert out.read_bytes() == payload


def test_checksum_mismatch_leaves_no_file(server, tmp_path):
    root, base = server
    (root / "meta.bz2").write_bytes(b"abc")
    out = tmp_path / "meta.bz2"
    with pytest.raises(ValueError, match="checksum mismatch"):
        download_file(f"{base}/meta.bz2", out, sha256="0" * 64)
    assert not out.exists()
    assert not (tmp_path / "meta.bz2.part").exists()


def test_missing_url_explains_fix(tmp_path):
    with pytest.raises(ValueError, match="place the file there by hand"):
        download_file(None, tmp_path / "meta.bz2")


def test_download_accepts_checksum_prefix(server, tmp_path):
    root, base = server
    payload = b"weights"
    (root / "w.pth").write_bytes(payload)
    download_file(f"{base}/w.pth", tmp_path / "w.pth", sha256=hashlib.sha256(payload).hexdigest()[:8])
    assert (tmp_path / "w.pth").read_bytes() == payload
