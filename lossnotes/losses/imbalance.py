"""Losses for class imbalance and long tails (chapter 06): focal, class-balanced, logit adjustment,
balanced softmax, LDAM(-DRW), VS."""
from __future__ import annotations

__all__: list[str] = []
