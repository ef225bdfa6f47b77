import sys
import time

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from lossnotes.cli import main
from lossnotes.runner import (check_parameters, notebook_parameters, resolve_chapters, run_notebooks)

PARAMS = 'quick = True\ndevice = "auto"\nseed = 0\nn: int = 1\nname = "x"\n'


def _notebook(directory, stem, *cells, params=PARAMS):
    nb = new_notebook()
    if params is not None:
        nb.cells.append(new_code_cell(params, metadata={"tags": ["parameters"]}))
    nb.cells.extend(new_code_cell(src) for src in cells)
    path = directory / f"{stem}.ipynb"
    nbformat.write(nb, str(path))
    return path


@pytest.fixture
def nbdir(tmp_path):
    d = tmp_path / "notebooks"
    d.mkdir()
    _notebook(d, "00_ok", "import sys, lossnotes\nprint(n * 2, quick, device, name)\nprint(sys.prefix)")
    _notebook(d, "01_fails", "1 / 0")
    _notebook(d, "02_sleeps", "import os\nopen('kernel.pid', 'w').write(str(os.getpid()))",
              "import time\ntime.sleep(60)")
    return d


def _outputs(path):
    nb = nbformat.read(str(path), as_version=4)
    return nb, "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)


def test_parameters_parsed(nbdir):
    assert notebook_parameters(nbdir / "00_ok.ipynb") == {"quick": True, "device": "auto", "seed": 0, "n": 1,
                                                         "name": "x"}
    _notebook(nbdir, "09_noparams", "x = 1", params=None)
    with pytest.raises(ValueError, match="tagged 'parameters'"):
        notebook_parameters(nbdir / "09_noparams.ipynb")


def test_resolve_chapters(nbdir):
    assert [p.stem for p in resolve_chapters(None, nbdir)] == ["00_ok", "01_fails", "02_sleeps"]
    assert [p.stem for p in resolve_chapters(["01", "00_ok", nbdir / "02_sleeps.ipynb"], nbdir)] == \
        ["01_fails", "00_ok", "02_sleeps"]
    with pytest.raises(ValueError, match="available: 00_ok, 01_fails, 02_sleeps"):
        resolve_chapters(["07"], nbdir)


def test_unknown_parameter_rejected_before_execution(nbdir, tmp_path):
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) epoch.*quick, device, seed, n, name"):
        check_parameters(nbdir / "00_ok.ipynb", {"quick": False, "epoch": 3})
    with pytest.raises(ValueError, match="epoch"):
        run_notebooks(["00"], parameters={"epoch": 3}, output_dir=tmp_path / "out", notebooks_dir=nbdir)
    assert not (tmp_path / "out" / "notebooks" / "00_ok.ipynb").exists()
    assert main(["run", "--notebooks-dir", str(nbdir), "--output", str(tmp_path / "out"), "-p", "epoch", "3"]) == 2


def test_cli_list(nbdir, capsys):
    assert main(["list", "--notebooks-dir", str(nbdir)]) == 0
    assert "00_ok: quick=True, device='auto', seed=0, n=1, name='x'" in capsys.readouterr().out


@pytest.mark.slow
def test_run_injects_parameters(nbdir, tmp_path):
    [res] = run_notebooks(["00"], full=True, parameters={"n": 7, "name": "y z"}, output_dir=tmp_path / "out",
                          notebooks_dir=nbdir)
    assert res.ok, res.error
    assert res.output == tmp_path / "out" / "notebooks" / "00_ok.ipynb" and res.output.exists()
    nb, text = _outputs(res.output)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in nb.cells)
    assert "14 False auto y z" in text
    assert sys.prefix in text  # the kernel ran this environment's interpreter


@pytest.mark.slow
def test_failing_notebook_reported_and_cli_exits_nonzero(nbdir, tmp_path, capsys):
    [res] = run_notebooks(["01"], output_dir=tmp_path / "out", notebooks_dir=nbdir)
    assert not res.ok and not res.timed_out
    assert "ZeroDivisionError" in res.error and "division by zero" in res.error
    assert "1 / 0" in res.traceback
    assert main(["run", "--notebooks-dir", str(nbdir), "--output", str(tmp_path / "cli"), "01_fails"]) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and "ZeroDivisionError" in out and "no records found" in out


@pytest.mark.slow
def test_timeout_kills_notebook_and_kernel(nbdir, tmp_path):
    psutil = pytest.importorskip("psutil")
    start = time.perf_counter()
    [res] = run_notebooks(["02"], timeout=5, output_dir=tmp_path / "out", notebooks_dir=nbdir)
    elapsed = time.perf_counter() - start
    assert not res.ok and res.timed_out and "timed out" in res.error
    assert elapsed < 30
    pid = int((nbdir / "kernel.pid").read_text())
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
