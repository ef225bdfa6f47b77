r"""Synthetic data and full-batch fits for Li et al. 2020 ("On the Learning Property of Logistic and
Softmax Losses for Deep Neural Networks", AAAI): the two simulations behind Table 1 (Eq. 10), and a 2-D
example of the "multi-modality neglect" of one-vs-all LGL (Sec. "In-negative Class Reweighted LGL").

Generators return :class:`lossnotes.data.Dataset` (``x`` float32 ``(N, d)``, ``y`` int64 ``(N,)``, samples
in random order). Fits run in float64 with full-batch L-BFGS. Every loss comes from
:mod:`lossnotes.losses`; nothing here re-implements one.
"""
from __future__ import annotations

import contextlib
import math
import numbers
import time
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .data import Dataset
from .losses import softmax_cross_entropy, unchecked
from .losses.validation import check_choice, check_scalar
from .models import MLP
from .stationarity import eq10_sides, negative_hardness, pooled_negative_probability
from .train import show_progress

__all__ = ["sim1", "sim2", "multimodal_negatives", "negative_hardness", "pooled_negative_probability",
           "lbfgs_fit", "binary_logits", "fit_binary", "BinaryFit", "table1", "table1_lambda_settings",
           "TABLE1_LAMBDA0", "TABLE1_PAPER"]


# ------------------------------------------------------------------------------------------ checks

def _count(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be a non-negative int, got {value!r}")
    return int(value)


def _seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    return int(seed)


def _counts(n0, n1):
    n0, n1 = _count(n0, "n0"), _count(n1, "n1")
    if n0 + n1 == 0:
        raise ValueError("n0 + n1 must be at least 1, got n0 = n1 = 0")
    return n0, n1


def _binary_dataset(x0: np.ndarray, x1: np.ndarray, rng: np.random.Generator, name: str) -> Dataset:
    x = np.concatenate([x0, x1]).reshape(len(x0) + len(x1), -1)
    y = np.concatenate([np.zeros(len(x0), np.int64), np.ones(len(x1), np.int64)])
    order = rng.permutation(len(y))
    return Dataset(torch.from_numpy(x[order].astype(np.float32)), torch.from_numpy(y[order]), ["0", "1"], name)


# -------------------------------------------------------------------------------------- simulations

def sim1(n0: int, n1: int, *, seed: int) -> Dataset:
    r"""Sim1 of Li et al. 2020 (Sec. "Simulations for Eq. (10)"), 1-D:

    .. math::
        x \mid y{=}1 \sim \mathcal N(-1.5, 1) + \mathcal U(0, 0.5),\qquad
        x \mid y{=}0 \sim \mathcal N(1.5, 1) + \mathcal U(-0.5, 0),

    "+" read as the sum of independent draws (the paper gives no mixture weights, so it is not a
    mixture; its "P_2(x|y=0)" is a typo for P_0). Means :math:`\mp 1.25`, variance :math:`1 + 1/48`.
    The paper fits logistic regression to it. Returns ``x`` ``(n0+n1, 1)`` float32, ``y`` int64.
    """
    n0, n1 = _counts(n0, n1)
    rng = np.random.default_rng(_seed(seed))
    x1 = rng.normal(-1.5, 1.0, n1) + rng.uniform(0.0, 0.5, n1)
    x0 = rng.normal(1.5, 1.0, n0) + rng.uniform(-0.5, 0.0, n0)
    return _binary_dataset(x0, x1, rng, "sim1")


def sim2(n0: int, n1: int, *, seed: int, sigma_is: str = "cov") -> Dataset:
    r"""Sim2 of Li et al. 2020 (Sec. "Simulations for Eq. (10)"), 3-D Gaussians:

    .. math::
        x \mid y{=}1 \sim \mathcal N(\mu_1, \sigma_1),\ \mu_1 = (0,0,0),\ \sigma_1 = 1.2 I;\qquad
        x \mid y{=}0 \sim \mathcal N(\mu_0, \sigma_0),\ \mu_0 = (1,1,1),\ \sigma_0 = I.

    The paper writes a matrix, :math:`1.2 I`, in the second slot of :math:`\mathcal N(\mu, \cdot)`, which is
    where a covariance goes (as in :math:`\mathcal N(\mu, \Sigma)`); the lower-case :math:`\sigma` alone would
    suggest a standard deviation. ``sigma_is="cov"`` (default): covariance :math:`1.2 I`, per-coordinate
    s.d. :math:`\sqrt{1.2}\approx 1.095`. ``sigma_is="std"``: s.d. 1.2, covariance :math:`1.44 I`.
    (For class 0 both readings give I.) The paper fits a (3, 10, 1) sigmoid MLP to it.
    Returns ``x`` ``(n0+n1, 3)`` float32, ``y`` int64.
    """
    n0, n1 = _counts(n0, n1)
    check_choice(sigma_is, "sigma_is", ("cov", "std"))
    rng = np.random.default_rng(_seed(seed))
    sd1 = math.sqrt(1.2) if sigma_is == "cov" else 1.2
    x1 = rng.normal(0.0, sd1, (n1, 3))
    x0 = rng.normal(1.0, 1.0, (n0, 3))
    return _binary_dataset(x0, x1, rng, f"sim2-{sigma_is}")


def multimodal_negatives(n_per_subclass, *, seed: int, num_easy: int = 2, hard_gap: float = 2.0,
                         radius: float = 4.0, std: float = 1.0) -> Dataset:
    r"""2-D example of LGL's "multi-modality neglect" (Li et al. 2020, Sec. "In-negative Class Reweighted
    LGL"): for target class 0, the negative class of one-vs-all is a mixture of one hard sub-class and
    several easy ones.

    K = 2 + ``num_easy`` isotropic Gaussian classes, :math:`x\mid y{=}c \sim \mathcal N(m_c, \mathrm{std}^2 I)`,
    with all means on a circle of radius ``radius`` (so each class is linearly separable from the rest
    up to noise): class 0 ("target") and class 1 ("hard") at angles :math:`\mp\varphi/2` with chord
    :math:`\|m_0 - m_1\| = ` ``hard_gap``; the easy classes 2.. on the far side, at angles
    :math:`\pi/2 + \pi (j+1)/(\text{num\_easy}+1)`. Defaults: K = 4, the hard class 2 s.d. from the target,
    the easy ones about 8 s.d. away.

    Args:
        n_per_subclass: samples per class, an int or a sequence of K ints.
        seed: seed of the draw.

    Returns:
        ``Dataset`` with ``x`` ``(N, 2)`` float32, ``y`` int64 in ``[0, K)``, classes
        ``["target", "hard", "easy1", ...]``.
    """
    num_easy = check_scalar(num_easy, "num_easy", low=1, integer=True)
    k = 2 + num_easy
    hard_gap = check_scalar(hard_gap, "hard_gap", low=0.0, low_open=True)
    radius = check_scalar(radius, "radius", low=0.0, low_open=True)
    std = check_scalar(std, "std", low=0.0, low_open=True)
    if hard_gap >= 2 * radius:
        raise ValueError(f"hard_gap must be < 2 * radius = {2 * radius:g}, got {hard_gap:g}")
    if isinstance(n_per_subclass, (int, np.integer)) and not isinstance(n_per_subclass, bool):
        counts = [_count(n_per_subclass, "n_per_subclass")] * k
    elif isinstance(n_per_subclass, Sequence) and not isinstance(n_per_subclass, str):
        if len(n_per_subclass) != k:
            raise ValueError(f"n_per_subclass must have {k} entries (one per class), got {len(n_per_subclass)}")
        counts = [_count(n, f"n_per_subclass[{i}]") for i, n in enumerate(n_per_subclass)]
    else:
        raise ValueError(f"n_per_subclass must be a non-negative int or a sequence of {k} ints, got {n_per_subclass!r}")
    if sum(counts) == 0:
        raise ValueError("n_per_subclass gives no samples at all")
    half = math.asin(hard_gap / (2 * radius))
    angles = [-half, half] + [math.pi / 2 + math.pi * (j + 1) / (num_easy + 1) for j in range(num_easy)]
    means = radius * np.array([[math.cos(a), math.sin(a)] for a in angles])
    rng = np.random.default_rng(_seed(seed))
    x = np.concatenate([rng.normal(means[c], std, (n, 2)) for c, n in enumerate(counts)])
    y = np.repeat(np.arange(k, dtype=np.int64), counts)
    order = rng.permutation(len(y))
    classes = ["target", "hard"] + [f"easy{j + 1}" for j in range(num_easy)]
    return Dataset(torch.from_numpy(x[order].astype(np.float32)), torch.from_numpy(y[order]), classes,
                   "multimodal-negatives")


# ------------------------------------------------------------------------------------------- fitting

@contextlib.contextmanager
def _threads(n: int):
    """Run torch intra-op work on ``n`` threads inside the block (restored after). The fits here are tiny
    (thousands of samples, tens of parameters): extra threads only add synchronisation, and on a loaded
    machine they make each step many times slower."""
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _max_abs_grad(params) -> float:
    grads = [p.grad.abs().max() for p in params if p.grad is not None]
    return float(torch.stack(grads).max()) if grads else 0.0


def _lbfgs(params, objective, max_iter, tolerance_grad, history_size):
    opt = torch.optim.LBFGS(params, lr=1.0, max_iter=max_iter, max_eval=max(int(max_iter * 1.25), 10),
                            history_size=history_size, tolerance_grad=tolerance_grad,
                            tolerance_change=1e-20, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = objective()
        loss.backward()
        return loss

    with unchecked():          # inputs were validated by the first (checked) evaluation
        opt.step(closure)
    state = opt.state[opt._params[0]]
    opt.zero_grad()
    loss = objective()         # final value and gradient at the returned point
    loss.backward()
    return state.get("n_iter", 0), float(loss.detach())


def _newton_bias(head: nn.Linear, feats, y, loss_fn, scale, steps: int = 20) -> tuple[int, float]:
    """Newton steps on the output bias alone (weights and features fixed): the loss is convex in the bias,
    with a K x K Hessian (pseudo-inverted: softmax is invariant to a common shift of the bias)."""
    weight = head.weight.detach()

    def objective(b):
        return loss_fn(F.linear(feats, weight, b), y) / scale

    def value_grad(b):
        b = b.detach().requires_grad_(True)
        val = objective(b)
        (g,) = torch.autograd.grad(val, b)
        return val.detach(), g

    b = head.bias.detach().clone()
    val, g = value_grad(b)
    n = 0
    for _ in range(steps):
        gmax = float(g.abs().max())
        if gmax == 0.0:
            break
        hess = torch.autograd.functional.hessian(objective, b)
        step = -(torch.linalg.pinv(hess, hermitian=True) @ g)
        t, accepted = 1.0, False
        for _ in range(30):                          # backtrack until the loss or the gradient improves
            cand = b + t * step
            v2, g2 = value_grad(cand)
            if v2 < val or float(g2.abs().max()) < gmax:
                accepted = True
                break
            t *= 0.5
        if not accepted:
            break
        b, val, g, n = cand, v2, g2, n + 1
    with torch.no_grad():
        head.bias.copy_(b)
    return n, float(g.abs().max())


def lbfgs_fit(model: nn.Module, loss_fn: Callable, x, y, *, max_iter: int = 500, tolerance_grad: float = 1e-10,
              history_size: int = 20, polish_head: bool = True, head_max_iter: int = 100,
              num_threads: int | None = 1) -> dict:
    r"""Minimise ``loss_fn(model(x), y) / scale`` by full-batch L-BFGS (strong Wolfe), in place.

    ``scale`` is ``|loss_fn|`` at the start (a constant: it changes no stationary point, only the
    optimizer's tolerances). ``x`` is cast to the model's parameter dtype (use a float64 model for
    stationarity checks); the model is put in eval mode and left there (no dropout: a deterministic objective).

    ``polish_head``: for a :class:`lossnotes.models.Classifier` (``head`` + ``forward_features``), two more
    stages on the fixed learnt features: L-BFGS over the output layer alone (at most ``head_max_iter``
    iterations; a convex problem for the losses here), then Newton steps over the output bias alone until
    its gradient stops shrinking. The bias-stationarity relations of Li et al. 2020, Eq. (8)-(10), come from
    :math:`\partial L/\partial b = 0` alone, so they then hold on the training data to rounding, even when
    the first stage (a non-convex network) stops early.

    ``num_threads``: torch intra-op threads during the fit (restored after); ``None`` leaves the setting
    alone. The default, 1, suits the small full-batch problems this is for: on them extra threads only add
    synchronisation (10x slower steps were seen on a loaded 2-core machine).

    Returns a dict: ``n_iter``, ``n_iter_head``, ``n_newton``, ``loss`` (of the unscaled ``loss_fn``) and,
    for the scaled loss at the end, ``grad_max`` (max abs gradient over all parameters), ``head_grad_max``
    (over the output layer) and ``bias_grad_max`` (over its bias); ``seconds``.
    """
    max_iter = check_scalar(max_iter, "max_iter", low=1, integer=True)
    head_max_iter = check_scalar(head_max_iter, "head_max_iter", low=1, integer=True)
    tolerance_grad = check_scalar(tolerance_grad, "tolerance_grad", low=0.0)
    if num_threads is None:
        return _lbfgs_fit(model, loss_fn, x, y, max_iter, tolerance_grad, history_size, polish_head, head_max_iter)
    with _threads(check_scalar(num_threads, "num_threads", low=1, integer=True)):
        return _lbfgs_fit(model, loss_fn, x, y, max_iter, tolerance_grad, history_size, polish_head, head_max_iter)


def _lbfgs_fit(model, loss_fn, x, y, max_iter, tolerance_grad, history_size, polish_head, head_max_iter):
    t0 = time.perf_counter()
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("model has no trainable parameters")
    dtype = params[0].dtype
    x = torch.as_tensor(x.x if hasattr(x, "x") else x).to(device=params[0].device, dtype=dtype)
    y = torch.as_tensor(y).to(params[0].device)
    model.eval()
    with torch.no_grad():
        scale = float(loss_fn(model(x), y).detach().abs())   # checked call: validates x, y, loss args
    if not math.isfinite(scale):
        raise ValueError(f"loss_fn is not finite at the initial parameters ({scale})")
    scale = scale if scale > 0 else 1.0
    n_iter, _ = _lbfgs(params, lambda: loss_fn(model(x), y) / scale, max_iter, tolerance_grad, history_size)
    n_head = n_newton = 0
    head = getattr(model, "head", None)
    if polish_head and isinstance(head, nn.Module) and hasattr(model, "forward_features"):
        with torch.no_grad():
            feats = model.forward_features(x)
            if hasattr(model, "dropout"):
                feats = model.dropout(feats)
        head_params = [p for p in head.parameters() if p.requires_grad]
        n_head, _ = _lbfgs(head_params, lambda: loss_fn(head(feats), y) / scale, head_max_iter,
                           tolerance_grad, history_size)
        if isinstance(head, nn.Linear) and head.bias is not None and head.bias.requires_grad:
            with unchecked():
                n_newton, _ = _newton_bias(head, feats, y, loss_fn, scale)
    model.zero_grad()
    loss = loss_fn(model(x), y) / scale
    loss.backward()
    grad_max = _max_abs_grad(params)
    head_grad = _max_abs_grad(list(head.parameters())) if isinstance(head, nn.Module) else grad_max
    bias = getattr(head, "bias", None)
    bias_grad = float(bias.grad.abs().max()) if isinstance(bias, torch.Tensor) and bias.grad is not None \
        else float("nan")
    model.zero_grad()
    return {"n_iter": int(n_iter), "n_iter_head": int(n_head), "n_newton": int(n_newton),
            "loss": float(loss.detach()) * scale, "grad_max": grad_max, "head_grad_max": head_grad,
            "bias_grad_max": bias_grad, "seconds": time.perf_counter() - t0}


def binary_logits(s: torch.Tensor) -> torch.Tensor:
    r"""Two-class logits :math:`(0, s)` from one output logit ``s`` (``(N,)`` or ``(N, 1)``), so that
    ``softmax_cross_entropy(binary_logits(s), y, class_weight=[l0, l1])`` is the weighted binary
    cross-entropy with :math:`P(y{=}1\mid x) = \sigma(s)` (Li et al. 2020, Eq. 1 and the softmax/logistic
    equivalence right before it)."""
    s = s.reshape(-1, 1)
    return torch.cat([torch.zeros_like(s), s], dim=1)


class BinaryFit(NamedTuple):
    """Result of :func:`fit_binary`: the fitted float64 ``model`` (eval mode, with ``model.fit_info``, the
    dict of :func:`lbfgs_fit`) and ``prob(x) -> (N,)`` float64 :math:`P(y{=}1\\mid x)` (no gradient;
    ``x`` a tensor or an object with ``.x``)."""

    model: nn.Module
    prob: Callable[..., torch.Tensor]


def fit_binary(model_kind: str, data, *, lambda0: float, lambda1: float, seed: int, max_iter: int = 100,
               tolerance_grad: float = 1e-10) -> BinaryFit:
    r"""Fit a binary model by minimising the class-weighted cross-entropy of Li et al. 2020, Eq. (1),

    .. math:: L = -\lambda_1\sum_{S_1}\log\sigma(s(x)) - \lambda_0\sum_{S_0}\log(1-\sigma(s(x))),

    computed as ``softmax_cross_entropy(binary_logits(s), y, class_weight=[lambda0, lambda1],
    reduction="sum")``, by full-batch L-BFGS in float64 (:func:`lbfgs_fit`, output layer polished, so
    Eq. 10 holds on the training data to machine precision).

    Args:
        model_kind: ``"logistic"`` (logistic regression: ``d`` inputs -> 1 logit + bias; the paper's
            choice for Sim1) or ``"mlp"`` (``d``-10-1 network with sigmoid hidden units; the paper's
            (3, 10, 1) for Sim2). Both are :class:`lossnotes.models.MLP`.
        data: ``.x`` ``(N, d)`` and ``.y`` ``(N,)`` labels in {0, 1}.
        lambda0, lambda1: class weights > 0.
        seed: initialisation seed (the global RNG is left as it was).
        max_iter: L-BFGS iterations over all parameters (then up to 100 cheap ones over the output layer and a few Newton steps on its bias).
            Logistic regression converges in about 15 (max abs gradient ~1e-11). The MLP's loss keeps
            creeping down for thousands of iterations (<1% from 100 to 1000, with the test-set Eq. 10 LHS
            moving by about its run-to-run scatter or less); its output layer is then solved exactly.

    Runs on one torch thread (see :func:`lbfgs_fit`).
    """
    check_choice(model_kind, "model_kind", ("logistic", "mlp"))
    lambda0 = check_scalar(lambda0, "lambda0", low=0.0, low_open=True)
    lambda1 = check_scalar(lambda1, "lambda1", low=0.0, low_open=True)
    seed = _seed(seed)
    if not (hasattr(data, "x") and hasattr(data, "y")):
        raise ValueError(f"data must have attributes .x and .y, got {type(data).__name__}")
    x = torch.as_tensor(data.x, dtype=torch.float64)
    y = torch.as_tensor(data.y)
    if x.dim() != 2 or x.shape[0] != y.shape[0] or y.dim() != 1:
        raise ValueError(f"data.x must be (N, d) and data.y (N,), got {tuple(x.shape)} and {tuple(y.shape)}")
    hidden = () if model_kind == "logistic" else (10,)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = MLP(x.shape[1], hidden=hidden, num_classes=1, activation="sigmoid").double()
    weight = torch.tensor([lambda0, lambda1], dtype=torch.float64)

    def loss_fn(s, target):
        return softmax_cross_entropy(binary_logits(s), target, class_weight=weight, reduction="sum")

    model.fit_info = lbfgs_fit(model, loss_fn, x, y, max_iter=max_iter, tolerance_grad=tolerance_grad)

    @torch.no_grad()
    def prob(inputs) -> torch.Tensor:
        xs = torch.as_tensor(inputs.x if hasattr(inputs, "x") else inputs, dtype=torch.float64)
        return torch.sigmoid(model(xs).reshape(-1))

    return BinaryFit(model, prob)


# ------------------------------------------------------------------------------------------- Table 1

#: lambda0 of Table 1's three columns: as printed in the paper, and with N0 and N1 swapped (corrected).
TABLE1_LAMBDA0 = {
    "printed": ("1/2", "N0/(N0+N1)", "2N0/(2N0+N1)"),
    "corrected": ("1/2", "N1/(N0+N1)", "2N1/(2N1+N0)"),
}
_LAMBDA0_FORMULAS = {
    "1/2": lambda n0, n1: 0.5,
    "N0/(N0+N1)": lambda n0, n1: n0 / (n0 + n1),
    "2N0/(2N0+N1)": lambda n0, n1: 2 * n0 / (2 * n0 + n1),
    "N1/(N0+N1)": lambda n0, n1: n1 / (n0 + n1),
    "2N1/(2N1+N0)": lambda n0, n1: 2 * n1 / (2 * n1 + n0),
}

#: Li et al. 2020, Table 1 as printed: RHS and LHS mean (std) over 100 runs, per lambda0 column.
TABLE1_PAPER = {
    "lambda0": TABLE1_LAMBDA0["printed"],
    "rhs": (10.0, 1.0, 0.5),
    "sim1": ((10.05, 1.13), (1.00, 0.09), (0.50, 0.04)),
    "sim2": ((10.12, 0.67), (1.01, 0.05), (0.50, 0.03)),
}


def table1_lambda_settings(n0: int, n1: int, as_printed: bool) -> list[tuple[float, float]]:
    r"""The three :math:`(\lambda_0, \lambda_1)` of Li et al. 2020, Table 1, with :math:`\lambda_1 = 1-\lambda_0`.

    As printed, :math:`\lambda_0 \in \{1/2,\ N_0/(N_0+N_1),\ 2N_0/(2N_0+N_1)\}` with RHS 10, 1, 0.5. With the
    paper's :math:`(N_0, N_1) = (1000, 10000)` and :math:`\mathrm{rhs} = \lambda_1 N_1/(\lambda_0 N_0)`
    (Eq. 10) those give 10, **100** and **50**: only the first matches. Swapping :math:`N_0` and :math:`N_1` in
    the formulas, :math:`\lambda_0 \in \{1/2,\ N_1/(N_0+N_1),\ 2N_1/(2N_1+N_0)\}`, gives
    :math:`\mathrm{rhs} = N_1/N_0,\ 1,\ 1/2` = 10, 1, 0.5 for any :math:`N_0, N_1`: the printed RHS
    (inverse-frequency weights, then half of them for class 1). ``as_printed=False`` returns these.
    """
    n0, n1 = _counts(n0, n1)
    if n0 == 0 or n1 == 0:
        raise ValueError(f"n0 and n1 must both be positive, got n0={n0}, n1={n1}")
    if not isinstance(as_printed, bool):
        raise ValueError(f"as_printed must be a bool, got {as_printed!r}")
    names = TABLE1_LAMBDA0["printed" if as_printed else "corrected"]
    return [(lam0, 1.0 - lam0) for lam0 in (_LAMBDA0_FORMULAS[nm](n0, n1) for nm in names)]


def _resolve_settings(lambda_settings, n0, n1):
    if isinstance(lambda_settings, str):
        if lambda_settings not in TABLE1_LAMBDA0:
            raise ValueError(f"lambda_settings must be 'corrected', 'printed' or a list of (lambda0, lambda1) "
                             f"pairs or lambda0 names {tuple(_LAMBDA0_FORMULAS)}, got {lambda_settings!r}")
        lambda_settings = list(TABLE1_LAMBDA0[lambda_settings])
    if isinstance(lambda_settings, (str, bytes)) or not isinstance(lambda_settings, Sequence) \
            or len(lambda_settings) == 0:
        raise ValueError(f"lambda_settings must be a non-empty list, got {lambda_settings!r}")
    out = []
    for i, s in enumerate(lambda_settings):
        if isinstance(s, str):
            if s not in _LAMBDA0_FORMULAS:
                raise ValueError(f"lambda_settings[{i}]: unknown name {s!r}; names are {tuple(_LAMBDA0_FORMULAS)}")
            lam0 = _LAMBDA0_FORMULAS[s](n0, n1)
            out.append((s, lam0, 1.0 - lam0))
        elif isinstance(s, Sequence) and len(s) == 2 and all(isinstance(v, numbers.Real) for v in s):
            lam0 = check_scalar(s[0], f"lambda_settings[{i}][0] (lambda0)", low=0.0, low_open=True)
            lam1 = check_scalar(s[1], f"lambda_settings[{i}][1] (lambda1)", low=0.0, low_open=True)
            out.append((f"({lam0:.4g}, {lam1:.4g})", lam0, lam1))
        else:
            raise ValueError(f"lambda_settings[{i}] must be a (lambda0, lambda1) pair or a name, got {s!r}")
    return out


_SIMS = {"sim1": (sim1, "logistic"), "sim2": (sim2, "mlp")}


def table1(sim: str, *, runs: int, n_train=(1000, 10000), n_test=(1000, 1000), lambda_settings="corrected",
           seed: int = 0, progress: bool = True, model_kind: str | None = None, sim_kwargs: dict | None = None,
           max_iter: int = 100):
    r"""Rerun Li et al. 2020, Table 1: Eq. (10) checked by simulation.

    For each run: draw training data with ``n_train = (N0, N1)`` and test data with ``n_test`` from
    ``sim`` (the same distribution; one draw per run, shared by every lambda setting, and the same
    initialisation seed for all settings of a run), fit with each :math:`(\lambda_0, \lambda_1)`
    (:func:`fit_binary`), and evaluate both sides of Eq. (10),
    :math:`(1-\bar p_{0\to0})/\bar p_{1\to0}` vs :math:`\lambda_1 N_1/(\lambda_0 N_0)` (training N),
    on the training and on the test data. On training data the two sides agree to rounding (an identity at
    the optimum); on test data the LHS scatters around the RHS.

    Args:
        sim: ``"sim1"`` (fitted with logistic regression) or ``"sim2"`` (the (3, 10, 1) sigmoid MLP).
        runs: runs per setting (the paper: 100).
        lambda_settings: ``"corrected"`` (default; RHS 10, 1, 0.5), ``"printed"`` (the paper's lambda0 column
            as printed: RHS 10, 100, 50), or a list of ``(lambda0, lambda1)`` pairs and/or lambda0 formulas
            named as in ``TABLE1_LAMBDA0`` (e.g. ``"N1/(N0+N1)"``; then lambda1 = 1 - lambda0), computed
            with the training ``(N0, N1)``. See :func:`table1_lambda_settings`.
        seed: base seed; run r uses seeds derived from ``(seed, r)``.
        model_kind: override the model (``"logistic"`` or ``"mlp"``).
        sim_kwargs: passed to the generator (e.g. ``{"sigma_is": "std"}`` for sim2).
        max_iter: L-BFGS iterations of :func:`fit_binary`.

    Returns:
        ``pandas.DataFrame``, one row per (run, setting): ``sim``, ``setting``, ``lambda0``, ``lambda1``,
        ``run``, ``rhs``, ``lhs_train``, ``lhs_test``, ``p00_train``, ``p11_train``, ``p00_test``, ``p11_test``
        (:math:`\bar p_{i\to i}`), ``acc0_test``, ``acc1_test`` (per-class accuracy at 0.5), ``n_iter``,
        ``grad_max``, ``seconds``.
    """
    import pandas as pd
    from tqdm.auto import tqdm

    if sim not in _SIMS:
        raise ValueError(f"sim must be one of {tuple(_SIMS)}, got {sim!r}")
    gen, default_kind = _SIMS[sim]
    kind = default_kind if model_kind is None else check_choice(model_kind, "model_kind", ("logistic", "mlp"))
    runs = check_scalar(runs, "runs", low=1, integer=True)
    seed = _seed(seed)

    def pair(v, name):
        if isinstance(v, (str, bytes)) or not isinstance(v, Sequence) or len(v) != 2:
            raise ValueError(f"{name} must be a pair (N0, N1), got {v!r}")
        a, b = (_count(c, f"{name}[{i}]") for i, c in enumerate(v))
        if a == 0 or b == 0:
            raise ValueError(f"{name} must have both counts positive, got {v!r}")
        return a, b

    n0, n1 = pair(n_train, "n_train")
    t0, t1 = pair(n_test, "n_test")
    settings = _resolve_settings(lambda_settings, n0, n1)
    kwargs = dict(sim_kwargs or {})
    rows = []
    with tqdm(total=runs * len(settings), desc=f"table1 {sim}", disable=not show_progress(progress)) as bar, _threads(1):
        for r in range(runs):
            s_train, s_test, s_init = (int(v) for v in np.random.SeedSequence([seed, r]).generate_state(3))
            train = gen(n0, n1, seed=s_train, **kwargs)
            test = gen(t0, t1, seed=s_test, **kwargs)
            for name, lam0, lam1 in settings:
                fit = fit_binary(kind, train, lambda0=lam0, lambda1=lam1, seed=s_init, max_iter=max_iter)
                p_tr, p_te = fit.prob(train), fit.prob(test)
                lhs_tr, rhs = eq10_sides(p_tr, train.y, lam0, lam1)
                lhs_te, _ = eq10_sides(p_te, test.y, lam0, lam1)
                y_te = test.y
                info = fit.model.fit_info
                rows.append({
                    "sim": sim, "setting": name, "lambda0": lam0, "lambda1": lam1, "run": r,
                    "rhs": float(rhs), "lhs_train": float(lhs_tr), "lhs_test": float(lhs_te),
                    "p00_train": float((1 - p_tr[train.y == 0]).mean()), "p11_train": float(p_tr[train.y == 1].mean()),
                    "p00_test": float((1 - p_te[y_te == 0]).mean()), "p11_test": float(p_te[y_te == 1].mean()),
                    "acc0_test": float((p_te[y_te == 0] < 0.5).double().mean()),
                    "acc1_test": float((p_te[y_te == 1] >= 0.5).double().mean()),
                    "n_iter": info["n_iter"], "grad_max": info["grad_max"], "seconds": info["seconds"],
                })
                bar.update(1)
    return pd.DataFrame(rows)
