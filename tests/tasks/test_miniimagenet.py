"""miniImageNet from a user's folder, in both common layouts, on synthetic miniatures written
here (the data is not redistributable), the exit-2 error listing what is missing, and ResNet-12
as a network every learner can adapt."""

import pickle

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree
from PIL import Image

from metalab.errors import BadInput
from metalab.estimators import ESTIMATORS
from metalab.experiments.where_to_learn import experiment as where_to_learn
from metalab.learners import LEARNERS, inner_loop
from metalab.models import resnet12
from metalab.models.convnet import pooled_size
from metalab.tasks import load_miniimagenet
from metalab.tasks.base import Task

SPLITS = {"train": ["n01", "n02", "n03"], "val": ["n04", "n05"], "test": ["n06", "n07"]}


def _image(c: int, i: int, size: int = 84) -> np.ndarray:
    """Image i of class c: a constant colour that encodes both."""
    return np.full((size, size, 3), (10 * c, 20 * i, 7), np.uint8)


def _write_pickles(root, per_class: int = 3) -> None:
    for split, names in SPLITS.items():
        cls = [int(n[1:]) for n in names]
        images = np.stack([_image(c, i) for c in cls for i in range(per_class)])
        index = {n: list(range(k * per_class, (k + 1) * per_class)) for k, n in enumerate(names)}
        with (root / f"mini-imagenet-cache-{split}.pkl").open("wb") as f:
            pickle.dump({"image_data": images, "class_dict": index}, f)


def _write_folders(root, per_class: int = 3) -> None:
    for split, names in SPLITS.items():
        for n in names:
            (root / split / n).mkdir(parents=True)
            for i in range(per_class + (n == "n02")):  # one class holds an extra image
                Image.fromarray(_image(int(n[1:]), i, 42)).save(root / split / n / f"{i}.png")


@pytest.mark.parametrize("layout", ["pickle", "folders"])
def test_both_layouts_give_the_same_classes(tmp_path, layout):
    (_write_pickles if layout == "pickle" else _write_folders)(tmp_path)
    data = load_miniimagenet(tmp_path)
    assert set(data) == {"train", "val", "test"}
    for split, names in SPLITS.items():
        c = data[split]
        assert c.names == tuple(names) and c.images.shape == (len(names), 3, 84, 84, 3)
        assert c.images.dtype == np.uint8
        for k, n in enumerate(names):
            for i in range(3):  # constant colours survive the bicubic resize exactly
                np.testing.assert_array_equal(c.images[k, i], _image(int(n[1:]), i))


def test_missing_files_are_listed_before_compute(tmp_path):
    with pytest.raises(BadInput, match="--data.*mini-imagenet-cache-train.pkl.*train/, val/"):
        load_miniimagenet(tmp_path)
    _write_pickles(tmp_path)
    (tmp_path / "mini-imagenet-cache-val.pkl").unlink()
    with pytest.raises(BadInput, match="pickle layout is missing mini-imagenet-cache-val.pkl"):
        load_miniimagenet(tmp_path)
    (tmp_path / "mini-imagenet-cache-val.pkl").write_bytes(b"not a pickle")
    with pytest.raises(BadInput, match="not a miniImageNet cache"):
        load_miniimagenet(tmp_path)
    with pytest.raises(BadInput, match="--mini-data"):
        where_to_learn.WhereToLearnConfig(problems=("miniimagenet-1shot",))


def test_folder_layout_missing_split_is_named(tmp_path):
    _write_folders(tmp_path)
    for f in (tmp_path / "test").rglob("*.png"):
        f.unlink()
    for d in sorted((tmp_path / "test").iterdir()):
        d.rmdir()
    (tmp_path / "test").rmdir()
    with pytest.raises(BadInput, match="folder layout is missing test/"):
        load_miniimagenet(tmp_path)


def test_resnet12_shapes_and_convolutions_agree():
    shape, widths = (20, 20, 3), (4, 5, 6, 7)
    params = resnet12(5, shape, widths).init(jax.random.PRNGKey(0))
    x = jax.random.uniform(jax.random.PRNGKey(1), (3, *shape))
    a = jax.jit(resnet12(5, shape, widths, conv="xla").apply)(params, x)
    b = jax.jit(resnet12(5, shape, widths, conv="im2col").apply)(params, x)
    assert a.shape == (3, 5) and params["block1"]["ws"].shape == (4, 5)
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    body = {k: v for k, v in params.items() if k != "head"}
    feats = jax.jit(resnet12(None, shape, widths).apply)(body, x)
    assert feats.shape == (3, 7)  # global average pooling of the last block
    np.testing.assert_allclose(a, feats @ params["head"]["w"] + params["head"]["b"][None],
                               rtol=1e-4, atol=1e-5)
    assert pooled_size(84, 4) == 5  # the 4-block conv net at 84x84: 84 -> 42 -> 21 -> 10 -> 5


# sparse-ReLU-MAML puts a rate on every ResNet-12 tensor (the most general case); the others
# adapt the same parameter dicts and are tested on MLPs and the conv net elsewhere, so they run
# here with -m slow (suite time budget: each case compiles a ResNet-12 inner loop).
@pytest.mark.parametrize("name", [
    "sparse-relu-maml",
    *(pytest.param(n, marks=pytest.mark.slow) for n in ("maml", "anil", "boil", "sparse-maml"))])
def test_every_learner_adapts_resnet12(name):
    model = resnet12(3, (8, 8, 3), widths=(2, 2, 2, 2))
    learner = LEARNERS[name](model, 0.1, "cross_entropy")
    meta = learner.init(jax.random.PRNGKey(0))
    x = jax.random.uniform(jax.random.PRNGKey(1), (2, 6, 8, 8, 3))
    y = jnp.tile(jnp.arange(3), (2, 2))
    tasks = Task(x, y, x, y)
    loss, grad, _ = jax.jit(lambda m: ESTIMATORS["first-order"]().estimate(
        learner, m, tasks, jax.random.PRNGKey(2), 1))(meta)
    assert np.isfinite(float(loss)) and np.all(np.isfinite(ravel_pytree(grad)[0]))
    phi = jax.eval_shape(lambda m: inner_loop(learner, m, x[0], y[0], 1).phi, meta)
    assert jax.tree.structure(phi) == jax.tree.structure(learner.start(meta))
