r"""Link functions for matching losses (Shamir & Warmuth, "Selective Matching Losses").

A matching loss is fixed by a non-decreasing link :math:`h`; its value is the Bregman divergence of the
primitive :math:`H` (:math:`H' = h`) and its gradient is :math:`h(\hat s) - h(s)` (Eq. 1-2). Links live here,
apart from the losses (:mod:`lossnotes.losses.matching`), as in scikit-learn's ``_loss/link.py``.

Every link is built on the paper's convention :math:`x = \alpha(z - \beta)` (:math:`\alpha > 0` a scale,
:math:`\beta` a shift; :math:`\beta > 0` moves the link right). For a shape :math:`g` with primitive :math:`G`:

.. math::
    h(z) = g(x), \qquad H(z) = G(x)/\alpha, \qquad h'(z) = \alpha\, g'(x),

so the sigmoid link stays a probability (Eq. 3-5). Used as a *scaling function* of a composite Softmax or
Sigmoid (Eq. 16-24, App. C.4), the same shape gives :math:`Q(z) = G(x) = \alpha H(z)` and
:math:`q = Q' = \alpha\,g(x)` (e.g. :math:`q = \alpha e^{x}` with :math:`Q = e^{x}`, Eq. C.11): see
:meth:`Link.Q` and :meth:`Link.q`.

Links that grow exponentially (exp, anti-exp, sinh, cosh) are **capped** (``0 < cap <=`` :data:`CAP_MAX`):
beyond :math:`|x| >` ``cap`` the shape continues with its second-order Taylor expansion at the cap (``g``
linear, ``G`` quadratic), which keeps a monotone link monotone, a convex primitive convex, and every value
finite (digest, Sec. 7 item 10).

Every link has a SymPy twin (:meth:`Link.twin`, from :mod:`lossnotes.symbolic.links`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import partial
from typing import Callable

import torch

def check_scalar(value, name, **bounds):
    """The losses' shared scalar check, imported on first use: ``lossnotes.losses`` imports this module."""
    from .losses.validation import check_scalar as _check

    return _check(value, name, **bounds)

__all__ = ["Link", "sigmoid_link", "identity_link", "exp_link", "anti_exp_link", "sinh_link", "cosh_link",
           "tanh_link", "smelu_link", "huber_link", "step_link", "sign_link", "power_link", "get_link",
           "LINKS", "DEFAULT_CAP", "CAP_MAX", "softplus"]

#: Default cap on |x| for the exponential-type links: e^20 ~ 4.9e8, so the capped loss of a float32 logit
#: of 1e4 is ~1e16, finite, and the uncapped region covers every range the chapter plots.
DEFAULT_CAP = 20.0
#: Largest cap: e^50 ~ 5e21, so the quadratic continuation at |x| = 1e4, e^cap (1 + d + d^2/2), stays within
#: float32 (3.4e38); cap = 100 would overflow e^x itself near x = 89.
CAP_MAX = 50.0


def softplus(x: torch.Tensor) -> torch.Tensor:
    """log(1 + e^x), exact in value and gradient everywhere (``F.softplus`` turns linear above x = 20, so its
    gradient there is 1 instead of sigmoid(x), a relative error up to 2e-9)."""
    return torch.logaddexp(x, torch.zeros_like(x))


def _log_cosh(x):
    """log(cosh x) without overflow: |x| + softplus(-2|x|) - log 2."""
    a = x.abs()
    return a + softplus(-2.0 * a) - math.log(2.0)


# The shapes as module-level functions (functools.partial for parameters), no closures, so that a Link, and
# a loss module holding one, can be pickled (torch.save, multiprocessing).

def _sigmoid_dg(x):
    return torch.sigmoid(x) * torch.sigmoid(-x)


def _identity(x):
    return x


def _half_square(x):
    return 0.5 * x * x


def _neg_exp_neg(x):
    return -torch.exp(-x)


def _exp_neg(x):
    return torch.exp(-x)


def _anti_exp_inv(y):
    return -torch.log(-y)


def _tanh_dg(x):
    return 1.0 - torch.tanh(x) ** 2


def _huber_g(x, c):
    return x.clamp(-c, c)


def _huber_G(x, c):
    return torch.where(x.abs() <= c, 0.5 * x * x, c * x.abs() - 0.5 * c * c)


def _huber_dg(x, c):
    return (x.abs() < c).to(x.dtype)


def _step_g(x):
    return (x >= 0).to(x.dtype)


def _power_g(x, d, c):
    return x.abs() ** d + c


def _power_G(x, d, c):
    return torch.sign(x) * x.abs() ** (d + 1) / (d + 1) + c * x


def _power_dg(x, d, c):
    return d * torch.sign(x) * x.abs() ** (d - 1)


@dataclass(frozen=True, eq=False)
class Link:
    r"""A link :math:`h(z) = g(\alpha(z-\beta))` with primitive :math:`H = G(x)/\alpha` (see the module docstring).

    ``g``, ``G``, ``dg`` act on ``x`` (torch tensors); ``ginv`` inverts ``g`` where it is invertible (else None).
    ``cap_low``/``cap_high`` bound the region where the exact shape is used (None: no cap on that side).
    ``monotone`` says whether :math:`h` is non-decreasing, which a matching loss requires (a scaling function
    :math:`q` need not be). ``params`` are the constructor's arguments, for ``repr`` and the twin.
    """

    name: str
    alpha: float
    beta: float
    g: Callable
    G: Callable
    dg: Callable
    ginv: Callable | None = None
    monotone: bool = True
    cap_low: float | None = None
    cap_high: float | None = None
    params: dict = field(default_factory=dict)

    # -- the shape in x, with the Taylor continuation beyond the caps ---------------------------------
    def _x(self, z: torch.Tensor) -> torch.Tensor:
        if not isinstance(z, torch.Tensor):
            raise TypeError(f"z must be a torch.Tensor, got {type(z).__name__}")
        if not z.is_floating_point():
            raise TypeError(f"z must have a floating-point dtype, got {z.dtype}")
        return self.alpha * (z - self.beta)

    def _split(self, x):
        """(x clamped into the exact region, distance beyond the cap)."""
        if self.cap_low is None and self.cap_high is None:
            return x, None
        xc = x.clamp(min=self.cap_low, max=self.cap_high)
        return xc, x - xc

    def _g(self, x):
        xc, d = self._split(x)
        return self.g(xc) if d is None else self.g(xc) + self.dg(xc) * d

    def _G(self, x):
        xc, d = self._split(x)
        return self.G(xc) if d is None else self.G(xc) + self.g(xc) * d + 0.5 * self.dg(xc) * d * d

    def _dg(self, x):
        xc, _ = self._split(x)
        return self.dg(xc)

    # -- the link view (matching losses) ---------------------------------------------------------------
    def h(self, z: torch.Tensor) -> torch.Tensor:
        r"""The link :math:`h(z) = g(\alpha(z-\beta))`."""
        return self._g(self._x(z))

    def H(self, z: torch.Tensor) -> torch.Tensor:
        r"""The primitive :math:`H(z) = G(\alpha(z-\beta))/\alpha`, with :math:`H' = h`."""
        return self._G(self._x(z)) / self.alpha

    def dh(self, z: torch.Tensor) -> torch.Tensor:
        r"""The local sensitivity :math:`\Delta(z) = h'(z) = \alpha g'(x)` (Sec. 2, App. B)."""
        return self.alpha * self._dg(self._x(z))

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        r""":math:`h^{-1}(y) = \beta + g^{-1}(y)/\alpha` (exact region only); ``NotImplementedError`` if none."""
        if self.ginv is None:
            raise NotImplementedError(f"{self!r} has no inverse (it is not strictly monotone)")
        return self.beta + self.ginv(y) / self.alpha

    # -- the scaling-function view (composite Softmax / Sigmoid) -----------------------------------------
    def Q(self, z: torch.Tensor) -> torch.Tensor:
        r"""Log-score-transform :math:`Q(z) = G(\alpha(z-\beta)) = \alpha H(z)` (App. C.4)."""
        return self._G(self._x(z))

    def q(self, z: torch.Tensor) -> torch.Tensor:
        r"""Scaling function :math:`q = Q' = \alpha g(x) = \alpha h(z)` (Eq. 18)."""
        return self.alpha * self._g(self._x(z))

    def dq(self, z: torch.Tensor) -> torch.Tensor:
        r""":math:`q' = \alpha^2 g'(x)`."""
        return self.alpha ** 2 * self._dg(self._x(z))

    def twin(self):
        """The SymPy twin of this link (:mod:`lossnotes.symbolic.links`), same parameters."""
        from .symbolic import links as sym_links

        return getattr(sym_links, self.name)(**self.params)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v!r}" for k, v in self.params.items())
        return f"{self.name}({args})"


def _common(alpha, beta):
    return (check_scalar(alpha, "alpha", low=0.0, low_open=True), check_scalar(beta, "beta"))


def _cap(cap):
    return check_scalar(cap, "cap", low=0.0, low_open=True, high=CAP_MAX)


def sigmoid_link(alpha=1.0, beta=0.0) -> Link:
    r"""Sigmoid link :math:`h = \sigma(x)`, :math:`H = \mathrm{sp}(x)/\alpha` (Eq. 3-5). :math:`\beta = 0`: low-norm
    sensitivity; :math:`\beta > 0`: high score; :math:`\beta < 0`: low score."""
    alpha, beta = _common(alpha, beta)
    return Link("sigmoid_link", alpha, beta, g=torch.sigmoid, G=softplus,
                dg=_sigmoid_dg, ginv=torch.logit,
                params={"alpha": alpha, "beta": beta})


def identity_link(alpha=1.0, beta=0.0) -> Link:
    r"""Identity link :math:`h = x`, :math:`H = x^2/(2\alpha)`: the square loss :math:`\frac\alpha2(\hat s-s)^2`
    (Eq. 6; :math:`\beta` drops out of the loss). As a scaling, :math:`q = \alpha x`, :math:`Q = x^2/2` (H.2)."""
    alpha, beta = _common(alpha, beta)
    return Link("identity_link", alpha, beta, g=_identity, G=_half_square,
                dg=torch.ones_like, ginv=_identity, params={"alpha": alpha, "beta": beta})


def exp_link(alpha=1.0, beta=0.0, cap=DEFAULT_CAP) -> Link:
    r"""Exponential link :math:`h = e^{x}`, :math:`H = e^{x}/\alpha` (Eq. 7): high-score sensitivity.
    Capped above :math:`x >` ``cap`` (``0 < cap <=`` :data:`CAP_MAX`). As a scaling: :math:`q = \alpha e^x`, :math:`Q = e^x` (C.11)."""
    alpha, beta = _common(alpha, beta)
    cap = _cap(cap)
    return Link("exp_link", alpha, beta, g=torch.exp, G=torch.exp, dg=torch.exp, ginv=torch.log,
                cap_high=cap, params={"alpha": alpha, "beta": beta, "cap": cap})


def anti_exp_link(alpha=1.0, beta=0.0, cap=DEFAULT_CAP) -> Link:
    r"""Anti-exponential link :math:`h = -e^{-x}`, :math:`H = e^{-x}/\alpha` (Fig. 2, Table H.1): low-score
    sensitivity. Capped below :math:`x < -` ``cap``."""
    alpha, beta = _common(alpha, beta)
    cap = _cap(cap)
    return Link("anti_exp_link", alpha, beta, g=_neg_exp_neg, G=_exp_neg,
                dg=_exp_neg, ginv=_anti_exp_inv, cap_low=-cap,
                params={"alpha": alpha, "beta": beta, "cap": cap})


def sinh_link(alpha=1.0, beta=0.0, cap=DEFAULT_CAP) -> Link:
    r"""sinh link :math:`h = \sinh x`, :math:`H = \cosh x/\alpha` (Fig. 2): high-norm sensitivity. Capped at
    :math:`|x| >` ``cap`` so that it stays monotone and finite. As a scaling: :math:`q = \alpha\sinh x`,
    :math:`Q = \cosh x`."""
    alpha, beta = _common(alpha, beta)
    cap = _cap(cap)
    return Link("sinh_link", alpha, beta, g=torch.sinh, G=torch.cosh, dg=torch.cosh, ginv=torch.asinh,
                cap_low=-cap, cap_high=cap, params={"alpha": alpha, "beta": beta, "cap": cap})


def cosh_link(alpha=1.0, beta=0.0, cap=DEFAULT_CAP) -> Link:
    r"""cosh shape :math:`g = \cosh x`, :math:`G = \sinh x`: **not** monotone, so not a matching link; as a
    scaling :math:`q = \alpha\cosh x`, :math:`Q = \sinh x` (Cor. G.4, Fig. H.2/H.4). Capped at :math:`|x| >` ``cap``."""
    alpha, beta = _common(alpha, beta)
    cap = _cap(cap)
    return Link("cosh_link", alpha, beta, g=torch.cosh, G=torch.sinh, dg=torch.sinh, monotone=False,
                cap_low=-cap, cap_high=cap, params={"alpha": alpha, "beta": beta, "cap": cap})


def tanh_link(alpha=1.0, beta=0.0) -> Link:
    r"""tanh link :math:`h = \tanh x`, :math:`H = \log\cosh(x)/\alpha` (Table H.1): odd, low-norm shape. As a
    scaling: :math:`q = \alpha\tanh x`, :math:`Q = \log\cosh x` ("SoftCosh", C.16-C.17)."""
    alpha, beta = _common(alpha, beta)
    return Link("tanh_link", alpha, beta, g=torch.tanh, G=_log_cosh, dg=_tanh_dg,
                ginv=torch.atanh, params={"alpha": alpha, "beta": beta})


def _smelu_g(x, c):
    return ((x + c) / (2 * c)).clamp(0.0, 1.0)


def _smelu_G(x, c):
    return torch.where(x >= c, x, (x.clamp(-c, c) + c) ** 2 / (4 * c))


def _smelu_dg(x, c):
    return ((x > -c) & (x < c)).to(x.dtype) / (2 * c)


def smelu_link(c=1.0, alpha=1.0, beta=0.0) -> Link:
    r"""SmeLU-gradient link (Eq. 14): :math:`h = 0` for :math:`x \le -c`, :math:`(x+c)/(2c)` for :math:`|x|\le c`,
    :math:`1` for :math:`x \ge c`; :math:`H = \mathrm{SmeLU}(x, c)/\alpha`. Shifted right it gives high-score
    sensitivity, clips low scores (flat loss) and caps high ones."""
    c = check_scalar(c, "c", low=0.0, low_open=True)
    alpha, beta = _common(alpha, beta)
    return Link("smelu_link", alpha, beta, g=partial(_smelu_g, c=c), G=partial(_smelu_G, c=c), dg=partial(_smelu_dg, c=c),
                params={"c": c, "alpha": alpha, "beta": beta})


def huber_link(c=1.0, alpha=1.0, beta=0.0) -> Link:
    r"""Huber-gradient link :math:`h = \mathrm{clip}(x, -c, c)`, :math:`H = \mathrm{Huber}_c(x)/\alpha`
    (mentioned in Sec. 2; formula reconstructed). :math:`h_{Huber} = 2c\,h_{SmeLU} - c`, so its matching loss is
    exactly :math:`2c` times the SmeLU one."""
    c = check_scalar(c, "c", low=0.0, low_open=True)
    alpha, beta = _common(alpha, beta)
    return Link("huber_link", alpha, beta, g=partial(_huber_g, c=c), G=partial(_huber_G, c=c),
                dg=partial(_huber_dg, c=c), params={"c": c, "alpha": alpha, "beta": beta})


def step_link(alpha=1.0, beta=0.0) -> Link:
    r"""Step link :math:`h = \mathbb 1[x \ge 0]`, :math:`H = \mathrm{ReLU}(x)/\alpha`: the matching loss is a
    hinge at 0 (D11a). As a scaling, :math:`Q = \mathrm{ReLU}` clips low scores (Sec. 5)."""
    alpha, beta = _common(alpha, beta)
    return Link("step_link", alpha, beta, g=_step_g, G=torch.relu,
                dg=torch.zeros_like, params={"alpha": alpha, "beta": beta})


def sign_link(alpha=1.0, beta=0.0) -> Link:
    r"""Sign link :math:`h = \mathrm{sign}(x)`, :math:`H = |x|/\alpha`: a hinge on the wrong side of 0 (D11b)."""
    alpha, beta = _common(alpha, beta)
    return Link("sign_link", alpha, beta, g=torch.sign, G=torch.abs, dg=torch.zeros_like,
                params={"alpha": alpha, "beta": beta})


def power_link(d=1.0, c=0.0, alpha=1.0, beta=0.0) -> Link:
    r"""Power shape :math:`g = |x|^d + c`, :math:`G = \mathrm{sign}(x)|x|^{d+1}/(d+1) + c x`: as a scaling
    :math:`q = \alpha(|x|^d + c)` (Cor. G.5; convex loss iff (G.8)). Not monotone for :math:`d > 0`, so not a
    matching link. ``d >= 1`` keeps it twice differentiable."""
    d = check_scalar(d, "d", low=1.0)
    c = check_scalar(c, "c", low=0.0)
    alpha, beta = _common(alpha, beta)
    return Link("power_link", alpha, beta, g=partial(_power_g, d=d, c=c), G=partial(_power_G, d=d, c=c),
                dg=partial(_power_dg, d=d, c=c), monotone=False,
                params={"d": d, "c": c, "alpha": alpha, "beta": beta})


#: Every link constructor by short name (``get_link("exp", alpha=2)``).
LINKS = {"sigmoid": sigmoid_link, "identity": identity_link, "exp": exp_link, "anti_exp": anti_exp_link,
         "sinh": sinh_link, "cosh": cosh_link, "tanh": tanh_link, "smelu": smelu_link, "huber": huber_link,
         "step": step_link, "sign": sign_link, "power": power_link}


def get_link(link, name: str = "link", *, monotone: bool = False) -> Link:
    """A :class:`Link` from a Link or a short name in :data:`LINKS`; ``monotone=True`` rejects a link that is not
    non-decreasing (a matching loss needs a convex primitive)."""
    if isinstance(link, str):
        if link not in LINKS:
            raise ValueError(f"{name} must be a Link or one of {sorted(LINKS)}, got {link!r}")
        link = LINKS[link]()
    if not isinstance(link, Link):
        raise TypeError(f"{name} must be a lossnotes.links.Link (e.g. sigmoid_link()) or a name in "
                        f"{sorted(LINKS)}, got {type(link).__name__}")
    if monotone and not link.monotone:
        raise ValueError(f"{name}={link!r} is not non-decreasing, so its primitive is not convex and the matching "
                         f"loss would not be a Bregman divergence; use it as a scaling q of a composite loss instead")
    return link
