"""Symbolic twins of :mod:`lossnotes.losses.fenchel_young`."""
from __future__ import annotations

__all__: list[str] = []
