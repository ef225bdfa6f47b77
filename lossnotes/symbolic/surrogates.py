"""Symbolic twins of :mod:`lossnotes.losses.surrogates`."""
from __future__ import annotations

__all__: list[str] = []
