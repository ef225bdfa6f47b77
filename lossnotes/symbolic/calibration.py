"""Symbolic twins of :mod:`lossnotes.losses.calibration`."""
from __future__ import annotations

__all__: list[str] = []
