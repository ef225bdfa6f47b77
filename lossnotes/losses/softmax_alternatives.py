"""Losses that change or replace the softmax output layer (chapter 08): multiclass hinges, perceptron,
spherical Z-loss, log-sum-exp z-loss, harmonic loss, Taylor and sparse softmax."""
from __future__ import annotations

__all__: list[str] = []
