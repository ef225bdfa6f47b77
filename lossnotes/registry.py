"""The loss registry: one :class:`LossSpec` per loss, pairing the torch function with its SymPy twin.

Registering a loss is what puts it under the common test battery (``tests/test_battery.py``). A loss
without a twin cannot be registered.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

__all__ = ["LossSpec", "register", "all_losses", "get", "CLAIMS", "TARGET_KINDS", "INPUT_KINDS", "as_inputs"]

#: Properties a paper may claim for a loss; the battery checks those it can ("convex": PSD Hessian).
CLAIMS = ("convex", "bounded", "classification_calibrated", "proper", "batch_level", "symmetric")
#: What ``target`` holds: integer class indices (N,), a 0/1 multi-hot (N, C) in the ATLOP convention (column 0
#: the threshold class), a plain 0/1 multi-label (N, C) (no threshold column; a row may be all zeros), or real
#: scores (N, C).
TARGET_KINDS = ("class", "multihot", "multilabel", "score")
#: The float inputs a loss may take before ``target``: unbounded logits (N, C), features (N, d), class
#: weights (C, d), cosines (N, C) in [-1, 1], or real-valued predictions (N,) or (N, K) matched to score
#: targets of the same shape (matching losses; ``extra["allows_1d"]`` when (N,) is accepted).
INPUT_KINDS = ("logits", "features", "weight", "cosine", "pred")


def as_inputs(inputs) -> tuple:
    """The float inputs as a tuple: ``sample_inputs`` gives one tensor for a one-input loss, a tuple otherwise."""
    return tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)


@dataclass(frozen=True)
class LossSpec:
    """What the project knows about one loss.

    ``test_params`` are hyper-parameter sets the battery runs the twin comparison with;
    ``bad_params`` are ``(kwargs, exception type, message fragment)`` the loss must reject;
    ``mean_denominator(*inputs, target, **hp)`` gives what ``reduction="mean"`` divides the sum by
    (None: the number of samples).

    ``inputs`` names the float inputs before ``target`` (each one of :data:`INPUT_KINDS`), in order: the
    default ``("logits",)`` is ``fn(logits, target, **hp)``; margin losses take ``("features", "weight")`` or
    ``("cosine",)``. The twin takes one SymPy matrix per input: ``twin(*matrices, target, **hp)``.
    ``extra["required_params"](C)`` gives hyper-parameters without a default (e.g. ``class_weight``) that every
    call needs; :meth:`call` adds them.
    """

    name: str
    fn: Callable
    twin: Callable
    family: str
    paper: str
    equation: str
    defaults: Mapping[str, Any]
    claims: frozenset = frozenset()
    target_kind: str = "class"
    inputs: tuple = ("logits",)
    test_params: Sequence[Mapping[str, Any]] = ({},)
    bad_params: Sequence[tuple] = ()
    mean_denominator: Callable | None = None
    low_precision: bool = True
    notes: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    def sample_inputs(self, n: int = 8, c: int = 5, *, seed: int = 0, dtype=None, scale: float = 3.0,
                      device="cpu"):
        """Random valid ``(logits, target)`` for this loss (``extra["make_inputs"]`` overrides).

        A loss with several float inputs gets ``((features, weight), target)`` (see ``inputs``), from its
        ``extra["make_inputs"]``; :func:`as_inputs` turns either form into a tuple.

        Class targets cover every class when ``n >= c``; multi-hot targets follow the ATLOP convention
        (column 0 set exactly when no other column is); multi-label targets are 0/1 with every column holding a
        positive and a negative and the last row all zeros when ``n >= 3``; score targets are real (N, C).
        """
        import torch

        dtype = dtype or torch.float64
        if "make_inputs" in self.extra:
            return self.extra["make_inputs"](n, c, seed=seed, dtype=dtype, scale=scale, device=device)
        g = torch.Generator().manual_seed(seed)
        logits = (scale * torch.randn(n, c, generator=g, dtype=torch.float64)).to(dtype=dtype, device=device)
        if self.target_kind == "class":
            target = torch.randint(0, c, (n,), generator=g)
            if n >= c:
                target[torch.randperm(n, generator=g)[:c]] = torch.arange(c)
        elif self.target_kind == "multihot":
            target = (torch.rand(n, c, generator=g) < 0.3).to(torch.float64)
            target[:, 0] = (target[:, 1:].sum(1) == 0).to(torch.float64)
        elif self.target_kind == "multilabel":
            target = (torch.rand(n, c, generator=g) < 0.3).to(torch.float64)
            if n >= 3:
                target[-1] = 0.0                                  # a row without labels
                empty = torch.nonzero(target[:-1].sum(0) == 0).squeeze(1)
                target[torch.randint(0, n - 1, (len(empty),), generator=g), empty] = 1.0
        else:
            target = (scale * torch.randn(n, c, generator=g, dtype=torch.float64)).to(dtype)
        return logits, target.to(device)

    def num_classes(self, inputs) -> int:
        """C for these inputs: the rows of ``weight`` for a features/weight loss, else the columns of the first."""
        inputs = as_inputs(inputs)
        if "weight" in self.inputs:
            return inputs[self.inputs.index("weight")].shape[0]
        return inputs[0].shape[-1]

    def required_params(self, num_classes: int) -> dict:
        """Hyper-parameters without a default that every call needs (``extra["required_params"]``)."""
        make = self.extra.get("required_params")
        return dict(make(num_classes)) if make else {}

    def call(self, inputs, target, **hp):
        """``fn(*inputs, target, **required, **hp)``: ``hp`` overrides the required defaults."""
        inputs = as_inputs(inputs)
        try:
            required = self.required_params(self.num_classes(inputs)) if "required_params" in self.extra else {}
        except (AttributeError, IndexError, TypeError, ValueError):
            # malformed inputs (no shape to size them by): pass None, and let fn name the problem
            params = list(inspect.signature(self.fn).parameters.values())
            after_target = params[next((i for i, p in enumerate(params) if p.name == "target"), 0) + 1:]
            required = {p.name: None for p in after_target if p.default is p.empty
                        and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}
        return self.fn(*inputs, target, **{**required, **hp})

    @property
    def batch_level(self) -> bool:
        """True when a sample's loss depends on the other samples in the batch."""
        return "batch_level" in self.claims


_REGISTRY: dict[str, LossSpec] = {}


def register(spec: LossSpec) -> LossSpec:
    """Add a loss to the registry after checking that it is complete (twin, known claims, defaults)."""
    if not callable(spec.fn):
        raise TypeError(f"{spec.name}: fn must be callable")
    if spec.twin is None or not callable(spec.twin):
        raise ValueError(f"{spec.name}: a loss without a symbolic twin cannot be registered")
    unknown = set(spec.claims) - set(CLAIMS)
    if unknown:
        raise ValueError(f"{spec.name}: unknown claims {sorted(unknown)}; known: {CLAIMS}")
    if spec.target_kind not in TARGET_KINDS:
        raise ValueError(f"{spec.name}: target_kind must be one of {TARGET_KINDS}, got {spec.target_kind!r}")
    if not spec.inputs or set(spec.inputs) - set(INPUT_KINDS):
        raise ValueError(f"{spec.name}: inputs must name kinds from {INPUT_KINDS}, got {spec.inputs!r}")
    params = inspect.signature(spec.fn).parameters
    if "reduction" not in params:
        raise ValueError(f"{spec.name}: a loss must take reduction=")
    for key, value in spec.defaults.items():
        if key not in params or params[key].default != value:
            raise ValueError(f"{spec.name}: defaults[{key!r}]={value!r} does not match the function signature")
    if spec.name in _REGISTRY and _REGISTRY[spec.name].fn is not spec.fn:
        raise ValueError(f"a different loss is already registered as {spec.name!r}")
    _REGISTRY[spec.name] = spec
    return spec


def all_losses(family: str | None = None) -> list[LossSpec]:
    """Every registered loss (importing :mod:`lossnotes.losses` registers them), optionally one family."""
    import lossnotes.losses  # noqa: F401  (registers the losses)

    specs = list(_REGISTRY.values())
    return [s for s in specs if family is None or s.family == family]


def get(name: str) -> LossSpec:
    import lossnotes.losses  # noqa: F401

    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"no registered loss {name!r}; registered: {sorted(_REGISTRY)}") from None
