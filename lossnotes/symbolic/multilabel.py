"""Symbolic twins of :mod:`lossnotes.losses.multilabel`."""
from __future__ import annotations

__all__: list[str] = []
