"""A run folder that another process fills between the emptiness check and taking the lock
is refused under the lock, and the other process's files are left alone."""

import pytest

from metalab.errors import BadInput
from metalab.runs import claim


@pytest.mark.parametrize("existed", [False, True])
def test_folder_filled_before_the_lock_is_refused_and_left_alone(tmp_path, monkeypatch, existed):
    path = tmp_path / "run"
    if existed:
        path.mkdir()  # empty: passes the first check
    take_lock = claim._lock

    def other_process_first(folder, option):
        folder.mkdir(exist_ok=True)
        (folder / "config.json").write_text('{"experiment": "sinusoid", "config": {}}')
        (folder / "INCOMPLETE").write_text("theirs\n")
        return take_lock(folder, option)

    monkeypatch.setattr(claim, "_lock", other_process_first)
    with pytest.raises(BadInput, match="holds an unfinished run"):
        with claim.open_run(path, resume=False):
            pytest.fail("the block must not run")
    assert (path / "config.json").read_text().startswith('{"experiment": "sinusoid"')
    assert (path / "INCOMPLETE").read_text() == "theirs\n"
