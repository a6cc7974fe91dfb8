"""``metalab data fetch / verify`` against a local HTTP server serving the official zips."""

import hashlib
import http.server
import shutil
import threading
from pathlib import Path

import pytest

from metalab.cli import main
from metalab.errors import BadInput
from metalab.tasks import download

SHARED = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "omniglot"
SMALL = "images_background_small1.zip"
pytestmark = pytest.mark.skipif(not (SHARED / SMALL).exists(),
                                reason="needs ../shared/datasets/omniglot (the official zips)")


@pytest.fixture()
def server(tmp_path):
    """Serves ``good/`` (the real zip), ``truncated/``, ``wronghash/`` and ``html/`` (an
    error page with status 200, as some mirrors send)."""
    body = (SHARED / SMALL).read_bytes()
    variants = {"good": body, "truncated": body[: len(body) // 2],
                "wronghash": bytes([body[0] ^ 1]) + body[1:],
                "html": b"<!DOCTYPE html><html><body>Rate limit exceeded</body></html>"}
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the name http.server calls
            variant = self.path.strip("/").split("/")[0]
            hits.append(variant)
            if variant not in variants:
                self.send_error(404)
                return
            self.send_response(200)
            self.end_headers()
            self.wfile.write(variants[variant])

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", hits
    httpd.shutdown()
    httpd.server_close()


def test_fetch_verifies_and_renames_into_place(tmp_path, server):
    url, hits = server
    path = download.fetch(SMALL, tmp_path, base_url=f"{url}/good")
    assert path == tmp_path / SMALL
    assert hashlib.sha256(path.read_bytes()).hexdigest() == download.OMNIGLOT[SMALL].sha256
    assert sorted(p.name for p in tmp_path.iterdir()) == [SMALL]  # no partial file left
    download.fetch(SMALL, tmp_path, base_url=f"{url}/good")  # verified copy: no request
    assert hits == ["good"]


@pytest.mark.parametrize("variant,says", [("truncated", "bytes, expected"),
                                          ("wronghash", "SHA-256"),
                                          ("html", "bytes, expected"),
                                          ("missing", "could not download")])
def test_bad_responses_exit_2_and_leave_nothing(tmp_path, server, variant, says):
    url, _ = server
    with pytest.raises(BadInput, match=says) as error:
        download.fetch(SMALL, tmp_path, base_url=f"{url}/{variant}", retries=2)
    message = str(error.value)
    assert f"{url}/{variant}/{SMALL}" in message and download.OMNIGLOT[SMALL].sha256 in message
    assert str(tmp_path / SMALL) in message  # where to put it by hand
    assert list(tmp_path.iterdir()) == []


def test_cli_fetch_then_verify(tmp_path, server, capsys):
    url, _ = server
    assert main(["data", "fetch", "--dir", str(tmp_path), "--files", SMALL,
                 "--base-url", f"{url}/good"]) == 0
    assert main(["data", "verify", "--dir", str(tmp_path), "--files", SMALL]) == 0
    (tmp_path / SMALL).write_bytes(b"damaged")
    assert main(["data", "verify", "--dir", str(tmp_path), "--files", SMALL]) == 2
    assert main(["data", "verify", "--dir", str(tmp_path), "--files", "nope.zip"]) == 2


def test_data_folder_never_depends_on_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("METALAB_DATA", str(tmp_path))
    assert download.data_dir() == tmp_path / "omniglot"
    monkeypatch.delenv("METALAB_DATA")
    assert download.data_dir().is_absolute()
    shutil.copy(SHARED / SMALL, tmp_path / SMALL)
    assert download.verify(tmp_path) == {SMALL: None}
