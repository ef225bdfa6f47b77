import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from lossnotes.cli import main
from lossnotes.records import Recorder
from lossnotes.runner import (RunResult, _items, chapter_summary, check_device, check_parameters, notebook_parameters,
                              resolve_chapters, run_notebooks)

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
              "import time\ntime.sleep(600)")
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


def test_parameter_of_the_wrong_kind_and_an_infinite_timeout_are_refused_before_execution(nbdir, tmp_path):
    with pytest.raises(ValueError, match=r"parameter seed expects int like its default 0, got 'abc'"):
        check_parameters(nbdir / "00_ok.ipynb", {"seed": "abc"})
    with pytest.raises(ValueError, match="parameter quick expects bool"):
        check_parameters(nbdir / "00_ok.ipynb", {"quick": 1})
    check_parameters(nbdir / "00_ok.ipynb", {"seed": 3, "n": 2, "name": "y", "quick": False})   # right kinds pass
    out = ["--notebooks-dir", str(nbdir), "--output", str(tmp_path / "out")]
    assert main(["run", *out, "00", "-p", "seed", "abc"]) == 2
    assert main(["run", *out, "00", "--timeout", "inf"]) == 2
    assert not (tmp_path / "out" / "notebooks" / "00_ok.ipynb").exists()


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
    assert "FAILED" in out and "ZeroDivisionError" in out and str(tmp_path / "cli" / "notebooks") in out


@pytest.mark.slow
def test_timeout_kills_notebook_and_kernel(nbdir, tmp_path):
    psutil = pytest.importorskip("psutil")
    start = time.perf_counter()
    [res] = run_notebooks(["02"], timeout=30, output_dir=tmp_path / "out", notebooks_dir=nbdir)
    elapsed = time.perf_counter() - start
    assert not res.ok and res.timed_out and "timed out" in res.error
    assert elapsed < 60  # the kernel must start within the limit, even on a busy machine
    pid = int((nbdir / "kernel.pid").read_text())
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_device_without_cuda_refused_before_any_notebook_starts(nbdir, tmp_path, capsys):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(ValueError, match="--device cuda: .*CUDA is not available"):
        check_device("cuda")
    with pytest.raises(ValueError, match="device must be 'auto', 'cpu', 'cuda' or 'cuda:N'"):
        check_device("gpu")
    check_device("cpu")
    start = time.perf_counter()
    assert main(["run", "--device", "cuda", "--notebooks-dir", str(nbdir), "--output", str(tmp_path / "o")]) == 2
    assert time.perf_counter() - start < 30
    assert "CUDA is not available" in capsys.readouterr().err
    assert not (tmp_path / "o" / "notebooks").exists()  # nothing started


def _save_records(out: Path, chapter: str, rows, monkeypatch) -> None:
    monkeypatch.setenv("LOSSNOTES_OUTPUT", str(out))
    rec = Recorder(chapter, quick=True, device="cpu")
    for table, row, paper, ours, ci in rows:
        rec.add(table=table, row=row, metric="accuracy", paper=paper, ours=ours, ci95=ci, setting="s", seeds=[0, 1])
    rec.not_run(table="Table 9", reason="data not available offline")
    rec.save()


def test_chapter_summary_counts_this_runs_records_by_status(tmp_path, monkeypatch):
    # Table 1: both rows inside our interval -> reproduced; Table 2: no row agrees, paper's best clearly
    # behind ours -> contradicted; Table 9 declared not run.
    _save_records(tmp_path, "07_x", [("Table 1", "a", 0.90, 0.91, 0.02), ("Table 1", "b", 0.80, 0.80, 0.01),
                                     ("Table 2", "a", 0.90, 0.50, 0.01), ("Table 2", "b", 0.50, 0.80, 0.01)],
                  monkeypatch)
    started = time.time() - 5
    row = chapter_summary(RunResult("07_x", 1.0, True, None, tmp_path, started=started), tmp_path / "results")
    assert (row["records"], row["items"], row["reproduced"], row["contradicted"], row["not run here"]) == \
        (4, 3, 1, 1, 1)
    assert _items(row) == "3: 1 reproduced, 1 contradicted, 1 not run here"
    later = chapter_summary(RunResult("07_x", 1.0, True, None, tmp_path, started=time.time() + 5), tmp_path / "results")
    assert later["records"] == 0 and later["items"] == 0  # a file an earlier run left is not this run's
    failed = chapter_summary(RunResult("08_y", 1.0, False, "boom", tmp_path, started=started), tmp_path / "results")
    assert failed["status"] == "FAILED" and failed["records"] == 0


@pytest.mark.slow
def test_cli_run_prints_one_line_per_chapter_and_writes_the_scoreboard_to_files(nbdir, tmp_path, capsys):
    _notebook(nbdir, "03_records",
              "from lossnotes.records import Recorder\n"
              "r = Recorder('03_records', quick=quick, device='cpu')\n"
              "r.add(table='Table 1', row='a', metric='accuracy', paper=0.5, ours=0.5, setting='s', seeds=[0])\n"
              "r.save()")
    out_dir = tmp_path / "out"
    assert main(["run", "--notebooks-dir", str(nbdir), "--output", str(out_dir), "00", "03"]) == 0
    out = capsys.readouterr().out
    lines = out.strip().splitlines()
    assert len(lines) <= 12, out
    row = next(line for line in lines if line.startswith("03_records "))
    assert row.split()[1] == "ok" and row.split()[3] == "1" and row.endswith("1: 1 reproduced")  # records, items
    assert (out_dir / "scoreboard.md").is_file() and (out_dir / "scoreboard.csv").is_file()
    assert (out_dir / "status.md").is_file() and "Table 1" in (out_dir / "status.md").read_text()
    assert "| 03_records | Table 1 |" not in out  # the scoreboard itself is not printed
