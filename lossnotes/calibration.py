r"""Calibration metrics, temperature scaling and the reliability diagram.

A classifier is calibrated when, among the samples it predicts with confidence :math:`c`, a share :math:`c` is
right. The metrics bin the predictions by confidence and compare each bin's accuracy with its mean confidence:

* :func:`expected_calibration_error` (ECE, Naeini et al. 2015; Guo et al. 2017, Eq. 3): the top-label gaps
  weighted by the bins' shares, :math:`\sum_b \frac{n_b}{N}|\mathrm{acc}_b - \mathrm{conf}_b|`, with
  ``binning="width"`` (15 equal-width bins on [0, 1], the papers' default) or ``binning="mass"`` (equal-mass
  bins: each holds the same number of samples, "adaptive ECE", Nguyen & O'Connor 2015, Mukhoti et al. 2020);
* :func:`maximum_calibration_error` (MCE, Guo et al. 2017): the largest gap of a non-empty bin;
* :func:`classwise_calibration_error` (classwise ECE, Kull et al. 2019): the same for each class's probability
  :math:`p_k` against :math:`\mathbb 1[y = k]`, averaged over the classes;
* :func:`fit_temperature` (Guo et al. 2017, Sec. 4.2): the :math:`T > 0` minimising the NLL of
  :math:`\mathrm{softmax}(z/T)` on a validation split, a bounded 1-D solve in :math:`\log T`;
* :func:`calibration_scores`: the protocol's evaluator (accuracy, NLL, both ECEs, MCE, classwise ECE);
* :func:`reliability_diagram`: accuracy and confidence per bin, drawn against the diagonal.

Inputs are logits or probabilities ``(N, K)`` (``from_logits=None`` tells them apart: rows in [0, 1] summing to
1 are probabilities) and class indices ``(N,)``. Torchmetrics' ``MulticlassCalibrationError`` computes the
equal-width top-label ECE and MCE too (the tests check that both agree); it has neither equal-mass bins nor the
classwise ECE, hence this module.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["probabilities", "calibration_bins", "expected_calibration_error", "maximum_calibration_error",
           "classwise_calibration_error", "fit_temperature", "scores_from_logits", "calibration_scores",
           "reliability_diagram", "mass_edges", "BINNINGS", "TEMPERATURE_BOUNDS"]

BINNINGS = ("width", "mass")
#: The range :func:`fit_temperature` searches (a T at either end is reported as such by the caller).
TEMPERATURE_BOUNDS = (0.05, 20.0)


def _check_inputs(scores, target):
    if not isinstance(scores, torch.Tensor):
        scores = torch.as_tensor(np.asarray(scores))
    if not isinstance(target, torch.Tensor):
        target = torch.as_tensor(np.asarray(target))
    if scores.ndim != 2 or scores.shape[1] < 2:
        raise ValueError(f"scores must be (N, K) with K >= 2 logits or probabilities, got shape {tuple(scores.shape)}")
    if not scores.is_floating_point():
        raise TypeError(f"scores must be floating point, got {scores.dtype}")
    if len(scores) == 0:
        raise ValueError("scores must not be empty")
    if not torch.isfinite(scores).all():
        raise ValueError("scores must be finite (no NaN or inf)")
    if target.ndim != 1 or len(target) != len(scores):
        raise ValueError(f"target must be (N,) = ({len(scores)},) class indices, got shape {tuple(target.shape)}")
    if target.is_floating_point() or target.dtype == torch.bool:
        raise TypeError(f"target must hold integer class indices, got {target.dtype}")
    target = target.long()
    if target.min() < 0 or target.max() >= scores.shape[1]:
        raise ValueError(f"target must lie in [0, {scores.shape[1]}), got values from {int(target.min())} "
                         f"to {int(target.max())}")
    return scores.detach().cpu().double(), target.cpu()


def probabilities(scores, *, from_logits: bool | None = None) -> torch.Tensor:
    """Softmax of logits, or the probabilities as given (float64, CPU).

    ``from_logits=None`` decides from the values: rows in [0, 1] summing to 1 (within 1e-4) are probabilities."""
    s = scores.detach().cpu().double() if isinstance(scores, torch.Tensor) else torch.as_tensor(np.asarray(scores)).double()
    if from_logits is None:
        from_logits = not (bool(((s >= 0) & (s <= 1)).all()) and bool(((s.sum(1) - 1).abs() < 1e-4).all()))
    if from_logits:
        return torch.softmax(s, dim=1)
    if not (bool(((s >= 0) & (s <= 1)).all()) and bool(((s.sum(1) - 1).abs() < 1e-4).all())):
        raise ValueError("from_logits=False needs rows of probabilities in [0, 1] summing to 1")
    return s


def _check_bins(n_bins, binning):
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive int, got {n_bins!r}")
    if binning not in BINNINGS:
        raise ValueError(f"binning must be one of {BINNINGS}, got {binning!r}")


def _bin_index(conf: np.ndarray, n_bins: int, binning: str) -> np.ndarray:
    """Bin of each confidence: ``width``: [b/n, (b+1)/n) (1.0 in the last bin); ``mass``: cut at the
    confidences' b/n quantiles (:func:`mass_edges`), [e_b, e_{b+1}): equal shares of the samples, up to ties,
    which always share a bin (a bin may then be empty)."""
    if binning == "width":
        return np.minimum((conf * n_bins).astype(np.int64), n_bins - 1)
    return np.searchsorted(mass_edges(conf, n_bins)[1:-1], conf, side="right").astype(np.int64)


def mass_edges(conf: np.ndarray, n_bins: int) -> np.ndarray:
    """The ``n_bins + 1`` edges of equal-mass bins: the b/n quantiles of the confidences (linear interpolation)."""
    return np.quantile(np.asarray(conf, dtype=float), np.linspace(0.0, 1.0, n_bins + 1))


def _binned(conf: np.ndarray, hit: np.ndarray, n_bins: int, binning: str):
    """Per bin: (count, mean confidence, accuracy, lower edge, upper edge); empty bins have count 0."""
    idx = _bin_index(conf, n_bins, binning)
    count = np.bincount(idx, minlength=n_bins).astype(float)
    conf_sum = np.bincount(idx, weights=conf, minlength=n_bins)
    hit_sum = np.bincount(idx, weights=hit.astype(float), minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf, acc = conf_sum / count, hit_sum / count
    if binning == "width":
        lower, upper = np.arange(n_bins) / n_bins, np.arange(1, n_bins + 1) / n_bins
    else:
        edges = mass_edges(conf, n_bins)
        lower, upper = edges[:-1], edges[1:]
    return count, mean_conf, acc, lower, upper


def _top_label(scores, target, from_logits):
    s, y = _check_inputs(scores, target)
    p = probabilities(s, from_logits=from_logits)
    conf, pred = p.max(1)
    return conf.numpy(), (pred == y).numpy()


def calibration_bins(scores, target, *, n_bins: int = 15, binning: str = "width", from_logits: bool | None = None):
    """The reliability table of the top label: one row per bin with ``lower``, ``upper``, ``count``,
    ``confidence`` (mean), ``accuracy`` and ``gap`` (accuracy - confidence); empty bins have NaN means."""
    import pandas as pd

    _check_bins(n_bins, binning)
    conf, hit = _top_label(scores, target, from_logits)
    count, mean_conf, acc, lower, upper = _binned(conf, hit, n_bins, binning)
    return pd.DataFrame({"lower": lower, "upper": upper, "count": count.astype(int), "confidence": mean_conf,
                         "accuracy": acc, "gap": acc - mean_conf})


def expected_calibration_error(scores, target, *, n_bins: int = 15, binning: str = "width",
                               from_logits: bool | None = None) -> float:
    r"""Top-label ECE, :math:`\sum_b \frac{n_b}{N}\,|\mathrm{acc}_b - \mathrm{conf}_b|` (Guo et al. 2017, Eq. 3).

    Args:
        scores: ``(N, K)`` logits or probabilities; target: ``(N,)`` class indices.
        n_bins: number of bins (15, as Guo et al. and the calibration-loss papers).
        binning: ``"width"`` (equal-width bins on [0, 1]) or ``"mass"`` (equal-mass, "adaptive ECE").
        from_logits: see :func:`probabilities`.
    """
    _check_bins(n_bins, binning)
    conf, hit = _top_label(scores, target, from_logits)
    count, mean_conf, acc, _, _ = _binned(conf, hit, n_bins, binning)
    full = count > 0
    return float(np.sum(count[full] / len(conf) * np.abs(acc[full] - mean_conf[full])))


def maximum_calibration_error(scores, target, *, n_bins: int = 15, binning: str = "width",
                              from_logits: bool | None = None) -> float:
    r"""Top-label MCE, :math:`\max_b |\mathrm{acc}_b - \mathrm{conf}_b|` over the non-empty bins (Guo et al. 2017)."""
    _check_bins(n_bins, binning)
    conf, hit = _top_label(scores, target, from_logits)
    count, mean_conf, acc, _, _ = _binned(conf, hit, n_bins, binning)
    full = count > 0
    return float(np.max(np.abs(acc[full] - mean_conf[full])))


def classwise_calibration_error(scores, target, *, n_bins: int = 15, binning: str = "width",
                                from_logits: bool | None = None) -> float:
    r"""Classwise ECE (Kull et al. 2019, Eq. 5): for each class k the ECE of :math:`p_k` against
    :math:`\mathbb 1[y = k]` over all samples, averaged over the K classes.

    .. math::
        \mathrm{cwECE} = \frac1K\sum_{k=1}^K \sum_b \frac{n_{kb}}{N}\Bigl|\overline{\mathbb 1[y = k]}_{kb} - \overline{p_k}_{kb}\Bigr|
    """
    _check_bins(n_bins, binning)
    s, y = _check_inputs(scores, target)
    p = probabilities(s, from_logits=from_logits).numpy()
    y = y.numpy()
    total = 0.0
    for k in range(p.shape[1]):
        count, mean_p, freq, _, _ = _binned(p[:, k], y == k, n_bins, binning)
        full = count > 0
        total += float(np.sum(count[full] / len(y) * np.abs(freq[full] - mean_p[full])))
    return total / p.shape[1]


def fit_temperature(logits, target, *, bounds: tuple[float, float] = TEMPERATURE_BOUNDS) -> float:
    r"""Temperature scaling (Guo et al. 2017, Sec. 4.2): :math:`T^\star = \arg\min_T \frac1N\sum_i
    -\log\mathrm{softmax}(z_i / T)_{y_i}` on held-out logits, a bounded scalar solve in :math:`\log T` (float64).

    The NLL of :math:`z/T` is not convex in :math:`T`, but it is in :math:`\beta = 1/T` (a log-sum-exp of
    :math:`\beta z` minus a linear term), so it has one minimum and the bounded Brent search finds it. Fit it on
    a validation split, never on the test set. Returns :math:`T^\star \in` ``bounds``.
    """
    from scipy.optimize import minimize_scalar

    z, y = _check_inputs(logits, target)
    lo, hi = bounds
    if not (0 < lo < hi < math.inf):
        raise ValueError(f"bounds must be 0 < low < high < inf, got {bounds!r}")

    def nll(log_t):
        return float(F.cross_entropy(z / math.exp(log_t), y))

    res = minimize_scalar(nll, bounds=(math.log(lo), math.log(hi)), method="bounded",
                          options={"xatol": 1e-6, "maxiter": 500})
    return float(math.exp(res.x))


def scores_from_logits(logits, target, *, n_bins: int = 15) -> dict[str, float]:
    """Accuracy, NLL, ECE (equal width and equal mass), MCE (equal width) and classwise ECE of logits."""
    z, y = _check_inputs(logits, target)
    p = torch.softmax(z, 1)
    return {"acc": float((p.argmax(1) == y).double().mean()),
            "nll": float(F.cross_entropy(z, y)),
            "ece": expected_calibration_error(p, y, n_bins=n_bins, from_logits=False),
            "ece_mass": expected_calibration_error(p, y, n_bins=n_bins, binning="mass", from_logits=False),
            "mce": maximum_calibration_error(p, y, n_bins=n_bins, from_logits=False),
            "cw_ece": classwise_calibration_error(p, y, n_bins=n_bins, from_logits=False),
            "confidence": float(p.max(1).values.mean())}


def calibration_scores(model, data, device="cpu") -> dict[str, float]:
    """The protocol's evaluator for calibration chapters: :func:`scores_from_logits` (15 bins) plus the
    degeneracy inputs of :func:`lossnotes.experiments.classification_scores` (``top_share``, ``majority``,
    ``finite``). A run whose outputs are not finite gets ``finite = 0`` and NaN scores."""
    from .train import predict

    logits = predict(model, data, device=device)
    y = torch.as_tensor(data.y).cpu()
    k = int(logits.shape[1])
    base = {"top_share": float(torch.bincount(logits.argmax(1), minlength=k).max()) / len(y),
            "majority": float(torch.bincount(y, minlength=k).max()) / len(y),
            "finite": float(torch.isfinite(logits).all())}
    if not base["finite"]:
        return {**base, **{m: float("nan") for m in ("acc", "nll", "ece", "ece_mass", "mce", "cw_ece", "confidence")}}
    return {**scores_from_logits(logits, y), **base}


def reliability_diagram(ax, scores, target, *, n_bins: int = 15, binning: str = "width",
                        from_logits: bool | None = None, label: str | None = None, color=None):
    """Draw the reliability diagram of the top label on ``ax``: each bin's accuracy as a bar from its lower to its
    upper edge (equal-mass bins have uneven widths), the gap to the bin's mean confidence hatched, the diagonal of
    perfect calibration dashed; the title carries the ECE. Returns the bins (:func:`calibration_bins`)."""
    bins = calibration_bins(scores, target, n_bins=n_bins, binning=binning, from_logits=from_logits)
    full = bins[bins["count"] > 0]
    left, width = full["lower"].to_numpy(), (full["upper"] - full["lower"]).to_numpy()
    ax.bar(left, full["accuracy"], width=width, align="edge", color=color, alpha=0.8, edgecolor="white",
           label=label or "accuracy")
    ax.bar(left, full["confidence"] - full["accuracy"], bottom=full["accuracy"], width=width, align="edge",
           fill=False, hatch="//", edgecolor="tab:red", linewidth=0.5, label="gap to confidence")
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1)
    ece = expected_calibration_error(scores, target, n_bins=n_bins, binning=binning, from_logits=from_logits)
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence", ylabel="accuracy")
    ax.set_title(f"{label + ': ' if label else ''}ECE {100 * ece:.2f} %", fontsize=10)
    return bins
