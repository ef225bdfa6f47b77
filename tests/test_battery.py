"""The common battery: every registered loss is checked here, so registering a loss tests it.

Twin agreement (value and gradient), gradcheck, the bad-input matrix, extreme logits in fp32/fp16/bf16,
module == function, reduction consistency, and PSD Hessians where the paper claims convexity.

The contract at the edges (what training code passes in): labels of every integer dtype, autocast, inference
mode, pickling the module form, hyper-parameters beyond float32's range, float32 accuracy of the score losses
at |score| ~ 1e3, unchecked() per thread, and memory with many classes and a small batch.

A loss takes one or more float inputs before ``target`` (``spec.inputs``: logits, or features and weight, or
cosines); every check runs on all of them. Cosines are bounded, so their "extreme" values are exactly +-1.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp
import torch
from hypothesis import given, settings, strategies as st

import lossnotes.losses as L
from lossnotes import symbolic
from lossnotes.losses import module_class
from lossnotes.registry import LossSpec, all_losses, as_inputs, register

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


def _symbols(spec, inputs):
    """One SymPy matrix per float input, shaped like it, with the input's kind as the symbol name."""
    return [symbolic.logit_symbols(*x.shape, name=kind[0] if kind != "logits" else "z")
            for kind, x in zip(spec.inputs, inputs)]


def _twin_params(spec, inputs, hp):
    return {**spec.required_params(spec.num_classes(inputs)), **hp}


@pytest.mark.parametrize("spec,hp", CASES, ids=CASE_IDS)
def test_twin_value_and_gradient_match_torch(spec: LossSpec, hp):
    for seed in (0, 1):
        inputs, target = spec.sample_inputs(N, C, seed=seed)
        inputs = tuple(x.requires_grad_(True) for x in as_inputs(inputs))
        per_sample = spec.call(inputs, target, **_hp(hp, inputs[0]), reduction="none")
        grads = torch.autograd.grad(per_sample.sum(), inputs)
        mats = _symbols(spec, inputs)
        exprs = spec.twin(*mats, target, **_twin_params(spec, inputs, hp))
        assert len(exprs) == N
        z = sp.Matrix([v for mat in mats for v in mat])          # every input's symbols, flattened
        values = np.concatenate([x.detach().numpy().ravel() for x in inputs])
        np.testing.assert_allclose(symbolic.evaluate(exprs, z, values), per_sample.detach().numpy(),
                                   rtol=1e-10, atol=1e-12, err_msg=f"{spec.name} value differs from its twin")
        np.testing.assert_allclose(symbolic.evaluate_gradient(exprs, z, values).ravel(),
                                   np.concatenate([g.numpy().ravel() for g in grads]),
                                   rtol=1e-9, atol=1e-11, err_msg=f"{spec.name} gradient differs from its twin")


@pytest.mark.parametrize("spec,hp", CASES, ids=CASE_IDS)
def test_gradcheck(spec, hp):
    inputs, target = spec.sample_inputs(4, 3, seed=2, scale=1.5)
    inputs = as_inputs(inputs)
    kw_twin = _twin_params(spec, inputs, {k: v[:3] if isinstance(v, list) else v for k, v in hp.items()})
    if any(e.has(symbolic.StopGradient) for e in spec.twin(*_symbols(spec, inputs), target, **kw_twin)):
        pytest.skip("the gradient holds a stop_gradient term constant by design (checked against the twin)")
    inputs = tuple(x.requires_grad_(True) for x in inputs)
    kw = _hp(kw_twin, inputs[0])
    assert torch.autograd.gradcheck(lambda *xs: spec.call(xs, target, **kw, reduction="none"), inputs)


# ---- bad inputs -------------------------------------------------------------------------------------

def _replace(inputs, i, value):
    return inputs[:i] + (value,) + inputs[i + 1:]


def _bad_inputs(spec):
    """(description, inputs, target, kwargs, exception, fragment of the message).

    The generic cases run for each float input in turn (named by its kind: ``logits``, ``features``,
    ``weight``, ``cosine``); cosines out of [-1, 1] and a features/weight dimension mismatch are added for the
    losses that take them."""
    inputs, target = spec.sample_inputs(N, C, seed=3, dtype=torch.float32)
    inputs = as_inputs(inputs)
    cases = []
    for i, (kind, x) in enumerate(zip(spec.inputs, inputs)):
        def put(value, _i=i):
            return _replace(inputs, _i, value)
        if not spec.extra.get("allows_1d"):
            cases.append((f"1-d {kind}", put(x[0]), target, {}, ValueError, kind))
        cases += [
            (f"3-d {kind}", put(x[None]), target, {}, ValueError, kind),
            (f"integer {kind}", put(x.round().long()), target, {}, TypeError, kind),
            (f"list {kind}", put(x.tolist()), target, {}, TypeError, kind),
        ]
        # NaN and +inf in a target entry and in a non-target entry: rejected whether the loss checks its inputs
        # up front or reads their finiteness off its output (validation.checks_output)
        for where, (row, col) in _probe_positions(spec, kind, x, target).items():
            for value, word in ((float("nan"), "NaN"), (float("inf"), "+inf")):
                bad = x.clone()
                bad[row, col] = value
                cases.append((f"{word} {kind} ({where})", put(bad), target, {}, ValueError, "NaN" if word == "NaN" else "inf"))
        if kind == "cosine":
            above, below = x.clone(), x.clone()
            above[2, 1] = 1.01
            below[0, 3] = -1.5
            cases += [("cosine above 1", put(above), target, {}, ValueError, "cosine"),
                      ("cosine below -1", put(below), target, {}, ValueError, "cosine"),
                      ("scaled cosine s*cos", put(30.0 * x), target, {}, ValueError, "cosine")]
        if kind == "weight":
            cases += [("features/weight d mismatch", put(x[:, :-1]), target, {}, ValueError, "weight"),
                      ("empty weight", put(x[:0]), target, {}, ValueError, "empty")]
    # the batch dimension N: every (N, .) input cut to 0 rows, and the target one short
    cut = tuple(x[:0] if kind != "weight" else x for kind, x in zip(spec.inputs, inputs))
    cases += [
        ("empty batch", cut, target[:0], {}, ValueError, "empty"),
        ("N mismatch", inputs, target[:-1], {}, ValueError, "target"),
        ("unknown reduction", inputs, target, {"reduction": "avg"}, ValueError, "reduction"),
    ]
    if spec.target_kind == "class":
        cases += [
            ("label too large", inputs, target.clone().fill_(C), {}, ValueError, "target"),
            ("negative label", inputs, target.clone().fill_(-1), {}, ValueError, "target"),
            ("float labels", inputs, target.float(), {}, TypeError, "target"),
            ("2-d labels", inputs, target[:, None], {}, ValueError, "target"),
        ]
    elif spec.target_kind in ("multihot", "multilabel"):
        cases += [
            ("not 0/1", inputs, target * 2, {}, ValueError, "target"),
            ("C mismatch", inputs, target[:, :-1], {}, ValueError, "target"),
            ("class indices", inputs, target.argmax(1), {}, ValueError, "target"),
        ]
    else:
        cases += [("C mismatch", inputs, target[:, :-1], {}, ValueError, "target")]
        for value, word in ((float("nan"), "NaN"), (float("inf"), "+inf"), (float("-inf"), "-inf")):
            bad = target.clone()
            bad[1, 2 % target.shape[1]] = value        # a score target is data too: its finiteness is checked
            cases.append((f"{word} in the score target", inputs, bad, {}, ValueError, "inf" if "inf" in word else word))
    for kwargs, exc, fragment in spec.bad_params:
        cases.append((f"bad {sorted(kwargs)}", inputs, target, kwargs, exc, fragment))
    return cases


def _probe_positions(spec, kind, x, target):
    """Where the non-finite probes go: a target and a non-target entry of the logits (or cosines) of a class
    or multi-hot/multi-label loss, two fixed entries of any other input."""
    rows, cols = x.shape
    if kind in ("logits", "cosine") and spec.target_kind == "class":
        t1 = int(target[1])
        return {"target entry": (1, t1), "non-target entry": (1, (t1 + 1) % cols)}
    if kind in ("logits", "cosine") and spec.target_kind in ("multihot", "multilabel"):
        pos, neg = torch.nonzero(target > 0), torch.nonzero(target == 0)
        return {"positive entry": tuple(int(v) for v in pos[0]), "negative entry": tuple(int(v) for v in neg[-1])}
    return {"entry (1, 2)": (1, 2 % cols), "entry (0, 0)": (0, 0)}


def _masked(spec, x, target):
    """x with its last column set to -inf in the rows where that class is not a target (a masked class) and
    the boolean mask of those entries."""
    mask = torch.zeros_like(x, dtype=torch.bool)
    if spec.target_kind == "class":
        mask[:, -1] = target != x.shape[1] - 1
    elif spec.target_kind in ("multihot", "multilabel"):
        mask[:, -1] = target[:, -1] == 0
    else:
        mask[:, -1] = True
    return x.masked_fill(mask, float("-inf")), mask


BAD = [(s, case) for s in SPECS for case in _bad_inputs(s)]


@pytest.mark.parametrize("spec,case", BAD, ids=[f"{s.name}-{c[0]}" for s, c in BAD])
def test_bad_input_is_rejected_with_a_named_error(spec, case):
    _, inputs, target, kwargs, exc, fragment = case
    with pytest.raises(exc, match=fragment):
        spec.call(inputs, target, **kwargs)


MASKABLE = [(s, i) for s in SPECS for i, kind in enumerate(s.inputs) if kind in ("logits", "features", "pred")]


@pytest.mark.parametrize("spec,i", MASKABLE, ids=[f"{s.name}-{s.inputs[i]}" for s, i in MASKABLE])
def test_masked_class_is_rejected_or_drops_out(spec, i):
    """A -inf in a non-target class (a masked class) is either rejected with the message saying what to do
    instead, or the class drops out: a finite loss with finite gradients, zero at the masked entries."""
    inputs, target = spec.sample_inputs(N, C, seed=3, dtype=torch.float64)
    inputs = list(as_inputs(inputs))
    inputs[i], mask = _masked(spec, inputs[i], target)
    leaves = tuple(x.detach().requires_grad_(True) for x in inputs)
    try:
        value = spec.call(leaves, target)
    except ValueError as err:
        assert "-inf" in str(err) and "mask" in str(err), err
        return
    assert torch.isfinite(value).all(), f"{spec.name}: a masked class gives a non-finite loss {value}"
    grad = torch.autograd.grad(value, leaves[i])[0]
    assert torch.isfinite(grad).all(), f"{spec.name}: a masked class gives non-finite gradients"
    assert (grad[mask] == 0).all(), f"{spec.name}: the masked class still gets a gradient"


# ---- numerics ---------------------------------------------------------------------------------------

def _extreme(spec, inputs, magnitude, dtype):
    """Each input pushed to the edge of its range: +-magnitude for logits/features/weight, exactly +-1 for cosines."""
    out = []
    for kind, x in zip(spec.inputs, inputs):
        edge = 1.0 if kind == "cosine" else magnitude
        e = (torch.sign(x) * edge).to(dtype)
        e[0, 0] = 0.0
        out.append(e)
    return tuple(out)


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
@pytest.mark.parametrize("dtype,magnitude", [(torch.float32, 1e4), (torch.float16, 60.0), (torch.bfloat16, 60.0)],
                         ids=["fp32-1e4", "fp16-60", "bf16-60"])
def test_finite_loss_and_gradient_at_extreme_logits(spec, dtype, magnitude):
    if dtype != torch.float32 and not spec.low_precision:
        pytest.skip(f"{spec.name} is not meant for {dtype}")
    inputs, target = spec.sample_inputs(N, C, seed=4, dtype=torch.float64)
    extreme = _extreme(spec, as_inputs(inputs), magnitude, dtype)
    for zs in (extreme, tuple(-e for e in extreme)):
        zs = tuple(z.clone().requires_grad_(True) for z in zs)
        for hp in spec.test_params:
            loss = spec.call(zs, target, **_hp(hp, zs[0].float()), reduction="sum")
            grads = torch.autograd.grad(loss, zs)
            assert torch.isfinite(loss), f"{spec.name} {hp} loss not finite at |z|={magnitude} in {dtype}"
            assert all(torch.isfinite(g).all() for g in grads), \
                f"{spec.name} {hp} gradient not finite at |z|={magnitude} in {dtype}"


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_low_precision_agrees_with_float32(spec, dtype):
    if not spec.low_precision:
        pytest.skip("not meant for low precision")
    inputs, target = spec.sample_inputs(64, C, seed=5, dtype=torch.float32)
    low = tuple(x.to(dtype) for x in as_inputs(inputs))
    ref = spec.call(tuple(x.float() for x in low), target)          # same rounded inputs, float32 arithmetic
    got = spec.call(low, target)
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
    inputs, target = spec.sample_inputs(n, c, seed=seed, scale=scale, dtype=torch.float32)
    inputs = tuple(x.requires_grad_(True) for x in as_inputs(inputs))
    for reduction in ("mean", "sum"):
        loss = spec.call(inputs, target, reduction=reduction)
        grads = torch.autograd.grad(loss, inputs)
        assert torch.isfinite(loss) and all(torch.isfinite(g).all() for g in grads)
    per_sample = spec.call(inputs, target, reduction="none")
    assert per_sample.shape == (n,)
    assert torch.all(per_sample >= -1e-6) or "bounded" not in spec.claims


# ---- reductions and modules -------------------------------------------------------------------------

@pytest.mark.parametrize("spec,hp", CASES, ids=CASE_IDS)
def test_reductions_are_consistent(spec, hp):
    inputs, target = spec.sample_inputs(9, C, seed=6)
    inputs = as_inputs(inputs)
    kw = _hp(hp, inputs[0])
    none = spec.call(inputs, target, **kw, reduction="none")
    total = spec.call(inputs, target, **kw, reduction="sum")
    mean = spec.call(inputs, target, **kw, reduction="mean")
    default = spec.call(inputs, target, **kw)
    assert none.shape == (9,)
    torch.testing.assert_close(none.sum(), total)
    denominator = (spec.mean_denominator(*inputs, target, **_twin_params(spec, inputs, hp))
                   if spec.mean_denominator else None)
    torch.testing.assert_close(mean, total / (9 if denominator is None else denominator))
    torch.testing.assert_close(default, mean)


@pytest.mark.parametrize("spec,hp", CASES, ids=CASE_IDS)
def test_module_equals_function(spec, hp):
    inputs, target = spec.sample_inputs(7, C, seed=7)
    inputs = as_inputs(inputs)
    kw = _hp(_twin_params(spec, inputs, hp), inputs[0])
    module = getattr(L, module_class(spec.fn).__name__)(**kw)
    assert isinstance(module, torch.nn.Module)
    for reduction in ("mean", "none"):
        module_r = getattr(L, module_class(spec.fn).__name__)(**kw, reduction=reduction)
        torch.testing.assert_close(module_r(*inputs, target), spec.fn(*inputs, target, **kw, reduction=reduction))
    torch.testing.assert_close(module(*inputs, target), spec.fn(*inputs, target, **kw))


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
    assert spec.inputs in (("logits",), ("pred",)), "convexity is claimed in the logits (or predictions)"
    for seed in range(5):
        logits, target = spec.sample_inputs(N, C, seed=10 + seed, scale=4.0)
        for hp in spec.test_params:
            kw = _hp(hp, logits)
            for i in range(N):
                row, t = logits[i:i + 1], target[i:i + 1]
                hess = torch.autograd.functional.hessian(lambda z: spec.call(z, t, **kw, reduction="sum"), row)
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


# ---- the contract at the edges: what training code passes in ----------------------------------------

CLASS_SPECS = [s for s in SPECS if s.target_kind == "class"]


def _kw(spec, inputs, hp=None):
    """Required plus given hyper-parameters, lists of weights as tensors."""
    return _hp(_twin_params(spec, inputs, hp or {}), inputs[0])


@pytest.mark.parametrize("spec", CLASS_SPECS, ids=[s.name for s in CLASS_SPECS])
def test_every_integer_label_dtype_gives_the_int64_result(spec):
    inputs, target = spec.sample_inputs(N, C, seed=20, dtype=torch.float32)
    inputs = tuple(x.requires_grad_(True) for x in as_inputs(inputs))
    kw = _kw(spec, inputs)
    ref = spec.fn(*inputs, target, **kw, reduction="none")
    for dtype in (torch.int32, torch.int16, torch.int8, torch.uint8):
        got = spec.fn(*inputs, target.to(dtype), **kw, reduction="none")
        torch.testing.assert_close(got, ref, msg=f"{spec.name} with {dtype} labels")
        assert all(torch.isfinite(g).all() for g in torch.autograd.grad(got.sum(), inputs))


MULTILABEL_SPECS = [s for s in SPECS if s.target_kind == "multilabel"]


@pytest.mark.parametrize("spec", MULTILABEL_SPECS, ids=[s.name for s in MULTILABEL_SPECS])
def test_multilabel_targets_of_every_dtype_and_without_positives(spec):
    """A plain multi-label target may be bool, integer or float, and a batch may hold no positive (or no negative)
    at all: the same loss for every dtype, a finite loss and gradient in both extreme batches."""
    inputs, target = spec.sample_inputs(N, C, seed=28, dtype=torch.float32)
    inputs = tuple(x.requires_grad_(True) for x in as_inputs(inputs))
    kw = _kw(spec, inputs)
    ref = spec.fn(*inputs, target, **kw, reduction="none")
    for dtype in (torch.bool, torch.uint8, torch.int64, torch.float16, torch.float64):
        torch.testing.assert_close(spec.fn(*inputs, target.to(dtype), **kw, reduction="none"), ref,
                                   msg=f"{spec.name} with a {dtype} target")
    for fill in (0.0, 1.0):
        loss = spec.fn(*inputs, torch.full_like(target, fill), **kw)
        grads = torch.autograd.grad(loss, inputs)
        assert torch.isfinite(loss) and all(torch.isfinite(g).all() for g in grads), f"{spec.name}, target all {fill}"


def _autocast_agrees(spec, device, dtype):
    inputs, target = spec.sample_inputs(16, C, seed=21, dtype=torch.float32, device=device)
    inputs = tuple(x.requires_grad_(True) for x in as_inputs(inputs))
    kw = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in _kw(spec, inputs).items()}
    ref = spec.fn(*inputs, target, **kw)
    with torch.autocast(device, dtype=dtype):
        got = spec.fn(*inputs, target, **kw)
    grads = torch.autograd.grad(got, inputs)
    assert torch.isfinite(got) and all(torch.isfinite(g).all() for g in grads)
    assert math.isclose(got.item(), ref.item(), rel_tol=5e-2, abs_tol=5e-2), f"{spec.name}: {got} vs {ref}"


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_works_inside_autocast_bf16_cpu(spec):
    _autocast_agrees(spec, "cpu", torch.bfloat16)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_works_inside_autocast_fp16_cuda(spec):
    _autocast_agrees(spec, "cuda", torch.float16)


@pytest.mark.parametrize("spec,hp", CASES, ids=CASE_IDS)
def test_inference_mode_equals_no_grad(spec, hp):
    inputs, target = spec.sample_inputs(N, C, seed=22, dtype=torch.float32)
    inputs = as_inputs(inputs)
    kw = _kw(spec, inputs, hp)
    with torch.no_grad():
        ref = spec.fn(*inputs, target, **kw, reduction="none")
    with torch.inference_mode():
        got = spec.fn(*inputs, target, **kw, reduction="none")
    torch.testing.assert_close(got, ref, rtol=0, atol=0)


@pytest.mark.parametrize("spec,hp", CASES, ids=CASE_IDS)
def test_module_form_pickles(spec, hp):
    """torch.save of a model holding the loss, and multiprocessing data-parallel, pickle the module."""
    import pickle

    inputs, target = spec.sample_inputs(N, C, seed=23)
    inputs = as_inputs(inputs)
    module = getattr(L, module_class(spec.fn).__name__)(**_kw(spec, inputs, hp), reduction="none")
    clone = pickle.loads(pickle.dumps(module))
    torch.testing.assert_close(clone(*inputs, target), module(*inputs, target), rtol=0, atol=0)


def _real_hyper_parameters(spec):
    """Keyword hyper-parameters with a real-number default (not bools), by name."""
    import inspect

    params = inspect.signature(spec.fn).parameters.values()
    return {p.name: p.default for p in params if p.name != "reduction" and p.kind == p.KEYWORD_ONLY
            and isinstance(p.default, (int, float)) and not isinstance(p.default, bool)}


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_hyper_parameters_beyond_float32_are_rejected_by_name(spec):
    """Finite values float32 cannot hold (1e39; 10**30 for an integer such as L-Softmax's m; a class weight of
    1e38, whose products overflow) are a ValueError naming the argument; 1e-45 is either one too, or gives a
    finite loss and gradient."""
    import inspect

    inputs, target = spec.sample_inputs(N, C, seed=24, dtype=torch.float32)
    inputs = tuple(x.requires_grad_(True) for x in as_inputs(inputs))
    base = _kw(spec, inputs)
    for name, default in _real_hyper_parameters(spec).items():
        huge = [1e39, -1e39] + ([10 ** 30] if isinstance(default, int) else [])
        for value in huge:
            with pytest.raises(ValueError, match=name):
                spec.fn(*inputs, target, **{**base, name: value})
        try:
            loss = spec.fn(*inputs, target, **{**base, name: 1e-45})
        except ValueError as exc:
            assert name in str(exc), f"{spec.name}: {name}=1e-45 rejected without naming it: {exc}"
        else:
            grads = torch.autograd.grad(loss, inputs)
            assert torch.isfinite(loss) and all(torch.isfinite(g).all() for g in grads), f"{spec.name} {name}=1e-45"
    if "class_weight" in inspect.signature(spec.fn).parameters:
        with pytest.raises(ValueError, match="class_weight"):
            spec.fn(*inputs, target, **{**base, "class_weight": torch.full((C,), 1e38)})


def test_link_hyper_parameters_are_bounded():
    from lossnotes import links

    for name, make in links.LINKS.items():
        with pytest.raises(ValueError, match="alpha"):
            make(alpha=1e39)
        with pytest.raises(ValueError, match="alpha"):
            make(alpha=1e-45)
    for make in (links.exp_link, links.anti_exp_link, links.sinh_link, links.cosh_link):
        with pytest.raises(ValueError, match="cap"):
            make(cap=100.0)                       # e^x overflows float32 near x = 89
        link = make(cap=links.CAP_MAX)
        z = torch.tensor([-1e4, -90.0, 0.0, 90.0, 1e4], requires_grad=True)
        for value in (link.h(z), link.H(z)):
            assert torch.isfinite(value).all() and torch.isfinite(torch.autograd.grad(value.sum(), z)[0]).all()


SCORE_SPECS = [s for s in SPECS if s.target_kind == "score"]


@pytest.mark.parametrize("spec,hp", [(s, hp) for s in SCORE_SPECS for hp in s.test_params],
                         ids=[c for (s, _), c in zip(CASES, CASE_IDS) if s.target_kind == "score"])
def test_matching_losses_are_accurate_at_large_scores_in_float32(spec, hp):
    """At |score| ~ 1e3 (inside the +-1e4 contract) the float32 loss equals the float64 one of the same inputs:
    H(s_hat) - H(s) - (s_hat - s) h(s) must not cancel to rounding."""
    g = torch.Generator().manual_seed(25)
    target = (1e3 * torch.randn(8, C, generator=g)).float()
    pred = target + torch.randn(8, C, generator=g)
    pred[:4] = -target[:4]                                            # far from the target, too
    kw = _kw(spec, (pred,), hp)
    got = spec.fn(pred, target, **kw, reduction="none")
    ref = spec.fn(pred.double(), target.double(), **_kw(spec, (pred.double(),), hp), reduction="none")
    assert got.dtype == torch.float32
    torch.testing.assert_close(got.double(), ref, rtol=1e-5, atol=1e-6, msg=f"{spec.name} {hp}")


def test_unchecked_is_per_thread():
    """A thread inside unchecked() does not turn off the checks of another thread."""
    import threading

    from lossnotes.losses.validation import value_checks_enabled

    inside, done, seen = threading.Event(), threading.Event(), []

    def other():
        with L.unchecked():
            seen.append(value_checks_enabled())
            inside.set()
            done.wait(60)

    thread = threading.Thread(target=other)
    thread.start()
    try:
        assert inside.wait(60)
        assert seen == [False] and value_checks_enabled()
        for spec in SPECS:
            inputs, target = spec.sample_inputs(N, C, seed=26, dtype=torch.float32)
            inputs = as_inputs(inputs)
            bad = inputs[0].clone()
            bad[0, 0] = float("nan")
            with pytest.raises(ValueError, match="NaN"):
                spec.call((bad,) + inputs[1:], target)
    finally:
        done.set()
        thread.join()


class _LargestTensor(torch.utils._python_dispatch.TorchDispatchMode):
    """Records the largest tensor any op creates (forward and backward)."""

    def __init__(self):
        super().__init__()
        self.largest, self.op = 0, None

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in (out if isinstance(out, (tuple, list)) else (out,)):
            if isinstance(t, torch.Tensor) and t.numel() > self.largest:
                self.largest, self.op = t.numel(), func
        return out


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_memory_with_many_classes_and_a_small_batch_is_what_the_batch_needs(spec):
    """N = 4, C = 4096: no tensor larger than a few times the inputs and the (N, C) logits; a (C, C) table
    (16.8M elements; 10 GB at C = 50000) fails this."""
    n, c = 4, 4096
    inputs, target = spec.sample_inputs(n, c, seed=27, dtype=torch.float32)
    inputs = tuple(x.requires_grad_(True) for x in as_inputs(inputs))
    kw = _kw(spec, inputs)
    with _LargestTensor() as mode:
        loss = spec.fn(*inputs, target, **kw)
        grads = torch.autograd.grad(loss, inputs)
    assert torch.isfinite(loss) and all(torch.isfinite(g).all() for g in grads)
    bound = 8 * max(n * c, sum(x.numel() for x in inputs))
    assert mode.largest <= bound, f"{spec.name}: {mode.op} made a tensor of {mode.largest} elements (bound {bound})"
