"""Sparse prediction maps (sparsemax, entmax) and their Fenchel-Young losses (chapter 08)."""
from __future__ import annotations

__all__: list[str] = []
