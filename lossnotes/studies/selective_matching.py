"""What the selective matching-loss chapters (04a-04c, Shamir & Warmuth) share and no other chapter needs.

* grids, curves and projections of scalar and multi-class matching losses, in the paper's colour code;
* the one **sensitivity-type rule** (:func:`sensitivity_type`) and the design tables built on it (Table 1,
  Table H.2: :func:`classify`, :func:`table1`);
* the two toys: the underspecification fit of Fig. F.1 (:func:`toy_data`, :func:`fit_toy`), the stochastic
  targets of Fig. I.1 (:func:`stochastic_optimum_mixture`, :func:`stochastic_optimum_pair`,
  :func:`expected_loss_argmin`), and the BUST offset of Theorem 1 (:func:`optimal_offset`);
* small figure helpers (legend handles, y-limits, the multi-class gallery :func:`multiclass_figure`).

Every loss, link, probability and sensitivity comes from :mod:`lossnotes.links` and
:mod:`lossnotes.losses.matching`; nothing is re-derived here.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch
from scipy.optimize import brentq

from .. import links
from ..losses import matching as M

__all__ = [
    "S_VALUES", "COLORS", "S3", "TYPES", "LINE_WIDTHS", "score_grid", "grid_index", "scalar_curves", "with_column", "projection",
    "second_derivative", "latex_number", "s_handles", "style_handles", "mark_targets", "set_ylim", "loss_ylim",
    "sensitivity_type", "multiclass_type", "composite_sigmoid_link", "multiclass_curves", "table1_candidates",
    "sensitivity_at", "classify", "achieves", "table1", "PAPER_TABLE1", "PAPER_REMARKS", "clips_low_scores",
    "monotone_probabilities", "symmetric_scalar_loss", "cosh_scan", "toy_data", "fit_toy", "toy_summary",
    "stochastic_optimum_mixture", "stochastic_optimum_pair", "expected_loss_argmin", "optimal_offset",
    "multiclass_figure",
]

F64 = dict(dtype=torch.float64)
#: The paper's target scores and colour code: s = -3 red, 0 green, 3 blue.
S_VALUES = (-3, 0, 3)
COLORS = {-3: "tab:red", 0: "tab:green", 3: "tab:blue"}
#: The paper's K = 3 target vector s = (3, 0, -3).
S3 = torch.tensor([3.0, 0.0, -3.0], **F64)
TYPES = ("low norm", "high norm", "high score", "low score")
#: Line widths of the classes of S3 (blue, green, red): thinner on top, so that coinciding curves stay visible.
LINE_WIDTHS = (3.0, 2.2, 1.3)


# ----------------------------------------------------------------------------------------------- grids, curves

def score_grid(n: int, lo: float = -6.0, hi: float = 6.0) -> torch.Tensor:
    """``n`` float64 points on ``[lo, hi]``."""
    return torch.linspace(lo, hi, n, **F64)


def grid_index(grid: torch.Tensor, value: float) -> int:
    """Index of the grid point equal to ``value``; ``ValueError`` if the grid has no such point."""
    i = int(torch.argmin((grid - value).abs()))
    if abs(float(grid[i]) - value) > 1e-9:
        raise ValueError(f"value {value} is not a grid point (nearest {float(grid[i])})")
    return i


def scalar_curves(loss_fn: Callable, grid: torch.Tensor, targets: Sequence[float] = S_VALUES, **kw) -> dict:
    """``{s: loss_fn(s_hat, s)}`` over ``s_hat`` in ``grid`` for each target ``s``, in one vectorised call."""
    pred = grid.repeat(len(targets))
    target = torch.tensor(targets, dtype=grid.dtype).repeat_interleave(len(grid))
    out = loss_fn(pred, target, reduction="none", **kw).reshape(len(targets), len(grid))
    return dict(zip(targets, out))


def with_column(s_vec: torch.Tensor, k: int, grid: torch.Tensor, offset=0.0) -> torch.Tensor:
    """``(len(grid), K)`` score vectors: ``s_vec + offset`` with column ``k`` replaced by ``grid``."""
    Z = (s_vec + offset).expand(len(grid), -1).clone()
    Z[:, k] = grid
    return Z


def projection(loss_fn: Callable, s_vec: torch.Tensor, k: int, grid: torch.Tensor, offset=0.0, **kw) -> torch.Tensor:
    """The paper's projection to class ``k``: ``s_hat_k`` on ``grid``, ``s_hat_j = s_j + offset`` for ``j != k``."""
    pred = with_column(s_vec, k, grid, offset)
    return loss_fn(pred, s_vec.expand(len(grid), -1), reduction="none", **kw)


def second_derivative(fn: Callable, grid: torch.Tensor) -> torch.Tensor:
    """``d^2 fn / dx^2`` on ``grid`` by autograd (``fn`` element-wise in ``x``)."""
    x = grid.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(fn(x).sum(), x, create_graph=True)
    (g2,) = torch.autograd.grad(g.sum(), x)
    return g2


def latex_number(x: float, digits: int = 2) -> str:
    """A number for a LaTeX label: ``0.05``, ``20``, ``1.1\\cdot 10^{2}``."""
    if x == 0 or 1e-2 <= abs(x) < 1e2:
        return f"{x:.{digits}g}"
    e = int(math.floor(math.log10(abs(x))))
    return f"{x / 10 ** e:.{digits}g}\\cdot 10^{{{e}}}"


# ------------------------------------------------------------------------------------------- figure helpers

def s_handles(fmt: str = "$s = {s}$"):
    """Legend handles for the three target colours."""
    from matplotlib.lines import Line2D
    return [Line2D([], [], color=COLORS[s], label=fmt.format(s=s)) for s in S_VALUES]


def style_handles(*pairs):
    """Legend handles for line styles: ``style_handles(("-", "loss"), ("--", "slope"))``."""
    from matplotlib.lines import Line2D
    return [Line2D([], [], color="0.25", linestyle=ls, label=lab) for ls, lab in pairs]


def mark_targets(ax) -> None:
    """Dotted vertical lines at the three targets, in their colours."""
    for s in S_VALUES:
        ax.axvline(s, color=COLORS[s], lw=0.8, ls=":", alpha=0.8)


def set_ylim(ax, x, ys, lo=-4.5, hi=4.5, pad=0.08) -> None:
    """y-limits from the whole curves, or from ``x`` in ``[lo, hi]`` when the full range is > 3x wider."""
    full = torch.cat(list(ys))
    win = torch.cat([y[(x >= lo) & (x <= hi)] for y in ys])
    v = full if float(full.max() - full.min()) <= 3 * float(win.max() - win.min()) else win
    a, b = float(v.min()), float(v.max())
    r = (b - a) or 1.0
    ax.set_ylim(a - pad * r, b + pad * r)


def loss_ylim(ax, x, curves, centres, w=3.0) -> None:
    """y-limits: the largest loss within ``|s_hat - s| <= w`` over the curves."""
    top = max(float(c[(x - c0).abs() <= w].max()) for c, c0 in zip(curves, centres))
    top = top if top > 0 else 1.0
    ax.set_ylim(-0.04 * top, 1.06 * top)


# --------------------------------------------------------------------------------------- sensitivity types

def sensitivity_type(lo, mid, hi, *, tol: float = 0.01, margin: float = 0.10, spread: float = 2.0) -> str:
    """The sensitivity type from the sensitivity at a low, a middle and a high score (the chapters' one rule).

    * ``"negative Δ"`` if one value is negative (a non-convex loss);
    * ``"flat"`` if all three agree within ``tol`` (relative);
    * ``"high norm"`` if both extremes beat the middle by more than ``margin`` and are within a factor
      ``spread`` of each other;
    * else the position of the largest value (``"low score"``, ``"low norm"``, ``"high score"``) if it beats
      the runner-up by more than ``margin``, and ``"none"`` if it does not.

    The margins are ours: the paper gives no formal definition. The 10 % margin keeps the standard Softmax
    (whose top class leads by 5 % at s = (3, 0, -3)) from being called high score.
    """
    v = [float(lo), float(mid), float(hi)]
    if min(v) < -1e-12:
        return "negative Δ"
    if max(v) - min(v) <= tol * max(v):
        return "flat"
    if min(v[0], v[2]) > (1 + margin) * v[1] and max(v[0], v[2]) <= spread * min(v[0], v[2]):
        return "high norm"
    first, second = sorted(v)[-1], sorted(v)[-2]
    if first <= (1 + margin) * second:
        return "none"
    return ("low score", "low norm", "high score")[v.index(first)]


def multiclass_type(d) -> str:
    """:func:`sensitivity_type` of ``d = (Δ_1, Δ_2, Δ_3)`` at ``s = (3, 0, -3)`` (top, middle, bottom score)."""
    return sensitivity_type(d[2], d[1], d[0])


def composite_sigmoid_link(q: links.Link, z: torch.Tensor):
    """Composite-Sigmoid link ``h = q σ(Q)`` (Eq. 22) and its slope ``h'`` by autograd, on ``z``."""
    zz = z.detach().clone().requires_grad_(True)
    h = q.q(zz) * torch.sigmoid(q.Q(zz))
    (dh,) = torch.autograd.grad(h.sum(), zz)
    return h.detach(), dh


def multiclass_curves(q: links.Link, grid: torch.Tensor, s: torch.Tensor = S3) -> list[dict]:
    """Per class ``k``: composite ``p_k``, link ``h_k``, sensitivity ``Δ_k`` and loss (29) along its projection."""
    out = []
    for k in range(len(s)):
        pred = with_column(s, k, grid)
        out.append(dict(p=M.composite_probabilities(pred, q)[:, k], h=M.composite_link(pred, q)[:, k],
                        d=M.composite_sensitivity(pred, q)[:, k],
                        loss=M.composite_softmax(pred, s.expand_as(pred), q=q, reduction="none")))
    return out


# ---------------------------------------------------------------------------------------- Table 1 and H.2

#: The paper's Table 1 (names as in :func:`table1_candidates`), typed for comparison.
PAPER_TABLE1 = {"low norm": ["decomposed h = σ(z)"], "high norm": ["q = sinh z"],
                "high score": ["q = e^z", "q = σ(z−β)", "q = sinh(z+β)"], "low score": ["q = −e^(−z)", "q = sinh(z−β)"]}
#: The paper's own remarks (Sec. 5, App. H.3 and the H.6 text) that add entries to its Table 1.
PAPER_REMARKS = {"q = σ(z+β)": "high score", "q = tanh(z−β)": "low score", "q = tanh(z+β)": "high score",
                 "q = tanh z": "high norm"}


def table1_candidates(beta: float) -> dict:
    """The multi-class choices of Tables 1 and H.2: ``name -> (kind, link)``, shifts ``β`` as named."""
    sg, sh, ex, ax, th = links.sigmoid_link, links.sinh_link, links.exp_link, links.anti_exp_link, links.tanh_link
    b = float(beta)
    return {
        "decomposed h = σ(z)": ("decomposed", sg()), "decomposed h = sinh z": ("decomposed", sh()),
        "decomposed h = e^z": ("decomposed", ex()), "decomposed h = −e^(−z)": ("decomposed", ax()),
        "square loss": ("decomposed", links.identity_link()), "standard Softmax": ("softmax", None),
        "q = sinh z": ("composite", sh()), "q = e^z": ("composite", ex()), "q = σ(z−β)": ("composite", sg(1, b)),
        "q = sinh(z+β)": ("composite", sh(1, -b)), "q = −e^(−z)": ("composite", ax()),
        "q = sinh(z−β)": ("composite", sh(1, b)), "q = tanh(z−β)": ("composite", th(1, b)),
        "q = σ(z+β)": ("composite", sg(1, -b)), "q = tanh(z+β)": ("composite", th(1, -b)),
        "q = tanh z": ("composite", th()),
    }


def sensitivity_at(kind: str, link, s: torch.Tensor) -> torch.Tensor:
    """Class sensitivities ``Δ_k(s)``: ``h'(s_k)`` (decomposed, Eq. 28), ``L.composite_sensitivity`` (Eq. B.5),
    or the Hessian diagonal of the standard Softmax primitive (``kind="softmax"``) by autograd."""
    if kind == "decomposed":
        return link.dh(s)
    if kind == "composite":
        return M.composite_sensitivity(s, link)
    if kind == "softmax":
        H = M.softmax_primitive()
        return torch.autograd.functional.hessian(lambda v: H(v[None])[0], s).diagonal()
    raise ValueError(f"kind must be 'decomposed', 'composite' or 'softmax', got {kind!r}")


#: Ranking test: class k* -> (another class, its new score) so that the other class moves past s_k*.
_MOVE = {0: (1, 5.0), 1: (0, -2.0), 2: (1, -5.0)}


def classify(beta: float, s: torch.Tensor = S3) -> pd.DataFrame:
    """Per candidate: Δ at ``s``, the computed type, and whether it is ranking sensitive (moving another class
    past the favoured one changes the favoured class's Δ by more than 1 %)."""
    rows = {}
    for name, (kind, obj) in table1_candidates(beta).items():
        d = sensitivity_at(kind, obj, s)
        typ = multiclass_type(d)
        k = 0 if typ == "high norm" else int(d.argmax())
        other, new = _MOVE[k]
        s2 = s.clone()
        s2[other] = new
        d2 = sensitivity_at(kind, obj, s2)
        rows[name] = {"kind": kind, "Δ top (s=3)": float(d[0]), "Δ mid (s=0)": float(d[1]),
                      "Δ bottom (s=−3)": float(d[2]), "computed type": typ,
                      "ranking sensitive": bool(abs(float(d2[k] - d[k])) > 0.01 * abs(float(d[k])))}
    return pd.DataFrame.from_dict(rows, orient="index")


def achieves(cls: pd.DataFrame, name: str, typ: str) -> bool:
    """A choice achieves a type if its computed type matches and it is ranking sensitive (low norm: type only)."""
    r = cls.loc[name]
    return r["computed type"] == typ and (bool(r["ranking sensitive"]) or typ == "low norm")


def table1(cls: pd.DataFrame) -> dict[str, list[str]]:
    """Table 1 computed: sensitivity type -> the choices that achieve it."""
    return {t: [n for n in cls.index if achieves(cls, n, t)] for t in TYPES}


def clips_low_scores(q: links.Link, grid: torch.Tensor, below: float = -1.5) -> bool:
    """True when the composite Softmax loss (29) is exactly flat and target-blind for low scores: ``h_k = Δ_k = 0``
    for ``s_hat_k <= below`` on every projection, and two low targets give the same ``L.composite_softmax``."""
    low = grid <= below
    flat = all(float(c["h"][low].abs().max()) == 0.0 and float(c["d"][low].abs().max()) == 0.0
               for c in multiclass_curves(q, grid))
    gen = torch.Generator().manual_seed(0)
    pred = torch.rand(100, 3, generator=gen, **F64) * 12 - 6
    other = S3.clone()
    other[2] = 2 * below - 2.0                                     # a second, lower target for the bottom class
    blind = torch.equal(M.composite_softmax(pred, S3.expand_as(pred), q=q, reduction="none"),
                        M.composite_softmax(pred, other.expand_as(pred), q=q, reduction="none"))
    return flat and blind


def monotone_probabilities(q: links.Link, grid: torch.Tensor) -> bool:
    """True when every projected composite ``p_k`` is non-decreasing in ``s_hat_k``."""
    return all(float(torch.diff(c["p"]).min()) >= -1e-12 for c in multiclass_curves(q, grid))


def symmetric_scalar_loss(q: links.Link, grid: torch.Tensor) -> bool:
    """True when the scalar composite-Sigmoid loss (24) has ``L(s_hat, s) = L(-s_hat, -s)`` on the grid."""
    gap = max(float((M.composite_sigmoid(grid, torch.full_like(grid, s0), q=q, reduction="none")
                     - M.composite_sigmoid(-grid, torch.full_like(grid, -s0), q=q, reduction="none")).abs().max())
              for s0 in (0.5, 3.0))
    return gap < 1e-9


def cosh_scan(alphas: Sequence[float], betas: Sequence[float], grid: torch.Tensor,
              points: torch.Tensor = torch.tensor([-3.0, 0.0, 3.0], **F64)) -> pd.DataFrame:
    """Types reached by ``q = cosh(α(z − β))``: scalar composite Sigmoid (``h'`` at ``points``) and ``K = 3``
    (``Δ_k`` at ``s = (3, 0, -3)``); ``"negative Δ"`` where the loss is non-convex somewhere on the grid."""
    M_ = len(grid)
    stacked = torch.cat([with_column(S3, k, grid) for k in range(3)])
    rows = []
    for al in alphas:
        for be in betas:
            q = links.cosh_link(float(al), float(be))
            _, dh = composite_sigmoid_link(q, grid)
            scal = sensitivity_type(*composite_sigmoid_link(q, points)[1]) if float(dh.min()) >= -1e-12 \
                else "negative Δ"
            dall = M.composite_sensitivity(stacked, q)
            neg = min(float(dall[k * M_:(k + 1) * M_, k].min()) for k in range(3)) < -1e-12
            rows.append(dict(alpha=float(al), beta=float(be), scalar=scal,
                             multiclass="negative Δ" if neg else multiclass_type(M.composite_sensitivity(S3, q))))
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------------- toys

def toy_data(mirror: bool = False):
    """The 30 examples of Fig. F.1 in consecutive pairs with equal labels: low labels -10..-1 (``x2 = s``,
    ``x1`` in {1, 3}), high labels 6..10 (``x1 = s``, ``x2`` in {1, 3}); ``mirror``: ``(x, s) -> (-x, -s)``."""
    X, s = [], []
    for v in range(-10, 0):
        X += [[1.0, v], [3.0, v]]
        s += [v, v]
    for v in range(6, 11):
        X += [[v, 1.0], [v, 3.0]]
        s += [v, v]
    X, s = torch.tensor(X, **F64), torch.tensor(s, **F64)
    return (-X, -s) if mirror else (X, s)


def fit_toy(X: torch.Tensor, s: torch.Tensor, link: links.Link):
    """Minimise the mean matching loss of ``s_hat = X w`` (no bias) with L-BFGS in float64; return
    ``(w, largest |gradient|)``."""
    w = torch.zeros(X.shape[1], **F64, requires_grad=True)
    opt = torch.optim.LBFGS([w], lr=1.0, max_iter=500, tolerance_grad=1e-12, tolerance_change=1e-15,
                            history_size=20, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = M.matching_loss(X @ w, s, link)
        loss.backward()
        return loss

    for _ in range(3):
        opt.step(closure)
    closure()
    return w.detach(), float(w.grad.abs().max())


def toy_summary(X: torch.Tensor, s: torch.Tensor, w: torch.Tensor) -> dict:
    """Pair gap (mean |s_hat(copy 1) - s_hat(copy 2)|) and mean |s_hat - s|, per label group (low, high)."""
    sh = X @ w
    gap = (sh[0::2] - sh[1::2]).abs()
    hi_pair, hi = s[0::2] > 0, s > 0
    return {"w1": float(w[0]), "w2": float(w[1]),
            "pair gap, low group": float(gap[~hi_pair].mean()), "pair gap, high group": float(gap[hi_pair].mean()),
            "mean |ŝ−s|, low group": float((sh - s)[~hi].abs().mean()),
            "mean |ŝ−s|, high group": float((sh - s)[hi].abs().mean())}


def stochastic_optimum_mixture(alpha: float, k: torch.Tensor, small: float = 0.05, mean: float = 0.1) -> torch.Tensor:
    """Fig. I.1 left: optimum of the exp-link loss for one large score ``L = mean + small k`` and ``k`` small
    scores: :math:`\\frac1\\alpha\\log\\frac{e^{\\alpha L} + k e^{\\alpha\\,small}}{k+1}` (Prop. 1)."""
    big = mean + small * k
    return (torch.logaddexp(alpha * big, torch.log(k) + small * alpha) - torch.log(k + 1)) / alpha


def stochastic_optimum_pair(alpha: float, mu: float, D: torch.Tensor) -> torch.Tensor:
    """Fig. I.1 right (App. I): optimum for two equally likely scores ``mu ± D``: ``mu + log cosh(αD)/α``."""
    return mu + (torch.logaddexp(alpha * D, -alpha * D) - math.log(2.0)) / alpha


def expected_loss_argmin(targets: torch.Tensor, weights: torch.Tensor, link: links.Link) -> float:
    """Minimise ``sum_i w_i L_m(s_hat, s_i)`` over ``s_hat`` numerically (L-BFGS, float64, from the mean)."""
    sh = torch.tensor([float((weights * targets).sum())], **F64, requires_grad=True)
    opt = torch.optim.LBFGS([sh], lr=1.0, max_iter=100, tolerance_grad=1e-14, tolerance_change=0.0,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = (weights * M.matching_loss(sh.expand_as(targets), targets, link, reduction="none")).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return float(sh.detach())


def optimal_offset(h: Callable, S_m: float, S_M: float, w_u: float, d: float, tau: float, n: int = 80_000,
                   bracket=(-1.0, 1.0)) -> float:
    """Theorem 1's setting solved numerically: the offset ``δ̂`` where the expected gradient of the matching loss
    vanishes, for ``w ~ U[S_m, S_M]`` and targets ``w + d`` on ``|w - w_u| < τ/2`` (``w`` otherwise).

    ``h`` is a :class:`lossnotes.links.Link` or maps a float64 NumPy array to the link values; ``w`` is integrated
    by the midpoint rule on ``n`` cells.
    """
    if isinstance(h, links.Link):
        link = h
        h = lambda v: link.h(torch.from_numpy(np.asarray(v, dtype=np.float64))).numpy()  # noqa: E731
    w = S_m + (np.arange(n) + 0.5) * (S_M - S_m) / n
    observed = w + d * (np.abs(w - w_u) < tau / 2)
    target_mean = h(observed).mean()
    return brentq(lambda off: h(w + off).mean() - target_mean, *bracket, xtol=1e-16)


# ------------------------------------------------------------------------------------------- galleries

def multiclass_figure(cols, grid: torch.Tensor, title: str, *, scalar_row: bool = False,
                      points: torch.Tensor = torch.tensor([-3.0, 0.0, 3.0], **F64)):
    """One column per scaling ``q`` of a ``K = 3`` composite Softmax at ``s = (3, 0, -3)``: rows ``q``, ``p_k``,
    ``h_k`` (solid) with ``Δ_k`` (dashed), [the scalar loss (24)], and the projections of loss (29).

    ``cols`` is a list of ``(title, link)``; returns ``(fig, {title: K = 3 type})``.
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    nrow = 5 if scalar_row else 4
    fig, axes = plt.subplots(nrow, len(cols), figsize=(3.3 * len(cols) + 0.8, 2.6 * nrow + 1.2), squeeze=False)
    types = {}
    s_list = S3.tolist()
    for c, (name, q) in enumerate(cols):
        curves = multiclass_curves(q, grid)
        types[name] = multiclass_type(M.composite_sensitivity(S3, q))
        neg = min(float(cv["d"].min()) for cv in curves) < -1e-12
        head = f"{name}\nK=3: {types[name]}" + (" (Δ<0 somewhere)" if neg else "")
        if scalar_row:
            head = f"{name}\nscalar: {sensitivity_type(*composite_sigmoid_link(q, points)[1])} → K=3: {types[name]}"
        qz = q.q(grid)
        axes[0, c].plot(grid, qz, color="k")
        set_ylim(axes[0, c], grid, [qz])
        axes[0, c].set_title(head, fontsize=11)
        for k, s0 in enumerate(s_list):
            col, lw = COLORS[int(s0)], LINE_WIDTHS[k]
            axes[1, c].plot(grid, curves[k]["p"], color=col, lw=lw)
            axes[2, c].plot(grid, curves[k]["h"], color=col, lw=lw)
            axes[2, c].plot(grid, curves[k]["d"], "--", color=col, lw=lw)
            axes[-1, c].plot(grid, curves[k]["loss"], color=col, lw=lw)
        set_ylim(axes[2, c], grid, [cv["h"] for cv in curves] + [cv["d"] for cv in curves])
        loss_ylim(axes[-1, c], grid, [cv["loss"] for cv in curves], s_list)
        if scalar_row:
            sc = [M.composite_sigmoid(grid, torch.full_like(grid, float(s0)), q=q, reduction="none") for s0 in S_VALUES]
            for s0, lc in zip(S_VALUES, sc):
                axes[3, c].plot(grid, lc, color=COLORS[s0])
            loss_ylim(axes[3, c], grid, sc, S_VALUES)
        axes[-1, c].set_xlabel("$z$ / $\\hat s_k$")
    labels = ["$q(z)$", "$p_k$ (projection)", "$h_k$, $\\Delta_k$ (dashed)"] + \
        (["scalar loss (24)"] if scalar_row else []) + ["loss (29), projection"]
    for r, lab in enumerate(labels):
        axes[r, 0].set_ylabel(lab)
    for ax in np.ravel(axes):
        ax.xaxis.set_major_locator(MaxNLocator(5))
        ax.yaxis.set_major_locator(MaxNLocator(4))
    fig.legend(handles=style_handles(("-", "$h_k$ / loss"), ("--", "$\\Delta_k$")) + s_handles("$s_k = {s}$"),
               loc="lower center", ncol=5, bbox_to_anchor=(0.5, -0.01))
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig, types
