r"""Losses that change or replace the softmax output layer (chapter 08): the multiclass hinges and the
perceptron (the limits of the Fenchel-Young family), the spherical Z-loss, the log-sum-exp z-loss penalty,
the harmonic loss, the Taylor softmax and the sparse (top-k) softmax.

Sources:

* Crammer & Singer, "On the Algorithmic Implementation of Multiclass Kernel-based Vector Machines", JMLR 2001
  (Eq. 4); Weston & Watkins, "Support Vector Machines for Multi-Class Pattern Recognition", ESANN 1999.
* Rosenblatt 1958; Collins, "Discriminative Training Methods for Hidden Markov Models", EMNLP 2002 (the
  multiclass perceptron's update is the subgradient of :math:`\max_k z_k - z_y`).
* de Brebisson & Vincent, "The Z-loss: a shift and scale invariant classification loss belonging to the
  Spherical Family", arXiv:1604.08859, 2016.
* de Brebisson & Vincent, "An Exploration of Softmax Alternatives Belonging to the Spherical Loss Family",
  ICLR 2016, arXiv:1511.05042 (Taylor softmax).
* Chowdhery et al., "PaLM: Scaling Language Modeling with Pathways", arXiv:2204.02311 (Sec. 5, the auxiliary
  z-loss :math:`10^{-4}\log^2 Z`); Zoph et al., "ST-MoE: Designing Stable and Transferable Sparse Expert
  Models", arXiv:2202.08906 (the router z-loss, same form).
* Baek, Liu, Tegmark et al., "Harmonic Loss Trains Interpretable AI Models", arXiv:2502.01628, 2025.
* Sun et al., "Sparse-softmax: A Simpler and Faster Alternative Softmax Transformation", arXiv 2021.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .margin import _check_features_weight, _make_features_weight
from .reduction import reduce_loss
from .validation import checks_output, check_choice, check_class_target, check_logits, check_scalar, compute_dtype

__all__ = ["multiclass_hinge", "perceptron_loss", "spherical_z_loss", "logsumexp_z_loss", "harmonic_loss",
           "harmonic_logits", "taylor_logits", "taylor_softmax", "taylor_softmax_ce", "sparse_softmax", "sparse_softmax_ce",
           "TAYLOR_SOFTMAX_MAX_ORDER"]

#: Largest (even) order of the Taylor softmax: at |z| = 1e4, z^12/12! exceeds float32.
TAYLOR_SOFTMAX_MAX_ORDER = 10


def _setup(logits, target):
    check_logits(logits, min_classes=2)
    n, c = logits.shape
    target = check_class_target(target, n, c)
    z = logits.to(compute_dtype(logits))
    return z, target, z.gather(1, target[:, None]).squeeze(1)


def multiclass_hinge(logits, target, *, margin=1.0, variant="crammer_singer", reduction="mean"):
    r"""Multiclass hinge loss: Crammer & Singer (2001, Eq. 4) or Weston & Watkins (1999).

    .. math::
        \ell_{\rm CS} = \max\Bigl(0,\ \max_{k\ne y}\ m + z_k - z_y\Bigr), \qquad
        \ell_{\rm WW} = \sum_{k\ne y} \max(0,\ m + z_k - z_y)

    Convex and piecewise linear; :math:`m = 0` in the Crammer-Singer form is :func:`perceptron_loss`. The
    Crammer-Singer hinge is the limit :math:`t \to 0` of :math:`t\,\mathrm{CE}\bigl((z + m(\mathbf 1 - e_y))/t\bigr)`
    (a cost-augmented Fenchel-Young loss; chapter 08).

    Args:
        margin: :math:`m \ge 0` (1 in both papers).
        variant: ``"crammer_singer"`` (the largest violation) or ``"weston_watkins"`` (the sum of violations).
    """
    check_choice(variant, "variant", ("crammer_singer", "weston_watkins"))
    margin = check_scalar(margin, "margin", low=0.0)
    z, target, z_y = _setup(logits, target)
    violation = margin + z - z_y[:, None]
    if variant == "crammer_singer":
        per_sample = violation.scatter(1, target[:, None], 0.0).amax(dim=1)     # the true class contributes 0
    else:
        per_sample = F.relu(violation).scatter(1, target[:, None], 0.0).sum(dim=1)
    return reduce_loss(per_sample, reduction)


@checks_output
def perceptron_loss(logits, target, *, reduction="mean"):
    r"""Multiclass perceptron loss (Rosenblatt 1958; Collins 2002): the score gap to the best class.

    .. math::
        \ell = \max_k z_k - z_y \;\ge 0

    Convex, zero whenever the prediction is right (no margin); the limit :math:`t\to0` of
    :math:`t\,L_\Omega(z/t; y)` for every Fenchel-Young loss (Blondel et al. 2020, Prop. 4).
    """
    z, _, z_y = _setup(logits, target)
    return reduce_loss(z.amax(dim=1) - z_y, reduction)


@checks_output
def spherical_z_loss(logits, target, *, a, b, reduction="mean"):
    r"""Z-loss (de Brebisson & Vincent 2016, Eq. 5): a softplus of the target's z-score.

    .. math::
        \tilde z_y = \frac{z_y - \mu}{\sigma},\quad \mu = \frac1K\sum_k z_k,\quad
        \sigma^2 = \frac1K\sum_k (z_k - \mu)^2, \qquad \ell = \frac1a \log\bigl(1 + e^{a(b - \tilde z_y)}\bigr)

    Invariant to :math:`z \to \alpha z + \beta` (:math:`\alpha > 0`); bounded, since
    :math:`|\tilde z_y| \le \sqrt{K - 1}`. Not PaLM's log-sum-exp z-loss (:func:`logsumexp_z_loss`). A sample
    whose logits are all equal has :math:`\sigma = 0`; it is given :math:`\tilde z_y = 0`.

    Args:
        a: :math:`a > 0`, the softplus sharpness; b: the target z-score at which the loss bends. Both are tuned
            in the paper (no defaults here: the paper's values are per task).
    """
    z, target, z_y = _setup(logits, target)                  # the inputs first: a malformed call names them
    a = check_scalar(a, "a", low=0.0, low_open=True)
    b = check_scalar(b, "b")
    mu = z.mean(dim=1)
    var = ((z - mu[:, None]) ** 2).mean(dim=1)
    sigma = torch.sqrt(torch.clamp(var, min=torch.finfo(z.dtype).tiny))
    z_tilde = (z_y - mu) / sigma
    return reduce_loss(F.softplus(a * (b - z_tilde)) / a, reduction)


@checks_output
def logsumexp_z_loss(logits, target, *, coef=1e-4, reduction="mean"):
    r"""Cross-entropy plus the auxiliary z-loss of PaLM (Chowdhery et al. 2022, Sec. 5) and ST-MoE (Zoph et al.
    2022, Eq. 5): a penalty that keeps the log-partition near 0.

    .. math::
        \ell = \log Z - z_y + c\,(\log Z)^2, \qquad \log Z = \log\sum_k e^{z_k}

    Not shift invariant (the penalty pins :math:`\log Z`). Convex where :math:`\log Z \ge -1/(2c)` (the Hessian
    is :math:`(1 + 2c\log Z)\,\nabla^2\log Z + 2c\,\nabla\log Z\,\nabla\log Z^\top`), not everywhere.

    Args:
        coef: :math:`c \ge 0`; :math:`10^{-4}` in both papers.
    """
    coef = check_scalar(coef, "coef", low=0.0)
    z, _, z_y = _setup(logits, target)
    lse = torch.logsumexp(z, dim=1)
    return reduce_loss(lse - z_y + coef * lse * lse, reduction)


def harmonic_logits(features, weight, *, n):
    r"""The harmonic layer's logits :math:`-n \log d_k`, :math:`d_k = \lVert x - w_k\rVert_2` (N, C): their
    softmax is the harmonic max :math:`p_k = d_k^{-n}/\sum_j d_j^{-n}` (Baek et al. 2025, Eq. 2)."""
    x, w, _ = _check_features_weight(features, weight)
    n = check_scalar(n, "n", low=0.0, low_open=True)
    # differences, not |x|^2 - 2 x.w + |w|^2 (which cancels near d = 0, where the loss is minimised), and no
    # (N, C, d) tensor; cdist's backward is 0 at d = 0, and the clamp keeps log d finite there
    d = torch.cdist(x, w, compute_mode="donot_use_mm_for_euclid_dist")
    return -n * torch.log(torch.clamp(d, min=torch.finfo(d.dtype).tiny))


@checks_output
def harmonic_loss(features, weight, target, *, n, reduction="mean"):
    r"""Harmonic loss (Baek et al. 2025, Eq. 2-3): cross-entropy of the harmonic max of the distances from
    the features to the class centres ``weight``.

    .. math::
        d_k = \lVert x - w_k\rVert_2,\qquad p_k = \frac{d_k^{-n}}{\sum_j d_j^{-n}} = \mathrm{softmax}(-n\log d)_k,
        \qquad \ell = -\log p_y

    Inputs as the margin losses (``features (N, d)``, ``weight (C, d)``). Invariant to a common scale of
    features and weights (:math:`d_k \to s\,d_k` leaves :math:`p` unchanged); its infimum 0 is reached at
    :math:`x = w_y`, the class centre (a finite minimiser, unlike CE's logits that grow without bound).

    Args:
        n: the harmonic exponent :math:`n > 0`, tuned per experiment in the paper (no default here).
    """
    x, w, target = _check_features_weight(features, weight, target)
    logits = harmonic_logits(x, w, n=n)
    return reduce_loss(-F.log_softmax(logits, dim=1).gather(1, target[:, None]).squeeze(1), reduction)


def _check_order(order):
    order = check_scalar(order, "order", low=2, high=TAYLOR_SOFTMAX_MAX_ORDER, integer=True)
    if order % 2:
        raise ValueError(f"order must be even (an odd Taylor polynomial of exp takes negative values), got {order!r}")
    return order


def _log_taylor_exp(z, order):
    r""":math:`\log \sum_{k=0}^{t} z^k/k!` (positive for even :math:`t`), by Horner."""
    f = torch.ones_like(z)
    for k in range(order, 0, -1):
        f = 1.0 + z * f / k
    return torch.log(f)


def taylor_logits(logits, *, order=2):
    r""":math:`\log f(z_k)`, :math:`f(z) = \sum_{i=0}^{t} z^i/i!`: the logits whose softmax is the Taylor softmax,
    so that ``taylor_softmax_ce(z, y) == softmax_cross_entropy(taylor_logits(z), y)``. :math:`f` is not monotone
    (at :math:`t = 2` it grows again below :math:`z = -1`), so the class the Taylor softmax predicts is the argmax of
    these, not of :math:`z`."""
    order = _check_order(order)
    check_logits(logits)
    return _log_taylor_exp(logits.to(compute_dtype(logits)), order)


def taylor_softmax(logits, *, order=2):
    r"""Taylor softmax :math:`p_k = f(z_k)/\sum_j f(z_j)`, :math:`f(z) = \sum_{k=0}^{t} z^k/k!` (de Brebisson &
    Vincent 2016, Sec. 3.2), even order :math:`t \in [2, 10]`."""
    order = _check_order(order)
    check_logits(logits)
    logf = _log_taylor_exp(logits.to(compute_dtype(logits)), order)
    return torch.softmax(logf, dim=1).to(logits.dtype)


@checks_output
def taylor_softmax_ce(logits, target, *, order=2, reduction="mean"):
    r"""Cross-entropy of the Taylor softmax (de Brebisson & Vincent 2016, Sec. 3.2), a member of the spherical
    family.

    .. math::
        p_k = \frac{f(z_k)}{\sum_j f(z_j)},\quad f(z) = \sum_{i=0}^{t} \frac{z^i}{i!},\qquad \ell = -\log p_y

    :math:`t = 2`: :math:`f(z) = 1 + z + z^2/2 > 0`. Even orders only (every even Taylor polynomial of exp is
    positive). Not shift invariant, and :math:`f` is not monotone (it grows again for :math:`z < -1` at
    :math:`t = 2`): a very negative logit raises its class's probability.

    See also :func:`lossnotes.losses.taylor_ce` (Feng et al. 2020), a different loss with a similar name: the
    Taylor series of CE in :math:`1 - p_y` for label noise, on the ordinary softmax.

    Args:
        order: even integer :math:`t \in [2, 10]`; 2 is the paper's.
    """
    order = _check_order(order)
    z, target, _ = _setup(logits, target)
    logf = _log_taylor_exp(z, order)
    return reduce_loss(torch.logsumexp(logf, dim=1) - logf.gather(1, target[:, None]).squeeze(1), reduction)


def sparse_softmax(logits, *, k):
    r"""Sparse softmax (Sun et al. 2021): :math:`p_j = e^{z_j}/\sum_{i\in\mathrm{top}_k(z)} e^{z_i}` on the
    :math:`k` largest logits, 0 elsewhere (ties broken by ``torch.topk``); :math:`k \ge K` is softmax."""
    check_logits(logits)
    k = min(check_scalar(k, "k", low=1, integer=True), logits.shape[1])
    z = logits.to(compute_dtype(logits))
    _, idx = torch.topk(z, k, dim=1)
    keep = torch.zeros_like(z, dtype=torch.bool).scatter_(1, idx, True)
    return torch.softmax(z.masked_fill(~keep, float("-inf")), dim=1).to(logits.dtype)


@checks_output
def sparse_softmax_ce(logits, target, *, k, reduction="mean"):
    r"""Sparse-softmax cross-entropy (Sun et al. 2021): the softmax restricted to the :math:`k` largest logits.

    .. math::
        \ell = \log \sum_{j \in T} e^{z_j} - z_y, \qquad T = \mathrm{top}_k(z) \cup \{y\}

    When :math:`y` is among the top :math:`k` this is the CE of :math:`p_j = e^{z_j}/\sum_{i\in\mathrm{top}_k}
    e^{z_i}` (0 outside the top :math:`k`); otherwise the target joins the set, so the loss stays finite and its
    gradient pushes :math:`z_y` up and the top :math:`k` down. :math:`k \ge K` is CE. Not convex (the set
    :math:`T` changes with :math:`z`); ties are broken by ``torch.topk``.

    Args:
        k: integer :math:`k \ge 1` (tuned in the paper; no default here).
    """
    z, target, z_y = _setup(logits, target)
    k = check_scalar(k, "k", low=1, integer=True)
    k = min(k, z.shape[1])
    top, idx = torch.topk(z, k, dim=1)
    lse_top = torch.logsumexp(top, dim=1)
    inside = (idx == target[:, None]).any(dim=1)
    lse = torch.where(inside, lse_top, torch.logaddexp(lse_top, z_y))
    return reduce_loss(lse - z_y, reduction)


def _register():
    from .. import symbolic
    from ..registry import LossSpec, register

    spherical = "de Brebisson & Vincent 2016, The Z-loss: a shift and scale invariant classification loss (arXiv:1604.08859)"
    register(LossSpec(
        name="multiclass_hinge", fn=multiclass_hinge, twin=symbolic.multiclass_hinge, family="softmax_alternatives",
        paper="Crammer & Singer 2001 (JMLR); Weston & Watkins 1999 (ESANN)",
        equation="Crammer-Singer Eq. (4); Weston-Watkins sum of hinges",
        defaults={"margin": 1.0, "variant": "crammer_singer"}, claims=frozenset({"convex"}),
        test_params=({}, {"variant": "weston_watkins"}, {"margin": 0.5, "variant": "weston_watkins"},
                     {"margin": 0.0}),
        bad_params=[({"variant": "ova"}, ValueError, "variant"), ({"margin": -1.0}, ValueError, "margin")]))
    register(LossSpec(
        name="perceptron_loss", fn=perceptron_loss, twin=symbolic.perceptron_loss, family="softmax_alternatives",
        paper="Rosenblatt 1958; Collins 2002 (EMNLP), multiclass perceptron", equation="max_k z_k - z_y",
        defaults={}, claims=frozenset({"convex"})))
    register(LossSpec(
        name="spherical_z_loss", fn=spherical_z_loss, twin=symbolic.spherical_z_loss, family="softmax_alternatives",
        paper=spherical, equation="Eq. (5), softplus of the z-normalised target logit", defaults={},
        claims=frozenset({"bounded"}),
        test_params=({"a": 1.0, "b": 1.0}, {"a": 0.1, "b": 10.0}, {"a": 5.0, "b": -0.5}),
        bad_params=[({"a": 0.0}, ValueError, "a"), ({"a": -1.0}, ValueError, "a"), ({"b": float("nan")}, ValueError, "b")],
        extra={"required_params": lambda c: {"a": 1.0, "b": 1.0}}))
    register(LossSpec(
        name="logsumexp_z_loss", fn=logsumexp_z_loss, twin=symbolic.logsumexp_z_loss, family="softmax_alternatives",
        paper="Chowdhery et al. 2022, PaLM (arXiv:2204.02311), Sec. 5; Zoph et al. 2022, ST-MoE, Eq. (5)",
        equation="CE + coef * (log Z)^2", defaults={"coef": 1e-4},
        test_params=({}, {"coef": 0.0}, {"coef": 0.1}),
        bad_params=[({"coef": -1e-4}, ValueError, "coef")]))
    register(LossSpec(
        name="harmonic_loss", fn=harmonic_loss, twin=symbolic.harmonic_loss, family="softmax_alternatives",
        paper="Baek et al. 2025, Harmonic Loss Trains Interpretable AI Models (arXiv:2502.01628)",
        equation="Eq. (2)-(3), p_k proportional to d_k^-n", defaults={}, inputs=("features", "weight"),
        test_params=({"n": 2.0}, {"n": 0.5}, {"n": 7.0}),
        bad_params=[({"n": 0.0}, ValueError, "n"), ({"n": -2.0}, ValueError, "n")],
        extra={"make_inputs": _make_features_weight, "required_params": lambda c: {"n": 2.0}}))
    register(LossSpec(
        name="taylor_softmax_ce", fn=taylor_softmax_ce, twin=symbolic.taylor_softmax_ce, family="softmax_alternatives",
        paper="de Brebisson & Vincent 2016, An Exploration of Softmax Alternatives Belonging to the Spherical Loss "
              "Family (ICLR)", equation="Sec. 3.2, f(z) = sum_{i<=t} z^i / i!", defaults={"order": 2},
        test_params=({}, {"order": 4}, {"order": 10}),
        bad_params=[({"order": 3}, ValueError, "order"), ({"order": 0}, ValueError, "order"),
                    ({"order": 12}, ValueError, "order"), ({"order": 2.5}, ValueError, "order")]))
    register(LossSpec(
        name="sparse_softmax_ce", fn=sparse_softmax_ce, twin=symbolic.sparse_softmax_ce, family="softmax_alternatives",
        paper="Sun et al. 2021, Sparse-softmax: A Simpler and Faster Alternative Softmax Transformation (arXiv)",
        equation="CE of the softmax over top_k(z), target added when outside", defaults={},
        test_params=({"k": 1}, {"k": 2}, {"k": 3}, {"k": 5}),
        bad_params=[({"k": 0}, ValueError, "k"), ({"k": 1.5}, ValueError, "k")],
        extra={"required_params": lambda c: {"k": min(3, c)}}))


_register()
