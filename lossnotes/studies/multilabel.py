"""What chapter 09 (multi-label losses and metric surrogates) needs and no other chapter does.

* :func:`make_mosaics`: multi-label Fashion-MNIST mosaics without a threshold class (chapter 03's tiles,
  :func:`lossnotes.docre.make_fashion_tiles`, with column 0 dropped), long-tailed label frequencies;
* :func:`make_imbalanced_binary`: one Fashion-MNIST class against the rest at 1:``ratio``, with optional label
  flips that keep the ratio;
* evaluators for :func:`lossnotes.experiments.run_comparison` (:func:`multilabel_scores`, :func:`binary_scores`;
  metrics from scikit-learn) and the post-hoc reading of a comparison at a threshold chosen on the validation
  split (:func:`threshold_table`) and by label frequency (:func:`ap_by_frequency`);
* :func:`loss_arm`: an arm training with a registered loss.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

__all__ = ["LabelData", "make_mosaics", "make_imbalanced_binary", "multilabel_scores", "binary_scores",
           "best_threshold", "threshold_table", "ap_by_frequency", "frequency_groups", "registered_loss",
           "loss_arm", "mlp_model"]


@dataclass
class LabelData:
    """Inputs ``x`` and a 0/1 label matrix ``y`` ``(N, C)`` (float32); ``y_clean`` the labels before any flip."""

    x: torch.Tensor
    y: torch.Tensor
    y_clean: torch.Tensor
    classes: list = field(default_factory=list)
    name: str = ""

    def __len__(self) -> int:
        return len(self.y)

    def label_counts(self) -> np.ndarray:
        return self.y.sum(0).numpy().astype(int)


def make_mosaics(split: str = "train", num_images: int = 6000, *, grid: int = 2, active: float = 0.9,
                 items_probs=(0.4, 0.35, 0.25), zipf_exponent: float = 1.2, noise: float = 0.05, root=None,
                 seed: int = 0) -> LabelData:
    """Multi-label Fashion-MNIST mosaics: chapter 03's tiles (:func:`lossnotes.docre.make_fashion_tiles`) without
    the threshold column. A ``grid x grid`` image of 14x14 garments; with probability ``active`` it holds 1-3 of
    them (``items_probs``) with classes drawn from a Zipf(``zipf_exponent``) law over the 10 classes (T-shirt
    the most frequent label, ankle boot the rarest), else only noise (a row without labels). Duplicated classes in
    one image count once."""
    from ..docre import make_fashion_tiles

    tiles = make_fashion_tiles(split, num_images, grid=grid, active=active, items_probs=items_probs,
                               zipf_exponent=zipf_exponent, noise=noise, root=root, seed=seed)
    y = tiles.y[:, 1:].contiguous()
    return LabelData(x=tiles.x, y=y, y_clean=y.clone(), classes=list(tiles.relations[1:]),
                     name=f"fashion-mosaics-{split}")


def make_imbalanced_binary(split: str = "train", positive_class: int = 2, *, n_negative: int = 5000,
                           ratio: float = 50.0, flip: float = 0.0, root=None, seed: int = 0) -> LabelData:
    """One Fashion-MNIST class (``positive_class``) against the other nine at 1:``ratio``.

    ``n_negative`` images of the nine other classes (equal shares), ``round(n_negative / ratio)`` of the positive
    class; ``y`` is ``(N, 1)``. ``flip``: that share of the positives is labelled negative and as many negatives
    (drawn at random) are labelled positive, so the observed ratio stays 1:``ratio`` while a ``flip`` share of the
    observed positives is wrong (``y_clean`` keeps the true labels)."""
    from ..data import load_fashion_mnist

    if not 0.0 <= flip < 1.0:
        raise ValueError(f"flip must lie in [0, 1), got {flip!r}")
    if ratio <= 0:
        raise ValueError(f"ratio must be > 0, got {ratio!r}")
    ds = load_fashion_mnist(split, root=root)
    rng = np.random.default_rng(seed + (0 if split == "train" else 7919))
    labels = ds.y.numpy()
    others = [c for c in range(10) if c != positive_class]
    per = n_negative // len(others)
    neg = np.concatenate([rng.choice(np.flatnonzero(labels == c), per + (i < n_negative % len(others)), replace=False)
                          for i, c in enumerate(others)])
    n_pos = max(int(round(n_negative / ratio)), 1)
    pos = rng.choice(np.flatnonzero(labels == positive_class), n_pos, replace=False)
    idx = rng.permutation(np.concatenate([pos, neg]))
    y_clean = torch.from_numpy((labels[idx] == positive_class).astype(np.float32))[:, None]
    y = y_clean.clone()
    if flip > 0:
        k = int(round(flip * n_pos))
        pos_at, neg_at = np.flatnonzero(y_clean[:, 0] > 0), np.flatnonzero(y_clean[:, 0] == 0)
        y[rng.choice(pos_at, k, replace=False), 0] = 0.0
        y[rng.choice(neg_at, k, replace=False), 0] = 1.0
    name = f"fashion-{ds.classes[positive_class]}-vs-rest-1:{ratio:g}-{split}" + (f"-flip{flip:g}" if flip else "")
    return LabelData(x=ds.x[torch.from_numpy(idx)], y=y, y_clean=y_clean, classes=[ds.classes[positive_class]],
                     name=name)


# ----------------------------------------------------------------------------------------- scores

def _logits(model, data, device):
    from ..train import predict

    return predict(model, data, device=device)


def _f1s(y: np.ndarray, pred: np.ndarray) -> tuple[float, float]:
    from sklearn.metrics import f1_score

    return (100 * f1_score(y, pred, average="micro", zero_division=0.0),
            100 * f1_score(y, pred, average="macro", zero_division=0.0))


def per_label_ap(y: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Average precision (%) of each label (scikit-learn); NaN for a label without positives."""
    from sklearn.metrics import average_precision_score

    return np.array([100 * average_precision_score(y[:, c], scores[:, c]) if y[:, c].any() else np.nan
                     for c in range(y.shape[1])])


def multilabel_scores(model: nn.Module, data: LabelData, device="cpu") -> dict:
    """The multi-label evaluator: ``map`` (mean over labels of scikit-learn's average precision, %; the selection
    metric), ``micro_f1`` / ``macro_f1`` (%) at the losses' own rule :math:`z > 0`, ``n_pred_pos`` (labels
    predicted at that rule; 0 flags the run as predicting nothing), ``ap_<c>`` per label, ``finite``."""
    z = _logits(model, data, device)
    finite = bool(torch.isfinite(z).all())
    z = torch.nan_to_num(z)
    y = data.y.numpy().astype(int)
    ap = per_label_ap(y, z.numpy())
    pred = (z > 0).numpy().astype(int)
    micro, macro = _f1s(y, pred)
    return {"map": float(np.nanmean(ap)), "micro_f1": micro, "macro_f1": macro, "n_pred_pos": int(pred.sum()),
            **{f"ap_{c}": float(v) for c, v in enumerate(ap)}, "finite": float(finite)}


def binary_scores(model: nn.Module, data: LabelData, device="cpu") -> dict:
    """The binary evaluator: ``auc`` (ROC AUC, %; the selection metric), ``ap`` (%), ``f1`` (%) at the rule
    :math:`z > 0` and ``pred_pos_share`` (share predicted positive there), all against the observed labels; with
    flipped labels also ``auc_clean`` / ``f1_clean`` against the true ones; ``finite``."""
    from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

    z = _logits(model, data, device)[:, 0]
    finite = bool(torch.isfinite(z).all())
    s = torch.nan_to_num(z).numpy()
    out = {"finite": float(finite), "pred_pos_share": float((s > 0).mean())}
    for suffix, labels in (("", data.y), ("_clean", data.y_clean)):
        y = labels[:, 0].numpy().astype(int)
        out[f"auc{suffix}"] = 100 * roc_auc_score(y, s)
        out[f"ap{suffix}"] = 100 * average_precision_score(y, s)
        out[f"f1{suffix}"] = 100 * f1_score(y, (s > 0).astype(int), zero_division=0.0)
    return out


def best_threshold(y: np.ndarray, scores: np.ndarray, *, average: str = "micro", candidates: int = 200) -> float:
    """The score threshold that maximises F1 (``average`` "micro", or "binary" for one label) on ``(y, scores)``:
    one threshold for every label, chosen among ``candidates`` quantiles of the scores."""
    from sklearn.metrics import f1_score

    qs = np.unique(np.quantile(scores, np.linspace(0.0, 1.0, candidates)))
    avg = "binary" if y.shape[1] == 1 else average
    target = y[:, 0] if y.shape[1] == 1 else y
    best, best_t = -1.0, 0.0
    for t in qs:
        pred = (scores > t).astype(int)
        f = f1_score(target, pred[:, 0] if y.shape[1] == 1 else pred, average=avg, zero_division=0.0)
        if f > best:
            best, best_t = f, float(t)
    return best_t


def threshold_table(comparison, train_data: LabelData, test_data: LabelData, *, selection: str = "best-val",
                    device="cpu"):
    """F1 (%) on the test set at one threshold per run chosen on the protocol's validation split (the split
    :func:`~lossnotes.experiments.run_comparison` carved): one row per arm and seed with ``threshold`` (a logit),
    ``micro_f1``, ``macro_f1`` (multi-label) or ``f1`` (binary), and the run's degeneracy flag."""
    import pandas as pd

    from ..experiments import validation_split

    _, val = validation_split(train_data, comparison.protocol.val_fraction, seed=comparison.protocol.seeds[0])
    rows = []
    for run in comparison.final:
        model = comparison.model(run.arm, run.seed, which=selection)
        zv, zt = (torch.nan_to_num(_logits(model, d, device)).numpy() for d in (val, test_data))
        t = best_threshold(val.y.numpy().astype(int), zv)
        yt = test_data.y.numpy().astype(int)
        pred = (zt > t).astype(int)
        row = {"arm": run.arm, "seed": run.seed, "lr": run.lr, "threshold": t,
               "degenerate": bool(comparison.reasons(run, selection))}
        if yt.shape[1] == 1:
            from sklearn.metrics import f1_score
            row["f1"] = 100 * f1_score(yt[:, 0], pred[:, 0], zero_division=0.0)
            if hasattr(test_data, "y_clean"):
                row["f1_clean"] = 100 * f1_score(test_data.y_clean[:, 0].numpy().astype(int), pred[:, 0],
                                                 zero_division=0.0)
        else:
            row["micro_f1"], row["macro_f1"] = _f1s(yt, pred)
        rows.append(row)
    return pd.DataFrame(rows)


def frequency_groups(counts, names=("common", "medium", "rare")) -> dict:
    """Labels split into ``len(names)`` groups by their training frequency (most frequent first):
    ``{group: [label indices]}``."""
    order = np.argsort(-np.asarray(counts), kind="stable")
    return {name: sorted(int(c) for c in part) for name, part in zip(names, np.array_split(order, len(names)))}


def ap_by_frequency(comparison, groups: dict, *, selection: str = "best-val"):
    """Mean test AP (%) of each label-frequency group, per arm: mean and 95 % interval over the non-degenerate
    seeds (read from the evaluator's ``ap_<c>`` at the selected epoch)."""
    import pandas as pd

    from ..experiments import interval

    rows = []
    for arm in comparison.arms:
        runs = [r for r in comparison.final if r.arm == arm]
        good = [r for r in runs if not comparison.reasons(r, selection)] or runs
        for group, labels in groups.items():
            vals = []
            for r in good:
                scores = r.test[r.best_epoch if selection == "best-val" else -1]
                vals.append(float(np.nanmean([scores.get(f"ap_{c}", np.nan) for c in labels])))
            mean, std, ci = interval(vals)
            rows.append({"arm": arm, "group": group, "labels": labels, "ap": mean, "ap std": std, "ap ci95": ci,
                         "seeds": [r.seed for r in good]})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------------------- arms

def registered_loss(logits, target, *, name: str, **hyper_parameters):
    """The registered loss ``name`` with ``hyper_parameters`` as a picklable ``loss_fn(logits, target)``
    (bind it with ``functools.partial``)."""
    from ..registry import get

    return get(name).fn(logits, target, **hyper_parameters)


def loss_arm(name: str, make_model, *, lr_grid=None, batch_size: int = 128, **hyper_parameters):
    """An :class:`lossnotes.experiments.Arm` training ``make_model()`` with the registered loss ``name`` (Adam,
    ``batch_size``); the cache key holds the loss and its hyper-parameters."""
    from ..experiments import Arm

    return Arm(make_model=make_model, loss_fn=functools.partial(registered_loss, name=name, **hyper_parameters),
               train_kwargs={"optimizer": "adam", "batch_size": batch_size}, lr_grid=lr_grid,
               key={"loss": name, **{k: (list(v) if isinstance(v, tuple) else v) for k, v in hyper_parameters.items()}})


def mlp_model(in_features: int, hidden: int, num_labels: int) -> nn.Module:
    """One hidden layer of ``hidden`` ReLU units and ``num_labels`` logits (a picklable factory)."""
    from ..models import MLP

    return MLP(in_features, hidden=(hidden,), num_classes=num_labels)
