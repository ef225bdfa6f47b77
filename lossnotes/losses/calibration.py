r"""Losses aimed at calibrated confidence (chapter 07): FLSD-53, dual focal, poly-1, squentropy, the
encouraging loss, the confidence penalty and MDCA. Label smoothing is
:func:`lossnotes.losses.softmax_cross_entropy` with ``label_smoothing``; the focal loss is
:func:`lossnotes.losses.focal_loss` (imbalance family).

All take class-index targets, ``fn(logits, target, *, hyper-parameters, reduction="mean")``, and work from
:math:`\log p = \log\mathrm{softmax}(z)`: :math:`\log(1 - p_y)` comes from a log-sum-exp over the other classes
where :math:`p_y > 1/2`, so focal factors and bonuses stay finite when :math:`p_y` rounds to 1.

Sources (defaults are the papers'; where an official code computes something else, ``variant="official"``):

* Mukhoti, Kulharia, Sanyal, Golodetz, Torr & Dokania, "Calibrating Deep Neural Networks using Focal Loss",
  NeurIPS 2020, arXiv:2002.09437 (FLSD-53; official code github.com/torrvision/focal_calibration).
* Tao, Dong & Xu, "Dual Focal Loss for Calibration", ICML 2023, arXiv:2305.13665
  (official code github.com/Linwei94/DualFocalLoss).
* Leng, Xu, Lu, Chen, Zhang, Liu, Anguelov, Tan & Sun, "PolyLoss: A Polynomial Expansion Perspective of
  Classification Loss Functions", ICLR 2022, arXiv:2204.12511 (Poly-1, Eq. 3).
* Hui, Belkin & Wright, "Cut your Losses with Squentropy", ICML 2023, arXiv:2302.03952.
* Zhao, Lin, Luo, Tu, Zhang & Sun, "Well-classified Examples are Underestimated in Classification with Deep
  Neural Networks", AAAI 2022, arXiv:2110.06537 (encouraging loss; official code
  github.com/lancopku/well-classified-examples-are-underestimated).
* Pereyra, Tucker, Chorowski, Kaiser & Hinton, "Regularizing Neural Networks by Penalizing Confident Output
  Distributions", ICLR 2017 workshop, arXiv:1701.06548 (confidence penalty).
* Hebbalaguppe, Prakash, Madan & Arora, "A Stitch in Time Saves Nine: A Train-Time Regularizing Loss for Improved
  Neural Network Calibration", CVPR 2022, arXiv:2203.13834 (MDCA).
"""
from __future__ import annotations

import math

import torch

from .reduction import reduce_loss
from .robust import _one_minus, _setup  # checked z, int64 target, log p, log p_y
from .validation import checks_output, check_choice, check_scalar

__all__ = ["focal_sample_dependent", "dual_focal", "poly1_ce", "squentropy", "encouraging_loss",
           "confidence_penalty", "mdca_ce", "mdca", "ENCOURAGING_OFFICIAL_CLAMP"]

#: The official encouraging-loss code clamps 1 - p at 1e-5 before the log of the bonus.
ENCOURAGING_OFFICIAL_CLAMP = 1e-5


def _at(x, target):
    """x[i, target[i]] as (N,)."""
    return x.gather(1, target[:, None]).squeeze(1)


def _log1m_at(logp, target):
    r""":math:`\log(1 - p_y)` (N,), finite for any finite logits: :math:`\log\sum_{k\ne y} p_k` (a log-sum-exp of
    the other classes' log-probabilities) where :math:`p_y > 1/2`, ``log1p(-p_y)`` elsewhere (exact for small
    :math:`p_y`); the unused branch is kept finite (clamped) so that its zero-weighted gradient is too."""
    logp_y = _at(logp, target)
    rest = torch.logsumexp(logp.scatter(1, target[:, None], float("-inf")), dim=1)
    p_y = torch.exp(logp_y)
    return torch.where(p_y > 0.5, rest, torch.log1p(-p_y.clamp(max=0.5)))


@checks_output
def focal_sample_dependent(logits, target, *, gamma_low=5.0, gamma_high=3.0, threshold=0.2, reduction="mean"):
    r"""Sample-dependent focal loss FLSD-53 (Mukhoti et al. 2020, Sec. 5).

    .. math::
        \ell = -(1 - p_y)^{\gamma(p_y)} \log p_y, \qquad
        \gamma(p_y) = \begin{cases}\gamma_{\rm low} = 5 & p_y < 0.2\\ \gamma_{\rm high} = 3 & p_y \ge 0.2\end{cases}

    The focal loss with a larger :math:`\gamma` where the model is still badly wrong (the paper's choice of
    :math:`\gamma` from the Lambert-W bound keeps the gradient of a confident, correct sample below CE's).
    :math:`\gamma` is picked per sample from :math:`p_y` and carries no gradient (it is piecewise constant);
    the loss jumps at :math:`p_y = 0.2`. The official code (``FocalLossAdaptive``: 5 below 0.2, 3 from 0.2 on)
    computes the same.

    Args:
        gamma_low, gamma_high: :math:`\gamma \ge 0` below and above the threshold (5 and 3: "FLSD-53").
        threshold: :math:`p_y` where :math:`\gamma` switches, in (0, 1) (0.2 in the paper).
    """
    gamma_low = check_scalar(gamma_low, "gamma_low", low=0.0)
    gamma_high = check_scalar(gamma_high, "gamma_high", low=0.0)
    threshold = check_scalar(threshold, "threshold", low=0.0, high=1.0, low_open=True, high_open=True)
    z, target, logp, logp_y = _setup(logits, target)
    with torch.no_grad():
        gamma = torch.where(logp_y < math.log(threshold), gamma_low, gamma_high).to(z.dtype)
    return reduce_loss(-torch.exp(gamma * _log1m_at(logp, target)) * logp_y, reduction)


@checks_output
def dual_focal(logits, target, *, gamma=5.0, reduction="mean"):
    r"""Dual focal loss (Tao, Dong & Xu 2023, Eq. 5).

    .. math::
        \ell = -(1 - p_y + p_j)^\gamma \log p_y, \qquad p_j = \max\{p_k : p_k < p_y\}\ (0 \text{ if none})

    :math:`p_j` is the probability ranked right after the target's ("the highest logit ranked after the
    ground truth logit"; the official code's ``p_j_mask = p < p_y``): the factor is small only when the target
    leads the runner-up by a wide gap, so a confident but barely separated prediction keeps its weight. When
    the target is not the top class, :math:`p_j` is the next class below it, not the top class. :math:`\gamma = 0`
    is CE. Computed as :math:`\exp(\gamma\,\mathrm{logaddexp}(\log(1-p_y), \log p_j))`.

    Args:
        gamma: :math:`\gamma \ge 0`; the paper tunes it per data set on a validation split; 5 is the value of
            the official repository's CIFAR-10 runs.
    """
    gamma = check_scalar(gamma, "gamma", low=0.0)
    z, target, logp, logp_y = _setup(logits, target)
    with torch.no_grad():
        below = logp < logp_y[:, None]                       # classes ranked after the target
    logp_j = logp.masked_fill(~below, float("-inf")).amax(1)    # -inf where the target is last
    log_base = torch.logaddexp(_log1m_at(logp, target), logp_j)
    return reduce_loss(-torch.exp(gamma * log_base) * logp_y, reduction)


@checks_output
def poly1_ce(logits, target, *, epsilon=1.0, reduction="mean"):
    r"""Poly-1 loss (Leng et al. 2022, Eq. 3): CE plus the first polynomial term of its expansion in :math:`1 - p_y`.

    .. math::
        \ell = -\log p_y + \epsilon\,(1 - p_y) = \sum_{j\ge1} \tfrac{1}{j}(1 - p_y)^j + \epsilon\,(1 - p_y)

    :math:`\epsilon = 0` is CE; :math:`\epsilon > 0` pushes harder on confident samples (the first-order
    coefficient becomes :math:`1 + \epsilon`), :math:`\epsilon < 0` less.

    Args:
        epsilon: :math:`\epsilon \ge -1` (at :math:`-1` the linear term cancels; below it the loss is no longer
            decreasing in :math:`p_y`); 1 is the paper's default recommendation (its tuned values range from
            -1 to 2 and more across tasks).
    """
    epsilon = check_scalar(epsilon, "epsilon", low=-1.0)
    _, target, _, logp_y = _setup(logits, target)
    return reduce_loss(-logp_y + epsilon * _one_minus(logp_y), reduction)


@checks_output
def squentropy(logits, target, *, reduction="mean"):
    r"""Squentropy (Hui, Belkin & Wright 2023): CE plus the mean square of the wrong classes' logits.

    .. math::
        \ell = -\log p_y + \frac{1}{K - 1}\sum_{k \ne y} z_k^2

    No hyper-parameter. Not invariant to a shift of the logits: the square term pins the wrong classes' logits
    near 0, so the confidence is set by :math:`z_y` alone. Convex in :math:`z` (CE plus a convex quadratic).
    The official code computes the same (``(sum(z^2) - z_y^2) / (K - 1)``, averaged over the batch); here the
    target's square is left out before summing, which does not cancel at large logits.
    """
    z, target, _, logp_y = _setup(logits, target)
    squares = (z * z).scatter(1, target[:, None], 0.0).sum(1) / (z.shape[1] - 1)
    return reduce_loss(-logp_y + squares, reduction)


@checks_output
def encouraging_loss(logits, target, *, log_end=0.75, variant="paper", reduction="mean"):
    r"""Encouraging loss (Zhao et al. 2022, Eq. 5 and its conservative form): CE plus a bonus for confidence.

    .. math::
        \ell = -\log p_y + b(p_y), \qquad
        b(p) = \begin{cases}\log(1 - p) & p \le \mathrm{LE}\\
               \log(1 - \mathrm{LE}) - \dfrac{p - \mathrm{LE}}{1 - \mathrm{LE}} & p > \mathrm{LE}\end{cases}

    The bonus :math:`\log(1 - p)` rewards a well-classified sample instead of letting its gradient vanish; past
    ``log_end`` it continues on its tangent line, so the loss stays bounded below. ``log_end = 1`` is the plain
    bonus, :math:`\ell = \log\frac{1 - p_y}{p_y}`, unbounded below (:math:`\to -\infty` as :math:`p_y \to 1`).

    Args:
        log_end: LE in (0, 1]; 0.75 is the official code's default (``--log_end 0.75``).
        variant: ``"official"`` clamps :math:`1 - p` at :math:`10^{-5}` inside the log (``torch.clamp(1 - p,
            min=1e-5)``), which bounds the plain bonus at :math:`\log 10^{-5}`; with ``log_end < 1`` it changes
            nothing.
    """
    log_end = check_scalar(log_end, "log_end", low=0.0, high=1.0, low_open=True)
    check_choice(variant, "variant", ("paper", "official"))
    z, target, logp, logp_y = _setup(logits, target)
    bonus = _log1m_at(logp, target)
    if variant == "official":
        bonus = torch.clamp(bonus, min=math.log(ENCOURAGING_OFFICIAL_CLAMP))
    if log_end < 1.0:
        p_y = torch.exp(logp_y)
        tangent = math.log1p(-log_end) - (p_y - log_end) / (1.0 - log_end)
        bonus = torch.where(p_y > log_end, tangent, bonus)
    return reduce_loss(-logp_y + bonus, reduction)


@checks_output
def confidence_penalty(logits, target, *, beta=0.1, reduction="mean"):
    r"""Confidence penalty (Pereyra et al. 2017, Eq. 2): CE minus :math:`\beta` times the entropy of the output.

    .. math::
        \ell = -\log p_y - \beta\,H(p), \qquad H(p) = -\sum_k p_k \log p_k

    Penalises low-entropy (confident) outputs; label smoothing is the same idea with the KL to the uniform
    distribution in the other direction (Pereyra et al., Sec. 3.2).

    Args:
        beta: :math:`\beta \ge 0` (the paper tunes it per task from 0.1 up to a few units; 0.1 here).
    """
    beta = check_scalar(beta, "beta", low=0.0)
    _, target, logp, logp_y = _setup(logits, target)
    entropy = -(torch.exp(logp) * logp).sum(1)
    return reduce_loss(-logp_y - beta * entropy, reduction)


def mdca(logits, target):
    r"""The MDCA term of a batch (Hebbalaguppe et al. 2022, Eq. 3), a scalar:

    .. math::
        \mathrm{MDCA} = \frac{1}{K}\sum_{j=1}^K \Bigl|\frac1N\sum_i p_{ij} - \frac1N\sum_i \mathbb 1[y_i = j]\Bigr|
    """
    _, target, logp, _ = _setup(logits, target)
    return _mdca_term(torch.exp(logp), target)


def _mdca_term(p, target):
    """MDCA of probabilities p (N, C) and labels (N,): mean over classes of |mean confidence - label share|."""
    share = torch.bincount(target, minlength=p.shape[1]).to(p.dtype) / p.shape[0]
    return (p.mean(0) - share).abs().mean()


@checks_output
def mdca_ce(logits, target, *, beta=1.0, reduction="mean"):
    r"""CE plus MDCA, the multi-class difference of average confidence and accuracy (Hebbalaguppe et al. 2022,
    Eq. 4 with CE as the classification loss). Batch level.

    .. math::
        \mathcal L = \frac1N\sum_i -\log p_{i y_i} + \beta\,\frac{1}{K}\sum_{j=1}^K
        \Bigl|\frac1N\sum_i p_{ij} - \frac1N\sum_i \mathbb 1[y_i = j]\Bigr|

    ``reduction="none"`` gives sample i the share :math:`-\log p_{i y_i} + \beta\,\mathrm{MDCA}` (the batch term
    counted once per sample), so ``"mean"`` is the paper's :math:`\mathcal L` and ``"sum"`` is N times it. The
    official code (``ClassficationAndMDCA``, ``loss="NLL+MDCA"``) computes the same.

    Args:
        beta: :math:`\beta \ge 0`; 1 is the official code's default (the paper picks it from {1, 5, 10, 15, 20, 25}
            on validation).
    """
    beta = check_scalar(beta, "beta", low=0.0)
    z, target, logp, logp_y = _setup(logits, target)
    return reduce_loss(-logp_y + beta * _mdca_term(torch.exp(logp), target), reduction)


def _register():
    from .. import symbolic
    from ..registry import LossSpec, register

    variant_bad = [({"variant": "code"}, ValueError, "variant")]
    register(LossSpec(
        name="focal_sample_dependent", fn=focal_sample_dependent, twin=symbolic.focal_sample_dependent,
        family="calibration",
        paper="Mukhoti et al. 2020, Calibrating Deep Neural Networks using Focal Loss (NeurIPS)",
        equation="Sec. 5, FLSD-53: gamma = 5 for p_y < 0.2, 3 otherwise",
        defaults={"gamma_low": 5.0, "gamma_high": 3.0, "threshold": 0.2},
        test_params=({}, {"gamma_low": 0.0, "gamma_high": 0.0}, {"gamma_low": 2.0, "gamma_high": 1.0, "threshold": 0.5}),
        bad_params=[({"gamma_low": -1.0}, ValueError, "gamma_low"), ({"gamma_high": -0.5}, ValueError, "gamma_high"),
                    ({"threshold": 0.0}, ValueError, "threshold"), ({"threshold": 1.0}, ValueError, "threshold")]))
    register(LossSpec(
        name="dual_focal", fn=dual_focal, twin=symbolic.dual_focal, family="calibration",
        paper="Tao, Dong & Xu 2023, Dual Focal Loss for Calibration (ICML)",
        equation="Eq. (5), -(1 - p_y + p_j)^gamma log p_y, p_j ranked after p_y", defaults={"gamma": 5.0},
        test_params=({}, {"gamma": 0.0}, {"gamma": 0.5}, {"gamma": 2.0}),
        bad_params=[({"gamma": -1.0}, ValueError, "gamma"), ({"gamma": "5"}, TypeError, "gamma")]))
    register(LossSpec(
        name="poly1_ce", fn=poly1_ce, twin=symbolic.poly1_ce, family="calibration",
        paper="Leng et al. 2022, PolyLoss: A Polynomial Expansion Perspective of Classification Loss Functions (ICLR)",
        equation="Eq. (3), -log p_y + epsilon (1 - p_y)", defaults={"epsilon": 1.0},
        test_params=({}, {"epsilon": 0.0}, {"epsilon": -1.0}, {"epsilon": 4.0}),
        bad_params=[({"epsilon": -2.0}, ValueError, "epsilon"), ({"epsilon": float("nan")}, ValueError, "epsilon")]))
    register(LossSpec(
        name="squentropy", fn=squentropy, twin=symbolic.squentropy, family="calibration",
        paper="Hui, Belkin & Wright 2023, Cut your Losses with Squentropy (ICML)",
        equation="Sec. 2, -log p_y + (1/(K-1)) sum_{k != y} z_k^2", defaults={},
        claims=frozenset({"convex"})))
    register(LossSpec(
        name="encouraging_loss", fn=encouraging_loss, twin=symbolic.encouraging_loss, family="calibration",
        paper="Zhao et al. 2022, Well-classified Examples are Underestimated in Classification with Deep Neural "
              "Networks (AAAI)",
        equation="Eq. (5) with the conservative bonus (tangent line after log_end)",
        defaults={"log_end": 0.75, "variant": "paper"},
        test_params=({}, {"log_end": 1.0}, {"log_end": 0.5}, {"log_end": 1.0, "variant": "official"},
                     {"variant": "official"}),
        bad_params=variant_bad + [({"log_end": 0.0}, ValueError, "log_end"), ({"log_end": 1.5}, ValueError, "log_end")]))
    register(LossSpec(
        name="confidence_penalty", fn=confidence_penalty, twin=symbolic.confidence_penalty, family="calibration",
        paper="Pereyra et al. 2017, Regularizing Neural Networks by Penalizing Confident Output Distributions "
              "(ICLR workshop)",
        equation="Eq. (2), CE - beta H(p)", defaults={"beta": 0.1},
        test_params=({}, {"beta": 0.0}, {"beta": 2.0}),
        bad_params=[({"beta": -0.1}, ValueError, "beta")]))
    register(LossSpec(
        name="mdca_ce", fn=mdca_ce, twin=symbolic.mdca_ce, family="calibration",
        paper="Hebbalaguppe et al. 2022, A Stitch in Time Saves Nine: A Train-Time Regularizing Loss for Improved "
              "Neural Network Calibration (CVPR)",
        equation="Eq. (4), CE + beta MDCA (Eq. 3), MDCA over the batch", defaults={"beta": 1.0},
        claims=frozenset({"batch_level"}),
        test_params=({}, {"beta": 0.0}, {"beta": 5.0}),
        bad_params=[({"beta": -1.0}, ValueError, "beta")]))


_register()
