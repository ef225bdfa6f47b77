"""Input checks shared by every loss in :mod:`lossnotes.losses`.

Every check raises ``TypeError`` (wrong kind of object or dtype) or ``ValueError`` (wrong shape, range
or value) with a message that names the argument and says what was expected.

Shape checks always run. Value checks (NaN/inf, label range, 0/1 targets) read the data, which costs a
device synchronisation on CUDA; :func:`unchecked` turns them off for speed-critical loops once inputs are
known to be good. The switch is per thread and per ``asyncio`` task (a :class:`contextvars.ContextVar`): one
thread's ``unchecked()`` block never turns off another thread's checks.

Label dtype: class indices may have any integer dtype (int64, int32, int16, int8, uint8);
:func:`check_class_target` returns them as int64 (no copy when already int64), which the losses then use.

Hyper-parameters: every real hyper-parameter is at most :data:`HYPER_LIMIT` in magnitude, and a strictly
positive one (``low=0, low_open=True``: scales, temperatures, divisors) at least ``1 / HYPER_LIMIT``. The
limit is the square root of float32's largest value (1.8e19), so that a hyper-parameter times a value of the
same size stays finite in float32, the narrowest dtype the losses compute in (float16/bfloat16 inputs are
computed in float32). ``s = 1e39``, ``gamma = 1e-45`` or ``class_weight = 1e38`` are a ``ValueError`` naming
the argument instead of a NaN loss.

Cost: a loss decorated with :func:`checks_output` reads its inputs' finiteness off its output, so a finite batch
pays no pass over the (N, C) input (one host read of the reduced loss); the others check up front with one sum.

Masked classes: a -inf logit in a non-target class either drops out (finite loss, zero gradient there: the
softmax family) or is rejected with a message that says to use :data:`MASK_VALUE` instead; the battery holds
every registered loss to one of the two.
"""
from __future__ import annotations

import contextlib
import contextvars
import functools
import math
import numbers
from typing import Iterator, Sequence

import torch

__all__ = [
    "REDUCTIONS",
    "NonFiniteError",
    "MASK_VALUE",
    "unchecked",
    "value_checks_enabled",
    "checks_output",
    "check_float_tensor",
    "check_logits",
    "check_class_target",
    "check_multihot_target",
    "check_multilabel_target",
    "check_class_weight",
    "check_reduction",
    "check_scalar",
    "check_choice",
    "check_positive_int",
    "compute_dtype",
    "HYPER_LIMIT",
]

REDUCTIONS = ("mean", "sum", "none")
#: Largest magnitude of a hyper-parameter (and smallest of a strictly positive one: 1 / HYPER_LIMIT):
#: sqrt(float32 max) ~ 1.8e19, so that products with values of the same size stay finite in float32.
HYPER_LIMIT = math.sqrt(float(torch.finfo(torch.float32).max))
_VALUE_CHECKS: contextvars.ContextVar[bool] = contextvars.ContextVar("lossnotes_value_checks", default=True)
#: Inside a :func:`checks_output` loss: the (tensor, name) pairs whose finiteness is read off the loss's output.
_DEFERRED: contextvars.ContextVar[list | None] = contextvars.ContextVar("lossnotes_deferred_finite", default=None)


def value_checks_enabled() -> bool:
    """Whether the data-reading checks run in this thread / context (see :func:`unchecked`)."""
    return _VALUE_CHECKS.get()


@contextlib.contextmanager
def unchecked() -> Iterator[None]:
    """Skip the data-reading checks (finite values, label range, 0/1 targets) inside this block, in this
    thread (or asyncio task) only: other threads keep their checks."""
    token = _VALUE_CHECKS.set(False)
    try:
        yield
    finally:
        _VALUE_CHECKS.reset(token)


def _shape(t: torch.Tensor) -> str:
    return "(" + ", ".join(str(s) for s in t.shape) + ")"


def check_float_tensor(x, name: str, *, ndim: int | Sequence[int] | None = None,
                       finite: bool = True, deferrable: bool = True) -> torch.Tensor:
    """A floating-point tensor of the given rank with no NaN/inf (and at least one element). Inside a
    :func:`checks_output` loss the finiteness is read off the loss's output, unless ``deferrable=False`` (an
    input whose non-finite values can leave the output finite, such as a score target through a sigmoid)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must have a floating-point dtype (float32, float64, float16, bfloat16), "
                        f"got {x.dtype}; convert with {name}.float()")
    if ndim is not None:
        ranks = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if x.dim() not in ranks:
            want = " or ".join(str(r) for r in ranks)
            raise ValueError(f"{name} must be {want}-dimensional, got shape {_shape(x)}")
    if x.numel() == 0:
        raise ValueError(f"{name} is empty (shape {_shape(x)}); a loss needs at least one sample and one class")
    if finite and _VALUE_CHECKS.get():
        deferred = _DEFERRED.get() if deferrable else None
        if deferred is not None:
            deferred.append((x, name))
        elif not _all_finite(x):
            raise NonFiniteError(_non_finite_message(x, name))
    return x


def _output_finite(out) -> bool:
    """A loss's output holds no NaN/inf (a 0-d loss read as one Python float: no reduction kernel)."""
    if not isinstance(out, torch.Tensor):
        return False
    if out.dim() == 0:
        return math.isfinite(out.item())
    return bool(torch.isfinite(out).all())


def checks_output(loss):
    """Decorator for a loss whose output is non-finite whenever an input holds NaN or +inf: the finiteness
    check of its float inputs is read off the output (O(1) for a reduced loss, O(N) for ``reduction="none"``)
    instead of a pass over every (N, C) input; only a non-finite output pays for scanning the inputs, to name
    the culprit (:class:`NonFiniteError`, the same message as the eager check). A finite output from finite
    inputs and a -inf logit means the loss is finite in that limit (a masked class, which the battery checks
    has zero gradient); where a -inf makes the output non-finite, it is rejected as before.

    Which losses may carry it is not a matter of trust: the battery (tests/test_battery.py) puts NaN and +inf
    in a target and a non-target entry of every input of every registered loss and fails if one comes back
    finite. Nested calls (a loss calling another) are checked once, on the outer output."""
    @functools.wraps(loss)
    def wrapper(*args, **kwargs):
        if _DEFERRED.get() is not None or not _VALUE_CHECKS.get():
            return loss(*args, **kwargs)
        deferred: list = []
        token = _DEFERRED.set(deferred)
        try:
            out = loss(*args, **kwargs)
        finally:
            _DEFERRED.reset(token)
        if deferred and not _output_finite(out):
            for x, name in deferred:
                if not _all_finite(x):
                    raise NonFiniteError(_non_finite_message(x, name))
        return out

    wrapper.checks_output = True
    return wrapper


class NonFiniteError(ValueError):
    """An input holds NaN or +-inf (a ``ValueError``; its own type so that training code can tell a diverged run,
    whose outputs went non-finite, from a bad argument)."""


#: The finite value to mask a class with: every loss is tested finite, with finite gradients, for |logit| <= 1e4.
MASK_VALUE = -1e4


def _non_finite_message(x: torch.Tensor, name: str) -> str:
    """What is wrong, in words: NaN, +inf, or -inf only (a masked class, with what to do instead)."""
    kinds = [k for k, bad in (("NaN", torch.isnan(x)), ("+inf", torch.isposinf(x)), ("-inf", torch.isneginf(x)))
             if bool(bad.any())]
    message = f"{name} contains {' and '.join(kinds)} values"
    if kinds == ["-inf"]:
        message += (f"; to mask classes, give them a large finite negative value (e.g. {MASK_VALUE:g}, inside the "
                    "range every loss is tested on) instead of -inf, or drop their columns")
    return message


def _all_finite(x: torch.Tensor) -> bool:
    """True when x has no NaN/inf. One sum decides in the common case (a NaN or inf makes the sum
    non-finite); only a non-finite sum, which may also be plain overflow, pays for the element-wise test."""
    if math.isfinite(x.sum().item()):
        return True
    return bool(torch.isfinite(x).all())


def check_logits(logits, name: str = "logits", *, min_classes: int = 1) -> torch.Tensor:
    """Logits of shape (N, C): floating point, finite, N >= 1, C >= min_classes."""
    check_float_tensor(logits, name, ndim=2)
    if logits.shape[1] < min_classes:
        raise ValueError(f"{name} must have at least {min_classes} classes (columns), got shape {_shape(logits)}")
    return logits


def check_class_target(target, num_samples: int, num_classes: int, name: str = "target") -> torch.Tensor:
    """Integer class indices of shape (N,) with values in [0, C), of any integer dtype; returned as int64
    (torch's index dtype; no copy when already int64). Callers use the returned tensor."""
    if not isinstance(target, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of class indices, got {type(target).__name__}")
    if target.is_floating_point() or target.is_complex() or target.dtype == torch.bool:
        raise TypeError(f"{name} must hold integer class indices (torch.long), got dtype {target.dtype}")
    if target.dim() != 1:
        raise ValueError(f"{name} must be 1-dimensional class indices of shape ({num_samples},), "
                         f"got shape {_shape(target)}")
    if target.shape[0] != num_samples:
        raise ValueError(f"{name} has {target.shape[0]} samples but logits has {num_samples}")
    if _VALUE_CHECKS.get() and target.numel():
        lo, hi = (int(v) for v in torch.aminmax(target))
        if lo < 0 or hi >= num_classes:
            bad = lo if lo < 0 else hi
            raise ValueError(f"{name} holds label {bad}, outside [0, {num_classes - 1}] for {num_classes} classes")
    return target.long()


def check_multihot_target(target, shape: Sequence[int], name: str = "target", *,
                          dtype: torch.dtype | None = None) -> torch.Tensor:
    """A multi-hot (N, C) target of 0/1 values (bool, integer or float).

    Returned as a bool mask, or with ``dtype`` as 0/1 values of that dtype: then it may be the caller's own
    tensor (no copy when it already has that dtype), which must not be written to."""
    if not isinstance(target, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(target).__name__}")
    if tuple(target.shape) != tuple(shape):
        raise ValueError(f"{name} must be multi-hot of shape {tuple(shape)} (same as logits), "
                         f"got shape {_shape(target)}")
    if target.is_complex():
        raise TypeError(f"{name} must be real 0/1 values, got {target.dtype}")
    if target.dtype != torch.bool and _VALUE_CHECKS.get() and not _is_zero_one(target):
        raise ValueError(f"{name} must be multi-hot with values 0 or 1 only")
    if dtype is not None:
        return target.to(dtype)
    return target if target.dtype == torch.bool else target != 0


def check_multilabel_target(target, shape: Sequence[int], name: str = "target", *,
                            dtype: torch.dtype | None = None) -> torch.Tensor:
    """A plain multi-label (N, C) target: 0/1 values (bool, integer or float), no threshold column, and a row
    may be all zeros. Returned as a bool mask, or with ``dtype`` as 0/1 values of that dtype (then possibly the
    caller's own tensor, which must not be written to)."""
    if not isinstance(target, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(target).__name__}")
    if target.dim() == 1 and len(shape) == 2:
        raise ValueError(f"{name} must be a multi-label 0/1 matrix of shape {tuple(shape)}, got 1-D shape "
                         f"{_shape(target)} (class indices? one-hot them: torch.nn.functional.one_hot)")
    if tuple(target.shape) != tuple(shape):
        raise ValueError(f"{name} must be a multi-label 0/1 matrix of shape {tuple(shape)} (same as logits), "
                         f"got shape {_shape(target)}")
    if target.is_complex():
        raise TypeError(f"{name} must be real 0/1 values, got {target.dtype}")
    if target.dtype != torch.bool and _VALUE_CHECKS.get() and not _is_zero_one(target):
        raise ValueError(f"{name} must be a multi-label target with values 0 or 1 only")
    if dtype is not None:
        return target.to(dtype)
    return target if target.dtype == torch.bool else target != 0


def _is_zero_one(t: torch.Tensor) -> bool:
    """Every value is 0 or 1: integers by their range; floating point in one reduction, t(1 - t) is 0
    everywhere (it is 0 exactly at 0 and 1; NaN and +inf give NaN, -inf gives -inf: both fail)."""
    if t.numel() == 0:
        return True
    if t.is_floating_point():
        lo, hi = (float(v) for v in torch.aminmax(torch.addcmul(t, t, t, value=-1)))
        return lo == 0.0 and hi == 0.0
    lo, hi = (int(v) for v in torch.aminmax(t))
    return lo >= 0 and hi <= 1


def check_class_weight(class_weight, num_classes: int, *, like: torch.Tensor,
                       name: str = "class_weight") -> torch.Tensor | None:
    """Per-class weights: a length-C sequence or 1-D tensor of finite, non-negative numbers, each at most
    :data:`HYPER_LIMIT`."""
    if class_weight is None:
        return None
    if not isinstance(class_weight, torch.Tensor):
        if isinstance(class_weight, (str, bytes)) or not isinstance(class_weight, Sequence):
            raise TypeError(f"{name} must be a 1-D tensor or a sequence of {num_classes} numbers, "
                            f"got {type(class_weight).__name__}")
        try:
            class_weight = torch.tensor([float(w) for w in class_weight])
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name} must hold numbers: {exc}") from None
    if class_weight.dim() != 1 or class_weight.shape[0] != num_classes:
        raise ValueError(f"{name} must have shape ({num_classes},), one weight per class, "
                         f"got shape {_shape(class_weight)}")
    if class_weight.is_complex():
        raise TypeError(f"{name} must be real, got {class_weight.dtype}")
    if _VALUE_CHECKS.get():
        # checked before the cast to the compute dtype, where 1e39 would already be inf
        lo, hi = (float(v) for v in torch.aminmax(class_weight.detach().double()))
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise ValueError(f"{name} contains NaN or inf")
        if lo < 0:
            raise ValueError(f"{name} must be non-negative, got min {lo:g}")
        if hi > HYPER_LIMIT:
            raise ValueError(f"{name} must be at most {HYPER_LIMIT:.3g} (sqrt of float32's largest value, so "
                             f"weighted losses stay finite), got max {hi:g}")
    return class_weight.to(device=like.device, dtype=like.dtype)


def check_reduction(reduction) -> str:
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return reduction


def check_scalar(value, name: str, *, low: float | None = None, high: float | None = None,
                 low_open: bool = False, high_open: bool = False, integer: bool = False,
                 limit: float | None = HYPER_LIMIT) -> float:
    """A real (or integer) hyper-parameter in [low, high] (open ends where asked); returns a Python number.

    With ``limit`` (default :data:`HYPER_LIMIT`), also ``|value| <= limit``, and a strictly positive one
    (``low=0, low_open=True``) ``>= 1 / limit``: what float32 arithmetic can hold; ``limit=None`` turns it off."""
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise TypeError(f"{name} must be a scalar, got a tensor of shape {_shape(value)}")
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    if integer and not float(value).is_integer():
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if low is not None and (value < low or (low_open and value == low)):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low:g}, got {value!r}")
    if high is not None and (value > high or (high_open and value == high)):
        raise ValueError(f"{name} must be {'<' if high_open else '<='} {high:g}, got {value!r}")
    if limit is not None:
        if abs(value) > limit:
            raise ValueError(f"{name} must be at most {limit:.3g} in magnitude (sqrt of float32's largest value, "
                             f"so that the loss stays finite in float32), got {value!r}")
        if low_open and low == 0 and value < 1.0 / limit:
            raise ValueError(f"{name} must be at least {1.0 / limit:.3g} (1 / {limit:.3g}: dividing by it must stay "
                             f"finite in float32), got {value!r}")
    return int(value) if integer else float(value)


def check_positive_int(value, name: str) -> int:
    """A positive Python int (bools rejected): sizes, counts, epochs."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def check_choice(value, name: str, choices: Sequence[str]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {value!r}")
    return value


def compute_dtype(x: torch.Tensor) -> torch.dtype:
    """float16/bfloat16 inputs are computed in float32 (as autocast does for losses); others as they are."""
    return torch.promote_types(x.dtype, torch.float32)
