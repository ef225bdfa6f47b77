"""Batch augmentations for the trainer (``train(..., augment=...)``), applied on the batch's device.

Random numbers come from the ``torch.Generator`` the trainer passes (seeded from ``seed``), so a run is
reproducible on CPU.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["random_crop_flip"]


def random_crop_flip(x: torch.Tensor, generator: torch.Generator, *, padding: int = 4) -> torch.Tensor:
    """CIFAR-style augmentation (Li et al. 2020, CIFAR setting: "random crop and horizontal flip"): zero-pad
    each image by ``padding`` pixels, crop a random window of the original size, flip it left-right with
    probability 1/2. ``x`` is ``(N, C, H, W)``."""
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        raise ValueError(f"x must be a 4-d tensor (N, C, H, W), got {getattr(x, 'shape', type(x).__name__)}")
    if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
        raise ValueError(f"padding must be a non-negative int, got {padding!r}")
    n, c, h, w = x.shape
    offsets = torch.randint(0, 2 * padding + 1, (n, 2), generator=generator)
    flip = torch.rand(n, generator=generator) < 0.5
    rows = offsets[:, :1] + torch.arange(h)
    cols = offsets[:, 1:] + torch.arange(w)
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    padded = F.pad(x, (padding, padding, padding, padding))
    dev = x.device
    return padded[torch.arange(n, device=dev)[:, None, None, None], torch.arange(c, device=dev)[None, :, None, None],
                  rows.to(dev)[:, None, :, None], cols.to(dev)[:, None, None, :]]
