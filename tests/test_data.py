"""Data loaders: the real Fashion-MNIST files, and format-faithful fakes of the others."""

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from equalnets.engine import data
from equalnets.engine.data import DatasetNotFoundError, load_dataset, read_idx

needs_fashion = pytest.mark.skipif(not (data.DEBIAN_FASHION_MNIST / "train-images-idx3-ubyte.gz").exists(),
                                   reason="Fashion-MNIST not installed (make setup installs it)")


def write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


@needs_fashion
def test_fashion_tops_is_the_default():
    d = load_dataset()
    assert d.name == "fashion-tops"
    assert d.x_train.shape == (2500, 1, 32, 32) and d.x_test.shape == (500, 1, 32, 32)
    assert d.classes == ("T-shirt/top", "Pullover", "Dress", "Coat", "Shirt")
    assert torch.bincount(d.y_train).tolist() == [500] * 5 and torch.bincount(d.y_test).tolist() == [100] * 5
    assert abs(float(d.x_train.mean())) < 1e-4 and abs(float(d.x_train.std()) - 1) < 1e-3
    assert d.x_train.dtype == torch.float32 and d.y_train.dtype == torch.int64


@needs_fashion
def test_fashion_tops_takes_the_first_images_in_file_order():
    raw_labels = read_idx(data.DEBIAN_FASHION_MNIST / "train-labels-idx1-ubyte.gz")
    raw_images = read_idx(data.DEBIAN_FASHION_MNIST / "train-images-idx3-ubyte.gz")
    first_pullover = int(np.flatnonzero(raw_labels == 2)[0])
    d = load_dataset("fashion-tops", train_per_class=1, test_per_class=1)
    assert sorted(d.y_train.tolist()) == [0, 1, 2, 3, 4]  # one image per class
    # the Pullover image (class 1 here) is the first Pullover of the file, zero-padded by 2 pixels
    img = d.x_train[d.y_train == 1][0, 0]
    background = img[0, 0]
    assert torch.all(img[:2] == background) and torch.all(img[:, :2] == background)
    inner = img[2:30, 2:30].numpy().ravel()
    assert np.corrcoef(inner, raw_images[first_pullover].ravel())[0, 1] > 0.999


def test_digits_ships_with_scikit_learn():
    d = load_dataset("digits")
    assert d.x_train.shape[1:] == (1, 8, 8) and d.n_classes == 10
    assert len(d.y_train) + len(d.y_test) == 1797


def test_mnist_from_torchvision_raw_files(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 30), ("t10k", 10)):
        write_idx(raw / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)))
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", np.arange(n) % 10)
    d = load_dataset("mnist", data_dir=tmp_path, download=False)
    assert d.x_train.shape == (30, 1, 32, 32) and d.x_test.shape == (10, 1, 32, 32)
    assert d.y_train.tolist() == (np.arange(30) % 10).tolist()


def _write_cifar(root: Path, hundred: bool) -> None:
    rng = np.random.default_rng(0)
    if hundred:
        folder = root / "cifar-100-python"
        folder.mkdir(parents=True)
        fine_names = [f"fine{i}" for i in range(100)]
        coarse_names = list(data.CIFAR100_SUPERCLASSES)
        for name, n in (("train", 400), ("test", 200)):
            fine = np.arange(n) % 100
            entry = {"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), "fine_labels": fine.tolist(),
                     "coarse_labels": (fine // 5).tolist()}
            (folder / name).write_bytes(pickle.dumps(entry))
        (folder / "meta").write_bytes(pickle.dumps({"fine_label_names": fine_names,
                                                   "coarse_label_names": coarse_names}))
    else:
        folder = root / "cifar-10-batches-py"
        folder.mkdir(parents=True)
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            entry = {"data": rng.integers(0, 256, (20, 3072), dtype=np.uint8), "labels": (np.arange(20) % 10).tolist()}
            (folder / name).write_bytes(pickle.dumps(entry))
        (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": [f"c{i}" for i in range(10)]}))


def test_cifar10_format(tmp_path):
    _write_cifar(tmp_path, hundred=False)
    d = load_dataset("cifar10", data_dir=tmp_path, download=False, train_per_class=3)
    assert d.x_train.shape == (30, 3, 32, 32) and d.x_test.shape == (20, 3, 32, 32)
    assert d.classes[0] == "c0"


def test_cifar100_superclass(tmp_path):
    _write_cifar(tmp_path, hundred=True)
    full = load_dataset("cifar100", data_dir=tmp_path, download=False)
    assert full.n_classes == 100 and full.x_train.shape == (400, 3, 32, 32)
    mammals = load_dataset("cifar100-small-mammals", data_dir=tmp_path, download=False)
    index = data.CIFAR100_SUPERCLASSES.index("small_mammals")
    assert mammals.classes == tuple(f"fine{5 * index + k}" for k in range(5))
    assert mammals.x_train.shape == (20, 3, 32, 32) and sorted(set(mammals.y_train.tolist())) == [0, 1, 2, 3, 4]
    assert "cifar100-large-man-made-outdoor-things" in data.DATASETS


@pytest.mark.parametrize("name", ["mnist", "cifar10", "cifar100-small-mammals"])
def test_missing_data_set_says_how_to_get_it(tmp_path, name):
    with pytest.raises(DatasetNotFoundError, match=r"not found under .*(download|IDX)"):
        load_dataset(name, data_dir=tmp_path, download=False)


def test_bad_arguments_and_files(tmp_path):
    with pytest.raises(ValueError, match="dataset must be one of"):
        load_dataset("imagenet")
    with pytest.raises(ValueError, match="train_per_class"):
        load_dataset("digits", train_per_class=0)
    bad = tmp_path / "bad-idx"
    bad.write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="magic"):
        read_idx(bad)
    short = tmp_path / "short-idx"
    write_idx(short, np.zeros((4, 2, 2)))
    short.write_bytes(short.read_bytes()[:-3])
    with pytest.raises(ValueError, match="truncated"):
        read_idx(short)
