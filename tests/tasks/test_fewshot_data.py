"""Omniglot loader, official runs, digits and the episode sampler (fake zips in tmp dirs)."""

import io
import zipfile
from pathlib import Path

import jax
import numpy as np
import pytest
from PIL import Image

from metalab.errors import BadInput
from metalab.tasks.digits import load_digits
from metalab.tasks.episodes import Episodes, ImageClasses, split_by_group, with_rotations
from metalab.tasks.omniglot import load_omniglot
from metalab.tasks.omniglot_runs import load_runs
from metalab.tasks.omniglot_splits import load_split

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets" / "omniglot"


def _png(block: tuple[int, int]) -> bytes:
    """A 105x105 Omniglot-style PNG: white, with one black 15x15 stroke block at ``block``."""
    img = np.full((105, 105), 255, np.uint8)
    r, c = block
    img[15 * r : 15 * r + 15, 15 * c : 15 * c + 15] = 0
    buf = io.BytesIO()
    Image.fromarray(img).convert("1").save(buf, format="PNG")
    return buf.getvalue()


def _omniglot_zip(path: Path, alphabets: dict[str, int], drawers: int = 3) -> None:
    """A zip in the official layout; character j of alphabet i has its block at (i, j)."""
    with zipfile.ZipFile(path, "w") as z:
        for i, (alphabet, n_chars) in enumerate(alphabets.items()):
            for j in range(n_chars):
                for d in range(drawers):
                    name = f"{path.stem}/{alphabet}/character{j + 1:02d}/{j:04d}_{d + 1:02d}.png"
                    z.writestr(name, _png((i, j)))


def test_loader_decodes_layout_and_caches(tmp_path):
    """Strokes 1 (255) at the block's place, background 0; the cache is used on a second load
    and rebuilt when a zip changes."""
    _omniglot_zip(tmp_path / "images_background.zip", {"Aa": 2, "Bb": 3})
    cache = tmp_path / "cache"
    classes = load_omniglot(tmp_path, cache)
    assert classes.images.shape == (5, 3, 28, 28, 1) and classes.images.dtype == np.uint8
    assert classes.names == ("Aa/character01", "Aa/character02", "Bb/character01",
                             "Bb/character02", "Bb/character03")
    np.testing.assert_array_equal(classes.group, [0, 0, 1, 1, 1])
    img = classes.images[3, 0, :, :, 0].astype(float) / 255  # alphabet 1, char 1: block (1, 1)
    # 105 -> 28 scales by 4/15, so the block [15, 30) maps to [4, 8) exactly
    np.testing.assert_allclose(img[4:8, 4:8], 1.0)
    assert img.sum() == pytest.approx(16.0)
    files = list(cache.glob("*.npz"))
    assert len(files) == 1
    again = load_omniglot(tmp_path, cache)
    np.testing.assert_array_equal(again.images, classes.images)
    _omniglot_zip(tmp_path / "images_background.zip", {"Aa": 2})
    assert load_omniglot(tmp_path, cache).images.shape[0] == 2
    assert len(list(cache.glob("*.npz"))) == 2


def test_loader_merges_duplicate_characters(tmp_path):
    """The same character in two zips (as in the official small sets) counts once."""
    _omniglot_zip(tmp_path / "images_background_small1.zip", {"Aa": 2, "Bb": 1})
    _omniglot_zip(tmp_path / "images_background_small2.zip", {"Aa": 2})
    assert load_omniglot(tmp_path, tmp_path / "c").images.shape[0] == 3


@pytest.mark.parametrize("problem", ["missing", "no_zips", "corrupt", "layout", "bad_png"])
def test_loader_bad_data_is_bad_input(tmp_path, problem):
    """Each problem raises BadInput naming --data (the CLI's exit 2)."""
    data = tmp_path / "data"
    if problem != "missing":
        data.mkdir()
    if problem == "corrupt":
        (data / "images_background.zip").write_bytes(b"not a zip at all")
    if problem == "layout":
        with zipfile.ZipFile(data / "images_background.zip", "w") as z:
            z.writestr("images_background/character01/0001_01.png", _png((0, 0)))
    if problem == "bad_png":
        with zipfile.ZipFile(data / "images_evaluation.zip", "w") as z:
            z.writestr("images_evaluation/Aa/character01/0001_01.png", b"garbage")
    with pytest.raises(BadInput, match="--data"):
        load_omniglot(data, tmp_path / "cache")


def test_runs_loader_pairs_test_items_with_training_classes(tmp_path):
    """labels[r, i] is the index of the training image class_labels.txt pairs with item i."""
    path = tmp_path / "all_runs.zip"
    with zipfile.ZipFile(path, "w") as z:
        lines = []
        for i, cls in enumerate([2, 0, 1]):
            z.writestr(f"run01/training/class{i + 1:02d}.png", _png((0, i)))
            z.writestr(f"run01/test/item{i + 1:02d}.png", _png((0, cls)))
            lines.append(f"run01/test/item{i + 1:02d}.png run01/training/class{cls + 1:02d}.png")
        z.writestr("run01/class_labels.txt", "\n".join(lines) + "\n")
    runs = load_runs(path)
    np.testing.assert_array_equal(runs.labels, [[2, 0, 1]])
    np.testing.assert_array_equal(runs.query[0], runs.support[0][runs.labels[0]])
    (tmp_path / "broken.zip").write_bytes(b"xx")
    with pytest.raises(BadInput, match="--data"):
        load_runs(tmp_path / "broken.zip")


def test_rotations_and_split_by_group():
    """4C classes; rotation r of a class is its image turned r quarter-turns; splits keep an
    alphabet (and all its rotations) on one side."""
    images = np.arange(6 * 2 * 4 * 4, dtype=np.uint8).reshape(6, 2, 4, 4, 1)
    base = ImageClasses(images, np.array([0, 0, 1, 1, 2, 2]), tuple("abcdef"))
    rot = with_rotations(base)
    assert rot.images.shape == (24, 2, 4, 4, 1)
    np.testing.assert_array_equal(rot.images[6 + 1, 0, :, :, 0], np.rot90(images[1, 0, :, :, 0]))
    train, test = split_by_group(rot, 1, seed=0)
    assert len(test.names) == 8 and len(train.names) == 16
    assert not set(np.unique(train.group)) & set(np.unique(test.group))
    assert split_by_group(rot, 1, seed=0)[1].names == test.names


def test_episodes_sample_distinct_classes_and_examples():
    """Each episode: N distinct classes, K + Q distinct images per class, labels = position."""
    c, e = 7, 6
    # image (class i, example j) holds the value 10 * i + j in every pixel
    values = (10 * np.arange(c)[:, None] + np.arange(e)[None, :]).astype(np.uint8)
    images = np.broadcast_to(values[:, :, None, None, None], (c, e, 3, 3, 1)).copy()
    eps = Episodes(jax.numpy.asarray(images), n_way=4, k_shot=2, q_query=3)
    tasks = jax.jit(eps.sample, static_argnums=1)(jax.random.PRNGKey(0), 50)
    assert tasks.support_x.shape == (50, 8, 3, 3, 1) and tasks.query_y.shape == (50, 12)
    sx = np.round(np.asarray(tasks.support_x)[:, :, 0, 0, 0] * 255).astype(int)
    qx = np.round(np.asarray(tasks.query_x)[:, :, 0, 0, 0] * 255).astype(int)
    sy, qy = np.asarray(tasks.support_y), np.asarray(tasks.query_y)
    for t in range(50):
        cls_s, cls_q = sx[t] // 10, qx[t] // 10
        assert len(set(cls_s)) == 4
        for label in range(4):  # one class per label, shared by support and query
            assert len(set(cls_s[sy[t] == label]) | set(cls_q[qy[t] == label])) == 1
            drawn = list(sx[t][sy[t] == label]) + list(qx[t][qy[t] == label])
            assert len(set(drawn)) == 5
    counts = np.bincount((sx // 10).ravel(), minlength=c)  # every class gets drawn
    assert counts.min() > 0


def test_digits_embedded():
    """Ten digit classes of equal size, scaled to 0..255."""
    digits = load_digits()
    assert digits.images.shape == (10, 174, 8, 8, 1) and digits.images.max() == 255


@pytest.mark.skipif(not (SHARED / "images_background_small1.zip").exists(),
                    reason="the Omniglot zips are not at ../shared/datasets/omniglot")
def test_real_omniglot_and_runs(tmp_path):
    """The shared small background sets: 242 distinct characters of 8 alphabets, 20 drawers,
    and --split small the same 524 / 444 classes as before splits had names; the 20 official
    runs, each test item paired with one training class."""
    classes = load_omniglot(SHARED, tmp_path)
    assert classes.images.shape == (242, 20, 28, 28, 1)
    assert len(np.unique(classes.group)) == 8
    ink = classes.images.mean() / 255
    assert 0.02 < ink < 0.3  # strokes are the minority: the colours are not inverted
    small = load_split("small", SHARED, tmp_path, test_alphabets=3, seed=0)
    train, test = split_by_group(with_rotations(classes), 3, seed=0)  # the protocol before
    assert (len(small.train.names), len(small.test.names)) == (524, 444) and small.val is None
    assert small.train.names == train.names and small.test.names == test.names
    runs = load_runs(SHARED / "all_runs.zip")
    assert runs.support.shape == (20, 20, 28, 28, 1) and runs.query.shape == (20, 20, 28, 28, 1)
    assert all(sorted(r) == list(range(20)) for r in runs.labels)
