"""Symbolic twins of :mod:`lossnotes.losses.imbalance`."""
from __future__ import annotations

__all__: list[str] = []
