"""Multi-label losses without a threshold class (chapter 09): sigmoid BCE, sigmoid focal, ASL, ZLPR."""
from __future__ import annotations

__all__: list[str] = []
