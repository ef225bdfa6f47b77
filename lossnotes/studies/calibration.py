r"""Chapter 07's calibration study: what each loss's population minimiser is, and how the trained models'
calibration compares before and after temperature scaling.

* :func:`binary_risk` and :func:`calibration_map`: the expected loss :math:`R(z; q) = \sum_y q_y\,\ell(z, y)` of a
  two-class prediction under a true class distribution :math:`q`, and its minimiser :math:`p^\star(q)` (the
  calibration map). Shift-invariant losses depend on the margin :math:`m = z_0 - z_1` only: the risk is evaluated on
  a fine margin grid (robust to the jump of FLSD-53) and refined by a bounded scalar search; squentropy is not
  shift-invariant and is minimised in both logits (it is convex). A minimiser on the grid's edge is reported as
  none (the infimum is approached as :math:`p \to 0` or 1: the plain encouraging loss).
* :func:`minimiser` : the same for K classes by L-BFGS from several starts (smooth losses).
* :func:`mdca_risk`: MDCA's population risk for one input, CE plus :math:`\beta\,\frac1K\sum_j|p_j - q_j|`.
* :func:`temperature_scaled`: every final run of a :class:`~lossnotes.experiments.Comparison` at its best-val or
  last epoch, its temperature fitted on the protocol's validation split, and the test scores before and after;
  :func:`summarise` turns them into mean and 95 % interval per loss.
* :func:`claim_verdict`: a paper's "a beats b" claim as 1 / 0.5 / 0 from a seed-paired interval.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch

from .. import calibration as cal
from ..experiments import interval, validation_split
from ..train import predict

__all__ = ["per_class_losses", "binary_risk", "calibration_map", "minimiser", "mdca_risk", "MARGIN_GRID",
           "temperature_scaled", "summarise", "claim_verdict", "SCORES"]

#: Margins m = z_0 - z_1 on which binary risks are evaluated (p = sigmoid(m) from 1e-13 to 1 - 1e-13).
MARGIN_GRID = np.linspace(-30.0, 30.0, 12000)   # an even count: m = 0 (an exact tie) is not on it
#: The test scores the chapter reports (keys of :func:`lossnotes.calibration.scores_from_logits`).
SCORES = ("acc", "nll", "ece", "ece_mass", "mce", "cw_ece")


def per_class_losses(loss: Callable, z: torch.Tensor) -> torch.Tensor:
    """``(M, K)``: ``loss(z, y)`` of each of the M logit rows for every label y (``reduction="none"``)."""
    m, k = z.shape
    rows = z.repeat_interleave(k, dim=0)
    labels = torch.arange(k).repeat(m)
    return loss(rows, labels, reduction="none").reshape(m, k)


def mdca_risk(beta: float = 1.0) -> Callable:
    r"""Population risk of CE + MDCA for one input with class distribution q: the batch's mean confidence is
    :math:`p`, its label shares are :math:`q`, so the risk is :math:`\sum_y q_y(-\log p_y) + \frac{\beta}{K}\sum_j |p_j - q_j|`."""
    def risk(z, q):
        logp = torch.log_softmax(z, 1)
        return -(logp * q).sum(1) + beta * (torch.exp(logp) - q).abs().mean(1)
    return risk


def _as_risk(loss_or_risk, risk: bool):
    if risk:
        return loss_or_risk
    return lambda z, q: (per_class_losses(loss_or_risk, z) * q).sum(1)


def binary_risk(loss: Callable, q: float, margins=MARGIN_GRID, *, risk: bool = False) -> np.ndarray:
    """Expected loss at each margin m (logits (m, 0)) when class 0 has probability q (float64)."""
    z = torch.stack([torch.as_tensor(margins, dtype=torch.float64), torch.zeros(len(margins), dtype=torch.float64)], 1)
    qv = torch.tensor([q, 1.0 - q], dtype=torch.float64)
    with torch.no_grad():
        return _as_risk(loss, risk)(z, qv).numpy()


def calibration_map(loss: Callable, qs, *, shift_invariant: bool = True, risk: bool = False) -> np.ndarray:
    """:math:`p^\\star_0(q)` of a two-class loss for every q in ``qs``, NaN where the infimum lies at the edge of the
    margin grid (no minimiser: :math:`p^\\star \\to 0` or 1).

    Shift-invariant losses: the risk of every q on :data:`MARGIN_GRID` at once, the grid's minimum refined on a
    200-step grid between its neighbours. ``shift_invariant=False`` (squentropy): :func:`minimiser` per q.
    ``risk=True``: ``loss`` is already a risk ``f(z (M, 2), q (2,)) -> (M,)`` (e.g. :func:`mdca_risk`)."""
    qs = np.asarray(qs, dtype=float)
    if not shift_invariant:
        f = _as_risk(loss, risk)
        return np.array([minimiser(f, [q, 1.0 - q], risk=True, starts=("log_q", "zeros"))[0] for q in qs])
    values = np.stack([binary_risk(loss, q, risk=True) for q in qs]) if risk else \
        _linear_risks(loss, qs, MARGIN_GRID)
    out = np.full(len(qs), np.nan)
    for j, q in enumerate(qs):
        i = int(np.nanargmin(values[j]))
        if i in (0, len(MARGIN_GRID) - 1):
            continue
        fine = np.linspace(MARGIN_GRID[i - 1], MARGIN_GRID[i + 1], 201)
        local = binary_risk(loss, q, fine, risk=True) if risk else _linear_risks(loss, [q], fine)[0]
        m = fine[int(np.nanargmin(local))]
        out[j] = 1.0 / (1.0 + math.exp(-m))
    return out


def _linear_risks(loss, qs, margins):
    """(Q, M) risks of a per-sample loss: q * l(m, 0) + (1 - q) * l(m, 1), the losses computed once."""
    z = torch.stack([torch.as_tensor(margins, dtype=torch.float64), torch.zeros(len(margins), dtype=torch.float64)], 1)
    with torch.no_grad():
        per = per_class_losses(loss, z).numpy()
    qs = np.asarray(qs, dtype=float)[:, None]
    return qs * per[:, 0] + (1 - qs) * per[:, 1]


def minimiser(loss: Callable, q, *, risk: bool = False, starts: Sequence[str] = ("log_q", "zeros", "random"),
              seed: int = 0) -> np.ndarray:
    """:math:`p^\\star(q)` for K classes: L-BFGS (float64, strong Wolfe) on all K logits from several starts, the
    lowest risk kept. Meant for smooth losses; a start that diverges (non-finite risk) is skipped."""
    f = _as_risk(loss, risk)
    qv = torch.as_tensor(np.asarray(q, dtype=float))
    k = len(qv)
    g = torch.Generator().manual_seed(seed)
    inits = {"log_q": torch.log(qv.clamp(min=1e-12)), "zeros": torch.zeros(k, dtype=torch.float64),
             "random": torch.randn(k, generator=g, dtype=torch.float64)}
    best = (math.inf, None)
    for name in starts:
        z = inits[name].clone().requires_grad_(True)
        opt = torch.optim.LBFGS([z], lr=1.0, max_iter=500, tolerance_grad=1e-12, tolerance_change=1e-15,
                                line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            value = f(z[None], qv)[0]
            value.backward()
            return value

        try:
            opt.step(closure)
        except (ValueError, RuntimeError):
            continue
        with torch.no_grad():
            value = float(f(z[None], qv)[0])
        if math.isfinite(value) and value < best[0]:
            best = (value, torch.softmax(z.detach(), 0).numpy())
    if best[1] is None:
        raise RuntimeError("no start reached a finite risk")
    return best[1]


def temperature_scaled(comp, train_data, test_data, *, selections=("best-val", "last"), device="cpu"):
    """Test scores of every final run of ``comp`` before and after temperature scaling.

    The temperature is fitted on the protocol's validation split (carved from ``train_data`` with the first seed,
    as :func:`lossnotes.experiments.run_comparison` does). Returns ``(frame, logits)``: one row per arm, seed,
    selection and stage (``"raw"``, ``"TS"``) with the scores of :data:`SCORES`, ``T``, ``degenerate`` and ``lr``;
    ``logits[(arm, seed, selection)] = (test logits, T)`` for the reliability diagrams."""
    import pandas as pd

    _, val = validation_split(train_data, comp.protocol.val_fraction, seed=comp.protocol.seeds[0])
    val_y, test_y = torch.as_tensor(val.y), torch.as_tensor(test_data.y)
    rows, kept = [], {}
    for run in comp.final:
        for sel in selections:
            degenerate = bool(comp.reasons(run, sel))
            net = comp.model(run.arm, run.seed, which=sel)
            val_logits = predict(net, val, device=device).double()
            test_logits = predict(net, test_data, device=device).double()
            if not (torch.isfinite(val_logits).all() and torch.isfinite(test_logits).all()):
                continue
            t = cal.fit_temperature(val_logits, val_y)
            kept[(run.arm, run.seed, sel)] = (test_logits, t)
            for stage, logits in (("raw", test_logits), ("TS", test_logits / t)):
                scores = cal.scores_from_logits(logits, test_y)
                rows.append({"arm": run.arm, "seed": run.seed, "selection": sel, "stage": stage, "T": t,
                             "lr": run.lr, "degenerate": degenerate, **{m: scores[m] for m in SCORES}})
    return pd.DataFrame(rows), kept


def summarise(frame, metrics: Sequence[str] = SCORES, scale: Mapping[str, float] | None = None):
    """Mean, std and 95 % interval of each metric per arm, selection and stage over the non-degenerate seeds
    (all seeds when every one is degenerate), with the seeds, the lr and the mean temperature."""
    import pandas as pd

    scale = dict(scale or {})
    rows = []
    for (arm, sel, stage), part in frame.groupby(["arm", "selection", "stage"], sort=False):
        good = part[~part.degenerate]
        use = good if len(good) else part
        row = {"arm": arm, "selection": sel, "stage": stage, "seeds": [int(s) for s in use.seed],
               "n_degenerate": int(part.degenerate.sum()), "degenerate": bool(part.degenerate.all()),
               "lr": float(part.lr.iloc[0]), "T": float(use["T"].mean())}
        for m in metrics:
            mean, std, ci = interval(use[m].to_numpy(dtype=float) * scale.get(m, 1.0))
            row.update({m: mean, f"{m} std": std, f"{m} ci95": ci})
        rows.append(row)
    return pd.DataFrame(rows)


def claim_verdict(difference: Mapping, lower_is_better: bool) -> float:
    """1 when the seed-paired 95 % interval of ``a - b`` (a dict from ``Comparison.paired_difference``) lies on the
    claimed side (below 0 for a metric where lower is better), 0 on the other side, 0.5 when it straddles 0 or
    there is a single seed."""
    d, ci = difference["mean"], difference["ci95"]
    if ci is None or not math.isfinite(d) or abs(d) <= ci:
        return 0.5
    return 1.0 if (d < 0) == lower_is_better else 0.0
