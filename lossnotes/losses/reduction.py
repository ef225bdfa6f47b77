"""The one reduction helper every loss uses."""
from __future__ import annotations

import torch

from .validation import check_reduction, value_checks_enabled

__all__ = ["reduce_loss"]


def reduce_loss(per_sample: torch.Tensor, reduction: str, *, denominator: torch.Tensor | float | None = None
                ) -> torch.Tensor:
    """Reduce per-sample losses ``(N,)``.

    ``"none"`` returns them, ``"sum"`` adds them, ``"mean"`` divides the sum by ``denominator``
    (default N; the summed sample weights for weighted losses, as ``torch.nn.functional.cross_entropy``
    does; the number of classes for batch-level losses defined per class).
    """
    check_reduction(reduction)
    if reduction == "none":
        return per_sample
    total = per_sample.sum()
    if reduction == "sum":
        return total
    if denominator is None:
        return total / per_sample.shape[0]
    if isinstance(denominator, torch.Tensor) and value_checks_enabled() and not bool(denominator > 0):
        raise ValueError("class_weight gives this batch a total weight of 0, so reduction='mean' is undefined; "
                         "use reduction='sum' or give the batch's classes positive weights")
    return total / denominator
