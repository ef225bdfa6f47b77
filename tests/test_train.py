import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from lossnotes.models import MLP
from lossnotes.train import History, TensorData, evaluate, predict, resolve_device, train

ROOT = Path(__file__).resolve().parent.parent


def _blobs(n=240, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    centres = torch.tensor([[3.0, 0.0], [-3.0, 0.0], [0.0, 3.0]])
    return TensorData(centres[y] + 0.5 * torch.randn(n, 2, generator=g), y)


def _run(seed, epochs=3, callbacks=None):
    torch.manual_seed(0)
    model = MLP(2, (8,), 3)
    hist = train(model, F.cross_entropy, _blobs(), test_data=_blobs(90, seed=1), epochs=epochs,
                 batch_size=16, lr=0.05, seed=seed, device="cpu", progress=False, callbacks=callbacks)
    return model, hist


def test_learns_separable_blobs():
    seen = []
    model, hist = _run(0, epochs=4, callbacks=[lambda e, m, h: (seen.append(e), h.log("bias0", m.head.bias[0].item()))])
    assert isinstance(hist, History) and len(hist.train_loss) == len(hist.test_acc) == 4
    assert hist.train_loss[-1] < hist.train_loss[0]
    assert hist.train_acc[-1] > 0.95 and hist.test_acc[-1] > 0.95
    assert seen == [0, 1, 2, 3] and len(hist.extra["bias0"]) == 4
    frame = hist.as_frame()
    assert list(frame.index) == [1, 2, 3, 4] and "bias0" in frame and "test_loss" in frame
    loss, acc = evaluate(model, F.cross_entropy, _blobs(90, seed=1), device="cpu")
    assert loss == pytest.approx(hist.test_loss[-1]) and acc == pytest.approx(hist.test_acc[-1])
    logits = predict(model, _blobs(90, seed=1).x, batch_size=32, device="cpu")
    assert logits.shape == (90, 3) and logits.dtype == torch.float32


def test_same_seed_is_bit_identical_different_seed_is_not():
    (m1, h1), (m2, h2), (m3, h3) = _run(7), _run(7), _run(8)
    for key in ("train_loss", "train_acc", "test_loss", "test_acc", "lr"):
        assert getattr(h1, key) == getattr(h2, key)
    assert all(torch.equal(a, b) for a, b in zip(m1.state_dict().values(), m2.state_dict().values()))
    assert h1.train_loss != h3.train_loss
    assert not all(torch.equal(a, b) for a, b in zip(m1.state_dict().values(), m3.state_dict().values()))


def test_scheduler_milestones_and_adam():
    torch.manual_seed(0)
    hist = train(MLP(2, (4,), 3), F.cross_entropy, _blobs(48), epochs=3, batch_size=16, lr=0.1,
                 scheduler=[2], device="cpu", progress=False)
    assert hist.lr == pytest.approx([0.1, 0.1, 0.01])
    hist = train(MLP(2, (4,), 3), F.cross_entropy, _blobs(48), epochs=1, optimizer="adam", device="cpu",
                 progress=False)
    assert len(hist.train_loss) == 1 and hist.test_loss == []


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_amp_on_cpu_trains_with_float32_loss(amp):
    seen = []

    def loss_fn(logits, target):
        seen.append(logits.dtype)
        return F.cross_entropy(logits, target)

    torch.manual_seed(0)
    hist = train(MLP(2, (8,), 3), loss_fn, _blobs(96), epochs=3, batch_size=16, lr=0.1, amp=amp,
                 device="cpu", progress=False)
    assert set(seen) == {torch.float32} and hist.train_loss[-1] < hist.train_loss[0]


@pytest.mark.parametrize("kwargs, match", [
    ({"device": "gpu"}, "device"),
    ({"device": "tpu:0"}, "device"),
    ({"device": 3}, "device"),
    ({"epochs": 0}, "epochs"),
    ({"batch_size": -1}, "batch_size"),
    ({"optimizer": "lbfgs"}, "optimizer"),
    ({"scheduler": "cosine"}, "scheduler"),
    ({"amp": "int8"}, "amp"),
])
def test_bad_arguments(kwargs, match):
    args = {"epochs": 1, "progress": False, "device": "cpu", **kwargs}
    with pytest.raises(ValueError, match=match):
        train(MLP(2, (4,), 3), F.cross_entropy, _blobs(32), **args)


def test_per_sample_loss_is_refused_by_name():
    per_sample = lambda z, y: F.cross_entropy(z, y, reduction="none")  # noqa: E731
    with pytest.raises(ValueError, match="loss_fn must return a scalar"):
        train(MLP(2, (4,), 3), per_sample, _blobs(32), epochs=1, progress=False, device="cpu")


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="device"):
            resolve_device("cuda")
    with pytest.raises(ValueError, match="train_data"):
        train(MLP(2, (4,), 3), F.cross_entropy, TensorData(torch.zeros(3, 2), torch.zeros(2)), epochs=1)


@pytest.mark.slow
def test_ddp_two_processes_match_one(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    script = str(ROOT / "tests" / "ddp_train_script.py")
    one, two = tmp_path / "one.pt", tmp_path / "two.pt"
    for cmd in ([sys.executable, script, str(one)],
                [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                 script, str(two)]):
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    a, b = torch.load(one), torch.load(two)
    assert (a["world"], b["world"]) == (1, 2)
    for key, value in a["state"].items():
        torch.testing.assert_close(b["state"][key], value, rtol=0, atol=1e-5)
    for key in ("train_loss", "test_loss"):
        assert b["history"][key] == pytest.approx(a["history"][key], abs=1e-6)
    for key in ("train_acc", "test_acc"):
        assert b["history"][key] == a["history"][key]


def test_progress_bars_are_off_in_executed_chapters(monkeypatch):
    from lossnotes import NO_PROGRESS_ENV
    from lossnotes.train import show_progress

    monkeypatch.delenv(NO_PROGRESS_ENV, raising=False)
    assert show_progress(True) and not show_progress(False)
    monkeypatch.setenv(NO_PROGRESS_ENV, "1")
    assert not show_progress(True)
    monkeypatch.setenv(NO_PROGRESS_ENV, "0")
    assert show_progress(True)
