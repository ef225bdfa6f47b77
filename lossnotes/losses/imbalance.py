r"""Losses for class imbalance and long tails (chapter 06): focal, class-balanced, logit adjustment,
balanced softmax, LDAM(-DRW), VS.

All take class-index targets, ``fn(logits, target, *, hyper-parameters, reduction="mean")``, and work from
:math:`\log p = \log\mathrm{softmax}(z)`. Imbalance-aware losses take ``class_counts`` (integer ``(C,)``) or
``class_prior`` (float ``(C,)`` summing to 1), both checked like every other argument.

Sources (defaults are the papers'; where an official code computes something else, ``variant="official"``):

* Lin, Goyal, Girshick, He & Dollar, "Focal Loss for Dense Object Detection", ICCV 2017, arXiv:1708.02002.
* Cui, Jia, Lin, Song & Belongie, "Class-Balanced Loss Based on Effective Number of Samples", CVPR 2019,
  arXiv:1901.05555 (official code github.com/richardaecn/class-balanced-loss).
* Menon, Jayasumana, Rawat, Jain, Veit & Kumar, "Long-tail learning via logit adjustment", ICLR 2021,
  arXiv:2007.07314 (official code in github.com/google-research/google-research, ``logit_adjustment``).
* Ren, Yu, Sheng, Ma, Zhao, Yi & Li, "Balanced Meta-Softmax for Long-Tailed Visual Recognition",
  NeurIPS 2020, arXiv:2007.10740.
* Cao, Wei, Gaidon, Arechiga & Ma, "Learning Imbalanced Datasets with Label-Distribution-Aware Margin Loss",
  NeurIPS 2019, arXiv:1906.07413 (official code github.com/kaidic/LDAM-DRW).
* Kini, Paraskevas, Oymak & Thrampoulidis, "Label-Imbalanced and Group-Sensitive Classification under
  Overparameterization", NeurIPS 2021, arXiv:2103.01550 (VS loss; official code github.com/orparask/VS-Loss).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from .reduction import reduce_loss
from .robust import _log1m_softmax_at
from .validation import (checks_output, check_choice, check_class_target, check_class_weight, check_logits, check_reduction,
                         check_scalar, compute_dtype, value_checks_enabled)

__all__ = ["focal_loss", "class_balanced_weights", "class_balanced_loss", "logit_adjusted_ce", "logit_adjust",
           "balanced_softmax_ce", "ldam", "ldam_margins", "drw_class_weight", "DeferredReweighting", "vs_loss",
           "check_class_counts", "check_class_prior", "PRIOR_TOLERANCE"]

#: How far from 1 the sum of a ``class_prior`` may be (float32 priors of many classes sum to 1 +- 1e-6).
PRIOR_TOLERANCE = 1e-4


def _setup(logits, target):
    """Checked logits in the compute dtype and the int64 target."""
    check_logits(logits, min_classes=2)
    n, c = logits.shape
    target = check_class_target(target, n, c)
    return logits.to(compute_dtype(logits)), target


def _at(x, target):
    """x[i, target[i]] as (N,)."""
    return x.gather(1, target[:, None]).squeeze(1)


@checks_output
def focal_loss(logits, target, *, gamma=2.0, alpha=None, reduction="mean"):
    r"""Focal loss, softmax form (Lin et al. 2017, Eq. 5; the multi-class form of their Sec. 3.2).

    .. math::
        \ell = -\alpha_y\,(1 - p_y)^\gamma \log p_y, \qquad p = \mathrm{softmax}(z)

    :math:`\gamma = 0` and no ``alpha`` is cross-entropy. :math:`(1 - p_y)^\gamma` is computed as
    :math:`\exp(\gamma \log(1 - p_y))` with :math:`1 - p_y = \sum_{k \ne y} p_k` summed over the other classes,
    so loss and gradient stay finite and exact when :math:`p_y` rounds to 1.

    Args:
        gamma: focusing parameter :math:`\gamma \ge 0`; 2 is the paper's choice (Sec. 5.1, Table 1b).
        alpha: optional ``(C,)`` non-negative per-class weights :math:`\alpha_k` (the paper's
            :math:`\alpha_t`, 0.25 for the rare foreground class in the binary detection setting).
        reduction: ``"mean"`` (the sum divided by N, as the paper normalises by the number of samples, whatever the
            weights), ``"sum"`` or ``"none"``.
    """
    gamma = check_scalar(gamma, "gamma", low=0.0)
    check_logits(logits, min_classes=2)
    n, c = logits.shape
    target = check_class_target(target, n, c)
    z = logits.to(compute_dtype(logits))
    w = check_class_weight(alpha, c, like=z, name="alpha")
    logp = F.log_softmax(z, dim=1)
    per_sample = -_at(logp, target)
    if gamma != 0.0:
        per_sample = torch.exp(gamma * _log1m_softmax_at(logp, target)) * per_sample
    if w is not None:
        per_sample = per_sample * w[target]
    return reduce_loss(per_sample, reduction)


def check_class_counts(class_counts, num_classes: int, *, name: str = "class_counts") -> torch.Tensor:
    """Training-set class counts: an integer tensor (or a sequence of ints) of shape (C,), every count >= 1
    (a class without a training sample has no effective number, margin or prior). Returned as int64."""
    if not isinstance(class_counts, torch.Tensor):
        if isinstance(class_counts, (str, bytes)) or not isinstance(class_counts, Sequence):
            raise TypeError(f"{name} must be an integer tensor or a sequence of {num_classes} ints, "
                            f"got {type(class_counts).__name__}")
        if not all(not isinstance(v, bool) and hasattr(v, "__index__") for v in class_counts):
            raise TypeError(f"{name} must hold integer counts, got {list(class_counts)!r}")
        class_counts = torch.tensor([int(v) for v in class_counts], dtype=torch.int64)
    if class_counts.is_floating_point() or class_counts.is_complex() or class_counts.dtype == torch.bool:
        raise TypeError(f"{name} must hold integer counts (torch.long), got dtype {class_counts.dtype}")
    if class_counts.dim() != 1 or class_counts.shape[0] != num_classes:
        raise ValueError(f"{name} must have shape ({num_classes},), one count per class, "
                         f"got shape {tuple(class_counts.shape)}")
    if value_checks_enabled() and int(class_counts.min()) < 1:
        raise ValueError(f"{name} must be >= 1 for every class (a class without training samples has no "
                         f"effective number, margin or prior), got min {int(class_counts.min())}")
    return class_counts.long()


def check_class_prior(class_prior, num_classes: int, *, like: torch.Tensor,
                      name: str = "class_prior") -> torch.Tensor:
    """A class prior: a float tensor (or sequence of numbers) of shape (C,), every entry > 0, summing to 1
    within :data:`PRIOR_TOLERANCE`. Returned in ``like``'s dtype and device."""
    if not isinstance(class_prior, torch.Tensor):
        if isinstance(class_prior, (str, bytes)) or not isinstance(class_prior, Sequence):
            raise TypeError(f"{name} must be a float tensor or a sequence of {num_classes} numbers, "
                            f"got {type(class_prior).__name__}")
        try:
            class_prior = torch.tensor([float(v) for v in class_prior], dtype=torch.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name} must hold numbers: {exc}") from None
    if not class_prior.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor of probabilities, got dtype {class_prior.dtype}; "
                        f"from counts use counts / counts.sum()")
    if class_prior.dim() != 1 or class_prior.shape[0] != num_classes:
        raise ValueError(f"{name} must have shape ({num_classes},), one probability per class, "
                         f"got shape {tuple(class_prior.shape)}")
    if value_checks_enabled():
        p = class_prior.detach().double()
        if not bool(torch.isfinite(p).all()):
            raise ValueError(f"{name} contains NaN or inf")
        if float(p.min()) <= 0:
            raise ValueError(f"{name} must be > 0 for every class (its log enters the loss), got min {float(p.min()):g}")
        total = float(p.sum())
        if abs(total - 1.0) > PRIOR_TOLERANCE:
            raise ValueError(f"{name} must sum to 1 (within {PRIOR_TOLERANCE:g}), got {total:.6g}")
    return class_prior.to(device=like.device, dtype=like.dtype)


def _log_prior(class_prior, z):
    return torch.log(check_class_prior(class_prior, z.shape[1], like=z))


def _ce(u, target, reduction, weight=None):
    """Cross-entropy of the adjusted logits ``u``, reduced (torch's fused kernel; a weighted mean divides by the
    batch's summed weights, as ``F.cross_entropy``, and refuses a batch of total weight 0)."""
    check_reduction(reduction)
    if weight is None and reduction != "none":
        return F.cross_entropy(u, target, reduction=reduction)
    per_sample = F.cross_entropy(u, target, weight=weight, reduction="none")
    return reduce_loss(per_sample, reduction, denominator=None if weight is None else weight[target].sum())


def class_balanced_weights(class_counts, *, beta=0.9999):
    r"""Effective-number class weights (Cui et al. 2019, Sec. 3 and Eq. 5), normalised to sum to C.

    .. math::
        E_n = \frac{1 - \beta^{n}}{1 - \beta}, \qquad
        w_k = C\,\frac{1 / E_{n_k}}{\sum_j 1 / E_{n_j}}

    :math:`\beta = 0` gives uniform weights, :math:`\beta \to 1` weights proportional to :math:`1/n_k`
    (inverse frequency). :math:`1 - \beta^n` is computed as ``-expm1(n log beta)`` in float64, exact for
    :math:`\beta` near 1 and large :math:`n`.

    Args:
        class_counts: ``(C,)`` integer training counts, each >= 1.
        beta: :math:`\beta \in [0, 1)`; 0.9999 is the paper's choice for CIFAR-10-LT (its grid is
            {0.9, 0.99, 0.999, 0.9999}).

    Returns:
        ``(C,)`` float64 weights on ``class_counts``' device.
    """
    beta = check_scalar(beta, "beta", low=0.0, high=1.0, high_open=True)
    if isinstance(class_counts, torch.Tensor):
        num_classes = class_counts.shape[0] if class_counts.dim() == 1 else -1
    else:
        num_classes = len(class_counts) if isinstance(class_counts, Sequence) else -1
    counts = check_class_counts(class_counts, num_classes).double()
    if beta == 0.0:
        return torch.ones_like(counts)
    inverse_effective = 1.0 / -torch.expm1(counts * math.log(beta))     # (1 - beta) cancels in the normalisation
    return inverse_effective * (counts.shape[0] / inverse_effective.sum())


def _class_weight_from_counts(class_counts, beta, z):
    counts = check_class_counts(class_counts, z.shape[1])
    return class_balanced_weights(counts, beta=beta).to(device=z.device, dtype=z.dtype)


@checks_output
def class_balanced_loss(logits, target, *, class_counts, beta=0.9999, loss_type="softmax", gamma=1.0,
                        reduction="mean"):
    r"""Class-balanced loss (Cui et al. 2019, Eq. 5-8): a base loss weighted by the effective-number weight
    of the sample's class, :math:`w_y` from :func:`class_balanced_weights`.

    .. math::
        \ell = w_y\,L(z, y), \quad L = \begin{cases}
            -\log \mathrm{softmax}(z)_y & \text{softmax (Eq. 6)}\\
            \sum_{j} \log(1 + e^{-z^t_j}) & \text{sigmoid (Eq. 7)}\\
            \sum_{j} (1 - \sigma(z^t_j))^\gamma \log(1 + e^{-z^t_j}) & \text{focal (Eq. 8)}
        \end{cases}

    with :math:`z^t_j = z_j` for :math:`j = y` and :math:`-z_j` otherwise (one-vs-all sigmoids).

    Args:
        class_counts: ``(C,)`` integer training counts, each >= 1.
        beta: :math:`\beta \in [0, 1)` (0.9999).
        loss_type: ``"softmax"``, ``"sigmoid"`` or ``"focal"`` (sigmoid focal, as the paper and its official code).
        gamma: focal exponent :math:`\gamma \ge 0` for ``"focal"`` (the paper tunes it over {0.5, 1, 2}; 1.0 here).
        reduction: ``"mean"`` (over the N samples, as the official code), ``"sum"`` or ``"none"``.
    """
    check_choice(loss_type, "loss_type", ("softmax", "sigmoid", "focal"))
    gamma = check_scalar(gamma, "gamma", low=0.0)
    beta = check_scalar(beta, "beta", low=0.0, high=1.0, high_open=True)
    z, target = _setup(logits, target)
    w = _class_weight_from_counts(class_counts, beta, z)
    if loss_type == "softmax":
        base = F.cross_entropy(z, target, reduction="none")
    else:
        sign = torch.full_like(z, -1.0).scatter_(1, target[:, None], 1.0)
        zt = sign * z                                                     # z_j for the target, -z_j otherwise
        bce = F.softplus(-zt)                                             # -log sigmoid(z^t)
        if loss_type == "focal" and gamma != 0.0:
            bce = torch.exp(-gamma * F.softplus(zt)) * bce                # (1 - sigmoid(z^t))^gamma
        base = bce.sum(1)
    return reduce_loss(w[target] * base, reduction)


def logit_adjust(logits, class_prior, *, tau=1.0):
    r"""Post-hoc logit adjustment (Menon et al. 2021, Eq. 9): :math:`\hat y = \arg\max_k z_k - \tau \log \pi_k`.

    .. math::
        \tilde z_k = z_k - \tau \log \pi_k

    Returns the adjusted logits (same dtype as ``logits``, or float32 for half precision). With
    :math:`\tau = 1` and calibrated :math:`z` (:math:`\mathrm{softmax}(z) = p(y|x)`), the arg-max is the
    Bayes-optimal rule for the balanced error, :math:`\arg\max_k p(k|x)/\pi_k`.

    Args:
        class_prior: ``(C,)`` training class prior :math:`\pi`, entries > 0 summing to 1.
        tau: :math:`\tau \ge 0` (1.0, the paper's default; it tunes :math:`\tau` too).
    """
    check_logits(logits)
    tau = check_scalar(tau, "tau", low=0.0)
    z = logits.to(compute_dtype(logits))
    return z - tau * _log_prior(class_prior, z)


@checks_output
def logit_adjusted_ce(logits, target, *, class_prior, tau=1.0, reduction="mean"):
    r"""Logit-adjusted softmax cross-entropy (Menon et al. 2021, Eq. 10).

    .. math::
        \ell = -\log \frac{e^{z_y + \tau \log \pi_y}}{\sum_k e^{z_k + \tau \log \pi_k}}

    Fisher-consistent for the balanced error at :math:`\tau = 1`: its minimiser has
    :math:`\mathrm{softmax}(z)_k \propto p(k|x)/\pi_k`, so the plain arg-max of :math:`z` is the balanced
    Bayes rule. :math:`\tau = 1` is :func:`balanced_softmax_ce`.

    Args:
        class_prior: ``(C,)`` training class prior :math:`\pi` (> 0, sums to 1).
        tau: :math:`\tau \ge 0` (1.0, the paper's and the official code's default).
    """
    tau = check_scalar(tau, "tau", low=0.0)
    z, target = _setup(logits, target)
    return _ce(z + tau * _log_prior(class_prior, z), target, reduction)


@checks_output
def balanced_softmax_ce(logits, target, *, class_prior, reduction="mean"):
    r"""Balanced softmax cross-entropy (Ren et al. 2020, Eq. 4), single-label; not chapter 03's multi-label
    ``balanced_softmax``.

    .. math::
        \ell = -\log \frac{n_y e^{z_y}}{\sum_k n_k e^{z_k}} = -\log \frac{\pi_y e^{z_y}}{\sum_k \pi_k e^{z_k}}

    (the counts :math:`n_k` and the prior :math:`\pi_k = n_k / n` give the same loss). Equal to
    :func:`logit_adjusted_ce` with :math:`\tau = 1`.

    Args:
        class_prior: ``(C,)`` training class prior :math:`\pi` (> 0, sums to 1).
    """
    z, target = _setup(logits, target)
    return _ce(z + _log_prior(class_prior, z), target, reduction)


def ldam_margins(class_counts, *, max_margin=0.5):
    r"""LDAM's per-class margins (Cao et al. 2019, Eq. 12): :math:`\Delta_k = C' / n_k^{1/4}`, the constant
    :math:`C'` set so that the largest margin (the rarest class's) is ``max_margin``. Returns ``(C,)`` float64."""
    max_margin = check_scalar(max_margin, "max_margin", low=0.0)
    if isinstance(class_counts, torch.Tensor):
        num_classes = class_counts.shape[0] if class_counts.dim() == 1 else -1
    else:
        num_classes = len(class_counts) if isinstance(class_counts, Sequence) else -1
    counts = check_class_counts(class_counts, num_classes).double()
    return max_margin * (counts.min() / counts) ** 0.25


@checks_output
def ldam(logits, target, *, class_counts, max_margin=0.5, s=30.0, class_weight=None, reduction="mean"):
    r"""Label-distribution-aware margin loss (LDAM, Cao et al. 2019, Eq. 13), scaled by ``s`` as the paper's
    experiments and the official code do (normalised features and class weights, so ``logits`` are cosines).

    .. math::
        \ell = -w_y \log \frac{e^{s(z_y - \Delta_y)}}{e^{s(z_y - \Delta_y)} + \sum_{k\ne y} e^{s z_k}},
        \qquad \Delta_k = \frac{C'}{n_k^{1/4}}

    with :math:`C'` such that :math:`\max_k \Delta_k` = ``max_margin`` (:func:`ldam_margins`). ``s = 1`` is
    Eq. 13 as printed. Deferred re-weighting (DRW) passes ``class_weight`` from :func:`drw_class_weight` after
    the deferral epoch (:class:`DeferredReweighting` does it per epoch).

    Args:
        class_counts: ``(C,)`` integer training counts, each >= 1.
        max_margin: the rarest class's margin, >= 0 (0.5, the official code's ``max_m``).
        s: logit scale > 0 (30, the official code's).
        class_weight: optional ``(C,)`` non-negative weights :math:`w`.
        reduction: ``"mean"`` (weighted: divided by :math:`\sum_i w_{y_i}`, as ``F.cross_entropy``), ``"sum"``, ``"none"``.
    """
    max_margin = check_scalar(max_margin, "max_margin", low=0.0)
    s = check_scalar(s, "s", low=0.0, low_open=True)
    z, target = _setup(logits, target)
    counts = check_class_counts(class_counts, z.shape[1])
    w = check_class_weight(class_weight, z.shape[1], like=z)
    margin = ldam_margins(counts, max_margin=max_margin).to(device=z.device, dtype=z.dtype)
    u = (s * z).scatter_add_(1, target[:, None], (-s * margin[target])[:, None])    # s (z_y - Delta_y) at the target
    return _ce(u, target, reduction, w)


def drw_class_weight(class_counts, epoch, *, defer_epoch=160, beta=0.9999):
    r"""The deferred re-weighting (DRW) schedule of Cao et al. 2019 (Sec. 3.3, Alg. 1): no re-weighting before
    ``defer_epoch`` (uniform weights, effective number with :math:`\beta = 0`), effective-number weights
    (:func:`class_balanced_weights`, ``beta``) from it on; epochs are 0-based. The official code's CIFAR
    setting: 200 epochs, deferral at 160, :math:`\beta = 0.9999`. Returns ``(C,)`` float64 weights."""
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        raise ValueError(f"epoch must be a non-negative int, got {epoch!r}")
    if isinstance(defer_epoch, bool) or not isinstance(defer_epoch, int) or defer_epoch < 0:
        raise ValueError(f"defer_epoch must be a non-negative int, got {defer_epoch!r}")
    return class_balanced_weights(class_counts, beta=beta if epoch >= defer_epoch else 0.0)


class DeferredReweighting:
    """A loss with an epoch state: ``loss(logits, target, class_counts=..., class_weight=w_epoch, **hp)``, the
    weights from :func:`drw_class_weight` at the current epoch (LDAM-DRW with the default ``loss=ldam``).

    Give its :meth:`step` to the trainer, ``train(model, drw, data, callbacks=[drw.step], ...)``: it moves the
    schedule to the next epoch after each one, and back to epoch 0 after the last of ``epochs`` (so one object
    serves run after run). Picklable (the protocol sends it to worker processes).
    """

    def __init__(self, class_counts, *, epochs, defer_epoch=160, beta=0.9999, loss=None, **loss_kwargs):
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
            raise ValueError(f"epochs must be a positive int, got {epochs!r}")
        n = len(class_counts)
        self.class_counts = check_class_counts(class_counts, n)
        self.epochs, self.defer_epoch, self.beta = epochs, defer_epoch, beta
        self.loss = ldam if loss is None else loss
        self.loss_kwargs = dict(loss_kwargs)
        self.epoch = 0
        drw_class_weight(self.class_counts, 0, defer_epoch=defer_epoch, beta=beta)     # checks the arguments

    def class_weight(self, epoch=None):
        return drw_class_weight(self.class_counts, self.epoch if epoch is None else epoch,
                                defer_epoch=self.defer_epoch, beta=self.beta)

    def __call__(self, logits, target, reduction="mean"):
        return self.loss(logits, target, class_counts=self.class_counts, class_weight=self.class_weight(),
                         reduction=reduction, **self.loss_kwargs)

    def step(self, epoch, model=None, history=None):
        """Trainer callback ``cb(epoch, model, history)`` after 0-based ``epoch``: the next epoch's weights."""
        self.epoch = 0 if epoch + 1 >= self.epochs else epoch + 1

    def __repr__(self):
        extra = "".join(f", {k}={v!r}" for k, v in sorted(self.loss_kwargs.items()))
        return (f"DeferredReweighting({self.class_counts.tolist()}, epochs={self.epochs}, defer_epoch={self.defer_epoch}, "
                f"beta={self.beta}, loss={self.loss.__name__}{extra})")


@checks_output
def vs_loss(logits, target, *, class_prior, gamma=0.2, tau=1.0, reduction="mean"):
    r"""Vector-scaling (VS) loss (Kini et al. 2021, Eq. 3 with Sec. 3's choice of the scales).

    .. math::
        \ell = -\log \frac{e^{\Delta_y z_y + \iota_y}}{\sum_k e^{\Delta_k z_k + \iota_k}}, \qquad
        \Delta_k = \Bigl(\frac{\pi_k}{\pi_{\max}}\Bigr)^{\gamma}, \quad \iota_k = \tau \log \pi_k

    (:math:`\pi_k/\pi_{\max} = n_k/n_{\max}`). :math:`\gamma = 0` is :func:`logit_adjusted_ce`; :math:`\tau = 0`
    is purely multiplicative (the rare classes' logits shrunk, a CDT-like loss).

    Args:
        class_prior: ``(C,)`` training class prior :math:`\pi` (> 0, sums to 1).
        gamma: :math:`\gamma \ge 0` of the multiplicative scales (0.2; the paper tunes it per data set).
        tau: :math:`\tau \ge 0` of the additive offsets (1.0).
    """
    gamma = check_scalar(gamma, "gamma", low=0.0)
    tau = check_scalar(tau, "tau", low=0.0)
    z, target = _setup(logits, target)
    logpi = _log_prior(class_prior, z)
    scale = torch.exp(gamma * (logpi - logpi.max()))
    return _ce(torch.addcmul(tau * logpi, scale, z), target, reduction)


def _register():
    from .. import symbolic
    from ..registry import LossSpec, register

    def counts(c):
        """A long-tailed count vector for C classes (500 down to 10, exponential), as the battery's input."""
        return torch.tensor([max(1, round(500 * 50 ** (-k / max(c - 1, 1)))) for k in range(c)], dtype=torch.int64)

    def prior(c):
        n = counts(c).double()
        return n / n.sum()

    def weighted_denominator(logits, target, class_weight=None, **_):
        return None if class_weight is None else float(sum(class_weight[int(t)] for t in target))

    bad_counts = [({"class_counts": torch.tensor([5.0, 4.0, 3.0, 2.0, 1.0])}, TypeError, "class_counts"),
                  ({"class_counts": torch.tensor([5, 4, 3, 2])}, ValueError, "class_counts"),
                  ({"class_counts": torch.tensor([5, 4, 0, 2, 1])}, ValueError, "class_counts"),
                  ({"class_counts": torch.tensor([5, 4, -3, 2, 1])}, ValueError, "class_counts"),
                  ({"class_counts": "long-tailed"}, TypeError, "class_counts")]
    bad_prior = [({"class_prior": torch.tensor([0.5, 0.2, 0.1, 0.1, 0.05])}, ValueError, "sum to 1"),
                 ({"class_prior": torch.tensor([0.5, 0.3, 0.1, 0.1])}, ValueError, "class_prior"),
                 ({"class_prior": torch.tensor([0.6, 0.3, 0.1, 0.0, 0.0])}, ValueError, "class_prior"),
                 ({"class_prior": torch.tensor([0.7, 0.3, 0.1, -0.05, -0.05])}, ValueError, "class_prior"),
                 ({"class_prior": torch.tensor([5, 3, 1, 1, 1])}, TypeError, "class_prior"),
                 ({"class_prior": "uniform"}, TypeError, "class_prior")]
    needs_counts = {"required_params": lambda c: {"class_counts": counts(c)}}
    needs_prior = {"required_params": lambda c: {"class_prior": prior(c)}}

    lin = "Lin, Goyal, Girshick, He & Dollar 2017, Focal Loss for Dense Object Detection (ICCV)"
    register(LossSpec(
        name="focal_loss", fn=focal_loss, twin=symbolic.focal_loss, family="imbalance", paper=lin,
        equation="Eq. (5), softmax form -alpha_y (1 - p_y)^gamma log p_y", defaults={"gamma": 2.0, "alpha": None},
        test_params=({}, {"gamma": 0.0}, {"gamma": 0.5}, {"gamma": 5.0},
                     {"alpha": [0.25, 1.0, 2.0, 0.5, 0.0]}, {"gamma": 1.0, "alpha": [1.0, 3.0, 0.5, 2.0, 1.0]}),
        bad_params=[({"gamma": -1.0}, ValueError, "gamma"), ({"gamma": "2"}, TypeError, "gamma"),
                    ({"alpha": [1.0, 2.0]}, ValueError, "alpha"),
                    ({"alpha": [1.0, -1.0, 1.0, 1.0, 1.0]}, ValueError, "alpha"),
                    ({"alpha": "balanced"}, TypeError, "alpha")]))
    register(LossSpec(
        name="class_balanced_loss", fn=class_balanced_loss, twin=symbolic.class_balanced_loss, family="imbalance",
        paper="Cui, Jia, Lin, Song & Belongie 2019, Class-Balanced Loss Based on Effective Number of Samples (CVPR)",
        equation="Eq. (5)-(8): (1 - beta)/(1 - beta^n_y), normalised to sum C, times softmax CE / sigmoid CE / "
                 "sigmoid focal", defaults={"beta": 0.9999, "loss_type": "softmax", "gamma": 1.0},
        test_params=({}, {"beta": 0.0}, {"beta": 0.99}, {"loss_type": "sigmoid"}, {"loss_type": "focal"},
                     {"loss_type": "focal", "gamma": 0.5, "beta": 0.999}, {"loss_type": "focal", "gamma": 0.0}),
        bad_params=bad_counts + [({"beta": 1.0}, ValueError, "beta"), ({"beta": -0.1}, ValueError, "beta"),
                                 ({"loss_type": "hinge"}, ValueError, "loss_type"),
                                 ({"gamma": -1.0}, ValueError, "gamma")],
        extra=needs_counts))
    menon = "Menon, Jayasumana, Rawat, Jain, Veit & Kumar 2021, Long-tail learning via logit adjustment (ICLR)"
    register(LossSpec(
        name="logit_adjusted_ce", fn=logit_adjusted_ce, twin=symbolic.logit_adjusted_ce, family="imbalance",
        paper=menon, equation="Eq. (10), CE of z + tau log pi", defaults={"tau": 1.0},
        claims=frozenset({"convex"}), test_params=({}, {"tau": 0.0}, {"tau": 2.5}),
        bad_params=bad_prior + [({"tau": -1.0}, ValueError, "tau")], extra=needs_prior))
    register(LossSpec(
        name="balanced_softmax_ce", fn=balanced_softmax_ce, twin=symbolic.balanced_softmax_ce, family="imbalance",
        paper="Ren, Yu, Sheng, Ma, Zhao, Yi & Li 2020, Balanced Meta-Softmax for Long-Tailed Visual Recognition "
              "(NeurIPS)", equation="Eq. (4), -log n_y e^{z_y} / sum_k n_k e^{z_k}", defaults={},
        claims=frozenset({"convex"}), bad_params=bad_prior, extra=needs_prior))
    register(LossSpec(
        name="ldam", fn=ldam, twin=symbolic.ldam, family="imbalance",
        paper="Cao, Wei, Gaidon, Arechiga & Ma 2019, Learning Imbalanced Datasets with Label-Distribution-Aware "
              "Margin Loss (NeurIPS)", equation="Eq. (12)-(13), margins C/n_k^(1/4), scaled by s as the official code",
        defaults={"max_margin": 0.5, "s": 30.0, "class_weight": None},
        claims=frozenset({"convex"}),
        test_params=({"s": 1.0}, {"s": 1.0, "max_margin": 2.0}, {"s": 0.5, "max_margin": 0.0},
                     {"s": 2.0, "class_weight": [0.5, 2.0, 1.0, 0.25, 3.0]}, {}),
        bad_params=bad_counts + [({"s": 0.0}, ValueError, "s"), ({"max_margin": -0.5}, ValueError, "max_margin"),
                                 ({"class_weight": [1.0, 2.0]}, ValueError, "class_weight"),
                                 ({"class_weight": [1.0, -1.0, 1.0, 1.0, 1.0]}, ValueError, "class_weight")],
        mean_denominator=weighted_denominator, extra=needs_counts))
    register(LossSpec(
        name="vs_loss", fn=vs_loss, twin=symbolic.vs_loss, family="imbalance",
        paper="Kini, Paraskevas, Oymak & Thrampoulidis 2021, Label-Imbalanced and Group-Sensitive Classification "
              "under Overparameterization (NeurIPS)", equation="Eq. (3), Delta_k = (n_k/n_max)^gamma, iota_k = tau log pi_k",
        defaults={"gamma": 0.2, "tau": 1.0}, claims=frozenset({"convex"}),
        test_params=({}, {"gamma": 0.0}, {"tau": 0.0}, {"gamma": 1.0, "tau": 0.5}),
        bad_params=bad_prior + [({"gamma": -0.2}, ValueError, "gamma"), ({"tau": -1.0}, ValueError, "tau")],
        extra=needs_prior))


_register()
