"""The experiment protocol: how every training comparison in the collection is run and summarised.

A comparison trains several *arms* (a model factory and a loss, e.g. one arm per loss) on the same data:

1. a **validation split** is carved from the training data (stratified by class, seeded:
   :func:`validation_split`); the test set is only read at the epochs the validation split selects;
2. each arm's **learning rate** is chosen from a grid on the validation split (``Protocol.lr_grid``, the first
   ``Protocol.tune_seeds`` seeds; rule ``Protocol.selection``) and recorded;
3. each arm is trained with **several seeds** at its chosen lr; the summary gives mean, std and a 95 % interval
   (Student t); one seed gives no spread (``None``, printed "-"), never 0.0;
4. the test metric is reported at the **best validation epoch** and at the **last epoch**;
5. **degenerate runs** (non-finite loss, predictions collapsed onto one class or onto "nothing", a metric within
   a margin of chance, a training loss that does not decrease) are flagged and left out of the mean, never
   averaged in silently;
6. runs go in parallel over CPU cores (joblib) and are **cached on disk** by configuration under
   ``build/cache/experiments`` (or ``$LOSSNOTES_CACHE``; ``Protocol.cache=False`` turns it off), so re-running a
   notebook does not retrain.

It runs unchanged on a GPU (``device="cuda"``; one process then) and under ``torchrun`` (the trainer's DDP path:
runs go one after another, every rank trains, rank 0 writes the cache).

Entry point: :func:`run_comparison`, which returns a :class:`Comparison` (``.summary()`` one row per arm and
selection, ``.runs()`` one row per run, ``.curves()`` per-epoch metrics, ``.model(arm, seed)`` a trained model).
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import hashlib
import io
import json
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import paths
from .losses.validation import NonFiniteError
from .train import predict, resolve_device, show_progress, train

__all__ = ["Protocol", "Arm", "RunResult", "Comparison", "run_comparison", "validation_split", "take",
           "classification_scores", "degenerate_reasons", "interval", "stratified_positions", "fingerprint",
           "format_interval", "results_table"]

CACHE_VERSION = 1
SELECTIONS = ("best-val", "last")


# ----------------------------------------------------------------------------------------- protocol

@dataclass(frozen=True)
class Protocol:
    """The knobs of the protocol; the defaults are the full-mode setting (quick mode passes smaller ones).

    Attributes:
        lr_grid: learning rates tried per arm (an arm may override it).
        seeds: seeds of the final runs (>= 3 in full mode).
        val_fraction: share of the training data held out for validation (stratified by class).
        tune_seeds: how many of ``seeds`` (the first ones) each lr of the grid is trained with.
        selection: how an lr is scored on validation: ``"best-val"`` (its best epoch) or ``"last"``.
        metric: the validation metric that picks the lr and the best epoch (a key of the evaluator's dict).
        higher_is_better: direction of ``metric``.
        chance_margin: a run whose ``metric`` is within this of the majority-class rate is degenerate
            (applies to accuracy-like metrics, ``metric`` in ``("acc", "accuracy")``).
        collapse_share: a run predicting one class for at least this share of the validation set is degenerate.
        n_jobs: parallel processes; ``None``: the CPU cores on CPU, 1 on CUDA or under torchrun.
        cache: read and write finished runs under ``build/cache/experiments``.
    """

    lr_grid: tuple[float, ...] = (1e-3, 1e-2, 1e-1)
    seeds: tuple[int, ...] = (0, 1, 2)
    val_fraction: float = 0.1
    tune_seeds: int = 1
    selection: str = "best-val"
    metric: str = "acc"
    higher_is_better: bool = True
    chance_margin: float = 0.05
    collapse_share: float = 0.9
    n_jobs: int | None = None
    cache: bool = True

    def __post_init__(self):
        grid = tuple(self.lr_grid)
        if not grid or any(isinstance(v, bool) or not isinstance(v, (int, float)) or not (0 < v < math.inf)
                           for v in grid):
            raise ValueError(f"lr_grid must be a non-empty sequence of positive finite numbers, got {self.lr_grid!r}")
        seeds = tuple(self.seeds)
        if not seeds or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0 for s in seeds):
            raise ValueError(f"seeds must be a non-empty sequence of non-negative ints, got {self.seeds!r}")
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds must be distinct, got {self.seeds!r}")
        if not (isinstance(self.val_fraction, (int, float)) and 0 < self.val_fraction < 1):
            raise ValueError(f"val_fraction must lie strictly between 0 and 1, got {self.val_fraction!r}")
        if isinstance(self.tune_seeds, bool) or not isinstance(self.tune_seeds, int) or not 1 <= self.tune_seeds <= len(seeds):
            raise ValueError(f"tune_seeds must be an int in 1..len(seeds)={len(seeds)}, got {self.tune_seeds!r}")
        if self.selection not in SELECTIONS:
            raise ValueError(f"selection must be one of {SELECTIONS}, got {self.selection!r}")
        if not isinstance(self.metric, str) or not self.metric:
            raise ValueError(f"metric must be a non-empty string, got {self.metric!r}")
        if not (isinstance(self.chance_margin, (int, float)) and 0 <= self.chance_margin < 1):
            raise ValueError(f"chance_margin must lie in [0, 1), got {self.chance_margin!r}")
        if not (isinstance(self.collapse_share, (int, float)) and 0 < self.collapse_share <= 1):
            raise ValueError(f"collapse_share must lie in (0, 1], got {self.collapse_share!r}")
        if self.n_jobs is not None and (isinstance(self.n_jobs, bool) or not isinstance(self.n_jobs, int) or self.n_jobs < 1):
            raise ValueError(f"n_jobs must be None or a positive int, got {self.n_jobs!r}")
        object.__setattr__(self, "lr_grid", tuple(float(v) for v in grid))
        object.__setattr__(self, "seeds", tuple(int(s) for s in seeds))

    def describe(self) -> str:
        """One line for a table caption or a record's setting."""
        return (f"lr from {{{', '.join(f'{v:g}' for v in self.lr_grid)}}} on a {self.val_fraction:.0%} validation split "
                f"({self.tune_seeds} seed{'s' if self.tune_seeds > 1 else ''}, {self.selection}); "
                f"{len(self.seeds)} seed{'s' if len(self.seeds) > 1 else ''}")


@dataclass
class Arm:
    """One contender of a comparison.

    Attributes:
        make_model: ``() -> nn.Module``, called after the seed is set (so initialisation follows the seed).
        loss_fn: ``loss_fn(outputs, target) -> scalar`` (picklable: a module-level function, a loss module, a
            ``functools.partial``).
        train_kwargs: extra :func:`lossnotes.train.train` arguments for this arm (they override the comparison's).
        lr_grid: this arm's grid (e.g. a single lr for a fixed-lr control); ``None``: the protocol's.
        key: what identifies the arm in the cache besides its name (a JSON-able value: hyper-parameters, variant).
    """

    make_model: Callable[[], nn.Module]
    loss_fn: Callable
    train_kwargs: dict = field(default_factory=dict)
    lr_grid: Sequence[float] | None = None
    key: object = None


# ----------------------------------------------------------------------------------------- data splits

def stratified_positions(y, n: int, seed: int = 0) -> np.ndarray:
    """``n`` positions of ``y`` chosen with ``seed``, every class in its proportion (largest remainder), shuffled.

    ``y``: class indices ``(N,)``; a 2-D multi-hot ``y`` is stratified by its number of positive labels (capped
    at 2), so rows with and without labels keep their shares. The order is random, never grouped by class.
    """
    y = np.asarray(torch.as_tensor(y).cpu().numpy())
    if y.ndim == 2:
        y = np.minimum((y[:, 1:] > 0).sum(1) if y.shape[1] > 1 else (y > 0).sum(1), 2)
    y = y.reshape(-1).astype(np.int64)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 0 <= n <= len(y):
        raise ValueError(f"n must be an int in 0..{len(y)}, got {n!r}")
    rng = np.random.default_rng(seed)
    classes, sizes = np.unique(y, return_counts=True)
    exact = sizes * n / len(y) if len(y) else sizes * 0.0
    quota = np.floor(exact).astype(np.int64)
    order = np.argsort(-(exact - quota), kind="stable")
    quota[order[: n - int(quota.sum())]] += 1
    picks = [rng.permutation(np.flatnonzero(y == c))[:q] for c, q in zip(classes, quota)]
    out = np.concatenate(picks) if picks else np.zeros(0, dtype=np.int64)
    return rng.permutation(out)


def take(data, positions):
    """The rows ``positions`` of ``data``: ``data.subset(...)`` where it exists, else every tensor field of length N."""
    positions = np.asarray(positions, dtype=np.int64)
    if hasattr(data, "subset"):
        return data.subset(positions)
    if dataclasses.is_dataclass(data):
        n, idx = len(data), torch.as_tensor(positions)
        changes = {f.name: getattr(data, f.name)[idx] for f in dataclasses.fields(data)
                   if isinstance(getattr(data, f.name), torch.Tensor) and len(getattr(data, f.name)) == n}
        return dataclasses.replace(data, **changes)
    raise TypeError(f"data must have .subset() or be a dataclass of tensors, got {type(data).__name__}")


def validation_split(data, fraction: float = 0.1, seed: int = 0):
    """``(train, val)``: ``fraction`` of ``data`` held out, stratified by class, chosen with ``seed``."""
    if not (isinstance(fraction, (int, float)) and 0 < fraction < 1):
        raise ValueError(f"fraction must lie strictly between 0 and 1, got {fraction!r}")
    n = len(data)
    n_val = min(max(int(round(fraction * n)), 1), n - 1)
    val_idx = stratified_positions(data.y, n_val, seed)
    mask = np.ones(n, dtype=bool)
    mask[val_idx] = False
    train_idx = np.random.default_rng(seed + 1).permutation(np.flatnonzero(mask))
    return take(data, train_idx), take(data, val_idx)


# ----------------------------------------------------------------------------------------- scores

def classification_scores(model: nn.Module, data, device="cpu") -> dict[str, float]:
    """The default evaluator for class targets: ``acc``, ``top_share`` (largest predicted-class share),
    ``majority`` (largest true-class share, the accuracy of always predicting it)."""
    logits = predict(model, data, device=device)
    pred = logits.argmax(1)
    y = torch.as_tensor(data.y).cpu()
    k = max(int(logits.shape[1]), 1)
    return {"acc": float((pred == y).float().mean()),
            "top_share": float(torch.bincount(pred, minlength=k).max()) / len(pred),
            "majority": float(torch.bincount(y, minlength=k).max()) / len(y),
            "finite": float(torch.isfinite(logits).all())}


def degenerate_reasons(train_loss: Sequence[float], scores: Mapping[str, float], *, epoch: int,
                       protocol: Protocol) -> list[str]:
    """Why the run is degenerate at ``epoch`` (0-based) given its training losses and validation scores there.

    Checks: a non-finite training loss up to ``epoch`` or non-finite outputs; ``top_share >= collapse_share``
    (one class predicted for nearly everything); ``n_pred_pos == 0`` (multi-label: nothing predicted);
    an accuracy-like ``metric`` within ``chance_margin`` of ``majority`` (scaled by ``(ceiling - majority) /
    (1 - majority)`` when the evaluator reports ``ceiling``, the best accuracy noisy labels allow); a training loss that has not gone
    below the first epoch's at any epoch up to ``epoch`` (from the second epoch on).
    """
    reasons = []
    losses = [float(v) for v in train_loss[: epoch + 1]]
    if not all(math.isfinite(v) for v in losses) or scores.get("finite", 1.0) < 1.0:
        reasons.append("non-finite loss or outputs")
    if scores.get("top_share", 0.0) >= protocol.collapse_share:
        reasons.append(f"collapsed onto one class ({scores['top_share']:.0%} of predictions)")
    if "n_pred_pos" in scores and scores["n_pred_pos"] == 0:
        reasons.append("predicts nothing")
    if protocol.metric in ("acc", "accuracy") and "majority" in scores and protocol.metric in scores:
        # the margin is a share of the room between the majority rate and the best accuracy the labels allow
        # (``ceiling``: 1 for clean labels, 1 - eta for labels with a known noise rate eta)
        room = max(scores.get("ceiling", 1.0) - scores["majority"], 0.0) / max(1.0 - scores["majority"], 1e-12)
        if scores[protocol.metric] < scores["majority"] + protocol.chance_margin * room:
            reasons.append(f"at chance ({protocol.metric} {scores[protocol.metric]:.3f}, majority {scores['majority']:.3f})")
    if epoch >= 1 and all(math.isfinite(v) for v in losses) and min(losses[1:]) >= losses[0]:
        reasons.append("training loss not decreasing")
    return reasons


def interval(values: Sequence[float]) -> tuple[float, float | None, float | None]:
    """``(mean, std, ci95)``: sample std (ddof 1) and the 95 % Student-t half-width; ``None`` for one value."""
    v = np.asarray(list(values), dtype=float)
    if len(v) == 0:
        return float("nan"), None, None
    if len(v) == 1:
        return float(v[0]), None, None
    from scipy import stats

    std = float(v.std(ddof=1))
    return float(v.mean()), std, float(stats.t.ppf(0.975, len(v) - 1) * std / math.sqrt(len(v)))


# ----------------------------------------------------------------------------------------- runs

@dataclass
class RunResult:
    """One training run: its arm, lr and seed; per-epoch training loss and validation/test scores; the weights
    at the best validation epoch and at the last one (CPU state dicts)."""

    arm: str
    lr: float
    seed: int
    train_loss: list[float]
    val: list[dict]
    test: list[dict]
    seconds: float
    best_epoch: int
    best_state: dict | None = None
    last_state: dict | None = None
    cached: bool = False


def _fingerprint_tensor(h, t) -> None:
    t = torch.as_tensor(t).detach().cpu().contiguous()
    h.update(str((tuple(t.shape), str(t.dtype))).encode())
    h.update(t.view(torch.uint8).numpy().tobytes() if t.dtype != torch.bool else t.numpy().tobytes())


def fingerprint(data) -> str:
    """A short hash of ``data``'s tensors (``x``, ``y`` and any other tensor field), for cache keys."""
    h = hashlib.sha256()
    fields_ = ([f.name for f in dataclasses.fields(data)] if dataclasses.is_dataclass(data) else ["x", "y"])
    for name in fields_:
        value = getattr(data, name, None)
        if isinstance(value, torch.Tensor):
            h.update(name.encode())
            _fingerprint_tensor(h, value)
    return h.hexdigest()[:16]


def _best_epoch(values: Sequence[float], higher: bool) -> int:
    arr = np.array([v if math.isfinite(v) else (-math.inf if higher else math.inf) for v in values])
    return int(np.argmax(arr) if higher else np.argmin(arr))


def _train_one(name, arm, lr, seed, train_data, val_data, test_data, epochs, train_kwargs, evaluator, metric,
               higher, device, threads):
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    model = arm.make_model()
    val_scores, test_scores, best = [], [], {"value": None, "state": None}

    def on_epoch(epoch, net, history):
        v = dict(evaluator(net, val_data, device))
        val_scores.append(v)
        test_scores.append(dict(evaluator(net, test_data, device)) if test_data is not None else {})
        value = v.get(metric, float("nan"))
        better = best["value"] is None or (math.isfinite(value) and (
            not math.isfinite(best["value"]) or (value > best["value"] if higher else value < best["value"])))
        if better:
            best["value"], best["state"] = value, copy.deepcopy({k: t.detach().cpu() for k, t in net.state_dict().items()})

    kwargs = {**train_kwargs, **arm.train_kwargs}
    t0 = time.perf_counter()
    try:
        history = train(model, arm.loss_fn, train_data, epochs=epochs, lr=lr, seed=seed, device=device,
                        progress=False, callbacks=[on_epoch, *kwargs.pop("callbacks", [])], **kwargs)
        train_loss = list(history.train_loss)
    except (ValueError, RuntimeError) as err:
        # A diverged run: outputs or weights went non-finite and the loss's input check (or torch) refused them.
        if not isinstance(err, NonFiniteError) and all(torch.isfinite(p).all() for p in model.parameters()):
            raise
        train_loss = [float("nan")] * epochs
    for _ in range(epochs - len(val_scores)):  # the epochs a diverged run did not reach
        val_scores.append({metric: float("nan"), "finite": 0.0})
        test_scores.append({metric: float("nan"), "finite": 0.0})
    seconds = time.perf_counter() - t0
    last_state = {k: t.detach().cpu() for k, t in model.state_dict().items()}
    return RunResult(arm=name, lr=float(lr), seed=int(seed), train_loss=train_loss, val=val_scores,
                     test=test_scores, seconds=seconds,
                     best_epoch=_best_epoch([s.get(metric, float("nan")) for s in val_scores], higher),
                     best_state=best["state"], last_state=last_state)


def _cache_dir():
    """``$LOSSNOTES_CACHE`` if set, else ``build/cache/experiments``."""
    env = os.environ.get("LOSSNOTES_CACHE")
    return Path(env) if env else paths.build_dir() / "cache" / "experiments"


def _source_hash(obj) -> str:
    """A short hash of ``obj``'s source code ('' where there is none): editing a loss, model or evaluator
    invalidates its cached runs (the code it calls is not followed)."""
    import inspect

    try:
        source = inspect.getsource(obj)
    except (OSError, TypeError):
        return ""
    # the input-check decorator (losses.validation.checks_output) never changes a value: not part of the key
    source = "".join(line for line in source.splitlines(keepends=True) if line.strip() != "@checks_output")
    return hashlib.sha256(source.encode()).hexdigest()[:12]


def _describe_callable(fn) -> str:
    import functools

    if isinstance(fn, functools.partial):
        return f"partial({_describe_callable(fn.func)}, {fn.args!r}, {sorted(fn.keywords.items())!r})"
    if isinstance(fn, nn.Module):
        return f"{fn!r}@{_source_hash(type(fn))}"
    name = f"{getattr(fn, '__module__', '')}.{getattr(fn, '__qualname__', type(fn).__name__)}"
    return f"{name}@{_source_hash(fn if _has_source(fn) else type(fn))}"


def _has_source(fn) -> bool:
    import inspect

    return inspect.isfunction(fn) or inspect.ismethod(fn) or inspect.isclass(fn)


def _run_key(tag, name, arm, lr, seed, epochs, train_kwargs, data_keys, evaluator, metric) -> str:
    doc = {"v": CACHE_VERSION, "tag": tag, "arm": name, "key": arm.key, "loss": _describe_callable(arm.loss_fn),
           "model": _describe_callable(arm.make_model), "lr": float(lr), "seed": int(seed), "epochs": int(epochs),
           "train": repr(sorted({**train_kwargs, **arm.train_kwargs}.items())), "data": data_keys,
           "evaluator": _describe_callable(evaluator), "metric": metric, "torch": torch.__version__}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=repr).encode()).hexdigest()[:24]


def _load_cached(path):
    try:
        with open(path, "rb") as f:
            doc = torch.load(io.BytesIO(f.read()), weights_only=False)
        res = RunResult(**doc)
        res.cached = True
        return res
    except Exception:  # a partial or stale file: retrain
        return None


def _save_cached(path, res: RunResult) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    torch.save({k: v for k, v in dataclasses.asdict(res).items() if k != "cached"}, tmp)
    tmp.replace(path)


def _world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def _rank() -> int:
    return int(os.environ.get("RANK", "0"))


def _n_jobs(protocol: Protocol, device, tasks: int) -> int:
    if _world_size() > 1 or resolve_device(device).type == "cuda":
        return 1
    if protocol.n_jobs is not None:
        return max(1, min(protocol.n_jobs, tasks))
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    return max(1, min(cores, tasks))


def _execute(tasks, protocol, device, progress, desc):
    """Run ``tasks`` (dicts of _train_one arguments plus ``path``); cached ones are read back."""
    results, todo = {}, []
    for i, t in enumerate(tasks):
        cached = _load_cached(t["path"]) if protocol.cache and t["path"].exists() else None
        if cached is not None:
            results[i] = cached
        else:
            todo.append(i)
    if not todo:
        return [results[i] for i in range(len(tasks))]
    n_jobs = _n_jobs(protocol, device, len(todo))
    from tqdm.auto import tqdm

    bar = tqdm(total=len(todo), desc=desc, disable=not show_progress(progress) or _rank() != 0)
    args = [{k: v for k, v in tasks[i].items() if k != "path"} for i in todo]
    if n_jobs == 1:
        outs = []
        for i, a in zip(todo, args):
            outs.append((i, _train_one(**a, threads=None)))
            bar.update()
    else:
        from joblib import Parallel, delayed

        threads = max(1, (os.cpu_count() or 1) // n_jobs)

        def job(i, a):
            return i, _train_one(**a, threads=threads)

        outs = []
        for out in Parallel(n_jobs=n_jobs, return_as="generator_unordered")(
                delayed(job)(i, a) for i, a in zip(todo, args)):
            outs.append(out)
            bar.update()
    bar.close()
    for i, res in outs:
        results[i] = res
        if protocol.cache and _rank() == 0:
            _save_cached(tasks[i]["path"], res)
    return [results[i] for i in range(len(tasks))]


# ----------------------------------------------------------------------------------------- comparison

class Comparison:
    """The runs of :func:`run_comparison` and their summaries."""

    def __init__(self, arms: Mapping[str, Arm], tuning: list[RunResult], final: list[RunResult], chosen_lr: dict,
                 protocol: Protocol, epochs: int):
        self.arms, self.tuning, self.final, self.chosen_lr = dict(arms), tuning, final, chosen_lr
        self.protocol, self.epochs = protocol, epochs

    # -- per run -------------------------------------------------------------------------------------
    def _epoch(self, run: RunResult, selection: str) -> int:
        return run.best_epoch if selection == "best-val" else len(run.val) - 1

    def reasons(self, run: RunResult, selection: str = "last") -> list[str]:
        """Degeneracy reasons of ``run`` at the epoch ``selection`` picks."""
        e = self._epoch(run, selection)
        return degenerate_reasons(run.train_loss, run.val[e], epoch=e, protocol=self.protocol)

    def runs(self, metrics: Sequence[str] | None = None):
        """One row per final run and selection: test ``metrics`` (default: the protocol's), epoch, degeneracy."""
        import pandas as pd

        metrics = list(metrics or [self.protocol.metric])
        rows = []
        for run in self.final:
            for sel in SELECTIONS:
                e = self._epoch(run, sel)
                reasons = self.reasons(run, sel)
                rows.append({"arm": run.arm, "seed": run.seed, "lr": run.lr, "selection": sel, "epoch": e + 1,
                             **{f"val {self.protocol.metric}": run.val[e].get(self.protocol.metric, float("nan"))},
                             **{m: run.test[e].get(m, float("nan")) for m in metrics},
                             "degenerate": bool(reasons), "reasons": "; ".join(reasons), "seconds": run.seconds})
        return pd.DataFrame(rows)

    def summary(self, metrics: Sequence[str] | None = None, scale: float = 1.0):
        """One row per arm and selection: mean, std, ci95 of each test metric over the non-degenerate seeds
        (times ``scale``, e.g. 100 for %), the chosen lr (``lr_edge``: "top"/"bottom" when it is an end of a grid of
        3 or more, see :meth:`lr_at_edge`), the seeds and how many runs were degenerate."""
        import pandas as pd

        metrics = list(metrics or [self.protocol.metric])
        runs = self.runs(metrics)
        rows = []
        for name in self.arms:
            for sel in SELECTIONS:
                part = runs[(runs.arm == name) & (runs.selection == sel)]
                good = part[~part.degenerate]
                row = {"arm": name, "selection": sel, "lr": self.chosen_lr[name], "lr_edge": self.lr_at_edge(name),
                       "seeds": [int(s) for s in part.seed], "n_degenerate": int(part.degenerate.sum()),
                       "degenerate": bool(part.degenerate.any()),
                       "reasons": "; ".join(sorted(set(r for r in part.reasons if r)))}
                for m in metrics:
                    vals = (good if len(good) else part)[m].to_numpy(dtype=float) * scale
                    mean, std, ci = interval(vals)
                    row.update({m: mean, f"{m} std": std, f"{m} ci95": ci})
                rows.append(row)
        return pd.DataFrame(rows)

    def lr_table(self):
        """The tuning runs: one row per arm and lr with the validation score that chose it."""
        import pandas as pd

        rows = []
        for run in self.tuning:
            e = self._epoch(run, self.protocol.selection)
            rows.append({"arm": run.arm, "lr": run.lr, "seed": run.seed,
                         f"val {self.protocol.metric}": run.val[e].get(self.protocol.metric, float("nan")),
                         "degenerate": bool(self.reasons(run, self.protocol.selection)),
                         "chosen": run.lr == self.chosen_lr[run.arm]})
        return pd.DataFrame(rows)

    def curves(self, split: str = "test", metric: str | None = None):
        """Long table of per-epoch ``metric`` on ``split`` ("val" or "test") and the training loss, final runs."""
        import pandas as pd

        metric = metric or self.protocol.metric
        rows = []
        for run in self.final:
            scores = run.test if split == "test" else run.val
            for e, s in enumerate(scores):
                rows.append({"arm": run.arm, "seed": run.seed, "epoch": e + 1, metric: s.get(metric, float("nan")),
                             "train_loss": run.train_loss[e]})
        return pd.DataFrame(rows)

    def model(self, arm: str, seed: int | None = None, *, which: str = "best-val") -> nn.Module:
        """The trained model of ``arm`` (seed: the first final seed by default) at its best-val or last epoch."""
        if which not in SELECTIONS:
            raise ValueError(f"which must be one of {SELECTIONS}, got {which!r}")
        if arm not in self.arms:
            raise ValueError(f"arm must be one of {list(self.arms)}, got {arm!r}")
        seed = self.protocol.seeds[0] if seed is None else seed
        run = next((r for r in self.final if r.arm == arm and r.seed == seed), None)
        if run is None:
            raise ValueError(f"seed {seed!r} was not run for arm {arm!r}; seeds: {list(self.protocol.seeds)}")
        torch.manual_seed(seed)
        net = self.arms[arm].make_model()
        net.load_state_dict(run.best_state if which == "best-val" else run.last_state)
        return net.eval()

    def lr_at_edge(self, arm: str) -> str | None:
        """``"top"`` or ``"bottom"`` when ``arm``'s chosen lr is the largest or smallest of a grid of 3 or more
        values (the best lr may lie outside the grid: widen it), else ``None``."""
        grid = sorted({r.lr for r in self.tuning if r.arm == arm})
        if len(grid) < 3:
            return None
        lr = self.chosen_lr[arm]
        return "top" if lr == grid[-1] else "bottom" if lr == grid[0] else None

    def paired_difference(self, a: str, b: str, metric: str | None = None, *, selection: str = "best-val",
                          scale: float = 1.0) -> dict:
        """Arm ``a`` minus arm ``b`` on the test ``metric`` (times ``scale``), paired by seed, each run read at the
        epoch ``selection`` picks: ``{"mean", "std", "ci95", "seeds", "left_out"}``. Paired, because with one seed
        both arms start from the same weights and see the same batches; seeds where either run is degenerate are
        left out (``left_out`` counts them); ``std``/``ci95`` are ``None`` with one seed."""
        if selection not in SELECTIONS:
            raise ValueError(f"selection must be one of {SELECTIONS}, got {selection!r}")
        for name in (a, b):
            if name not in self.arms:
                raise ValueError(f"arm must be one of {list(self.arms)}, got {name!r}")
        metric = metric or self.protocol.metric
        runs_a = {r.seed: r for r in self.final if r.arm == a}
        runs_b = {r.seed: r for r in self.final if r.arm == b}
        shared = [s for s in runs_a if s in runs_b]
        good = [s for s in shared if not (self.reasons(runs_a[s], selection) or self.reasons(runs_b[s], selection))]
        diffs = [scale * (runs_a[s].test[self._epoch(runs_a[s], selection)].get(metric, float("nan"))
                          - runs_b[s].test[self._epoch(runs_b[s], selection)].get(metric, float("nan")))
                 for s in good]
        mean, std, ci = interval(diffs)
        return {"mean": mean, "std": std, "ci95": ci, "seeds": good, "left_out": len(shared) - len(good)}

    def seconds(self) -> float:
        """Training time of all runs that were not read from the cache."""
        return float(sum(r.seconds for r in self.tuning + self.final if not r.cached))


def run_comparison(arms: Mapping[str, Arm], train_data, test_data, *, epochs: int, protocol: Protocol | None = None,
                   train_kwargs: Mapping | None = None, evaluator: Callable = classification_scores,
                   device="auto", tag: str = "", progress: bool = True) -> Comparison:
    """Run the protocol on ``arms`` (name -> :class:`Arm`): validation split, lr per arm, seeds; see the module doc.

    Args:
        train_data: the training set (objects with ``.x``/``.y``); the validation split is carved from it.
        test_data: the test set, scored at every epoch and read at the selected ones.
        epochs: epochs of every run (tuning runs too).
        train_kwargs: :func:`lossnotes.train.train` arguments shared by all arms (batch_size, optimizer, ...).
        evaluator: ``evaluator(model, data, device) -> dict`` of scores; must contain ``protocol.metric``.
        tag: a name for the cache (e.g. the chapter and the table); runs with the same tag and configuration are
            read back instead of retrained.
    """
    protocol = protocol or Protocol()
    if not isinstance(arms, Mapping) or not arms or not all(isinstance(a, Arm) for a in arms.values()):
        raise ValueError("arms must be a non-empty mapping of name -> Arm")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    train_kwargs = dict(train_kwargs or {})
    for reserved in ("lr", "seed", "epochs", "device", "progress", "test_data"):
        if reserved in train_kwargs:
            raise ValueError(f"train_kwargs must not set {reserved!r}: the protocol sets it")
    fit, val = validation_split(train_data, protocol.val_fraction, seed=protocol.seeds[0])
    dev = str(resolve_device(device))
    data_keys = [fingerprint(fit), fingerprint(val), fingerprint(test_data) if test_data is not None else None]

    def task(name, lr, seed):
        arm = arms[name]
        key = _run_key(tag, name, arm, lr, seed, epochs, train_kwargs, data_keys, evaluator, protocol.metric)
        return {"path": _cache_dir() / f"{key}.pt", "name": name, "arm": arm, "lr": lr, "seed": seed,
                "train_data": fit, "val_data": val, "test_data": test_data, "epochs": epochs,
                "train_kwargs": train_kwargs, "evaluator": evaluator, "metric": protocol.metric,
                "higher": protocol.higher_is_better, "device": dev}

    with _process_group(dev):
        return _run(arms, protocol, task, epochs, dev, tag, progress)


@contextlib.contextmanager
def _process_group(dev: str):
    """Under torchrun, one process group for all runs (the trainer would otherwise create and destroy one per
    run, and a second rendezvous on the same store hangs)."""
    import torch.distributed as dist

    created = False
    if _world_size() > 1 and dist.is_available() and not dist.is_initialized():
        if dev.startswith("cuda"):
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend="nccl" if dev.startswith("cuda") else "gloo")
        created = True
    try:
        yield
    finally:
        if created:
            dist.barrier()
            dist.destroy_process_group()


def _run(arms, protocol, task, epochs, dev, tag, progress) -> Comparison:
    """Tune the lr of every arm on validation, then train the seeds at the chosen lrs (``task`` builds a run)."""
    tune_seeds = protocol.seeds[: protocol.tune_seeds]
    grids = {n: tuple(float(v) for v in (a.lr_grid if a.lr_grid is not None else protocol.lr_grid)) for n, a in arms.items()}
    tune_tasks = [task(n, lr, s) for n in arms for lr in grids[n] for s in tune_seeds if len(grids[n]) > 1]
    tuning = _execute(tune_tasks, protocol, dev, progress, f"lr grid ({tag or 'runs'})")
    probe = Comparison(arms, tuning, [], {}, protocol, epochs)
    chosen = {}
    for n in arms:
        if len(grids[n]) == 1:
            chosen[n] = grids[n][0]
            continue
        scored = []
        for lr in grids[n]:
            rs = [r for r in tuning if r.arm == n and r.lr == lr]
            vals = [r.val[probe._epoch(r, protocol.selection)].get(protocol.metric, float("nan")) for r in rs]
            bad = any(probe.reasons(r, protocol.selection) for r in rs)
            score = float(np.mean(vals)) if all(math.isfinite(v) for v in vals) else -math.inf
            scored.append((bad, -score if protocol.higher_is_better else score, lr))
        chosen[n] = min(scored)[2]  # non-degenerate first, then the best score, then the smaller lr
    done = {(r.arm, r.lr, r.seed): r for r in tuning}
    pairs = [(n, s) for n in arms for s in protocol.seeds]
    todo = [(n, s) for n, s in pairs if (n, chosen[n], s) not in done]
    ran = _execute([task(n, chosen[n], s) for n, s in todo], protocol, dev, progress, f"seeds ({tag or 'runs'})")
    done.update({(r.arm, r.lr, r.seed): r for r in ran})
    final = [done[(n, chosen[n], s)] for n, s in pairs]
    return Comparison(arms, tuning, final, chosen, protocol, epochs)


# ----------------------------------------------------------------------------------------- tables

def format_interval(mean, ci95=None, digits: int = 2) -> str:
    """``"91.23 ± 0.45"`` (mean ± 95 % half-width), ``"91.23 (1 seed)"`` without an interval, ``"-"`` for NaN."""
    if mean is None or not math.isfinite(float(mean)):
        return "-"
    if ci95 is None or (isinstance(ci95, float) and math.isnan(ci95)):
        return f"{mean:.{digits}f} (1 seed)"
    return f"{mean:.{digits}f} ± {ci95:.{digits}f}"


def results_table(comparison: Comparison, metric: str | None = None, *, scale: float = 1.0,
                  paper: Mapping[str, float] | None = None, digits: int = 2):
    """The table a chapter shows: arm | lr | paper | ours at best-val epoch | ours at last epoch | seeds | flags.

    The lr says "(top of grid)" / "(bottom of grid)" when the choice sits at an end of a grid of 3 or more.

    Ours is mean ± 95 % interval over the non-degenerate seeds (times ``scale``); ``paper`` maps arm -> the
    paper's number (labelled as the paper's); degenerate runs are named in the last column.
    """
    import pandas as pd

    metric = metric or comparison.protocol.metric
    summ = comparison.summary([metric], scale=scale)
    rows = []
    for name in comparison.arms:
        best = summ[(summ.arm == name) & (summ.selection == "best-val")].iloc[0]
        last = summ[(summ.arm == name) & (summ.selection == "last")].iloc[0]
        flags = [f"{sel}: {r.n_degenerate}/{len(r.seeds)} degenerate ({r.reasons})"
                 for sel, r in (("best-val", best), ("last", last)) if r.n_degenerate]
        edge = comparison.lr_at_edge(name)
        rows.append({"arm": name, "lr": f"{best.lr:g}" + (f" ({edge} of grid)" if edge else ""),
                     "paper": None if paper is None else paper.get(name),
                     "ours, best-val epoch": format_interval(best[metric], best[f"{metric} ci95"], digits),
                     "ours, last epoch": format_interval(last[metric], last[f"{metric} ci95"], digits),
                     "seeds": len(best.seeds), "degenerate runs": "; ".join(flags) or "none"})
    df = pd.DataFrame(rows)
    if paper is None:
        df = df.drop(columns="paper")
    return df
