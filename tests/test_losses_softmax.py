"""Softmax / logistic family: agreement with torch's own losses and the limit cases of LGL-INR."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st

from lossnotes.losses import (lgl_inr, lgl_inr_weights, logistic_ova, softmax_cross_entropy, unchecked)


def _batch(n=16, c=4, seed=0, scale=2.0):
    g = torch.Generator().manual_seed(seed)
    z = scale * torch.randn(n, c, generator=g, dtype=torch.float64)
    y = torch.randint(0, c, (n,), generator=g)
    y[:min(n, c)] = torch.arange(min(n, c))
    return z, y


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 20), c=st.integers(2, 8), eps=st.sampled_from([0.0, 0.05, 0.5, 1.0]),
       weighted=st.booleans(), seed=st.integers(0, 999))
def test_softmax_cross_entropy_equals_torch(n, c, eps, weighted, seed):
    z, y = _batch(n, c, seed)
    w = torch.rand(c, dtype=torch.float64) + 0.1 if weighted else None
    for reduction in ("mean", "sum", "none"):
        torch.testing.assert_close(softmax_cross_entropy(z, y, class_weight=w, label_smoothing=eps, reduction=reduction),
                                   F.cross_entropy(z, y, weight=w, label_smoothing=eps, reduction=reduction))


def test_logistic_ova_is_the_sum_of_one_vs_all_binary_losses():
    z, y = _batch()
    onehot = F.one_hot(y, 4).double()
    expected = F.binary_cross_entropy_with_logits(z, onehot, reduction="none").sum(1)
    torch.testing.assert_close(logistic_ova(z, y, reduction="none"), expected)
    w = torch.tensor([1.0, 10.0, 0.5, 2.0], dtype=torch.float64)
    torch.testing.assert_close(logistic_ova(z, y, class_weight=w), (w[y] * expected).sum() / w[y].sum())


def test_weighted_mean_with_zero_total_weight_is_an_error_not_nan():
    z, y = _batch()
    w = torch.zeros(4, dtype=torch.float64)
    with pytest.raises(ValueError, match="class_weight"):
        softmax_cross_entropy(z, y, class_weight=w)
    assert softmax_cross_entropy(z, y, class_weight=w, reduction="sum") == 0


def test_lgl_inr_beta_zero_is_in_negative_balanced_lgl():
    """beta = 0: lambda_j = 1/(number of negative classes in the batch), Li et al. 2020 Sec. LGL-INR."""
    z, y = _batch(n=20, c=5)
    counts = torch.bincount(y, minlength=5).double()
    expected = 0.0
    for k in range(5):
        pos = F.softplus(-z[y == k, k]).sum() / counts[k]
        neg = sum(F.softplus(z[y == j, k]).sum() / counts[j] for j in range(5) if j != k) / 4
        expected = expected + pos + neg
    torch.testing.assert_close(lgl_inr(z, y, beta=0.0, reduction="sum"), expected)


def test_lgl_inr_large_beta_puts_all_weight_on_the_hardest_negative():
    z, y = _batch(n=30, c=4, seed=3)
    lam = lgl_inr_weights(z, y, beta=1e6)
    pbar = (F.one_hot(y, 4).double().t() @ torch.sigmoid(z)) / torch.bincount(y, minlength=4)[:, None]
    for k in range(4):
        hardest = max((j for j in range(4) if j != k), key=lambda j: pbar[j, k])
        assert lam[hardest, k] == pytest.approx(1.0)
        assert lam[k, k] == 0


def test_lgl_inr_weights_sum_to_one_over_present_negatives():
    z, y = _batch(n=12, c=6, seed=4)
    y = torch.where(y == 5, torch.zeros_like(y), y)      # class 5 absent from the batch
    lam = lgl_inr_weights(z, y, beta=2.0)
    torch.testing.assert_close(lam.sum(0), torch.ones(6, dtype=torch.float64))
    assert torch.all(lam[5] == 0), "an absent class gets no weight"


def test_lgl_inr_with_a_single_class_batch():
    """Only class 0 present: L_0 has no negative term; L_1, L_2 have no positive term and lambda_0 = 1."""
    z = torch.randn(5, 3, dtype=torch.float64)
    y = torch.zeros(5, dtype=torch.long)
    expected = F.softplus(-z[:, 0]).mean() + F.softplus(z[:, 1:]).sum(1).mean()
    torch.testing.assert_close(lgl_inr(z, y, reduction="sum"), expected)


def test_lgl_inr_official_variant_changes_the_gradient_not_the_value():
    z, y = _batch(n=32, c=5, seed=5)
    z.requires_grad_(True)
    paper, official = lgl_inr(z, y, beta=4.0), lgl_inr(z, y, beta=4.0, variant="official")
    assert paper.item() == pytest.approx(official.item(), rel=1e-5)   # only the 1e-7 of log(p + eps)
    (g_paper,) = torch.autograd.grad(paper, z)
    (g_official,) = torch.autograd.grad(official, z)
    assert (g_paper - g_official).abs().max() > 1e-3, "official variant back-propagates through lambda"


def test_unchecked_skips_value_checks_but_not_shape_checks():
    z, y = _batch()
    with unchecked():
        softmax_cross_entropy(z, y.clone().fill_(1))
        with pytest.raises(ValueError, match="target"):
            softmax_cross_entropy(z, y[:-1])
    with pytest.raises(ValueError, match="NaN"):
        softmax_cross_entropy(z.clone().fill_(float("nan")), y)


def test_half_precision_inputs_return_float32_like_autocast():
    z, y = _batch()
    assert softmax_cross_entropy(z.half(), y).dtype == torch.float32
    assert lgl_inr(z.bfloat16(), y).dtype == torch.float32


def test_lgl_inr_weights_validates_its_inputs():
    z = torch.randn(4, 3)
    with pytest.raises(ValueError, match="target"):
        lgl_inr_weights(z, torch.tensor([0, 1, 2, 3]))             # label 3 with C = 3 (was a (4, 3) table)
    with pytest.raises(ValueError, match="beta"):
        lgl_inr_weights(z, torch.tensor([0, 1, 2, 1]), beta=-1.0)
    with pytest.raises(TypeError, match="logits"):
        lgl_inr_weights(z.long(), torch.tensor([0, 1, 2, 1]))


def test_lgl_inr_weights_table_matches_the_loss_rows():
    """The public (C, C) table and the loss's (K, C) rows of the batch's classes are the same weights."""
    from lossnotes.losses.softmax import _inr_weights

    z, t = torch.randn(7, 6, dtype=torch.float64), torch.tensor([0, 2, 2, 5, 0, 3, 5])
    classes, _, _, rows = _inr_weights(z, t, 1.5)
    full = lgl_inr_weights(z, t, beta=1.5)
    torch.testing.assert_close(full[classes], rows)
    assert full[[1, 4]].abs().sum() == 0                           # absent classes: weight 0
    torch.testing.assert_close(full.sum(0), torch.ones(6, dtype=torch.float64))


def test_masked_class_says_what_to_do_instead_and_nan_is_named():
    z = torch.randn(3, 4)
    z[:, 2] = float("-inf")
    assert torch.isfinite(softmax_cross_entropy(z, torch.tensor([0, 1, 3])))   # masked, not a target: drops out
    with pytest.raises(ValueError, match=r"-inf values; to mask classes, give them a large finite negative value"):
        softmax_cross_entropy(z, torch.tensor([0, 2, 3]))                     # the target itself masked
    z[0, 0] = float("nan")
    with pytest.raises(ValueError, match=r"contains NaN and -inf values$"):
        softmax_cross_entropy(z, torch.tensor([0, 1, 3]))
    masked = torch.randn(3, 4)
    masked[:, 2] = -1e4                      # the finite mask: finite loss, zero gradient on the masked class
    masked.requires_grad_(True)
    (grad,) = torch.autograd.grad(softmax_cross_entropy(masked, torch.tensor([0, 1, 3])), masked)
    assert torch.isfinite(grad).all() and grad[:, 2].abs().max() == 0


def test_non_finite_input_has_its_own_error_type():
    from lossnotes.losses.validation import NonFiniteError

    z = torch.randn(2, 3)
    z[1, 1] = float("inf")
    with pytest.raises(NonFiniteError, match=r"\+inf"):
        softmax_cross_entropy(z, torch.tensor([0, 1]))
    assert issubclass(NonFiniteError, ValueError)


def test_checks_output_reads_finiteness_off_the_output_and_names_the_culprit():
    """A decorated loss: a finite batch never scans its input (counted through the module's _all_finite); a NaN
    input still raises NonFiniteError naming the argument; a masked (-inf) non-target class drops out."""
    import lossnotes.losses.validation as V

    assert getattr(softmax_cross_entropy, "checks_output", False)
    z, y = torch.randn(16, 7, requires_grad=True), torch.randint(0, 7, (16,))
    scans = []
    original = V._all_finite
    V._all_finite = lambda x: scans.append(x.shape) or original(x)
    try:
        softmax_cross_entropy(z, y)
        assert scans == [], "a finite batch was scanned"
        bad = z.detach().clone()
        bad[3, 2] = float("nan")
        with pytest.raises(V.NonFiniteError, match="logits contains NaN"):
            softmax_cross_entropy(bad, y)
        assert scans, "the non-finite output did not lead to a scan of the inputs"
    finally:
        V._all_finite = original
    masked = z.detach().clone()
    col = (y + 1) % 7
    masked[torch.arange(16), col] = float("-inf")
    masked.requires_grad_(True)
    loss = softmax_cross_entropy(masked, y)
    kept = z.detach().clone()
    kept[torch.arange(16), col] = -1e4
    assert torch.allclose(loss, softmax_cross_entropy(kept, y))
    (g,) = torch.autograd.grad(loss, masked)
    assert torch.isfinite(g).all() and (g[torch.arange(16), col] == 0).all()


def test_checks_output_leaves_eager_losses_and_nested_calls_checked():
    """Outside a decorated loss the input check is eager; inside one, a nested loss defers to the outer output."""
    from lossnotes.losses.validation import NonFiniteError, check_logits, checks_output

    bad = torch.zeros(2, 3)
    bad[0, 0] = float("inf")
    with pytest.raises(NonFiniteError, match=r"\+inf"):
        check_logits(bad)

    @checks_output
    def outer(logits, target):
        return softmax_cross_entropy(logits, target) + logistic_ova(logits, target)

    with pytest.raises(NonFiniteError, match=r"logits contains \+inf"):
        outer(bad, torch.tensor([1, 2]))
    assert torch.isfinite(outer(torch.zeros(2, 3), torch.tensor([1, 2])))
