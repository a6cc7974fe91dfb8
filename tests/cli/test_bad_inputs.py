"""Every row of ``docs/bad-inputs.md``: the command fails with the stated exit code and
message, and writes nothing (no run folder, no change to the folders it was given).

Rows name the files they need by placeholders (``RUN``, ``FINISHED``, ...), which
``placeholder`` builds in a temporary folder; each command runs in-process.
"""

import fcntl
import json
import os
import re
import shlex
import zipfile
from pathlib import Path

import pytest

from metalab.cli import main
from metalab.training import Checkpointer

TABLE = Path(__file__).parents[2] / "docs" / "bad-inputs.md"
ROW = re.compile(r"^\| *(\d+) *\| *([^|]+?) *\| *`metalab ([^`]+)` *\| *(\d) *\| *`([^`]+)` *\|$")


def rows() -> list[tuple[str, str, int, str]]:
    found = [ROW.match(line) for line in TABLE.read_text().splitlines()]
    return [(m[1], m[3], int(m[4]), m[5]) for m in found if m]


def _config(folder: Path, experiment: str = "sinusoid", **config) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"experiment": experiment,
                                                    "config": config}))


def _checkpoint(folder: Path, stage: str, step: int = 4) -> Path:
    ckpt = Checkpointer(folder / "checkpoints" / stage)
    ckpt.save({"x": 0.0}, step)
    return ckpt.path


def placeholder(name: str, tmp: Path, held: list) -> Path:
    """The file or folder a row's placeholder stands for."""
    path = tmp / name.lower()
    if name in ("RUN", "MISSING"):
        return path
    if name == "EMPTY":
        path.mkdir()
    elif name == "AFILE":
        path.write_text("not a folder\n")
    elif name == "FOREIGN":
        path.mkdir()
        (path / "notes.txt").write_text("mine\n")
    elif name in ("FINISHED", "UNFINISHED", "LOCKED"):
        _config(path, steps=20)
        if name == "FINISHED":
            (path / "summary.json").write_text("{}")
        else:
            (path / "INCOMPLETE").write_text("")
        if name == "LOCKED":  # another open file description holds the lock, as a process
            fd = os.open(path / ".lock", os.O_RDWR | os.O_CREAT)
            fcntl.flock(fd, fcntl.LOCK_EX)
            held.append(fd)
    elif name == "BADJSON":
        path.mkdir()
        (path / "config.json").write_text('{"experiment": "sinusoid", ')
    elif name == "NOCONFIG":
        _config(path)
        (path / "config.json").write_text(json.dumps({"experiment": "sinusoid"}))
    elif name == "UNKNOWNKEY":
        _config(path, steps=20, warp_drive=True)
    elif name == "OTHERRUN":
        _config(path, "omniglot")
    elif name == "BADVALUE":
        _config(path, steps=-5)
    elif name == "WRONGTYPE":
        _config(path, hidden="wide")
    elif name in ("BADCKPT", "NEWCKPT"):
        _config(path, methods=["maml"])
        ckpt = _checkpoint(path, "maml")
        raw = ckpt.read_bytes()
        ckpt.write_bytes(raw[:-5] if name == "BADCKPT"
                         else raw.replace(b'"format": 2', b'"format": 7'))
    elif name == "BADZIP":
        path.mkdir()
        (path / "images_background_small1.zip").write_bytes(b"PK this is no zip")
    elif name == "EMPTYZIP":
        path.mkdir()
        with zipfile.ZipFile(path / "images_background_small1.zip", "w") as z:
            z.writestr("readme.txt", "no images")
    elif name == "NOTRUNS":
        path.mkdir()
        with zipfile.ZipFile(path / "all_runs.zip", "w") as z:
            z.writestr("readme.txt", "no runs")
    elif name in ("DIGITSRUN", "NOCKPTRUN", "OMNIRUN"):
        _config(path, "omniglot", dataset="digits" if name == "DIGITSRUN" else "omniglot",
                learner="maml", n_way=20)
        if name != "NOCKPTRUN":
            _checkpoint(path, "maml")
    elif name == "BADYAML":
        path = tmp / "bad.yaml"
        path.write_text("steps: [1\n")
    elif name == "UNKNOWNYAML":
        path = tmp / "unknown.yaml"
        path.write_text("steps: 20\nwarp_drive: true\n")
    elif name == "OTHERCONFIG":
        _config(path, "omniglot")
        path = path / "config.json"
    elif name == "PNG":
        path = tmp / "image.png"
        path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    elif name in ("FLOATSTEPS", "BOOLSTEPS", "STRMETHODS", "DUPKEYS"):
        path = tmp / f"{name.lower()}.json"
        path.write_text({"FLOATSTEPS": '{"steps": 100.5}', "BOOLSTEPS": '{"steps": true}',
                         "STRMETHODS": '{"methods": "maml"}',
                         "DUPKEYS": '{"steps": 10, "steps": 20}'}[name])
    elif name == "DUPYAML":
        path = tmp / "dup.yaml"
        path.write_text("steps: 10\nsteps: 20\n")
    elif name == "NOXY":
        import numpy as np

        path = tmp / "noxy.npz"
        np.savez(path, images=np.zeros((4, 2)))
    elif name == "NANDATA":
        import numpy as np

        path = tmp / "nan.npz"
        x = np.ones((40, 3))
        x[[1, 7], 0], x[3, 2] = np.nan, np.inf
        np.savez(path, x=x, y=np.arange(40) % 2)
    else:
        raise KeyError(f"no placeholder {name}")
    return path


def _substitute(arg: str, tmp: Path, held: list) -> str:
    """``arg`` with a leading placeholder (``AFILE`` or ``AFILE/sub``) made and replaced."""
    head, sep, tail = arg.partition("/")
    if head.isupper() and head.isalpha():
        return str(placeholder(head, tmp, held)) + sep + tail
    return arg


def _tree(tmp: Path) -> dict[str, bytes]:
    return {str(p.relative_to(tmp)): p.read_bytes() if p.is_file() else b"/"
            for p in sorted(tmp.rglob("*"))}


@pytest.mark.parametrize("number, command, code, message", rows(), ids=lambda r: str(r)[:40])
def test_bad_input_row(number, command, code, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a default run folder would appear under ./runs
    held: list[int] = []
    args = [_substitute(a, tmp_path, held) for a in shlex.split(command)]
    before = _tree(tmp_path)
    try:
        try:
            result = main(args)
        except SystemExit as e:  # argparse and tyro exit directly
            result = e.code
        captured = capsys.readouterr()
        said = " ".join((captured.err + captured.out).split())
        assert result == code, said
        assert " ".join(message.split()) in said
        assert _tree(tmp_path) == before, "a refused command wrote files"
    finally:
        for fd in held:
            os.close(fd)


def test_the_table_has_at_least_40_rows_numbered_in_order():
    numbers = [int(n) for n, *_ in rows()]
    assert len(numbers) >= 40 and numbers == list(range(1, len(numbers) + 1))
