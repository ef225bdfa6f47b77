"""JupyterLab hygiene: every notebook validates without a warning (cell ids included), outputs saved in JupyterLab
never reach a commit (the nbstripout filter the set-up installs), and tqdm progress bars render as widgets in a
kernel without the "IProgress not found" warning."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_validates_without_warnings(path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # MissingIDFieldWarning, DuplicateCellId, schema warnings
        nb = nbformat.read(str(path), as_version=4)
        nbformat.validate(nb)
    raw = json.loads(path.read_text())
    ids = [c.get("id") for c in raw["cells"]]
    assert all(ids), f"{path.name}: cells {[i for i, x in enumerate(ids) if not x]} have no id"
    assert len(set(ids)) == len(ids), f"{path.name}: duplicate cell ids"
    assert raw["metadata"]["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_figure_says_what_to_see(path):
    """A cell that draws a figure (save_figure / plt.show) is followed by a '*What to see:*' line: in the
    markdown cells right after it, or displayed by the cell itself (a line computed from the results)."""
    cells = nbformat.read(str(path), as_version=4).cells
    silent = []
    for i, cell in enumerate(cells):
        if cell.cell_type != "code" or not any(k in cell.source for k in ("save_figure(", "plt.show()")):
            continue
        told = "What to see:*" in cell.source
        j = i + 1
        while not told and j < len(cells) and cells[j].cell_type == "markdown":
            told = "What to see:*" in cells[j].source
            j += 1
        if not told:
            silent.append(i)
    assert not silent, f"{path.name}: the figures of cells {silent} have no '*What to see:*' line after them"


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


@pytest.mark.skipif(shutil.which("git") is None or shutil.which("make") is None, reason="needs git and make")
def test_git_filter_strips_outputs_and_keeps_cell_ids(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    shutil.copy(ROOT / ".gitattributes", repo / ".gitattributes")
    # the set-up's own target, run in the scratch repository with this environment's python
    subprocess.run(["make", "-s", "-f", str(ROOT / "Makefile"), "git-filter", f"BIN={Path(sys.executable).parent}"],
                   cwd=repo, check=True)
    nb = new_notebook(metadata={
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python", "version": "3.11.2", "pygments_lexer": "ipython3",
                          "codemirror_mode": {"name": "ipython", "version": 3}},
        "widgets": {"application/vnd.jupyter.widget-state+json": {"state": {}}}})
    nb.cells = [new_markdown_cell("# 99"), new_code_cell("print(1)", execution_count=7, metadata={"scrolled": True},
                                                          outputs=[new_output("stream", name="stdout", text="1\n")])]
    ids = [c.id for c in nb.cells]
    nbformat.write(nb, str(repo / "99_x.ipynb"))
    _git(repo, "add", "99_x.ipynb")
    staged = json.loads(_git(repo, "show", ":99_x.ipynb"))
    code = staged["cells"][1]
    assert code["outputs"] == [] and code["execution_count"] is None and "scrolled" not in code["metadata"]
    assert [c["id"] for c in staged["cells"]] == ids
    assert staged["metadata"]["language_info"] == {"name": "python"}
    assert "widgets" not in staged["metadata"]
    assert (repo / "99_x.ipynb").read_text().count('"outputs": [\n') == 1  # the working copy keeps its outputs
    assert "print(1)" in _git(repo, "diff", "--cached")


@pytest.mark.slow
def test_progress_bars_render_as_widgets_without_warning(tmp_path):
    from nbclient import NotebookClient

    nb = new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nb.cells = [new_code_cell("from tqdm.auto import tqdm\nfor _ in tqdm(range(3), desc='epochs'):\n    pass")]
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = nb.cells[0].outputs
    stderr = "".join(o.get("text", "") for o in outputs if o.get("name") == "stderr")
    assert "IProgress" not in stderr and "TqdmWarning" not in stderr, stderr
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs), outputs
