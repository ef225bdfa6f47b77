r"""Losses for class imbalance and long tails (chapter 06): focal, class-balanced, logit adjustment,
balanced softmax, LDAM(-DRW), VS.

All take class-index targets, ``fn(logits, target, *, hyper-parameters, reduction="mean")``, and work from
:math:`\log p = \log\mathrm{softmax}(z)`. Imbalance-aware losses take ``class_counts`` (integer ``(C,)``) or
``class_prior`` (float ``(C,)`` summing to 1), both checked like every other argument.

Sources (defaults are the papers'; where an official code computes something else, ``variant="official"``):

* Lin, Goyal, Girshick, He & Dollar, "Focal Loss for Dense Object Detection", ICCV 2017, arXiv:1708.02002.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .reduction import reduce_loss
from .robust import _focal_terms
from .validation import check_class_target, check_class_weight, check_logits, check_scalar, compute_dtype

__all__ = ["focal_loss"]


def _setup(logits, target):
    """Checked logits in the compute dtype, int64 target, and log p (N, C)."""
    check_logits(logits, min_classes=2)
    n, c = logits.shape
    target = check_class_target(target, n, c)
    z = logits.to(compute_dtype(logits))
    return z, target, F.log_softmax(z, dim=1)


def _at(x, target):
    """x[i, target[i]] as (N,)."""
    return x.gather(1, target[:, None]).squeeze(1)


def focal_loss(logits, target, *, gamma=2.0, alpha=None, reduction="mean"):
    r"""Focal loss, softmax form (Lin et al. 2017, Eq. 5; the multi-class form of their Sec. 3.2).

    .. math::
        \ell = -\alpha_y\,(1 - p_y)^\gamma \log p_y, \qquad p = \mathrm{softmax}(z)

    :math:`\gamma = 0` and no ``alpha`` is cross-entropy. :math:`(1 - p_y)^\gamma` is computed as
    :math:`\exp(\gamma \log(1 - p_y))` with :math:`\log(1 - p_y)` from a log-sum-exp over the other classes,
    so loss and gradient stay finite when :math:`p_y` rounds to 1.

    Args:
        gamma: focusing parameter :math:`\gamma \ge 0`; 2 is the paper's choice (Sec. 5.1, Table 1b).
        alpha: optional ``(C,)`` non-negative per-class weights :math:`\alpha_k` (the paper's
            :math:`\alpha_t`, 0.25 for the rare foreground class in the binary detection setting).
        reduction: ``"mean"`` (sum over N, as the paper normalises by the number of samples, whatever the
            weights), ``"sum"`` or ``"none"``.
    """
    gamma = check_scalar(gamma, "gamma", low=0.0)
    z, target, logp = _setup(logits, target)
    w = check_class_weight(alpha, z.shape[1], like=z, name="alpha")
    per_sample = _at(_focal_terms(z, logp, gamma, detach=False), target)
    if w is not None:
        per_sample = per_sample * w[target]
    return reduce_loss(per_sample, reduction)


def _register():
    from .. import symbolic
    from ..registry import LossSpec, register

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


_register()
