"""The Omniglot protocols (--split small / standard / vinyals) on a synthetic full release:
30 background alphabets with 964 characters, 20 evaluation alphabets with 659, 2 drawings of
7x7 random strokes each (the loader resizes any PNG to 28x28)."""

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from metalab.cli import main as _main
from metalab.errors import BadInput
from metalab.experiments.fewshot.omniglot import OmniglotConfig
from metalab.tasks.episodes import ImageClasses
from metalab.tasks.omniglot_splits import FULL, SMALL, load_split, split_zips

BACKGROUND = (964, 30)  # characters, alphabets of the official release
EVALUATION = (659, 20)


def _release_zip(path: Path, n_chars: int, n_alphabets: int, rng: np.random.Generator) -> None:
    """A zip in the official layout: ``n_chars`` characters spread over ``n_alphabets``
    alphabets, two drawings each of one random 7x7 pattern per character."""
    with zipfile.ZipFile(path, "w") as z:
        for i in range(n_chars):
            img = np.where(rng.random((7, 7)) < 0.3, 0, 255).astype(np.uint8)
            buf = io.BytesIO()
            Image.fromarray(img).save(buf, format="PNG")
            alphabet, char = f"{path.stem[7:10]}{i % n_alphabets:02d}", i // n_alphabets + 1
            for d in range(2):
                z.writestr(f"{path.stem}/{alphabet}/character{char:02d}/{i:04d}_{d + 1:02d}.png",
                           buf.getvalue())


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    """A folder with the full release's two zips (official counts) and a cache beside it."""
    folder = tmp_path_factory.mktemp("omniglot")
    rng = np.random.default_rng(0)
    _release_zip(folder / FULL[0], *BACKGROUND, rng)
    _release_zip(folder / FULL[1], *EVALUATION, rng)
    return folder


def _characters(classes: ImageClasses) -> set[str]:
    """Character names (alphabet/character) of rotated classes."""
    return {n.rsplit("/", 1)[0] for n in classes.names}


def _check_rotations(classes: ImageClasses) -> None:
    """Each character is there at 0, 90, 180 and 270 degrees, each a class of its own whose
    images are the 0-degree images turned."""
    index = {n: i for i, n in enumerate(classes.names)}
    assert len(index) == len(classes.names) == 4 * len(_characters(classes))
    for char in sorted(_characters(classes))[:5]:
        upright = classes.images[index[f"{char}/rot0"]]
        for r in (1, 2, 3):
            turned = classes.images[index[f"{char}/rot{90 * r}"]]
            np.testing.assert_array_equal(turned, np.rot90(upright, r, axes=(1, 2)))
            assert not np.array_equal(turned, upright)


def test_standard_split_is_background_then_evaluation(release, tmp_path):
    split = load_split("standard", release, tmp_path / "cache")
    assert split.val is None and split.name == "standard"
    assert len(split.train.names) == 4 * 964 and len(split.test.names) == 4 * 659
    assert {c.split("/")[0][:3] for c in _characters(split.train)} == {"bac"}
    assert {c.split("/")[0][:3] for c in _characters(split.test)} == {"eva"}
    assert len(np.unique(split.train.group)) == 30 and len(np.unique(split.test.group)) == 20
    _check_rotations(split.test)
    assert "964 characters of 30 alphabets" in split.description


def test_vinyals_split_counts_disjoint_rotated_and_seeded(release, tmp_path):
    """1100 / 100 / 423 characters (x4 rotations), disjoint, covering all 1623; every rotation
    of a character on its side; the permutation is fixed by the seed."""
    split = load_split("vinyals", release, tmp_path / "cache", seed=0)
    sides = [_characters(s) for s in (split.train, split.val, split.test)]
    assert [len(s) for s in sides] == [1100, 100, 423]
    assert [len(s.names) for s in (split.train, split.val, split.test)] == [4400, 400, 1692]
    assert not (sides[0] & sides[1] or sides[0] & sides[2] or sides[1] & sides[2])
    assert len(sides[0] | sides[1] | sides[2]) == 1623
    for side in (split.train, split.val, split.test):
        _check_rotations(side)
    # characters of both zips on every side (a character-level, not alphabet-level, split),
    # the 30 + 20 alphabets numbered apart
    assert {c[:3] for c in sides[2]} == {"bac", "eva"}
    groups = np.concatenate([s.group for s in (split.train, split.val, split.test)])
    names = [n.split("/")[0] for s in (split.train, split.val, split.test) for n in s.names]
    assert len(np.unique(groups)) == 50 and len(set(zip(groups, names, strict=True))) == 50
    again = load_split("vinyals", release, tmp_path / "cache", seed=0)
    assert again.test.names == split.test.names and again.val.names == split.val.names
    np.testing.assert_array_equal(again.test.images, split.test.images)
    other = load_split("vinyals", release, tmp_path / "cache", seed=1)
    assert _characters(other.test) != sides[2]
    assert "1100 training, 100 validation and 423 test characters" in split.description


def test_small_split_reads_only_the_small_zips(release, tmp_path):
    """With only the full zips, --split small refuses and points at standard / vinyals."""
    with pytest.raises(BadInput, match="use --split standard or vinyals") as e:
        split_zips("small", release)
    assert SMALL[0] in str(e.value) and "metalab data fetch omniglot" in str(e.value)


@pytest.mark.parametrize("split", ["standard", "vinyals"])
def test_missing_full_zips_name_what_where_and_how(split, release, tmp_path):
    (tmp_path / FULL[0]).symlink_to(release / FULL[0])  # the evaluation zip is missing
    with pytest.raises(BadInput, match="--data") as e:
        split_zips(split, tmp_path)
    msg = str(e.value)
    assert f"--split {split} needs {FULL[0]} and {FULL[1]}" in msg
    assert f"{FULL[1]} not found in {tmp_path}" in msg
    assert f"metalab data fetch omniglot --dir {tmp_path}" in msg


def test_vinyals_needs_more_than_1200_characters(tmp_path):
    rng = np.random.default_rng(0)
    _release_zip(tmp_path / FULL[0], 30, 3, rng)
    _release_zip(tmp_path / FULL[1], 20, 2, rng)
    with pytest.raises(BadInput, match="hold 50; the official release holds 1623"):
        load_split("vinyals", tmp_path, tmp_path / "cache")
    assert len(load_split("standard", tmp_path, tmp_path / "cache").test.names) == 80


def main(args: list[str]) -> int:
    """Exit code of ``metalab ARGS`` run in-process (tyro exits via SystemExit)."""
    try:
        return _main(args)
    except SystemExit as e:
        return int(e.code)


@pytest.mark.parametrize("args", [
    ["--split", "standard", "--data", "EMPTY"],
    ["--split", "vinyals", "--data", "EMPTY"],
    ["--dataset", "digits", "--split", "vinyals"],
    ["--split", "nope"],
])
def test_split_refusals_exit_2_before_writing(args, tmp_path, capsys):
    (tmp_path / "EMPTY").mkdir()
    args = [str(tmp_path / a) if a == "EMPTY" else a for a in args]
    assert main(["run", "omniglot", "--out", str(tmp_path / "r"), *args]) == 2
    assert not (tmp_path / "r").exists()
    if "EMPTY" in " ".join(args):
        assert "metalab data fetch omniglot" in capsys.readouterr().err.replace("\n", " ")


def test_a_config_file_with_an_unknown_split_is_refused(tmp_path):
    """--config bypasses the CLI's choices; the config itself refuses the value."""
    with pytest.raises(BadInput, match="--split: choose from"):
        OmniglotConfig(split="everything")


def test_vinyals_protonet_tiny_run_reports_split_and_validation(release, tmp_path):
    """A tiny ProtoNet run on the Vinyals split: summary and report name the split, and
    validation accuracy is reported beside the test accuracy."""
    out = tmp_path / "run"
    assert main(["run", "omniglot", "--split", "vinyals", "--data", str(release),
                 "--cache-dir", str(tmp_path / "cache"), "--learner", "protonet",
                 "--out", str(out), "--steps", "2", "--meta-batch", "2", "--width", "4",
                 "--log-every", "1", "--checkpoint-every", "1", "--eval-episodes", "100",
                 "--k-shot", "1", "--q-query", "1", "--eval-query", "1"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["split"] == "vinyals"
    m = summary["metrics"]
    assert (m["data/train_classes"], m["data/val_classes"], m["data/test_classes"]) == (
        4400, 400, 1692)
    # Two identical drawings per character: each query image equals its class's support
    # image, so its embedding is that prototype exactly and only ties can miss (chance is
    # 0.2). Caught bugs: query labels not those of the query images, accuracy counted over
    # the wrong axis, episodes whose support and query come from different characters.
    for side in ("test", "val"):
        assert 0.95 <= m[f"{side}/accuracy"] <= 1.0 and m[f"{side}/ci95"] >= 0, m
    assert (out / "sample_episodes.png").exists() and (out / "training_curves.png").exists()
    report = (out / "report.md").read_text()
    assert "split vinyals" in report and "split `vinyals`" in report
    assert "1100 training, 100 validation and 423 test characters" in report
    assert "4400 training, 400 validation and 1692 test classes" in report


def test_small_split_holds_out_validation_characters(tmp_path):
    """--val-characters n: n characters of the training alphabets (all four rotations with
    each) leave training for validation; the test alphabets are unchanged, the three sides
    are disjoint, and n = 0 is the split without validation."""
    folder = tmp_path / "small"
    folder.mkdir()
    _release_zip(folder / SMALL[0], 48, 8, np.random.default_rng(1))
    plain = load_split("small", folder, tmp_path / "cache", test_alphabets=3, seed=0)
    held = load_split("small", folder, tmp_path / "cache", test_alphabets=3, seed=0,
                      val_characters=5)
    assert plain.val is None and held.test.names == plain.test.names
    assert len(_characters(held.val)) == 5
    _check_rotations(held.val)
    _check_rotations(held.train)
    assert _characters(held.train) | _characters(held.val) == _characters(plain.train)
    assert not _characters(held.train) & _characters(held.val)
    assert not (_characters(held.train) | _characters(held.val)) & _characters(held.test)
    assert "5 validation" in held.description
    with pytest.raises(BadInput, match="--val-characters"):
        load_split("small", folder, tmp_path / "cache", test_alphabets=3, seed=0,
                   val_characters=len(_characters(plain.train)))
