"""The common battery: every registered loss is checked here, so registering a loss tests it.

Twin agreement (value and gradient), gradcheck, the bad-input matrix, extreme logits in fp32/fp16/bf16,
module == function, reduction consistency, and PSD Hessians where the paper claims convexity.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

import lossnotes.losses as L
from lossnotes import symbolic
from lossnotes.losses import module_class
from lossnotes.registry import LossSpec, all_losses, register

SPECS = all_losses()
IDS = [s.name for s in SPECS]
N, C = 6, 5


def _case_ids(spec):
    return [f"{spec.name}-{i}" for i in range(len(spec.test_params))]


CASES = [(s, hp) for s in SPECS for hp in s.test_params]
CASE_IDS = [f"{s.name}-{'-'.join(f'{k}={v}' for k, v in hp.items()) or 'defaults'}" for s, hp in CASES]


def _hp(hp, like):
    """Hyper-parameters for the torch call: lists of weights become tensors of the logits' dtype."""
    return {k: torch.tensor(v, dtype=like.dtype) if isinstance(v, list) else v for k, v in hp.items()}


@pytest.mark.parametrize("spec,hp", CASES, ids=CASE_IDS)
def test_twin_value_and_gradient_match_torch(spec: LossSpec, hp):
    for seed in (0, 1):
        logits, target = spec.sample_inputs(N, C, seed=seed)
        logits.requires_grad_(True)
        per_sample = spec.fn(logits, target, **_hp(hp, logits), reduction="none")
        (grad,) = torch.autograd.grad(per_sample.sum(), logits)
        z = symbolic.logit_symbols(N, C)
        exprs = spec.twin(z, target, **hp)
        assert len(exprs) == N
        values = logits.detach().numpy()
        np.testing.assert_allclose(symbolic.evaluate(exprs, z, values), per_sample.detach().numpy(),
                                   rtol=1e-10, atol=1e-12, err_msg=f"{spec.name} value differs from its twin")
        np.testing.assert_allclose(symbolic.evaluate_gradient(exprs, z, values), grad.numpy(),
                                   rtol=1e-9, atol=1e-11, err_msg=f"{spec.name} gradient differs from its twin")


@pytest.mark.parametrize("spec,hp", CASES, ids=CASE_IDS)
def test_gradcheck(spec, hp):
    logits, target = spec.sample_inputs(4, 3, seed=2, scale=1.5)
    kw_twin = {k: v[:3] if isinstance(v, list) else v for k, v in hp.items()}
    if any(e.has(symbolic.StopGradient) for e in spec.twin(symbolic.logit_symbols(4, 3), target, **kw_twin)):
        pytest.skip("the gradient holds a stop_gradient term constant by design (checked against the twin)")
    logits.requires_grad_(True)
    kw = _hp({k: v[:3] if isinstance(v, list) else v for k, v in hp.items()}, logits)
    assert torch.autograd.gradcheck(lambda z: spec.fn(z, target, **kw, reduction="none"), (logits,))


# ---- bad inputs -------------------------------------------------------------------------------------

def _bad_inputs(spec):
    """(description, logits, target, kwargs, exception, fragment of the message)."""
    logits, target = spec.sample_inputs(N, C, seed=3, dtype=torch.float32)
    cases = [
        ("1-d logits", logits[0], target, {}, ValueError, "logits"),
        ("3-d logits", logits[None], target, {}, ValueError, "logits"),
        ("integer logits", logits.round().long(), target, {}, TypeError, "logits"),
        ("list logits", logits.tolist(), target, {}, TypeError, "logits"),
        ("NaN logits", logits.clone().index_put_((torch.tensor([1]), torch.tensor([2])), torch.tensor(float("nan"))),
         target, {}, ValueError, "NaN"),
        ("inf logits", logits.clone().index_put_((torch.tensor([0]), torch.tensor([0])), torch.tensor(float("inf"))),
         target, {}, ValueError, "inf"),
        ("empty batch", logits[:0], target[:0], {}, ValueError, "empty"),
        ("N mismatch", logits, target[:-1], {}, ValueError, "target"),
        ("unknown reduction", logits, target, {"reduction": "avg"}, ValueError, "reduction"),
    ]
    if spec.target_kind == "class":
        cases += [
            ("label too large", logits, target.clone().fill_(C), {}, ValueError, "target"),
            ("negative label", logits, target.clone().fill_(-1), {}, ValueError, "target"),
            ("float labels", logits, target.float(), {}, TypeError, "target"),
            ("2-d labels", logits, target[:, None], {}, ValueError, "target"),
        ]
    elif spec.target_kind == "multihot":
        cases += [
            ("not 0/1", logits, target * 2, {}, ValueError, "target"),
            ("C mismatch", logits, target[:, :-1], {}, ValueError, "target"),
            ("class indices", logits, target.argmax(1), {}, ValueError, "target"),
        ]
    else:
        cases += [("C mismatch", logits, target[:, :-1], {}, ValueError, "target")]
    for kwargs, exc, fragment in spec.bad_params:
        cases.append((f"bad {sorted(kwargs)}", logits, target, kwargs, exc, fragment))
    return cases


BAD = [(s, case) for s in SPECS for case in _bad_inputs(s)]


@pytest.mark.parametrize("spec,case", BAD, ids=[f"{s.name}-{c[0]}" for s, c in BAD])
def test_bad_input_is_rejected_with_a_named_error(spec, case):
    _, logits, target, kwargs, exc, fragment = case
    with pytest.raises(exc, match=fragment):
        spec.fn(logits, target, **kwargs)


# ---- numerics ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("spec", SPECS, ids=IDS)
@pytest.mark.parametrize("dtype,magnitude", [(torch.float32, 1e4), (torch.float16, 60.0), (torch.bfloat16, 60.0)],
                         ids=["fp32-1e4", "fp16-60", "bf16-60"])
def test_finite_loss_and_gradient_at_extreme_logits(spec, dtype, magnitude):
    if dtype != torch.float32 and not spec.low_precision:
        pytest.skip(f"{spec.name} is not meant for {dtype}")
    logits, target = spec.sample_inputs(N, C, seed=4, dtype=torch.float64)
    extreme = (torch.sign(logits) * magnitude).to(dtype)
    extreme[0, 0] = 0.0
    for z in (extreme, -extreme):
        z = z.clone().requires_grad_(True)
        for hp in spec.test_params:
            loss = spec.fn(z, target, **_hp(hp, z.float()), reduction="sum")
            (grad,) = torch.autograd.grad(loss, z)
            assert torch.isfinite(loss), f"{spec.name} {hp} loss not finite at |z|={magnitude} in {dtype}"
            assert torch.isfinite(grad).all(), f"{spec.name} {hp} gradient not finite at |z|={magnitude} in {dtype}"


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_low_precision_agrees_with_float32(spec, dtype):
    if not spec.low_precision:
        pytest.skip("not meant for low precision")
    logits, target = spec.sample_inputs(64, C, seed=5, dtype=torch.float32)
    low = logits.to(dtype)
    ref = spec.fn(low.float(), target)          # same rounded inputs, float32 arithmetic
    got = spec.fn(low, target)
    assert torch.isfinite(got)
    assert math.isclose(float(got), float(ref), rel_tol=1e-3, abs_tol=1e-3)


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_never_nan_for_any_valid_batch(data):
    spec = data.draw(st.sampled_from(SPECS), label="loss")
    n = data.draw(st.integers(1, 12), label="n")
    c = data.draw(st.integers(2, 7), label="c")
    scale = data.draw(st.sampled_from([1e-3, 1.0, 30.0, 1e3, 1e4]), label="scale")
    seed = data.draw(st.integers(0, 10_000), label="seed")
    logits, target = spec.sample_inputs(n, c, seed=seed, scale=scale, dtype=torch.float32)
    logits.requires_grad_(True)
    for reduction in ("mean", "sum"):
        loss = spec.fn(logits, target, reduction=reduction)
        (grad,) = torch.autograd.grad(loss, logits)
        assert torch.isfinite(loss) and torch.isfinite(grad).all()
    per_sample = spec.fn(logits, target, reduction="none")
    assert per_sample.shape == (n,)
    assert torch.all(per_sample >= -1e-6) or "bounded" not in spec.claims


# ---- reductions and modules -------------------------------------------------------------------------

@pytest.mark.parametrize("spec,hp", CASES, ids=CASE_IDS)
def test_reductions_are_consistent(spec, hp):
    logits, target = spec.sample_inputs(9, C, seed=6)
    kw = _hp(hp, logits)
    none = spec.fn(logits, target, **kw, reduction="none")
    total = spec.fn(logits, target, **kw, reduction="sum")
    mean = spec.fn(logits, target, **kw, reduction="mean")
    default = spec.fn(logits, target, **kw)
    assert none.shape == (9,)
    torch.testing.assert_close(none.sum(), total)
    denominator = spec.mean_denominator(logits, target, **hp) if spec.mean_denominator else None
    torch.testing.assert_close(mean, total / (9 if denominator is None else denominator))
    torch.testing.assert_close(default, mean)


@pytest.mark.parametrize("spec,hp", CASES, ids=CASE_IDS)
def test_module_equals_function(spec, hp):
    logits, target = spec.sample_inputs(7, C, seed=7)
    kw = _hp(hp, logits)
    module = getattr(L, module_class(spec.fn).__name__)(**kw)
    assert isinstance(module, torch.nn.Module)
    for reduction in ("mean", "none"):
        module_r = getattr(L, module_class(spec.fn).__name__)(**kw, reduction=reduction)
        torch.testing.assert_close(module_r(logits, target), spec.fn(logits, target, **kw, reduction=reduction))
    torch.testing.assert_close(module(logits, target), spec.fn(logits, target, **kw))


def test_module_rejects_unknown_hyper_parameter():
    with pytest.raises(TypeError, match="gamma"):
        L.SoftmaxCrossEntropy(gamma=2.0)


def test_module_moves_tensor_hyper_parameters_with_it():
    module = L.SoftmaxCrossEntropy(class_weight=torch.ones(3))
    assert "class_weight" in dict(module.named_buffers())
    assert module.double().class_weight.dtype == torch.float64


# ---- claims -----------------------------------------------------------------------------------------

CONVEX = [s for s in SPECS if "convex" in s.claims and not s.batch_level]


@pytest.mark.parametrize("spec", CONVEX, ids=[s.name for s in CONVEX])
def test_convex_claim_numeric_hessian_is_psd(spec):
    for seed in range(5):
        logits, target = spec.sample_inputs(N, C, seed=10 + seed, scale=4.0)
        for hp in spec.test_params:
            kw = _hp(hp, logits)
            for i in range(N):
                row, t = logits[i:i + 1], target[i:i + 1]
                hess = torch.autograd.functional.hessian(lambda z: spec.fn(z, t, **kw, reduction="sum"), row)
                eig = torch.linalg.eigvalsh(hess.reshape(C, C))
                assert eig.min() >= -1e-10, f"{spec.name} {hp}: Hessian has eigenvalue {eig.min():.3g} < 0"


# ---- the registry itself ----------------------------------------------------------------------------

def test_every_spec_is_complete():
    assert {"softmax_cross_entropy", "logistic_ova", "lgl_inr"} <= set(IDS)
    for spec in SPECS:
        assert spec.paper and spec.equation and spec.family
        assert spec.fn.__doc__ and "math::" in spec.fn.__doc__, f"{spec.name} docstring lacks its formula"
        assert spec.test_params, spec.name


def test_a_loss_without_a_twin_cannot_be_registered():
    with pytest.raises(ValueError, match="twin"):
        register(LossSpec(name="no_twin", fn=L.softmax_cross_entropy, twin=None, family="x", paper="p",
                          equation="e", defaults={}))


def test_registered_defaults_must_match_the_signature():
    with pytest.raises(ValueError, match="defaults"):
        register(LossSpec(name="bad_defaults", fn=L.lgl_inr, twin=symbolic.lgl_inr, family="x", paper="p",
                          equation="e", defaults={"beta": 2.0}))
