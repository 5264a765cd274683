"""The `paper` profile, proven before the GPU hours.

* :func:`equalnets.tools.book.check_profile` on ``notebooks/profiles/paper.yaml`` as shipped: every
  chapter's parameters pass its module's ``Parameters`` and ``runs()``, and every data set it reads is
  found (here: format-faithful fakes of CIFAR-100, CIFAR-10 and MNIST written by the test, Debian's
  Fashion-MNIST); a typo, a bad combination and a missing data set are one line each, and
  ``python -m equalnets book --profile paper`` stops on them before executing anything.
* Every chapter executed with the paper profile's parameters, shrunk only in size (networks per
  ensemble, epochs, images per class, seeds, bootstrap and permutation counts, images analysed, the
  sampler's and the hard-subset procedure's length, the atlas's subsets per ratio; see SIZE_RULES),
  on the fakes, on the CPU, two notebooks at a time after the base ensemble's (``slow``: about 7
  minutes on the busy 2-core machine, 8.5 CPU-minutes).

The fakes have the real files' layout, names and encodings: ``cifar-100-python/{meta,train,test}``
(pickles of protocol 2 with ``data`` uint8 ``(n, 3072)``, ``fine_labels``, ``coarse_labels``,
``filenames``, ``batch_label``; the 100 fine and 20 coarse names of the real meta file, each fine
class in its real superclass, examples in shuffled order), ``cifar-10-batches-py`` (five data
batches, a test batch and ``batches.meta``), ``MNIST/raw`` (the four uncompressed IDX files that
torchvision leaves). torchvision's own CIFAR-100 reader, with its checksum check switched off,
reads the same arrays from the fake as our loader.
"""

from __future__ import annotations

import importlib
import pickle
import re
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from equalnets.engine import data
from equalnets.engine.data import load_dataset
from equalnets.tools import book, cli

ROOT = Path(__file__).resolve().parents[1]

# The real CIFAR-100 meta file: fine names in alphabetical order (the fine label is the index), and
# each superclass's five fine classes.
CIFAR100_FINE = (
    "apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus butterfly camel can "
    "castle caterpillar cattle chair chimpanzee clock cloud cockroach couch crab crocodile cup dinosaur dolphin "
    "elephant flatfish forest fox girl hamster house kangaroo keyboard lamp lawn_mower leopard lion lizard lobster "
    "man maple_tree motorcycle mountain mouse mushroom oak_tree orange orchid otter palm_tree pear pickup_truck "
    "pine_tree plain plate poppy porcupine possum rabbit raccoon ray road rocket rose sea seal shark shrew skunk "
    "skyscraper snail snake spider squirrel streetcar sunflower sweet_pepper table tank telephone television tiger "
    "tractor train trout tulip turtle wardrobe whale willow_tree wolf woman worm").split()
CIFAR100_COARSE = {
    "aquatic_mammals": "beaver dolphin otter seal whale", "fish": "aquarium_fish flatfish ray shark trout",
    "flowers": "orchid poppy rose sunflower tulip", "food_containers": "bottle bowl can cup plate",
    "fruit_and_vegetables": "apple mushroom orange pear sweet_pepper",
    "household_electrical_devices": "clock keyboard lamp telephone television",
    "household_furniture": "bed chair couch table wardrobe", "insects": "bee beetle butterfly caterpillar cockroach",
    "large_carnivores": "bear leopard lion tiger wolf",
    "large_man-made_outdoor_things": "bridge castle house road skyscraper",
    "large_natural_outdoor_scenes": "cloud forest mountain plain sea",
    "large_omnivores_and_herbivores": "camel cattle chimpanzee elephant kangaroo",
    "medium_mammals": "fox porcupine possum raccoon skunk", "non-insect_invertebrates": "crab lobster snail spider worm",
    "people": "baby boy girl man woman", "reptiles": "crocodile dinosaur lizard snake turtle",
    "small_mammals": "hamster mouse rabbit shrew squirrel",
    "trees": "maple_tree oak_tree palm_tree pine_tree willow_tree",
    "vehicles_1": "bicycle bus motorcycle pickup_truck train", "vehicles_2": "lawn_mower rocket streetcar tank tractor",
}
# Images per class in the fakes: more than the shrunk chapters take (they keep the first k of each class).
FAKE_TRAIN, FAKE_TEST = 40, 20
MNIST_TRAIN, MNIST_TEST = 60, 30


def _images(labels: np.ndarray, size: int, channels: int, rng: np.random.Generator) -> np.ndarray:
    """uint8 images ``(n, channels, size, size)``: noise around a pattern of each class (learnable)."""
    patterns = rng.integers(40, 216, (int(labels.max()) + 1, channels, size, size))
    noise = rng.normal(0, 40, (len(labels), channels, size, size))
    return np.clip(patterns[labels] + noise, 0, 255).astype(np.uint8)


def write_fake_cifar100(root: Path, seed: int = 0) -> Path:
    """``root/cifar-100-python`` as the python version of the CIFAR-100 archive unpacks it."""
    assert len(CIFAR100_FINE) == 100 and list(CIFAR100_COARSE) == list(data.CIFAR100_SUPERCLASSES)
    coarse_of = {fine: c for c, (name, members) in enumerate(CIFAR100_COARSE.items()) for fine in members.split()}
    rng = np.random.default_rng(seed)
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    for split, per_class in (("train", FAKE_TRAIN), ("test", FAKE_TEST)):
        fine = rng.permutation(np.repeat(np.arange(100), per_class))
        entry = {"filenames": [f"{CIFAR100_FINE[f]}_s_{i:06d}.png" for i, f in enumerate(fine)],
                 "batch_label": f"{split}ing batch 1 of 1",
                 "fine_labels": fine.tolist(), "coarse_labels": [coarse_of[CIFAR100_FINE[f]] for f in fine],
                 "data": _images(fine, 32, 3, rng).reshape(len(fine), 3072)}
        (folder / split).write_bytes(pickle.dumps(entry, protocol=2))
    meta = {"fine_label_names": list(CIFAR100_FINE), "coarse_label_names": list(CIFAR100_COARSE)}
    (folder / "meta").write_bytes(pickle.dumps(meta, protocol=2))
    return folder


def write_fake_cifar10(root: Path, seed: int = 1) -> Path:
    """``root/cifar-10-batches-py``: five data batches, the test batch and ``batches.meta``."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    batches = [(f"data_batch_{i}", FAKE_TRAIN // 5) for i in range(1, 6)] + [("test_batch", FAKE_TEST)]
    for i, (name, per_class) in enumerate(batches):
        labels = rng.permutation(np.repeat(np.arange(10), per_class))
        entry = {"batch_label": f"batch {i + 1}", "labels": labels.tolist(),
                 "data": _images(labels, 32, 3, rng).reshape(len(labels), 3072),
                 "filenames": [f"{names[y]}_{i}_{k}.png" for k, y in enumerate(labels)]}
        (folder / name).write_bytes(pickle.dumps(entry, protocol=2))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": names, "num_cases_per_batch": 10_000,
                                                        "num_vis": 3072}, protocol=2))
    return folder


def _write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def write_fake_mnist(root: Path, seed: int = 2) -> Path:
    """``root/MNIST/raw``: the four uncompressed IDX files torchvision leaves after its download."""
    rng = np.random.default_rng(seed)
    folder = root / "MNIST" / "raw"
    folder.mkdir(parents=True)
    for prefix, per_class in (("train", MNIST_TRAIN), ("t10k", MNIST_TEST)):
        labels = rng.permutation(np.repeat(np.arange(10), per_class))
        _write_idx(folder / f"{prefix}-images-idx3-ubyte", _images(labels, 28, 1, rng)[:, 0])
        _write_idx(folder / f"{prefix}-labels-idx1-ubyte", labels)
    return folder


@pytest.fixture(scope="module")
def fake_data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data")
    write_fake_cifar100(root)
    write_fake_cifar10(root)
    write_fake_mnist(root)
    return root


@pytest.fixture
def data_dir(fake_data, monkeypatch) -> Path:
    """The fakes as $EQUALNETS_DATA (for this process and the notebooks' kernels)."""
    monkeypatch.setenv("EQUALNETS_DATA", str(fake_data))
    return fake_data


def no_download(url: str) -> str:
    return "unreachable in the tests"


needs_fashion = pytest.mark.skipif(not (data.DEBIAN_FASHION_MNIST / "train-images-idx3-ubyte.gz").exists(),
                                   reason="Fashion-MNIST not installed (make setup installs it)")


# --- the fakes are what the real files are ---------------------------------------------------------

def test_the_fake_cifar100_reads_as_the_small_mammals_through_our_loader_and_torchvisions(fake_data, monkeypatch):
    mammals = load_dataset("cifar100-small-mammals", data_dir=fake_data, download=False)
    assert mammals.classes == ("hamster", "mouse", "rabbit", "shrew", "squirrel")
    assert mammals.x_train.shape == (5 * FAKE_TRAIN, 3, 32, 32) and mammals.x_test.shape == (5 * FAKE_TEST, 3, 32, 32)
    assert torch.bincount(mammals.y_train).tolist() == [FAKE_TRAIN] * 5
    first = load_dataset("cifar100-small-mammals", data_dir=fake_data, download=False, train_per_class=3,
                         test_per_class=2, inputs="unit")
    assert torch.bincount(first.y_train).tolist() == [3] * 5 and torch.bincount(first.y_test).tolist() == [2] * 5

    from torchvision.datasets import CIFAR100, cifar
    monkeypatch.setattr(cifar, "check_integrity", lambda *args, **kw: True)  # the fake has not the real checksums
    reference = CIFAR100(str(fake_data), train=True, download=False)
    fine = [CIFAR100_FINE.index(c) for c in mammals.classes]
    rows = [i for i, y in enumerate(reference.targets) if y in fine]
    # torchvision holds (n, 32, 32, 3) images in file order; ours (n, 3, 32, 32) in [0, 1] with inputs='unit'
    full = load_dataset("cifar100-small-mammals", data_dir=fake_data, download=False, inputs="unit")
    np.testing.assert_array_equal((full.x_train.numpy() * 255).round().astype(np.uint8),
                                  reference.data[rows].transpose(0, 3, 1, 2))
    assert full.y_train.tolist() == [fine.index(reference.targets[i]) for i in rows]
    assert [reference.classes[f] for f in fine] == list(mammals.classes)


def test_the_fake_cifar10_and_mnist_read_through_our_loader(fake_data):
    cifar = load_dataset("cifar10", data_dir=fake_data, download=False)
    assert cifar.x_train.shape == (10 * FAKE_TRAIN, 3, 32, 32) and cifar.classes[3] == "cat"
    mnist = load_dataset("mnist", data_dir=fake_data, download=False)
    assert mnist.x_train.shape == (10 * MNIST_TRAIN, 1, 32, 32) and mnist.x_test.shape == (10 * MNIST_TEST, 1, 32, 32)


# --- the check before a run ------------------------------------------------------------------------

@needs_fashion
def test_the_paper_profile_as_shipped_passes_the_check(data_dir, capsys):
    """For a GPU machine (``device: cuda`` is the profile's) with the data sets on disk: no problem."""
    assert book.check_profile(ROOT, "paper", check_device=False, probe=no_download) == []
    assert "stops at epoch" not in capsys.readouterr().out  # every record list reaches its run's last epoch
    # On this machine: the same, or (without CUDA) the device is the one problem, one line for all chapters.
    problems = book.check_profile(ROOT, "paper", probe=no_download)
    if torch.cuda.is_available():
        assert problems == []
    else:
        assert len(problems) == 1 and "device must be one of cpu on this machine; got 'cuda'" in problems[0]
        assert problems[0].startswith(", ".join(book.toc_notebooks(ROOT)) + ": ")


@needs_fashion
def test_a_missing_data_set_is_one_line_or_a_note_when_it_can_be_downloaded(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EQUALNETS_DATA", str(tmp_path / "empty"))
    problems = book.check_profile(ROOT, "paper", check_device=False, probe=no_download)
    lines = {re.match(r"data set '([^']+)'", p).group(1): p for p in problems}
    assert sorted(lines) == ["cifar10", "cifar100-small-mammals", "mnist"], problems
    assert "(read by part1_s3_single_architecture, " in lines["cifar100-small-mammals"]
    assert "cifar-100-python.tar.gz: unreachable in the tests" in lines["cifar100-small-mammals"]
    assert all("\n" not in p for p in problems)
    # Reachable: no problem, a note that says where each comes from. A chapter whose runs() reads its
    # data (prediction depth splits it, random labels counts it) downloads it during the check: here
    # torchvision's download writes the fake.
    from torchvision.datasets import CIFAR10, CIFAR100, cifar
    monkeypatch.setattr(cifar, "check_integrity", lambda *args, **kw: True)
    monkeypatch.setattr(CIFAR100, "download", lambda self: write_fake_cifar100(Path(self.root)))
    monkeypatch.setattr(CIFAR10, "download", lambda self: write_fake_cifar10(Path(self.root)))
    assert book.check_profile(ROOT, "paper", check_device=False, probe=lambda url: None) == []
    notes = capsys.readouterr().out
    assert "data set 'cifar10' (read by part4_random_labels) is not on disk: it will be downloaded from " \
           "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz" in notes
    assert "data set 'cifar100-small-mammals' (read by part1_s3_single_architecture, " in notes
    assert (tmp_path / "empty" / "cifar-100-python" / "meta").exists()
    assert (tmp_path / "empty" / "cifar-10-batches-py" / "batches.meta").exists()


def _edited_copy(tmp_path: Path, edit) -> Path:
    """A copy of the book's notebooks and profiles whose paper profile ``edit`` changes."""
    root = tmp_path / "book"
    shutil.copytree(ROOT / "notebooks", root / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    shutil.copy(ROOT / "_toc.yml", root / "_toc.yml")
    path = root / "notebooks" / "profiles" / "paper.yaml"
    profile = yaml.safe_load(path.read_text())
    edit(profile["notebooks"])
    path.write_text(yaml.safe_dump(profile))
    return root


def test_typos_and_bad_combinations_are_one_line_each(tmp_path, data_dir, capsys):
    def edit(notebooks):
        notebooks["part1_s6_breaking_bimodality"]["random_record_epochs"] = [0, 10, 40]  # legal, but a note
        notebooks["part3_jumpout"]["epocs"] = 200                                  # a typo in a key
        notebooks["part1_s4_linear_networks"]["linear_models"] = 1                 # a bad value
        notebooks["part4_random_labels"]["gauss_record_epochs"] = [0, 100, 300]    # beyond gauss_epochs
        notebooks["part1_s3_robustness"]["variants"] = [{"lr": 0.02}, {"optimiser": "adam"}]  # a bad variant
    root = _edited_copy(tmp_path, edit)
    problems = book.check_profile(root, "paper", check_device=False, probe=no_download)
    assert len(problems) == 4, problems
    by_chapter = {p.split(":")[0]: p for p in problems}
    assert "'epocs'" in by_chapter["part3_jumpout"]
    assert "linear_models" in by_chapter["part1_s4_linear_networks"]
    assert "gauss_record_epochs" in by_chapter["part4_random_labels"]
    assert "optimiser" in by_chapter["part1_s3_robustness"]
    assert all("\n" not in p for p in problems)
    assert "note: part1_s6_breaking_bimodality: random_record_epochs stops at epoch 40 of random_epochs=140" \
        in capsys.readouterr().out


def test_book_and_run_stop_before_executing_anything(tmp_path, data_dir, monkeypatch, capsys):
    def edit(notebooks):
        notebooks["part3_jumpout"]["epochs"] = -1
    root = _edited_copy(tmp_path, edit)
    executed = []
    monkeypatch.setattr(book, "execute", lambda *args, **kw: executed.append(args))
    monkeypatch.setattr(book, "reachable", no_download)
    monkeypatch.chdir(root)
    assert cli.main(["book", "--profile", "paper", "--no-site", "-p", "device", "cpu"]) == 1
    assert cli.main(["run", "part3_jumpout", "--profile", "paper", "-p", "device", "cpu"]) == 1
    assert executed == []
    err = capsys.readouterr().err.splitlines()
    assert err.count("equalnets: profile 'paper': 1 problem, nothing was executed or trained:") == 2
    assert sum(line.startswith("  part3_jumpout: epochs must be") for line in err) == 2
    # the check alone, for a GPU machine: the same line, exit status 1
    assert cli.main(["check", "--profile", "paper", "--for-gpu"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and out[0].startswith("part3_jumpout: epochs must be")
    # A good profile runs (the check on demand for another profile); --no-check skips it.
    assert cli.main(["run", "part3_jumpout", "--profile", "smoke", "--check"]) == 0
    assert "profile 'smoke' checked for 1 notebook(s)" in capsys.readouterr().out
    assert cli.main(["run", "part3_jumpout", "--profile", "paper", "--no-check"]) == 0
    assert [a[1:3] for a in executed] == [("part3_jumpout", "smoke"), ("part3_jumpout", "paper")]


# --- every chapter at the paper's parameters, shrunk in size ---------------------------------------

#: Shrunk sizes. A parameter whose name matches a rule takes the rule's value, except a number of
#: epochs that the `smoke` profile sets for that notebook (some chapters need a few: Part II's digit
#: networks must learn an 8); every other parameter keeps the paper profile's value (or the notebook's
#: default). ``*record_epochs`` keep the paper's epochs that remain; ``samplings`` keep their networks
#: and the order of their subset sizes (10, 20, ... images); an epoch (``*_epoch``, e.g. the atlas's
#: EL2N epoch) stays within the shrunk ``epochs``; §6's iterative hard subset takes three steps of the
#: paper's size (``hard_keep = 1 - 3 hard_step``), each re-scored as the paper's ``rescore_every``.
SIZE_RULES = (
    (r"^n_models$|_models$|_networks$|^n_seeds$", 2),         # N, networks per ensemble; seeds per run
    (r"(^|_)epochs$", 1),                                     # training epochs
    (r"^train_per_class$|_train_per_class$", 14),             # images per class (14: 35 of the 70 small-mammal
    (r"^test_per_class$|_test_per_class$", 4),                # images in each half of prediction depth, > its k = 30)
    (r"^n_boot$|^n_perm$|^n_bases$", 20),                     # resamples, permutations, random bases
    (r"_images$|^probe_size$", 5), (r"^depth_members$", 2),   # examples and networks analysed
    (r"^cscore_subsets$", 5),                                 # the atlas's subsets per ratio (its 0.2 ... 0.8)
    (r"^n_temperatures$", 3), (r"^iterations$", 4), (r"^burn_in$", 2),  # the sampler's length
    (r"^trajectories$", 2), (r"^leapfrog$", 3), (r"^minima_steps$", 20),
)


def _is_size(name: str) -> bool:
    return any(re.search(rule, name) for rule, _ in SIZE_RULES) or name.endswith(("record_epochs", "_epoch")) \
        or name in ("samplings", "hard_keep")


def shrunk_parameters(name: str) -> tuple[dict, dict]:
    """(the paper profile's parameters of notebook ``name`` shrunk in size, those of them that changed)."""
    module = importlib.import_module(f"equalnets.chapters.{name}")
    paper = book.profile_parameters(ROOT, "paper", name)
    smoke = book.profile_parameters(ROOT, "smoke", name)
    full = {**book.notebook_defaults(ROOT / "notebooks" / f"{name}.ipynb"), **paper}
    out = dict(full)
    for key, value in full.items():
        for rule, small in SIZE_RULES:
            if re.search(rule, key) and not key.endswith("record_epochs"):
                out[key] = smoke.get(key, small) if key.endswith("epochs") else small
                break
    for key, value in full.items():
        if key.endswith("record_epochs") and value is not None:
            epochs = out[key.replace("record_epochs", "epochs")]
            out[key] = sorted({e for e in value if e <= epochs} | {0, epochs})
        if key == "samplings":  # the paper's subset sizes, kept distinct and in order: 10, 20, ...
            sizes = sorted({size for _, size in value})
            out[key] = [[net, 10 * (sizes.index(size) + 1)] for net, size in value]
        if key.endswith("_epoch") and isinstance(value, int) and "epochs" in out:
            out[key] = min(value, out["epochs"])
        if key == "hard_keep":
            out[key] = round(1 - 3 * full["hard_step"], 6)
    out["device"] = "cpu"
    assert set(out) <= set(module.Parameters.names()), name
    return out, {k: v for k, v in out.items() if full.get(k) != v}


def test_the_shrinking_changes_sizes_only():
    for name in book.toc_notebooks(ROOT):
        params, changed = shrunk_parameters(name)
        assert all(_is_size(k) for k in set(changed) - {"device"}), (name, changed)
        paper = {**book.notebook_defaults(ROOT / "notebooks" / f"{name}.ipynb"),
                 **book.profile_parameters(ROOT, "paper", name)}
        for key in changed:  # every size shrinks or stays (None is "all" for a per-class count)
            if isinstance(changed[key], int) and isinstance(paper[key], int):
                assert changed[key] <= paper[key], (name, key)


def _execute(name: str, params: dict, folder: Path) -> tuple[str, float, str | None]:
    """Execute one notebook as the book does (in a worker process): its name, seconds, error or None."""
    started = time.perf_counter()
    try:
        book.execute(ROOT, name, "paper", params, output_dir=folder)
    except book.NotebookFailed as err:
        return name, time.perf_counter() - started, str(err)
    return name, time.perf_counter() - started, None


@pytest.mark.slow
@needs_fashion
def test_every_chapter_runs_with_the_paper_parameters_shrunk_in_size(data_dir, tmp_path, monkeypatch):
    """Every notebook of the book, executed as the book executes it (papermill, its kernel), with the
    paper profile's parameters shrunk in size on the fakes, on the CPU: no cell raises, and the
    chapters of the base ensemble trained it on CIFAR-100's small mammals at the paper's width."""
    monkeypatch.setenv("EQUALNETS_CACHE", str(tmp_path / "runs"))
    names = book.toc_notebooks(ROOT)
    overrides = {name: shrunk_parameters(name)[0] for name in names}
    assert book.check_profile(ROOT, "paper", check_device=False, probe=no_download) == []
    # The base ensemble first (every Part I chapter and prediction depth read it), then the others two
    # at a time, the longest first (each in a kernel of its own, as `make book` runs them one by one).
    first, *others = names
    slow = ("part1_s6_breaking_bimodality", "part1_s3_robustness", "part2_bias_attribution", "part3_jumpout")
    others.sort(key=lambda n: (n not in slow, slow.index(n) if n in slow else 0))
    took, failed = {}, []
    for batch, workers in (([first], 1), (others, 2)):
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            jobs = [pool.submit(_execute, name, overrides[name], tmp_path / "executed") for name in batch]
            for job in jobs:
                name, seconds, error = job.result(timeout=900)
                took[name] = round(seconds)
                if error:
                    failed.append(error)
    print(f"\nseconds per chapter: {took}")
    assert not failed, "\n".join(failed)
    from equalnets.chapters.part1_s3_single_architecture import Parameters
    base = Parameters.from_namespace(overrides["part1_s3_single_architecture"]).base_config()
    assert base.dataset == "cifar100-small-mammals" and base.width == 1.0 and base.momentum == 0.0
    from equalnets.engine.store import RunStore
    run = RunStore(tmp_path / "runs").load(base)
    assert run.n_classes == 5 and run.train.pred.shape == (base.n_models, base.epochs + 1, 5 * base.train_per_class)
