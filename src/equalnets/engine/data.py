"""Data sets as in-memory tensors: load once, pad, normalise once, then index to batch.

Every loader returns a :class:`Dataset` whose images are ``float32`` tensors of shape
``(n, channels, height, width)``, normalised per channel with the training set's mean and
standard deviation (or, with ``inputs='unit'``, raw intensities in [0, 1]), and whose labels are
``int64`` tensors in ``[0, n_classes)``.
"""

from __future__ import annotations

import gzip
import os
import pickle
import zlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from torchvision import datasets
from torchvision.datasets import CIFAR10, CIFAR100

from .checks import check_choice, check_int

#: Where the Debian package ``dataset-fashion-mnist`` puts the Fashion-MNIST IDX files.
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")

FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
#: The five upper-body garments of Fashion-MNIST: a set of confusable classes.
FASHION_TOPS = (0, 2, 3, 4, 6)

#: CIFAR-100's twenty superclasses ("coarse labels"), in the order of its ``meta`` file.
CIFAR100_SUPERCLASSES = (
    "aquatic_mammals", "fish", "flowers", "food_containers", "fruit_and_vegetables",
    "household_electrical_devices", "household_furniture", "insects", "large_carnivores",
    "large_man-made_outdoor_things", "large_natural_outdoor_scenes",
    "large_omnivores_and_herbivores", "medium_mammals", "non-insect_invertebrates", "people",
    "reptiles", "small_mammals", "trees", "vehicles_1", "vehicles_2")


def _slug(name: str) -> str:
    return name.lower().replace("_", "-")


SUPERCLASS_DATASETS = tuple(f"cifar100-{_slug(s)}" for s in CIFAR100_SUPERCLASSES)
DATASETS = ("fashion-tops", "fashion-mnist", "digits", "mnist", "cifar10", "cifar100",
            *SUPERCLASS_DATASETS, "gaussian")

#: ``gaussian``: the synthetic set of Maennel et al. (2020, App. E.1): zero-mean Gaussian inputs with the
#: diagonal covariance diag(0.1 ... 3.0) (25 variances evenly spaced, one per input dimension), held as
#: (n, 1, 5, 5) images so that the mlp / cnn builders apply, with labels drawn at random, independently
#: of the inputs and balanced over the classes. One fixed draw: the same set on every machine.
GAUSSIAN_VARIANCES = tuple(float(v) for v in np.linspace(0.1, 3.0, 25))
GAUSSIAN_SHAPE = (1, 5, 5)
GAUSSIAN_CLASSES = 10
GAUSSIAN_TRAIN = 2000   # 200 per class
GAUSSIAN_TEST = 1000    # 100 per class
GAUSSIAN_SEED = 2020


class DatasetNotFoundError(FileNotFoundError):
    """A data set is not on disk and cannot be downloaded; the message says how to get it."""


class DataFileError(ValueError):
    """A data file is there but truncated, corrupt or in another format; the message names it and
    says how to get a good copy."""


#: How to replace a damaged file in a folder of ours or torchvision's.
REFETCH = ("delete it and run again with download=True on a machine with internet access, or copy a "
           "good copy there")
#: How to replace a damaged file of the Debian package.
REINSTALL = "reinstall the package: apt-get install --reinstall dataset-fashion-mnist"


@dataclass(frozen=True)
class Dataset:
    """A classification data set held in memory as tensors."""

    name: str
    x_train: torch.Tensor  # (n_train, C, H, W) float32, normalised
    y_train: torch.Tensor  # (n_train,) int64
    x_test: torch.Tensor   # (n_test, C, H, W) float32, normalised
    y_test: torch.Tensor   # (n_test,) int64
    classes: tuple[str, ...]
    # (n_train,) / (n_test,) int64: each row's index in the data set's original training / test file
    # (e.g. among Fashion-MNIST's 60,000 / 10,000 images), None where unknown (a hand-made Dataset)
    train_source: np.ndarray | None = None
    test_source: np.ndarray | None = None

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def in_channels(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def image_size(self) -> int:
        return int(self.x_train.shape[-1])

    def split(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Images and labels of ``'train'`` or ``'test'``."""
        if name == "train":
            return self.x_train, self.y_train
        if name == "test":
            return self.x_test, self.y_test
        raise ValueError(f"split must be 'train' or 'test', got {name!r}")

    def to(self, device: str | torch.device) -> "Dataset":
        """The same data on another device (one copy, made once)."""
        return replace(self, x_train=self.x_train.to(device), y_train=self.y_train.to(device),
                       x_test=self.x_test.to(device), y_test=self.y_test.to(device))

    def describe(self) -> str:
        c, h, w = self.x_train.shape[1:]
        return (f"{self.name}: {len(self.y_train)} train / {len(self.y_test)} test images, "
                f"{c}×{h}×{w}, {self.n_classes} classes ({', '.join(self.classes)})")


def default_data_dir() -> Path:
    """Folder for downloaded data sets: ``$EQUALNETS_DATA`` or ``~/.cache/equalnets/data``."""
    env = os.environ.get("EQUALNETS_DATA")
    if env:
        return Path(env).expanduser()
    try:
        return Path.home() / ".cache" / "equalnets" / "data"
    except (RuntimeError, KeyError):
        raise DatasetNotFoundError("no home folder for the data folder ~/.cache/equalnets/data (HOME is not "
                                   "set and the user has no entry in the password database); set "
                                   "EQUALNETS_DATA or pass data_dir") from None


# --------------------------------------------------------------------------- file formats

def read_idx(path: str | Path, fix: str = REFETCH) -> np.ndarray:
    """Read an IDX file (the MNIST/Fashion-MNIST format), gzipped or not.

    A truncated, corrupt or foreign file is a ``DataFileError`` naming it; ``fix`` says how to
    get a good copy.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:  # a cut or damaged gzip stream
        raise DataFileError(f"{path} is not a complete gzip file ({type(err).__name__}: {err}); {fix}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataFileError(f"{path} is not an unsigned-byte IDX file (bad magic number); {fix}")
    ndim = raw[3]
    if len(raw) < 4 + 4 * ndim:
        raise DataFileError(f"{path} is truncated inside its header; {fix}")
    dims = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    body = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        state = "truncated" if body.size < int(np.prod(dims)) else "longer than its header says"
        raise DataFileError(f"{path} is {state}: header says {dims}, found {body.size} bytes; {fix}")
    return body.reshape(dims)


def _read_idx_set(files: dict[str, Path], fix: str) -> dict[str, np.ndarray]:
    """The four IDX files of an MNIST-like set, checked against each other."""
    read = {k: read_idx(path, fix) for k, path in files.items()}
    for split in ("train", "t10k"):
        images, labels = read[f"{split}-images-idx3"], read[f"{split}-labels-idx1"]
        ipath, lpath = files[f"{split}-images-idx3"], files[f"{split}-labels-idx1"]
        if images.ndim != 3:
            raise DataFileError(f"{ipath} holds an array of shape {images.shape}, not images (n, h, w); {fix}")
        if labels.ndim != 1 or len(labels) != len(images):
            raise DataFileError(f"{lpath} holds an array of shape {labels.shape}, not one label for each of the "
                                f"{len(images)} images of {ipath.name}; {fix}")
        if labels.size and labels.max() > 9:
            raise DataFileError(f"{lpath} holds labels up to {labels.max()}, not 0..9; {fix}")
    return read


def _idx_files(folder: Path, names: tuple[str, ...]) -> dict[str, Path] | None:
    """``<name>-ubyte`` (or ``.gz``) for each name if all are in ``folder``, else None."""
    found = {}
    for name in names:
        for candidate in (folder / f"{name}-ubyte", folder / f"{name}-ubyte.gz"):
            if candidate.exists():
                found[name] = candidate
                break
        else:
            return None
    return found


def _read_cifar_batches(folder: Path, files: list[str], label_key: str,
                        n_labels: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    images, labels, coarse = [], [], []
    for name in files:
        entry = _read_cifar_pickle(folder / name)
        try:
            images.append(np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
            labels.append(np.asarray(entry[label_key], dtype=np.int64))
            if "coarse_labels" in entry:
                coarse.append(np.asarray(entry["coarse_labels"], dtype=np.int64))
        except (KeyError, ValueError, TypeError) as err:
            raise DataFileError(f"{folder / name} is not a CIFAR batch ({type(err).__name__}: {err}); "
                                f"{_cifar_fix(folder)}") from None
        if labels[-1].shape != (len(images[-1]),):
            raise DataFileError(f"{folder / name} has {len(images[-1])} images but {labels[-1].shape} labels; "
                                f"{_cifar_fix(folder)}")
        if labels[-1].size and (labels[-1].min() < 0 or labels[-1].max() >= n_labels):
            raise DataFileError(f"{folder / name} has labels from {labels[-1].min()} to {labels[-1].max()}, "
                                f"not 0..{n_labels - 1}; {_cifar_fix(folder)}")
    return (np.concatenate(images), np.concatenate(labels),
            np.concatenate(coarse) if coarse else None)


def _cifar_fix(folder: Path) -> str:
    return (f"delete the folder {folder} and run again with download=True on a machine with internet access, "
            "or unpack the python version of the archive there")


def _read_cifar_pickle(path: Path) -> dict:
    """One pickled dict of a CIFAR folder, or a clear error naming the file."""
    if not path.exists():
        raise DatasetNotFoundError(f"{path} is missing: the folder {path.parent} is incomplete; "
                                   f"{_cifar_fix(path.parent)}")
    try:
        with open(path, "rb") as f:
            entry = pickle.load(f, encoding="latin1")
    except Exception as err:  # a damaged pickle can raise nearly anything; all mean the same here
        raise DataFileError(f"{path} is not a readable CIFAR pickle ({type(err).__name__}: {err}); "
                            f"{_cifar_fix(path.parent)}") from None
    if not isinstance(entry, dict):
        raise DataFileError(f"{path} holds a {type(entry).__name__}, not a CIFAR dict; {_cifar_fix(path.parent)}")
    return entry


# --------------------------------------------------------------------------- raw loaders
# Each returns uint8 images (n, C, H, W), int64 labels for train and test, and class names.

Raw = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, tuple[str, ...]]
#: A loader that keeps only some rows of its files also returns the file rows it kept (train, test).
RawRows = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, tuple[str, ...], np.ndarray, np.ndarray]


def _missing(name: str, where: Path, how: str) -> DatasetNotFoundError:
    return DatasetNotFoundError(f"data set {name!r} not found under {where}. {how}")


_IDX_NAMES = ("train-images-idx3", "train-labels-idx1", "t10k-images-idx3", "t10k-labels-idx1")


def _from_idx(read: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return (read["train-images-idx3"][:, None], read["train-labels-idx1"].astype(np.int64),
            read["t10k-images-idx3"][:, None], read["t10k-labels-idx1"].astype(np.int64))


def _torchvision_idx(name: str, folder: str, data_dir: Path, download: bool, classes: tuple[str, ...],
                     how: str) -> Raw:
    """An MNIST-format data set in torchvision's folder ``<data_dir>/<folder>/raw``: read by our own
    IDX reader when the files are there (so that a damaged file is named), else downloaded."""
    raw = _idx_files(data_dir / folder / "raw", _IDX_NAMES)
    if raw is not None:
        return (*_from_idx(_read_idx_set(raw, REFETCH)), classes)
    dataset_class = getattr(datasets, folder)
    try:
        train = dataset_class(str(data_dir), train=True, download=download)
        test = dataset_class(str(data_dir), train=False, download=download)
    except (RuntimeError, OSError) as err:
        raise _missing(name, data_dir / folder / "raw", f"{how} ({type(err).__name__}: {err}).") from None
    return (train.data.numpy()[:, None], train.targets.numpy().astype(np.int64),
            test.data.numpy()[:, None], test.targets.numpy().astype(np.int64), classes)


def _fashion_mnist(data_dir: Path | None, download: bool) -> Raw:
    files = {k: DEBIAN_FASHION_MNIST / f"{k}-ubyte.gz" for k in _IDX_NAMES}
    if all(f.exists() for f in files.values()):
        return (*_from_idx(_read_idx_set(files, REINSTALL)), FASHION_CLASSES)
    return _torchvision_idx("fashion-mnist", "FashionMNIST", data_dir or default_data_dir(), download,
                            FASHION_CLASSES, "Install the Debian package (apt-get install dataset-fashion-mnist) "
                            "or let torchvision download it on a machine with internet access")


def _mnist(data_dir: Path | None, download: bool) -> Raw:
    return _torchvision_idx("mnist", "MNIST", data_dir or default_data_dir(), download,
                            tuple(str(i) for i in range(10)),
                            "Run once with download=True on a machine with internet access, or put "
                            "the four uncompressed IDX files there")


def _cifar_folder(data_dir: Path | None, which: str, download: bool) -> Path:
    data_dir = data_dir or default_data_dir()
    cls, folder = {"cifar10": (CIFAR10, "cifar-10-batches-py"),
                   "cifar100": (CIFAR100, "cifar-100-python")}[which]
    path = data_dir / folder
    if not path.exists():
        if download:
            try:
                cls(str(data_dir), train=True, download=True)
            except (RuntimeError, OSError) as err:
                raise _missing(which, path, "The download failed; fetch the python version of "
                               f"the archive and unpack it there ({type(err).__name__}: {err}).") from None
        else:
            raise _missing(which, path, "Pass download=True (needs internet) or unpack the "
                           "python version of the archive there.")
    return path


def _cifar10(data_dir: Path | None, download: bool) -> Raw:
    folder = _cifar_folder(data_dir, "cifar10", download)
    meta = _read_cifar_pickle(folder / "batches.meta")
    if "label_names" not in meta:
        raise DataFileError(f"{folder / 'batches.meta'} has no label_names; {_cifar_fix(folder)}")
    names = tuple(meta["label_names"])
    xtr, ytr, _ = _read_cifar_batches(folder, [f"data_batch_{i}" for i in range(1, 6)], "labels", len(names))
    xte, yte, _ = _read_cifar_batches(folder, ["test_batch"], "labels", len(names))
    return xtr, ytr, xte, yte, names


def _cifar100(data_dir: Path | None, download: bool, superclass: str | None = None) -> RawRows:
    folder = _cifar_folder(data_dir, "cifar100", download)
    meta = _read_cifar_pickle(folder / "meta")
    if not {"fine_label_names", "coarse_label_names"} <= set(meta):
        raise DataFileError(f"{folder / 'meta'} lacks fine_label_names or coarse_label_names; {_cifar_fix(folder)}")
    fine = tuple(meta["fine_label_names"])
    xtr, ytr, ctr = _read_cifar_batches(folder, ["train"], "fine_labels", len(fine))
    xte, yte, cte = _read_cifar_batches(folder, ["test"], "fine_labels", len(fine))
    if superclass is None:
        return xtr, ytr, xte, yte, fine, np.arange(len(ytr)), np.arange(len(yte))
    coarse_names = [_slug(c) for c in meta["coarse_label_names"]]
    if ctr is None or cte is None or superclass not in coarse_names:
        raise DataFileError(f"{folder} lacks the coarse labels of superclass {superclass!r}; {_cifar_fix(folder)}")
    coarse_id = coarse_names.index(superclass)
    members = sorted(set(ytr[ctr == coarse_id].tolist()))  # fine labels of the superclass
    remap = {f: i for i, f in enumerate(members)}
    keep_tr, keep_te = ctr == coarse_id, cte == coarse_id
    return (xtr[keep_tr], np.array([remap[v] for v in ytr[keep_tr]], dtype=np.int64),
            xte[keep_te], np.array([remap[v] for v in yte[keep_te]], dtype=np.int64),
            tuple(fine[f] for f in members), np.flatnonzero(keep_tr), np.flatnonzero(keep_te))


def _digits(data_dir: Path | None, download: bool) -> RawRows:
    bunch = load_digits()
    # 0..16 grey levels -> 0..255 so that every loader hands over uint8 images.
    images = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)[:, None]
    labels = bunch.target.astype(np.int64)
    test = np.arange(len(labels)) % 5 == 4  # a fixed 80/20 split, every fifth image to test
    return (images[~test], labels[~test], images[test], labels[test], tuple(str(i) for i in range(10)),
            np.flatnonzero(~test), np.flatnonzero(test))


def _gaussian() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, tuple[str, ...]]:
    """The ``gaussian`` set as float32 inputs (not uint8: its values are the raw Gaussian draws)."""
    rng = np.random.default_rng(GAUSSIAN_SEED)
    std = np.sqrt(np.asarray(GAUSSIAN_VARIANCES))
    out = []
    for n in (GAUSSIAN_TRAIN, GAUSSIAN_TEST):
        x = (rng.standard_normal((n, len(std))) * std).astype(np.float32).reshape(n, *GAUSSIAN_SHAPE)
        y = rng.permutation(np.repeat(np.arange(GAUSSIAN_CLASSES), n // GAUSSIAN_CLASSES)).astype(np.int64)
        out += [x, y]
    return (*out, tuple(f"random {i}" for i in range(GAUSSIAN_CLASSES)))


# --------------------------------------------------------------------------- public API

def _first_per_class(labels: np.ndarray, classes: list[int], per_class: int | None) -> np.ndarray:
    """Indices (in file order) of the first ``per_class`` examples of each class in ``classes``."""
    keep = []
    for c in classes:
        idx = np.flatnonzero(labels == c)
        keep.append(idx if per_class is None else idx[:per_class])
    return np.sort(np.concatenate(keep))


def _pad_to(images: np.ndarray, size: int) -> np.ndarray:
    h, w = images.shape[-2:]
    top, left = (size - h) // 2, (size - w) // 2
    out = np.zeros(images.shape[:-2] + (size, size), dtype=images.dtype)
    out[..., top:top + h, left:left + w] = images
    return out


def load_dataset(name: str = "fashion-tops", *, data_dir: str | Path | None = None,
                 train_per_class: int | None = None, test_per_class: int | None = None,
                 download: bool = True, inputs: str = "standard") -> Dataset:
    """Load a data set by name into tensors on the CPU.

    ``train_per_class`` / ``test_per_class`` keep the first k images of each class in file
    order (``None``: all; ``fashion-tops`` defaults to 500 / 100). 28×28 images are zero-padded
    to 32×32 so that the paper's architectures apply unchanged; ``digits`` stays 8×8.
    ``inputs='standard'`` standardises every channel with the training images' mean and standard
    deviation; ``'unit'`` keeps raw intensities in [0, 1] (a blank pixel is exactly 0). ``gaussian``
    (:data:`GAUSSIAN_VARIANCES`) is 5×5 and has no intensities: ``'unit'`` keeps its raw draws, whose
    covariance is exactly the paper's diagonal one; ``'standard'`` would rescale all 25 inputs by one
    number (its single channel's standard deviation) and shift them by its mean.
    """
    check_choice("dataset", name, DATASETS)
    check_choice("inputs", inputs, ("standard", "unit"))
    for arg, value in (("train_per_class", train_per_class), ("test_per_class", test_per_class)):
        if value is not None:
            check_int(arg, value, 1)
    root = Path(data_dir).expanduser() if data_dir is not None else None  # default: resolved where needed
    rows_tr = rows_te = None  # the file rows behind the raw arrays' rows (None: the same rows)
    if name in ("fashion-tops", "fashion-mnist"):
        xtr, ytr, xte, yte, names = _fashion_mnist(root, download)
    elif name == "mnist":
        xtr, ytr, xte, yte, names = _mnist(root, download)
    elif name == "digits":
        xtr, ytr, xte, yte, names, rows_tr, rows_te = _digits(root, download)
    elif name == "cifar10":
        xtr, ytr, xte, yte, names = _cifar10(root, download)
    elif name == "cifar100":
        xtr, ytr, xte, yte, names, rows_tr, rows_te = _cifar100(root, download)
    elif name == "gaussian":
        xtr, ytr, xte, yte, names = _gaussian()
    else:
        xtr, ytr, xte, yte, names, rows_tr, rows_te = _cifar100(root, download,
                                                                superclass=name.removeprefix("cifar100-"))

    for split, y in (("train", ytr), ("test", yte)):
        if y.size and (y.min() < 0 or y.max() >= len(names)):
            raise DataFileError(f"the {split} labels of {name} run from {y.min()} to {y.max()}, not 0..{len(names) - 1}: "
                                f"a data file under {root or default_data_dir()} is damaged; {REFETCH}")
    classes = list(range(len(names)))
    if name == "fashion-tops":
        classes = list(FASHION_TOPS)
        train_per_class = 500 if train_per_class is None else train_per_class
        test_per_class = 100 if test_per_class is None else test_per_class
    keep_tr = _first_per_class(ytr, classes, train_per_class)
    keep_te = _first_per_class(yte, classes, test_per_class)
    remap = np.full(len(names), -1, dtype=np.int64)
    remap[classes] = np.arange(len(classes))

    xtr, xte = xtr[keep_tr], xte[keep_te]
    if xtr.shape[-1] == 28:  # the MNIST family; digits stay 8×8 and the models adapt to them
        xtr, xte = _pad_to(xtr, 32), _pad_to(xte, 32)
    scale = 1.0 if name == "gaussian" else 255.0  # the Gaussian draws are already the inputs
    x_train = torch.from_numpy(xtr.astype(np.float32) / scale)
    x_test = torch.from_numpy(xte.astype(np.float32) / scale)
    if inputs == "standard":
        mean = x_train.mean(dim=(0, 2, 3), keepdim=True)
        std = x_train.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)
        x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    return Dataset(name=name, x_train=x_train, y_train=torch.from_numpy(remap[ytr[keep_tr]]),
                   x_test=x_test, y_test=torch.from_numpy(remap[yte[keep_te]]),
                   classes=tuple(names[c] for c in classes),
                   train_source=(keep_tr if rows_tr is None else rows_tr[keep_tr]).astype(np.int64),
                   test_source=(keep_te if rows_te is None else rows_te[keep_te]).astype(np.int64))
