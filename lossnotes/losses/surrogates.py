"""Batch-level surrogates of evaluation metrics (chapter 09): soft Dice, AnyLoss, AUC-M, AUC-square."""
from __future__ import annotations

__all__: list[str] = []
