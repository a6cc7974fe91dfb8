"""``data fetch`` replaces a damaged file already in the folder (same size, one byte wrong;
or cut short) with a verified download, and leaves a good copy untouched."""

import hashlib

import pytest

from metalab.tasks import download

BODY = bytes(range(256)) * 40


@pytest.fixture()
def pinned(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "demo.zip").write_bytes(BODY)
    monkeypatch.setitem(download.OMNIGLOT, "demo.zip", download.Pinned(
        "demo.zip", len(BODY), hashlib.sha256(BODY).hexdigest()))
    return mirror.as_uri()


@pytest.mark.parametrize("damaged", [bytes([BODY[0] ^ 1]) + BODY[1:], BODY[:100]],
                         ids=["one-byte-wrong", "truncated"])
def test_fetch_replaces_a_damaged_file(tmp_path, pinned, damaged):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "demo.zip").write_bytes(damaged)
    path = download.fetch("demo.zip", folder, base_url=pinned)
    assert path.read_bytes() == BODY
    assert sorted(p.name for p in folder.iterdir()) == ["demo.zip"]


def test_fetch_keeps_a_verified_file_without_downloading(tmp_path, pinned):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "demo.zip").write_bytes(BODY)
    path = download.fetch("demo.zip", folder, base_url=(tmp_path / "nowhere").as_uri())
    assert path.read_bytes() == BODY
