"""Symbolic twins of :mod:`lossnotes.losses.softmax_alternatives`."""
from __future__ import annotations

__all__: list[str] = []
