"""One figure style for every chapter, and :func:`save_figure` to write figures where they belong.

Importing this module applies the style (:func:`set_style`); call it again after changing rcParams.
Helpers for figures that must read on a projected slide: :func:`mean_band` (mean over seeds with a
min-max band), :func:`figure_legend` (one legend outside the panels), :func:`distinct_styles` (curves
that coincide stay visible), :func:`plain_log_ticks` (log axes labelled 0.5, 1, 2, 5 instead of 10^0).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import seaborn as sns
from matplotlib import ticker

from . import paths

__all__ = ["PALETTE", "LINESTYLES", "set_style", "save_figure", "mean_band", "figure_legend",
           "distinct_styles", "plain_log_ticks"]

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


#: Dash patterns for curves that may coincide: solid, dashed, dotted, dash-dot, long dash, dash-dot-dot.
LINESTYLES = ["-", "--", ":", "-.", (0, (8, 3)), (0, (5, 2, 1, 2, 1, 2))]


def distinct_styles(n: int, *, widest: float = 4.0, narrowest: float = 1.6) -> list[dict]:
    """``n`` plot keyword sets (``color``, ``ls``, ``lw``) that stay tellable apart where the curves coincide.

    Colours follow :data:`PALETTE`, dash patterns :data:`LINESTYLES`, and the line width falls from ``widest``
    to ``narrowest``: drawn in order, each later (thinner, differently dashed) curve shows on top of an earlier
    one it coincides with, so no curve is hidden under another.
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    if not 0 < narrowest <= widest:
        raise ValueError(f"need 0 < narrowest <= widest, got narrowest={narrowest!r}, widest={widest!r}")
    widths = np.linspace(widest, narrowest, n) if n > 1 else [widest]
    return [{"color": PALETTE[i % len(PALETTE)], "ls": LINESTYLES[i % len(LINESTYLES)], "lw": float(w)}
            for i, w in enumerate(widths)]


def mean_band(ax, x, runs, *, color=None, label=None, alpha: float = 0.2, **line_kw):
    """Draw the mean of ``runs`` over its columns (one column per seed) against ``x``, and the min-max band.

    ``runs`` is 2-D, one row per ``x`` (a ``DataFrame`` pivoted to epoch x seed works). With a single column
    only the line is drawn; with a single row (one epoch) the min-max range is a vertical bar. Returns the line.
    """
    values = np.asarray(runs, dtype=float)
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim != 2 or values.shape[0] != len(x) or values.shape[1] == 0:
        raise ValueError(f"runs must be 2-D with one row per x value ({len(x)}), got shape {values.shape}")
    (line,) = ax.plot(x, np.nanmean(values, axis=1), color=color, label=label, **line_kw)
    if values.shape[1] > 1 and values.shape[0] > 1:
        ax.fill_between(x, np.nanmin(values, axis=1), np.nanmax(values, axis=1), color=line.get_color(),
                        alpha=alpha, lw=0)
    elif values.shape[1] > 1:
        ax.vlines(x, np.nanmin(values, axis=1), np.nanmax(values, axis=1), color=line.get_color(),
                  alpha=max(alpha, 0.4), lw=6)
    return line


def figure_legend(fig, axes=None, *, where: str = "right", ncol: int | None = None, **legend_kw):
    """One legend for the whole figure, outside the panels: every labelled artist of ``axes`` (default: all
    of ``fig``'s axes), each label once, in order of first appearance. ``where`` is "right" or "below".
    Call it after ``fig.tight_layout()``; ``savefig`` (bbox "tight") keeps it in the saved file.
    """
    if where not in ("right", "below"):
        raise ValueError(f"where must be 'right' or 'below', got {where!r}")
    seen = {}
    for ax in (fig.axes if axes is None else np.ravel(axes)):
        for handle, label in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(label, handle)
        if ax.get_legend() is not None:
            ax.get_legend().remove()
    if not seen:
        raise ValueError("no labelled artist to put in the legend")
    if where == "right":
        place = {"loc": "center left", "bbox_to_anchor": (1.0, 0.5), "ncol": ncol or 1}
    else:
        place = {"loc": "upper center", "bbox_to_anchor": (0.5, 0.0), "ncol": ncol or min(len(seen), 4)}
    return fig.legend(list(seen.values()), list(seen), frameon=False, **{**place, **legend_kw})


def _plain_number(value, _pos=None) -> str:
    """Three significant digits, without an exponent where a plain number is short: 4.44, 0.05, 1000."""
    text = f"{value:.3g}"
    return f"{value:g}" if "e" in text else text


def plain_log_ticks(axis, values=None) -> None:
    """Label a log-scaled ``axis`` (``ax.xaxis`` or ``ax.yaxis``) with plain numbers of three significant digits:
    at ``values`` when given, else at 1, 2 and 5 times the powers of ten, with no minor tick labels."""
    if values is not None:
        axis.set_major_locator(ticker.FixedLocator(list(values)))
    else:
        axis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(ticker.FuncFormatter(_plain_number))
    axis.set_minor_formatter(ticker.NullFormatter())


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
