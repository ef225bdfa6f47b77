"""Every chapter executes headless in quick mode (papermill), as a reader would run it."""
from __future__ import annotations

import pytest

from lossnotes.runner import discover_notebooks, run_notebooks

NOTEBOOKS = discover_notebooks()


@pytest.mark.notebook
@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_chapter_runs_in_quick_mode(path, tmp_path):
    (result,) = run_notebooks([path.stem], full=False, timeout=400, output_dir=tmp_path)
    assert result.ok, f"{path.stem} failed after {result.seconds:.0f} s: {result.error}\n{result.traceback or ''}"
    assert result.output.exists()
    assert any((tmp_path / "results").glob(f"{path.stem}.json")), "the chapter saved no records"
    assert any((tmp_path / "figures" / path.stem).glob("*.png")), "the chapter saved no figures"
