"""Online streams and data families for VS-ML: shapes, fresh labels and projections per
stream, offline families, user files, and errors that name the option."""

import gzip
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metalab.errors import BadInput
from metalab.tasks.families import load_family, pooled
from metalab.tasks.online import draw_stream, stream_classes

OMNIGLOT = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "omniglot"


@pytest.mark.parametrize("name", ["digits", "iris", "wine", "breast_cancer", "random", "sum"])
def test_builtin_families_give_streams_of_the_asked_shape(name):
    family = load_family(name, "test")
    classes = stream_classes(family, 5)
    stream = jax.jit(lambda k: draw_stream(family, k, 50, classes, 12))(jax.random.PRNGKey(0))
    assert stream.x.shape == (50, 12) and stream.labels.shape == (50,)
    assert np.all(np.isfinite(stream.x))
    assert set(np.asarray(stream.labels).tolist()) <= set(range(classes))
    assert classes == {"iris": 3, "wine": 3, "breast_cancer": 2, "sum": 2}.get(name, 5)


def test_each_stream_draws_fresh_labels_and_projection():
    x = np.repeat(np.eye(4, dtype=np.float32), 10, axis=0)  # class c is the unit vector e_c
    family = pooled("toy", x, np.repeat(np.arange(4), 10))
    mappings, projections = set(), set()
    for seed in range(8):
        raw, labels = family.draw(jax.random.PRNGKey(seed), 60, 4)
        classes = np.argmax(np.asarray(raw), axis=1)
        mapping = dict(zip(classes.tolist(), np.asarray(labels).tolist(), strict=True))
        assert len(set(mapping.values())) == len(mapping)  # a permutation of the classes
        mappings.add(tuple(sorted(mapping.items())))
        stream = draw_stream(family, jax.random.PRNGKey(seed), 60, 4, 6)
        projections.add(np.asarray(stream.x).round(5).tobytes())
    assert len(mappings) >= 6 and len(projections) == 8


def test_train_and_test_splits_are_disjoint_examples():
    train, test = load_family("digits", "train"), load_family("digits", "test")
    a = np.asarray(train.draw(jax.random.PRNGKey(0), 2000, 10)[0])
    b = np.asarray(test.draw(jax.random.PRNGKey(0), 2000, 10)[0])
    rows_a = {r.tobytes() for r in a.round(4)}
    assert not any(r.tobytes() in rows_a for r in b.round(4))


def test_sum_family_labels_are_the_sign_of_the_raw_sum_up_to_relabelling():
    family = load_family("sum", "train")
    x, y = family.draw(jax.random.PRNGKey(3), 200, 2)
    sign = np.asarray(x.sum(-1) >= 0).astype(int)
    y = np.asarray(y)
    assert np.all(y == sign) or np.all(y == 1 - sign)


def test_mnist1d_is_generated_offline():
    pytest.importorskip("mnist1d")
    family = load_family("mnist1d", "test")
    assert (family.dim, family.classes) == (40, 10)
    state = np.random.get_state()[1].copy()
    load_family("mnist1d", "train")
    np.testing.assert_array_equal(np.random.get_state()[1], state)  # global RNG untouched


@pytest.mark.skipif(not OMNIGLOT.is_dir(), reason="Omniglot zips not in ../shared/datasets")
def test_omniglot_background_characters_downsampled():
    train = load_family("omniglot", "train", omniglot=OMNIGLOT, size=8)
    test = load_family("omniglot", "test", omniglot=OMNIGLOT, size=8)
    assert train.dim == 64 and train.classes > test.classes > 5
    stream = draw_stream(test, jax.random.PRNGKey(0), 30, 5, 16)
    assert stream.x.shape == (30, 16)


def test_user_npz_and_idx_files(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (60, 4, 4), dtype=np.uint8)
    labels = np.repeat(np.arange(3, dtype=np.uint8), 20)
    np.savez(tmp_path / "set.npz", x=images, y=labels)
    family = load_family("file", "train", data_file=tmp_path / "set.npz")
    assert (family.dim, family.classes) == (16, 3)
    with gzip.open(tmp_path / "train-images-idx3-ubyte.gz", "wb") as f:
        f.write(bytes([0, 0, 8, 3]) + b"".join(int(n).to_bytes(4, "big") for n in (60, 4, 4))
                + images.tobytes())
    with gzip.open(tmp_path / "train-labels-idx1-ubyte.gz", "wb") as f:
        f.write(bytes([0, 0, 8, 1]) + (60).to_bytes(4, "big") + labels.tobytes())
    idx = load_family("file", "test", data_file=tmp_path / "train-images-idx3-ubyte.gz")
    assert (idx.dim, idx.classes) == (16, 3)
    x, _ = idx.draw(jax.random.PRNGKey(0), 10, 3)
    assert jnp.all(jnp.isfinite(x))


def test_bad_files_and_names_raise_bad_input(tmp_path):
    np.savez(tmp_path / "noy.npz", x=np.zeros((4, 2)))
    with pytest.raises(BadInput, match="--data-file"):
        load_family("file", "train", data_file=tmp_path / "noy.npz")
    with pytest.raises(BadInput, match="--data-file"):
        load_family("file", "train", data_file=tmp_path / "missing-images-idx3-ubyte")
    with pytest.raises(BadInput, match="--families"):
        load_family("cifar", "train")
    with pytest.raises(BadInput, match="--omniglot"):
        load_family("omniglot", "train")
