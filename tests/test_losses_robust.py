"""Limits and identities of the robust losses (lossnotes.losses.robust) that the battery does not cover:
GCE q -> 0 is CE and q = 1 is 1 - p_y; comp-sum's tau identities; symmetry sums (NCE sums to 1 over k, MAE
and RCE to constants, CE does not); bi-tempered t1 = t2 = 1 is CE and is bounded for t1 < 1; LDR-KL's
limits; Taylor CE approaches CE as the order grows; official variants; bad inputs; ALDR-KL's solver (residual,
global maximum, two local maxima), its limits and bounds, the official update as its fixed point, convexity and
the implicit Hessian term."""
import math

import numpy as np
import pytest
import sympy as sp
import torch
import torch.nn.functional as F

import lossnotes.losses as L
import lossnotes.losses.robust as R
from lossnotes import symbolic as S


def _batch(n=16, c=6, scale=3.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (scale * torch.randn(n, c, generator=g, dtype=torch.float64)), torch.randint(0, c, (n,), generator=g)


def _p_y(z, y):
    return torch.softmax(z, 1).gather(1, y[:, None]).squeeze(1)


def test_gce_limits():
    z, y = _batch()
    ce = F.cross_entropy(z, y, reduction="none")
    torch.testing.assert_close(L.generalized_ce(z, y, q=1e-7, reduction="none"), ce, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(L.generalized_ce(z, y, q=1.0, reduction="none"), 1 - _p_y(z, y))
    p, q = sp.symbols("p q", positive=True)
    assert sp.limit((1 - p ** q) / q, q, 0) == -sp.log(p)


@pytest.mark.parametrize("tau,expected", [
    (0.0, lambda z, y: 1 / _p_y(z, y) - 1),
    (1.0, lambda z, y: F.cross_entropy(z, y, reduction="none")),
    (2.0, lambda z, y: 1 - _p_y(z, y)),
    (1.7, lambda z, y: L.generalized_ce(z, y, q=0.7, reduction="none")),
    (1.2, lambda z, y: L.generalized_ce(z, y, q=0.2, reduction="none")),
])
def test_comp_sum_identities(tau, expected):
    z, y = _batch()
    torch.testing.assert_close(L.comp_sum(z, y, tau=tau, reduction="none"), expected(z, y))


@pytest.mark.parametrize("tau", [0.0, 0.5, 0.999])
def test_comp_sum_below_one_matches_its_twin(tau):
    z, y = _batch(4, 3, scale=1.5, seed=1)
    zz = z.clone().requires_grad_(True)
    got = L.comp_sum(zz, y, tau=tau, reduction="none")
    (grad,) = torch.autograd.grad(got.sum(), zz)
    sym = S.logit_symbols(4, 3)
    exprs = S.comp_sum(sym, y, tau=tau)
    np.testing.assert_allclose(S.evaluate(exprs, sym, z.numpy()), got.detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(S.evaluate_gradient(exprs, sym, z.numpy()), grad.numpy(), rtol=1e-9, atol=1e-12)


def test_comp_sum_is_bounded_above_one_and_overflows_below_as_the_loss_itself_does():
    z = torch.tensor([[-1e4, 1e4, 0.0]])
    y = torch.tensor([0])
    assert float(L.comp_sum(z, y, tau=1.5)) == pytest.approx(2.0)          # 1 / (tau - 1)
    assert math.isinf(float(L.comp_sum(z, y, tau=0.0)))                     # e^{2e4}: beyond float32 and float64


def test_symmetry_sums():
    z, _ = _batch(5, 4)
    k = z.shape[1]
    per_k = lambda fn, **kw: torch.stack([fn(z, torch.full((5,), j), reduction="none", **kw) for j in range(k)]).sum(0)  # noqa: E731
    torch.testing.assert_close(per_k(L.normalized_ce), torch.ones(5, dtype=z.dtype))
    torch.testing.assert_close(per_k(L.mae_loss), torch.full((5,), 2.0 * (k - 1), dtype=z.dtype))
    torch.testing.assert_close(per_k(L.reverse_ce), torch.full((5,), 4.0 * (k - 1), dtype=z.dtype))
    torch.testing.assert_close(per_k(L.normalized_focal, gamma=2.0), torch.ones(5, dtype=z.dtype))
    ce = torch.stack([F.cross_entropy(z, torch.full((5,), j), reduction="none") for j in range(k)]).sum(0)
    assert ce.std() > 0.1                                                   # CE's sum depends on z


def test_taylor_ce_tends_to_ce():
    z, y = _batch(scale=0.5)
    ce = F.cross_entropy(z, y, reduction="none")
    gaps = [float((ce - L.taylor_ce(z, y, order=t, reduction="none")).abs().max()) for t in (1, 2, 4, 8, 32, 1000)]
    assert all(a > b for a, b in zip(gaps, gaps[1:])) and gaps[-1] < 1e-6
    torch.testing.assert_close(L.taylor_ce(z, y, order=1, reduction="none"), 1 - _p_y(z, y))


def test_bi_tempered_reduces_to_ce_and_is_bounded():
    z, y = _batch()
    torch.testing.assert_close(L.bi_tempered_logistic(z, y, t1=1.0, t2=1.0, reduction="none"),
                               F.cross_entropy(z, y, reduction="none"))
    # with label smoothing, t1 = t2 = 1 is KL(y_smooth || p): CE with soft labels minus the labels' entropy
    eps, c = 0.2, z.shape[1]
    soft = torch.full_like(z, eps / (c - 1)).scatter(1, y[:, None], 1 - eps)
    kl = (soft * (soft.log() - torch.log_softmax(z, 1))).sum(1)
    torch.testing.assert_close(L.bi_tempered_logistic(z, y, t1=1.0, t2=1.0, label_smoothing=eps, reduction="none"), kl)
    big = torch.tensor([[1e4, -1e4, 0.0, 5.0]], dtype=torch.float32)
    for t1, t2 in ((0.8, 1.2), (0.5, 2.0), (0.3, 0.7)):
        worst = float(L.bi_tempered_logistic(big, torch.tensor([1]), t1=t1, t2=t2))
        assert 0 <= worst <= 1 / (1 - t1) + 1e-5


@pytest.mark.parametrize("t", [0.3, 0.7, 1.2, 2.0, 4.0])
def test_tempered_softmax_is_normalised_and_official_is_close(t):
    z, _ = _batch(32, 10, scale=4.0)
    p = L.tempered_softmax(z, t=t)
    torch.testing.assert_close(p.sum(1), torch.ones(32, dtype=z.dtype), rtol=0, atol=1e-12)
    official = L.tempered_softmax(z, t=t, variant="official", num_iters=5)
    assert float((official.sum(1) - 1).abs().max()) < 0.2
    z32 = (1e4 * torch.sign(z)).float()
    assert torch.allclose(L.tempered_softmax(z32, t=t).sum(1), torch.ones(32), atol=1e-5)


def test_ldr_kl_limits():
    z, y = _batch()
    k, lam = z.shape[1], 0.7
    temp_ce = lam * F.cross_entropy(z / lam, y, reduction="none") - lam * math.log(k)
    torch.testing.assert_close(L.ldr_kl(z, y, lam=lam, margin=0.0, reduction="none"), temp_ce)
    margin = 1.0
    shifted = (z - z.gather(1, y[:, None]) + margin).scatter(1, y[:, None], 0.0)
    hinge = shifted.amax(1)                               # max(0, max_{k != y} c + z_k - z_y)
    small = L.ldr_kl(z, y, lam=1e-4, margin=margin, reduction="none")
    assert float((small - hinge).abs().max()) < 1e-4 * math.log(k) + 1e-9
    lam_s, u = sp.symbols("lambda u", positive=True)
    # symbolic: lam log((e^{0} + e^{u/lam}) / 2) -> max(0, u) = u for u > 0 as lam -> 0
    assert sp.limit(lam_s * sp.log((1 + sp.exp(u / lam_s)) / 2), lam_s, 0, "+") == u


def test_composites_are_sums_of_their_parts():
    z, y = _batch()
    nce, rce = L.normalized_ce(z, y, reduction="none"), L.reverse_ce(z, y, reduction="none")
    torch.testing.assert_close(L.active_passive(z, y, alpha=2.0, beta=3.0, reduction="none"), 2 * nce + 3 * rce)
    torch.testing.assert_close(L.active_passive(z, y, active="nfl", passive="mae", reduction="none"),
                               L.normalized_focal(z, y, reduction="none") + L.mae_loss(z, y, reduction="none"))
    torch.testing.assert_close(L.normalized_focal(z, y, gamma=0.0, reduction="none"), nce)
    ce = F.cross_entropy(z, y, reduction="none")
    torch.testing.assert_close(L.symmetric_ce(z, y, reduction="none"), 0.1 * ce + 1.0 * rce)


def test_official_variants():
    z, y = _batch(scale=1.0)
    torch.testing.assert_close(L.mae_loss(z, y, variant="official"), L.mae_loss(z, y) / 2)
    one_minus = 1 - _p_y(z, y)
    torch.testing.assert_close(L.reverse_ce(z, y, variant="official", reduction="none"),
                               -math.log(1e-4) * one_minus)                 # no p below 1e-7 at this scale
    zz = z.clone().requires_grad_(True)
    (g_off,) = torch.autograd.grad(L.normalized_focal(zz, y, variant="official"), zz)
    (g_pap,) = torch.autograd.grad(L.normalized_focal(zz, y), zz)
    torch.testing.assert_close(L.normalized_focal(z, y, variant="official"), L.normalized_focal(z, y))
    assert float((g_off - g_pap).abs().max()) > 1e-3                         # same value, other gradient


@pytest.mark.parametrize("call,exc,match", [
    (lambda z, y: L.comp_sum(z, y), TypeError, "tau"),
    (lambda z, y: L.comp_sum(z, y, tau=-1.0), ValueError, "tau"),
    (lambda z, y: L.generalized_ce(z, y, q=0.0), ValueError, "q"),
    (lambda z, y: L.taylor_ce(z, y, order=0), ValueError, "order"),
    (lambda z, y: L.bi_tempered_logistic(z, y, t1=1.0, t2=0.5), ValueError, "t1"),
    (lambda z, y: L.bi_tempered_logistic(z, y, t2=6.0), ValueError, "t2"),
    (lambda z, y: L.reverse_ce(z, y, log_zero=-2.0, variant="official"), ValueError, "log_zero"),
    (lambda z, y: L.active_passive(z, y, active="mae"), ValueError, "active"),
    (lambda z, y: L.ldr_kl(z, y, lam=0.0), ValueError, "lam"),
    (lambda z, y: L.normalized_ce(z[:, :1], torch.zeros_like(y)), ValueError, "logits"),
])
def test_bad_inputs(call, exc, match):
    z, y = _batch()
    with pytest.raises(exc, match=match):
        call(z, y)


# ---- ALDR-KL ----------------------------------------------------------------------------------------

def _aldr_setting(d, lam0, alpha):
    k = d.shape[1]
    return math.log(k), alpha * math.log(k) / lam0, lam0 * (1 - 1 / alpha)


def _aldr_on_grid(d, lam0, alpha, points=20001):
    """(F, G) of the ALDR-KL objective on a dense grid of lambda, (N, points): the brute-force reference."""
    log_k, a, lo = _aldr_setting(d, lam0, alpha)
    f, g = [], []
    chunk = max(1, 2 ** 22 // d.numel())                             # at most 4M elements at a time
    for lams in torch.linspace(lo, lam0, points, dtype=torch.float64).split(chunk):
        u = d[:, None, :] / lams[None, :, None]
        log_p = torch.log_softmax(u, 2)
        f.append(lams * (torch.logsumexp(u, 2) - log_k) - 0.5 * a * (lams - lam0) ** 2)
        g.append(-((log_p.exp() * log_p).sum(2) + log_k) - a * (lams - lam0))
    return torch.cat(f, 1), torch.cat(g, 1)


def _one_high_logit_rows(k, top, target=1):
    """Rows with one large logit (class 0) and the others 0, the label elsewhere: the objective over lambda
    turns non-concave as the large logit crosses the temperature range."""
    z = torch.zeros(len(top), k, dtype=torch.float64)
    z[:, 0] = top
    return z, torch.full((len(top),), target)


@pytest.mark.parametrize("k,scale,lam0,alpha", [(10, 3.0, 10.0, 2.0), (10, 30.0, 10.0, 2.0), (5, 3.0, 1.0, 1.5),
                                                (100, 20.0, 1.0, 1.5), (1000, 30.0, 10.0, 2.0), (1000, 5.0, 10.0, 1.1)])
def test_aldr_lambda_solves_the_stationarity_condition_at_the_global_maximum(k, scale, lam0, alpha):
    """lambda* is a root of G to float64 precision, inside [lam (1 - 1/alpha), lam], and its objective is the largest
    on a grid of 20001 lambdas (the global maximum, not just a stationary point)."""
    z, y = _batch(64 if k <= 100 else 8, k, scale=scale, seed=k)
    margin = 0.1
    d = R._ldr_scores(z, y, margin)
    lam = L.aldr_lambda(z, y, lam=lam0, margin=margin, alpha=alpha)
    log_k, a, lo = _aldr_setting(d, lam0, alpha)
    f, g, _ = R._aldr_objective(d, lam[:, None], lam0, a, log_k)
    assert float(g.abs().max()) < 1e-12
    assert bool(((lam >= lo) & (lam <= lam0)).all())
    f_grid, _ = _aldr_on_grid(d, lam0, alpha, points=20001 if k <= 100 else 4001)
    assert float((f.squeeze(1) - f_grid.amax(1)).min()) > -1e-12
    torch.testing.assert_close(L.aldr_kl(z, y, lam=lam0, margin=margin, alpha=alpha, reduction="none"),
                               f.squeeze(1), rtol=1e-13, atol=1e-13)


def test_aldr_lambda_picks_the_higher_of_two_local_maxima():
    """With K = 1000 the objective over lambda can have two local maxima (its curvature Var_p(d) / lambda^3 - a
    changes sign where p_lambda splits its mass between one class and the rest): here for one logit of about 52-55
    and 999 zeros. Both are found by bisection in their own sign change of G on a grid; the loss is the higher one,
    and which one is higher changes along the rows (so neither the smallest nor the largest root would do)."""
    k, lam0, alpha = 1000, 10.0, 2.0
    log_k, a, lo = math.log(k), alpha * math.log(k) / lam0, lam0 * (1 - 1 / alpha)
    z, y = _one_high_logit_rows(k, torch.linspace(50.0, 58.0, 33, dtype=torch.float64))
    d = R._ldr_scores(z, y, 0.1)
    grid = torch.linspace(lo, lam0, 4001, dtype=torch.float64)
    g = torch.cat([R._aldr_objective(d, v.expand(len(d), 1), lam0, a, log_k)[1] for v in grid], 1)
    change = (g[:, :-1] > 0) & (g[:, 1:] <= 0)
    two = change.sum(1) == 2
    assert int(two.sum()) >= 5                                       # the case exists: this test tests something
    j = change[two].nonzero()[:, 1].reshape(-1, 2)                   # (rows, 2) brackets [grid[j], grid[j + 1]]
    left, right = grid[j], grid[j + 1]
    dd = d[two].repeat_interleave(2, 0)
    for _ in range(60):                                              # bisection of G in each bracket
        mid = 0.5 * (left + right)
        rising = R._aldr_objective(dd, mid.reshape(-1, 1), lam0, a, log_k)[1].reshape(-1, 2) > 0
        left, right = torch.where(rising, mid, left), torch.where(rising, right, mid)
    roots = 0.5 * (left + right)
    f = R._aldr_objective(dd, roots.reshape(-1, 1), lam0, a, log_k)[0].reshape(-1, 2)
    got = L.aldr_kl(z[two], y[two], lam=lam0, margin=0.1, alpha=alpha, reduction="none")
    torch.testing.assert_close(got, f.amax(1), rtol=0, atol=1e-12)
    lam = L.aldr_lambda(z[two], y[two], lam=lam0, margin=0.1, alpha=alpha)
    torch.testing.assert_close(lam, roots.gather(1, f.argmax(1, keepdim=True)).squeeze(1), rtol=1e-9, atol=0)
    winner = f.argmax(1)
    assert bool((winner == 0).any()) and bool((winner == 1).any())


def test_aldr_stationarity_is_the_official_update_and_its_fixed_point():
    """SymPy: h(lam) = lam log mean exp(d / lam) has h' = -KL(p_lam || 1/K) and h'' = Var_p(d) / lam^3, so
    F' = 0 reads lam = lam0 (1 - KL / (alpha log K)), the official code's per-sample update. Iterating that update
    on our d (from lam0, where the objective is concave) reaches the solver's lambda*."""
    k = 3
    lam, lam0, alpha = sp.symbols("lambda lambda_0 alpha", positive=True)
    d = sp.symbols("d0:3", real=True)
    e = [sp.exp(v / lam) for v in d]
    p = [v / sum(e) for v in e]
    h = lam * sp.log(sum(e) / k)
    kl = sum(pk * sp.log(k * pk) for pk in p)
    mean = sum(pk * v for pk, v in zip(p, d))
    var = sum(pk * (v - mean) ** 2 for pk, v in zip(p, d))
    point = {d[0]: sp.Rational(3, 10), d[1]: sp.Rational(-7, 5), d[2]: sp.Rational(11, 4), lam: sp.Rational(7, 3)}
    for expr in (sp.diff(h, lam) + kl, sp.diff(h, lam, 2) - var / lam ** 3):
        assert abs(float(expr.subs(point).evalf(40))) < 1e-30
    assert sp.simplify(sp.expand_log(kl.subs(point) - (sum(pk * (v / lam) for pk, v in zip(p, d))
                                                      - sp.log(sum(e)) + sp.log(k)).subs(point), force=True)) == 0
    kl_s = sp.Symbol("KL", nonnegative=True)
    stationary = sp.solve(sp.Eq(-kl_s - alpha * sp.log(k) / lam0 * (lam - lam0), 0), lam)
    assert len(stationary) == 1 and sp.simplify(stationary[0] - lam0 * (1 - kl_s / (alpha * sp.log(k)))) == 0

    z, y = _batch(32, 10, scale=2.0, seed=3)
    lam_star = L.aldr_lambda(z, y, lam=10.0, margin=0.1, alpha=2.0)
    dd = R._ldr_scores(z, y, 0.1)
    it = torch.full((32, 1), 10.0, dtype=torch.float64)
    for _ in range(500):
        log_p = torch.log_softmax(dd / it, 1)
        it = 10.0 * (1 - ((log_p.exp() * log_p).sum(1, keepdim=True) + math.log(10)) / (2.0 * math.log(10)))
    torch.testing.assert_close(it.squeeze(1), lam_star, rtol=1e-10, atol=0)


def test_aldr_kl_limits_and_bounds():
    """alpha -> oo is LDR-KL at lam; otherwise
    LDR-KL(lam) <= ALDR-KL <= min(LDR-KL(lo), LDR-KL(lam) + lam log K / (2 alpha)): the lower end is lambda = lam with no penalty; the upper ends use that h is decreasing (h' = -KL <= 0) and
    convex, h(lambda) <= h(lam) + (lam - lambda) KL <= h(lam) + (lam - lambda) log K, whose excess over the penalty
    peaks at (log K)^2 / (2 a) = lam log K / (2 alpha)."""
    z, y = _batch(64, 10, scale=4.0)
    k, lam0, margin = 10, 3.0, 0.5
    ldr = lambda lam: L.ldr_kl(z, y, lam=lam, margin=margin, reduction="none")  # noqa: E731
    torch.testing.assert_close(L.aldr_kl(z, y, lam=lam0, margin=margin, alpha=1e12, reduction="none"), ldr(lam0),
                               rtol=1e-10, atol=1e-10)
    for alpha in (1.2, 2.0, 8.0):
        got = L.aldr_kl(z, y, lam=lam0, margin=margin, alpha=alpha, reduction="none")
        upper = torch.minimum(ldr(lam0 * (1 - 1 / alpha)), ldr(lam0) + lam0 * math.log(k) / (2 * alpha))
        assert bool((got >= ldr(lam0) - 1e-12).all()) and bool((got <= upper + 1e-12).all())
        assert float((got - ldr(lam0)).max()) > 1e-3                 # the adversary's lambda matters
        assert float((upper - got).max()) > 1e-3                     # and the upper bound is not the loss


def test_aldr_kl_is_the_q_side_objective_at_the_worst_case_weights():
    """Maximising over lambda first: ALDR-KL = max_q q.d - lam KL(q) + lam KL(q)^2 / (2 alpha log K); at
    q = softmax(d / lambda*) the value equals the loss (the stationarity condition makes the two forms agree)."""
    z, y = _batch(32, 7, scale=3.0, seed=5)
    lam0, alpha, margin, k = 4.0, 1.7, 0.2, 7
    d = R._ldr_scores(z, y, margin)
    lam = L.aldr_lambda(z, y, lam=lam0, margin=margin, alpha=alpha)[:, None]
    log_q = torch.log_softmax(d / lam, 1)
    q = log_q.exp()
    kl = (q * log_q).sum(1) + math.log(k)
    q_side = (q * d).sum(1) - lam0 * kl + lam0 * kl ** 2 / (2 * alpha * math.log(k))
    torch.testing.assert_close(q_side, L.aldr_kl(z, y, lam=lam0, margin=margin, alpha=alpha, reduction="none"),
                               rtol=1e-12, atol=1e-12)


def test_aldr_kl_is_convex_and_its_hessian_adds_the_implicit_term():
    """Convex in z (a maximum over lambda of convex functions): chords lie above the loss. Its Hessian, from
    finite differences of the (exact) gradient, is PSD and equals the Hessian at fixed lambda* (autograd's double
    backward) plus g g^T / |dG/dlambda|, g = dG/dz (implicit function theorem); the twin's implicit derivative
    of lambda* matches finite differences of aldr_lambda."""
    z, y = _batch(200, 5, scale=4.0, seed=7)
    w, _ = _batch(200, 5, scale=4.0, seed=8)
    hp = {"lam": 2.0, "margin": 0.5, "alpha": 1.5}
    f = lambda x: L.aldr_kl(x, y, **hp, reduction="none")  # noqa: E731
    for t in (0.25, 0.5, 0.75):
        assert bool((f(t * z + (1 - t) * w) <= t * f(z) + (1 - t) * f(w) + 1e-12).all())

    row, target, h, k = z[:1].clone(), y[:1], 1e-5, 5
    log_k, a, _ = _aldr_setting(row, hp["lam"], hp["alpha"])

    def grad(x):
        x = x.clone().requires_grad_(True)
        return torch.autograd.grad(L.aldr_kl(x, target, **hp), x)[0].squeeze(0)

    eye = torch.eye(k, dtype=torch.float64)
    fd = torch.stack([(grad(row + h * eye[j]) - grad(row - h * eye[j])) / (2 * h) for j in range(k)])
    assert float(torch.linalg.eigvalsh(0.5 * (fd + fd.T)).min()) > -1e-7
    fixed = torch.autograd.functional.hessian(lambda x: L.aldr_kl(x, target, **hp), row).reshape(k, k)
    lam = L.aldr_lambda(row, target, **hp)[:, None]
    x = row.clone().requires_grad_(True)
    _, g, dg_dlam = R._aldr_objective(R._ldr_scores(x, target, hp["margin"]), lam, hp["lam"], a, log_k)
    (dg_dz,) = torch.autograd.grad(g.sum(), x)
    implicit = torch.outer(dg_dz[0], dg_dz[0]) / -dg_dlam.item()
    torch.testing.assert_close(fd, fixed + implicit, rtol=1e-5, atol=1e-7)
    assert float(implicit.abs().max()) > 1e-3                        # fixed lambda alone is not the Hessian

    sym = S.logit_symbols(1, k)
    d_sym = [(0 if j == int(target) else sp.Rational(1, 2)) + v - sym[int(target)] for j, v in enumerate(sym)]
    lam_sym = S.AldrLambda(sp.Rational(3, 2), 2, *d_sym)
    twin_dlam = S.lambdify(list(sym), [sp.diff(lam_sym, v) for v in sym])(*row.squeeze(0).tolist())
    fd_dlam = [float((L.aldr_lambda(row + h * eye[j], target, **hp) - L.aldr_lambda(row - h * eye[j], target, **hp))
                     / (2 * h)) for j in range(k)]
    np.testing.assert_allclose(np.asarray(twin_dlam, dtype=float), fd_dlam, rtol=1e-6, atol=1e-9)


def test_aldr_kl_grows_like_the_hinge():
    """Not bounded: ALDR-KL lies within lam log K of the hinge max(0, max_k d_k), which grows linearly."""
    k, lam0 = 6, 2.0
    z, y = _batch(16, k, scale=1.0, seed=9)
    for t in (1.0, 10.0, 1e3):
        zt = t * z
        d = R._ldr_scores(zt, y, 0.1)
        hinge = d.amax(1)
        got = L.aldr_kl(zt, y, lam=lam0, alpha=2.0, reduction="none")
        assert bool(((got <= hinge + 1e-9) & (got >= hinge - lam0 * math.log(k) - 1e-9)).all())
    assert float(got.max()) > 100


def test_aldr_kl_rejects_alpha_at_most_one_and_says_why():
    z, y = _batch()
    for alpha in (1.0, 0.5, -2.0):
        with pytest.raises(ValueError, match=r"alpha must be > 1.*reaches lambda = 0"):
            L.aldr_kl(z, y, alpha=alpha)
    with pytest.raises(ValueError, match="alpha"):
        L.aldr_lambda(z, y, alpha=float("nan"))
