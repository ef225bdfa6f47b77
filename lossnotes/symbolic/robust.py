r"""Symbolic twins of :mod:`lossnotes.losses.robust` (losses robust to label noise), written from the papers'
formulas literally (softmax probabilities, :math:`1 - p`, sums over the classes), not from the torch code's
log-space rewrites.

The bi-tempered loss's normalisation :math:`\lambda_t(z)` has no closed form: :class:`TemperedLogPartition`
is a SymPy function whose value is found numerically (its own bisection, independent of the torch code; or the
official code's few fixed-point / bisection steps) and whose derivative is the escort distribution given by the
implicit function theorem, so SymPy differentiates the loss through it. ALDR-KL's per-sample KL weight
:math:`\lambda^*` is one the same way (:class:`AldrLambda`).
"""
from __future__ import annotations

import math

import numpy as np
import sympy as sp

from .core import StopGradient, as_list, as_rows, log_softmax_row, logsumexp, softmax_row, stop_gradient

__all__ = ["mae_loss", "generalized_ce", "comp_sum", "normalized_ce", "reverse_ce", "normalized_focal",
           "active_passive", "symmetric_ce", "taylor_ce", "bi_tempered_logistic", "ldr_kl",
           "aldr_kl", "AldrLambda", "TemperedLogPartition", "OfficialTemperedLogPartition", "exp_t", "log_t",
           "tempered_probabilities"]

_OFFICIAL_LOG_ZERO = sp.log(sp.Rational(1, 10 ** 4))
_OFFICIAL_P_MIN = sp.Float(1e-7)


def _num(x):
    return sp.nsimplify(x, rational=True) if isinstance(x, float) else sp.sympify(x)


def _rows(z, target):
    return list(zip(as_rows(z), as_list(target)))


def mae_loss(z, target, *, variant="paper"):
    r""":math:`\sum_k |p_k - e_{yk}|` (paper) or :math:`1 - p_y` (official)."""
    out = []
    for row, y in _rows(z, target):
        p = softmax_row(row)
        if variant == "official":
            out.append(1 - p[y])
        else:
            out.append(sum((1 - pk) if k == y else pk for k, pk in enumerate(p)))   # |p_k - e_yk|, p in [0, 1]
    return out


def generalized_ce(z, target, *, q=0.7):
    r""":math:`(1 - p_y^q)/q`."""
    q = _num(q)
    return [(1 - softmax_row(row)[y] ** q) / q for row, y in _rows(z, target)]


def comp_sum(z, target, *, tau):
    r""":math:`\Phi^\tau(u)`, :math:`u = \sum_{k\ne y} e^{z_k - z_y}` (Mao et al. 2023)."""
    tau = _num(tau)
    out = []
    for row, y in _rows(z, target):
        u = sum(sp.exp(v - row[y]) for k, v in enumerate(row) if k != y)
        out.append(sp.log(1 + u) if tau == 1 else ((1 + u) ** (1 - tau) - 1) / (1 - tau))
    return out


def normalized_ce(z, target):
    r""":math:`\log p_y / \sum_k \log p_k`."""
    out = []
    for row, y in _rows(z, target):
        logp = log_softmax_row(row)
        out.append(logp[y] / sum(logp))
    return out


def _rce_row(p, y, log_zero, variant):
    if variant == "official":
        return -_OFFICIAL_LOG_ZERO * sum(sp.Max(pk, _OFFICIAL_P_MIN) for k, pk in enumerate(p) if k != y)
    a = _num(log_zero)
    return -sum(pk * (0 if k == y else a) for k, pk in enumerate(p))        # -sum_k p_k log q_k, log 0 := A


def reverse_ce(z, target, *, log_zero=-4.0, variant="paper"):
    r""":math:`-\sum_k p_k \log q_k` with :math:`\log 0 = A` (official: A = log 1e-4, p clamped at 1e-7)."""
    return [_rce_row(softmax_row(row), y, log_zero, variant) for row, y in _rows(z, target)]


def _focal_row(row, gamma, variant):
    g = _num(gamma)
    p, logp = softmax_row(row), log_softmax_row(row)
    factor = [(1 - pk) ** g for pk in p]
    if variant == "official":
        factor = [stop_gradient(f) for f in factor]
    return [-f * lp for f, lp in zip(factor, logp)]


def _nfl_row(row, y, gamma, variant):
    fl = _focal_row(row, gamma, variant)
    den = sum(fl)
    return fl[y] / (stop_gradient(den) if variant == "official" else den)


def normalized_focal(z, target, *, gamma=0.5, variant="paper"):
    r""":math:`\mathrm{FL}_y / \sum_k \mathrm{FL}_k`, :math:`\mathrm{FL}_k = -(1-p_k)^\gamma \log p_k`."""
    return [_nfl_row(row, y, gamma, variant) for row, y in _rows(z, target)]


def active_passive(z, target, *, active="nce", passive="rce", alpha=1.0, beta=1.0, gamma=0.5, log_zero=-4.0,
                   variant="paper"):
    r""":math:`\alpha\,\ell_{\rm active} + \beta\,\ell_{\rm passive}`."""
    out = []
    for row, y in _rows(z, target):
        logp, p = log_softmax_row(row), softmax_row(row)
        act = {"nce": lambda: logp[y] / sum(logp), "ce": lambda: -logp[y],
               "nfl": lambda: _nfl_row(row, y, gamma, variant),
               "fl": lambda: _focal_row(row, gamma, variant)[y]}[active]()
        if passive == "rce":
            pas = _rce_row(p, y, log_zero, variant)
        else:
            pas = (1 - p[y]) if variant == "official" else sum(abs(pk - (1 if k == y else 0)) for k, pk in enumerate(p))
        out.append(_num(alpha) * act + _num(beta) * pas)
    return out


def symmetric_ce(z, target, *, alpha=0.1, beta=1.0, log_zero=-4.0, variant="paper"):
    r""":math:`\alpha\,\mathrm{CE} + \beta\,\mathrm{RCE}`."""
    return [_num(alpha) * (-log_softmax_row(row)[y]) + _num(beta) * _rce_row(softmax_row(row), y, log_zero, variant)
            for row, y in _rows(z, target)]


def taylor_ce(z, target, *, order=2):
    r""":math:`\sum_{k=1}^t (1 - p_y)^k / k`."""
    return [sum((1 - softmax_row(row)[y]) ** k / k for k in range(1, int(order) + 1)) for row, y in _rows(z, target)]


def ldr_kl(z, target, *, lam=1.0, margin=1.0):
    r""":math:`\lambda \log\bigl(\frac1K \sum_k e^{(c\,1[k\ne y] + z_k - z_y)/\lambda}\bigr)`."""
    lam, c = _num(lam), _num(margin)
    out = []
    for row, y in _rows(z, target):
        k = len(row)
        terms = [((0 if j == y else c) + v - row[y]) / lam for j, v in enumerate(row)]
        out.append(lam * sp.log(sum(sp.exp(s) for s in terms) / k))
    return out


# ---- adaptive LDR-KL: the adversary's KL weight as an implicit function ----------------------------

def _aldr_objective_np(d, lam, lam0, alpha):
    """(F, G) of the ALDR-KL objective at lam (float64 numpy; G = dF/dlam)."""
    k = len(d)
    u = d / lam
    top = u.max()
    z = np.sum(np.exp(u - top))
    log_p = u - top - math.log(z)
    p = np.exp(log_p)
    a = alpha * math.log(k) / lam0
    value = lam * (top + math.log(z) - math.log(k)) - 0.5 * a * (lam - lam0) ** 2
    return value, -(float(np.sum(p * log_p)) + math.log(k)) - a * (lam - lam0)


def _numeric_aldr_lambda(alpha, lam0, *ds):
    r"""Float64 :math:`\lambda^*`: the largest objective on a grid of 4097 points of
    :math:`[\lambda_0(1 - 1/\alpha), \lambda_0]`, then bisection of its derivative between the grid point's
    neighbours down to adjacent floats (independent of the torch code's scan and Newton steps)."""
    alpha, lam0 = float(alpha), float(lam0)
    d = np.array([float(v) for v in ds], dtype=np.float64)
    lo = lam0 * (1.0 - 1.0 / alpha)
    grid = np.linspace(lo, lam0, 4097)
    j = int(np.argmax([_aldr_objective_np(d, g, lam0, alpha)[0] for g in grid]))
    left, right = grid[max(j - 1, 0)], grid[min(j + 1, len(grid) - 1)]
    if _aldr_objective_np(d, left, lam0, alpha)[1] <= 0:            # F' <= 0 at the left end: the maximiser is lo
        return left
    while True:
        mid = 0.5 * (left + right)
        if mid in (left, right):
            break
        if _aldr_objective_np(d, mid, lam0, alpha)[1] > 0:
            left = mid
        else:
            right = mid
    # the two ends are adjacent floats: take the one with the smaller residual
    residual = [abs(_aldr_objective_np(d, x, lam0, alpha)[1]) for x in (left, right)]
    return left if residual[0] <= residual[1] else right


class AldrLambda(sp.Function):
    r""":math:`\lambda^*(d)`, the maximiser over :math:`\lambda` of the ALDR-KL objective
    :math:`\lambda\log\frac1K\sum_k e^{d_k/\lambda} - \frac{\alpha\log K}{2\lambda_0}(\lambda - \lambda_0)^2`.
    Arguments: ``(alpha, lam0, d_0, ..., d_{K-1})``. Its value is found numerically; its derivatives are the
    implicit function theorem's at the root of :math:`G = -\mathrm{KL}(p_\lambda\,\|\,\mathbf 1/K)
    - \frac{\alpha\log K}{\lambda_0}(\lambda - \lambda_0)`: :math:`\partial\lambda^*/\partial\theta =
    -(\partial G/\partial\theta)/(\partial G/\partial\lambda)`, with :math:`\partial G/\partial\lambda =
    \mathrm{Var}_{p}(d/\lambda)/\lambda - \alpha\log K/\lambda_0` and :math:`\partial G/\partial d_k =
    -p_k(d_k/\lambda - \mathbb E_p[d/\lambda])/\lambda`. (The loss's own first derivative does not need them:
    :math:`\partial F/\partial\lambda = 0` at :math:`\lambda^*`, so they enter multiplied by a residual of
    float64 size; they make the twin's second derivatives the loss's true ones.)"""

    _imp_ = staticmethod(_numeric_aldr_lambda)

    def fdiff(self, argindex=1):
        alpha, lam0, ds = self.args[0], self.args[1], self.args[2:]
        lam, log_k = self, sp.log(len(ds))
        u = [v / lam for v in ds]
        e = [sp.exp(v) for v in u]
        p = [v / sum(e) for v in e]
        mean = sum(pk * uk for pk, uk in zip(p, u))
        dg_dlam = sum(pk * (uk - mean) ** 2 for pk, uk in zip(p, u)) / lam - alpha * log_k / lam0
        if argindex == 1:
            dg = -(log_k / lam0) * (lam - lam0)
        elif argindex == 2:
            dg = alpha * log_k * lam / lam0 ** 2
        else:
            k = argindex - 3
            dg = -p[k] * (u[k] - mean) / lam
        return -dg / dg_dlam

    def _eval_evalf(self, prec):
        return sp.Float(_numeric_aldr_lambda(*[float(a) for a in self.args]), prec)

    def _latex(self, printer):
        return r"\lambda^*"


def aldr_kl(z, target, *, lam=10.0, margin=0.1, alpha=2.0):
    r""":math:`\lambda^*\log\bigl(\frac1K\sum_k e^{d_k/\lambda^*}\bigr)
    - \frac{\alpha\log K}{2\lambda_0}(\lambda^* - \lambda_0)^2`,
    :math:`d_k = c\,1[k\ne y] + z_k - z_y`, :math:`\lambda^*` = :class:`AldrLambda` (the maximiser)."""
    lam0, c, alpha = _num(lam), _num(margin), _num(alpha)
    out = []
    for row, y in _rows(z, target):
        k = len(row)
        d = [(0 if j == y else c) + v - row[y] for j, v in enumerate(row)]
        lam_star = AldrLambda(alpha, lam0, *d)
        out.append(lam_star * sp.log(sum(sp.exp(v / lam_star) for v in d) / k)
                   - alpha * sp.log(k) / (2 * lam0) * (lam_star - lam0) ** 2)
    return out


# ---- tempered logarithm, exponential and normalisation ----------------------------------------------

def log_t(x, t):
    r""":math:`\log_t x = (x^{1-t} - 1)/(1 - t)`; :math:`\log x` at :math:`t = 1`."""
    t = _num(t)
    return sp.log(x) if t == 1 else (x ** (1 - t) - 1) / (1 - t)


def exp_t(u, t):
    r""":math:`\exp_t u = [1 + (1-t)u]_+^{1/(1-t)}`; :math:`e^u` at :math:`t = 1`."""
    t = _num(t)
    if t == 1:
        return sp.exp(u)
    base = 1 + (1 - t) * u
    return base ** (1 / (1 - t)) if t > 1 else sp.Piecewise((base ** (1 / (1 - t)), base > 0), (0, True))


def _power_of_exp_t(u, t, a):
    r""":math:`\exp_t(u)^a` written as one power of the base (so its derivative is finite at the support's edge)."""
    if t == 1:
        return sp.exp(a * u)
    base = 1 + (1 - t) * u
    if t > 1:
        return base ** (a / (1 - t))
    return sp.Piecewise((base ** (a / (1 - t)), base > 0), (0, True))


def _numeric_residual(a, mu, t):
    base = np.maximum(1.0 + (1.0 - t) * (a - mu), 0.0)
    return float(np.sum(base ** (1.0 / (1.0 - t)))) - 1.0


def _numeric_log_partition(t, num_iters, exact, *zs):
    r"""Float64 :math:`\lambda_t(z)`: ``exact`` by bisection to the last bit; otherwise the official code's
    ``num_iters`` fixed-point steps (t > 1) or bisection steps (t < 1)."""
    t, num_iters = float(t), int(num_iters)
    z = np.array([float(v) for v in zs], dtype=np.float64)
    top = z.max()
    a = z - top
    if exact:
        lo, hi = 0.0, (len(z) ** (abs(t - 1.0)) + 1.0) / abs(1.0 - t) + 1.0
        while _numeric_residual(a, hi, t) > 0:
            hi *= 2.0
        for _ in range(2000):
            mid = 0.5 * (lo + hi)
            if mid in (lo, hi):
                break
            if _numeric_residual(a, mid, t) < 0:
                hi = mid
            else:
                lo = mid
        # the two ends are adjacent floats: take the one with the smaller residual
        mu = lo if abs(_numeric_residual(a, lo, t)) <= abs(_numeric_residual(a, hi, t)) else hi
        return top + mu
    if t > 1.0:
        na = a.copy()
        for _ in range(num_iters):
            part = np.sum((1.0 + (1.0 - t) * na) ** (1.0 / (1.0 - t)))
            na = a * part ** (1.0 - t)
        part = np.sum((1.0 + (1.0 - t) * na) ** (1.0 / (1.0 - t)))
        return top + (part ** (t - 1.0) - 1.0) / (t - 1.0)
    eff = float(np.sum(a > -1.0 / (1.0 - t)))
    lo, hi = 0.0, (eff ** (t - 1.0) - 1.0) / (t - 1.0)
    for _ in range(num_iters):
        mid = 0.5 * (lo + hi)
        if _numeric_residual(a, mid, t) < 0:
            hi = mid
        else:
            lo = mid
    return top + 0.5 * (lo + hi)


class TemperedLogPartition(sp.Function):
    r""":math:`\lambda_t(z)` with :math:`\sum_k \exp_t(z_k - \lambda) = 1`. Arguments: ``(t, num_iters, exact,
    z_0, ..., z_{K-1})``; ``exact = 1`` solves exactly (``num_iters`` unused), ``exact = 0`` takes the official
    code's ``num_iters`` steps. Derivative in :math:`z_j`: the escort :math:`p_j^t / \sum_k p_k^t` at the value."""

    _imp_ = staticmethod(_numeric_log_partition)

    def fdiff(self, argindex=1):
        if argindex <= 3:
            return sp.S.Zero
        t, zs = self.args[0], self.args[3:]
        w = [_power_of_exp_t(v - self, t, t) for v in zs]
        return w[argindex - 4] / sum(w)

    def _eval_evalf(self, prec):
        return sp.Float(_numeric_log_partition(*[float(a) for a in self.args]), prec)


class OfficialTemperedLogPartition(StopGradient):
    r"""The official code's :math:`\lambda_t(z)`: ``num_iters`` fixed-point (t > 1) or bisection (t < 1) steps,
    same arguments as :class:`TemperedLogPartition` (``exact = 0``). Its derivative is the escort at this
    approximate value (the official custom gradient), which is *not* the derivative of the value (a few bisection
    steps are piecewise constant in z): a :class:`StopGradient` with a substitute gradient, so checks that
    differentiate the value numerically (gradcheck) know to skip it."""

    nargs = None
    _imp_ = staticmethod(_numeric_log_partition)

    def fdiff(self, argindex=1):
        return TemperedLogPartition.fdiff(self, argindex)

    def _eval_evalf(self, prec):
        return sp.Float(_numeric_log_partition(*[float(a) for a in self.args]), prec)

    def _latex(self, printer):
        return r"\lambda^{\rm official}_{" + printer._print(self.args[0]) + "}"


def tempered_probabilities(row, t, *, num_iters=5, exact=True):
    r""":math:`p_k = \exp_t(z_k - \lambda_t(z))` for one sample (a list of SymPy expressions)."""
    t = _num(t)
    if t == 1:
        lam = logsumexp(row)
    elif exact:
        lam = TemperedLogPartition(t, int(num_iters), 1, *row)
    else:
        lam = OfficialTemperedLogPartition(t, int(num_iters), 0, *row)
    return [exp_t(v - lam, t) for v in row], lam


def bi_tempered_logistic(z, target, *, t1=0.8, t2=1.2, label_smoothing=0.0, num_iters=5, variant="paper"):
    r""":math:`\sum_k y_k(\log_{t_1} y_k - \log_{t_1} p_k) - \frac{1}{2-t_1}(y_k^{2-t_1} - p_k^{2-t_1})`,
    :math:`p` the tempered softmax of :math:`t_2` (Amid et al. 2019, Eq. 13)."""
    t1, t2, eps = _num(t1), _num(t2), _num(label_smoothing)
    shift = sp.Float(1e-10) if variant == "official" else 0
    beta = 2 - t1
    out = []
    for row, y in _rows(z, target):
        c = len(row)
        _, lam = tempered_probabilities(row, t2, num_iters=num_iters, exact=variant == "paper")
        labels = [(1 - eps * c / (c - 1)) * (1 if k == y else 0) + eps / (c - 1) for k in range(c)]
        loss = 0
        for yk, v in zip(labels, row):
            u = v - lam
            p_pow = _power_of_exp_t(u, t2, 1 - t1)                  # p^{1 - t1}
            log_t_p = (v - lam if t2 == 1 else sp.log(1 + (1 - t2) * u) / (1 - t2)) if t1 == 1 \
                else (p_pow - 1) / (1 - t1)
            if yk != 0:
                loss += yk * (log_t(yk + shift, t1) - log_t_p) - yk ** beta / beta
            loss += _power_of_exp_t(u, t2, beta) / beta
        out.append(loss)
    return out
