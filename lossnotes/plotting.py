"""One figure style for every chapter, and :func:`save_figure` to write figures where they belong.

Importing this module applies the style (:func:`set_style`); call it again after changing rcParams.
"""
from __future__ import annotations

from pathlib import Path

import seaborn as sns

from . import paths

__all__ = ["PALETTE", "set_style", "save_figure"]

#: Colour-blind-safe palette used for every line/bar (seaborn's "colorblind").
PALETTE = sns.color_palette("colorblind")

_RC = {
    "figure.dpi": 110,
    "savefig.dpi": 200,
    "savefig.bbox": "tight",
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.fontsize": 10,
    "figure.titlesize": 13,
    "lines.linewidth": 1.8,
    "svg.hashsalt": "lossnotes",  # stable SVG ids, so re-saved figures diff cleanly
}


def set_style() -> None:
    """Seaborn "whitegrid" on the "notebook" context with fixed font sizes, :data:`PALETTE` and dpi."""
    sns.set_theme(context="notebook", style="whitegrid", palette=PALETTE, rc=_RC)


def _check_component(kind: str, value: str) -> None:
    if not isinstance(value, str) or not value or value in {".", ".."} or value.startswith("."):
        raise ValueError(f"{kind} must be a non-empty file name not starting with '.', got {value!r}")
    if "/" in value or "\\" in value:
        raise ValueError(f"{kind} must not contain path separators, got {value!r}")


def save_figure(fig, chapter: str, name: str, *, quick: bool = True,
                formats: tuple[str, ...] = ("png", "svg")) -> list[Path]:
    """Write ``fig`` as ``<figures_dir(chapter, quick)>/<name>.<fmt>`` for each format; return the paths.

    ``name`` is a bare file name without extension (no path separators); otherwise ``ValueError``.
    """
    _check_component("chapter", chapter)
    _check_component("name", name)
    if not formats:
        raise ValueError("formats must name at least one format")
    supported = fig.canvas.get_supported_filetypes()
    bad = [f for f in formats if f not in supported]
    if bad:
        raise ValueError(f"unsupported format(s) {bad}; supported: {sorted(supported)}")
    if Path(name).suffix.lstrip(".") in supported:
        raise ValueError(f"name must not carry an extension (formats adds it), got {name!r}")
    out = paths.figures_dir(chapter, quick)
    written = []
    for fmt in formats:
        path = out / f"{name}.{fmt}"
        # No timestamps in the files, so a re-run with the same numbers gives the same bytes.
        metadata = {"Date": None} if fmt == "svg" else None
        fig.savefig(path, format=fmt, metadata=metadata)
        written.append(path)
    return written


set_style()
