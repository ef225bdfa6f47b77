"""Losses aimed at calibrated confidence (chapter 07): FLSD-53, dual focal, poly-1, squentropy,
encouraging loss, confidence penalty, MDCA."""
from __future__ import annotations

__all__: list[str] = []
