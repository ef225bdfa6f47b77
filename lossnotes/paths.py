"""Where lossnotes reads data and writes figures and records.

Committed results live in the repository's ``figures/`` and ``results/``; quick runs and tests write
to ``build/`` so the tree stays clean. ``$LOSSNOTES_OUTPUT`` overrides the output root.
"""
from __future__ import annotations

import os
from pathlib import Path

__all__ = ["repo_root", "output_root", "figures_dir", "results_dir", "build_dir", "shown"]


def repo_root() -> Path:
    """The checkout that holds ``notebooks/`` (falls back to the current directory when installed)."""
    here = Path(__file__).resolve().parent.parent
    if (here / "notebooks").is_dir():
        return here
    return Path.cwd()


def build_dir() -> Path:
    return repo_root() / "build"


def output_root(quick: bool = True) -> Path:
    """Root under which ``figures/`` and ``results/`` are written.

    ``$LOSSNOTES_OUTPUT`` wins; otherwise quick runs go to ``build/`` and full runs to the repository.
    """
    env = os.environ.get("LOSSNOTES_OUTPUT")
    if env:
        return Path(env)
    return build_dir() if quick else repo_root()


def figures_dir(chapter: str, quick: bool = True) -> Path:
    path = output_root(quick) / "figures" / chapter
    path.mkdir(parents=True, exist_ok=True)
    return path


def results_dir(quick: bool = True) -> Path:
    path = output_root(quick) / "results"
    path.mkdir(parents=True, exist_ok=True)
    return path


def shown(path) -> str:
    """``path`` as a reader should see it: relative to the repository when inside it (no machine's absolute paths
    in an executed chapter), else as given."""
    path = Path(path)
    try:
        return path.resolve().relative_to(repo_root().resolve()).as_posix()
    except ValueError:
        return str(path)
