"""``nn.Module`` wrappers, made the same way for every loss from its function."""
from __future__ import annotations

import inspect
from typing import Callable

import torch
from torch import nn

__all__ = ["LossModule", "module_class"]


class LossModule(nn.Module):
    """Wraps a loss function with fixed hyper-parameters; tensor hyper-parameters become buffers
    (so ``.to(device)`` moves them). ``forward(*inputs)`` calls ``fn(*inputs, **hyper_parameters)``."""

    def __init__(self, fn: Callable, **hyper_parameters):
        super().__init__()
        sig = inspect.signature(fn)
        params = list(sig.parameters.values())
        # every parameter after the inputs and target that can be passed by keyword (e.g. matching_loss's link)
        n_inputs = next((i for i, p in enumerate(params) if p.name == "target"), 1) + 1
        keyword = {p.name for p in params[n_inputs:] if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}
        unknown = set(hyper_parameters) - keyword
        if unknown:
            raise TypeError(f"{fn.__name__} has no hyper-parameter(s) {sorted(unknown)}; "
                            f"it takes {sorted(keyword)}")
        self.fn = fn
        self._plain = {}
        for key, value in hyper_parameters.items():
            if isinstance(value, torch.Tensor):
                self.register_buffer(key, value)
            else:
                self._plain[key] = value

    def hyper_parameters(self) -> dict:
        return {**self._plain, **{k: b for k, b in self.named_buffers(recurse=False)}}

    def forward(self, *inputs):
        return self.fn(*inputs, **self.hyper_parameters())

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self._plain.items())


def module_class(fn: Callable, name: str | None = None) -> type:
    """A ``LossModule`` subclass for ``fn``, named in CamelCase (``lgl_inr`` -> ``LglInr``)."""
    name = name or "".join(part.capitalize() for part in fn.__name__.split("_"))

    def __init__(self, **hyper_parameters):
        LossModule.__init__(self, fn, **hyper_parameters)

    doc = f"Module form of :func:`{fn.__module__}.{fn.__name__}`.\n\n" + (fn.__doc__ or "")
    return type(name, (LossModule,), {"__init__": __init__, "__doc__": doc, "__module__": "lossnotes.losses"})
