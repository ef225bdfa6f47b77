"""Run the chapter notebooks with papermill: parameter checking, a hard per-notebook timeout, timings.

Each notebook runs in its own ``python -m``-style subprocess (this interpreter, so the kernel is this
environment's ``python3``) that calls :func:`papermill.execute_notebook`. On timeout the subprocess and
all its descendants (the kernel included, which jupyter_client starts in its own session) are killed.
"""
from __future__ import annotations

import ast
import json
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import nbformat

from . import NO_PROGRESS_ENV, paths

__all__ = ["RunResult", "discover_notebooks", "resolve_chapters", "notebook_parameters",
           "check_parameters", "check_device", "run_notebooks", "print_timing_table", "chapter_summary",
           "print_run_summary", "QUICK_TIMEOUT", "FULL_TIMEOUT"]

QUICK_TIMEOUT = 600.0  # seconds per notebook
FULL_TIMEOUT = 6 * 3600.0
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

# Runs in the subprocess: execute one notebook; on a cell error print a one-line summary and exit 1.
_CHILD = r"""
import json, sys
import papermill as pm
from papermill.exceptions import PapermillExecutionError
spec = json.loads(sys.argv[1])
try:
    pm.execute_notebook(spec["input"], spec["output"], parameters=spec["parameters"],
                        kernel_name=spec["kernel_name"], language="python", cwd=spec["cwd"], progress_bar=False,
                        log_output=False, execution_timeout=spec["execution_timeout"])
except PapermillExecutionError as err:
    print("LOSSNOTES-CELL-ERROR " + json.dumps({"cell": err.exec_count, "ename": err.ename,
          "evalue": err.evalue, "traceback": err.traceback}), file=sys.stderr)
    sys.exit(1)
"""


@dataclass
class RunResult:
    """Outcome of one notebook: ``ok`` is False on a cell error, a crash or a timeout (see ``error``)."""

    name: str
    seconds: float
    ok: bool
    error: str | None
    output: Path
    timed_out: bool = False
    traceback: str | None = None
    started: float | None = None  # wall-clock time (``time.time()``) when the notebook started


def _notebooks_dir(notebooks_dir) -> Path:
    return Path(notebooks_dir) if notebooks_dir is not None else paths.repo_root() / "notebooks"


def discover_notebooks(notebooks_dir=None) -> list[Path]:
    """``notebooks/*.ipynb``, sorted by name."""
    return sorted(p for p in _notebooks_dir(notebooks_dir).glob("*.ipynb") if not p.name.startswith("."))


def resolve_chapters(chapters=None, notebooks_dir=None) -> list[Path]:
    """Notebook paths for ``chapters``: names such as ``"00"`` or ``"00_foundations"``, or paths; all if None."""
    available = discover_notebooks(notebooks_dir)
    if chapters is None or (not isinstance(chapters, str) and len(chapters) == 0):
        return available
    if isinstance(chapters, (str, os.PathLike)):
        chapters = [chapters]
    chosen = []
    for chapter in chapters:
        text = str(chapter)
        path = Path(text)
        if path.suffix == ".ipynb" and path.is_file():
            match = [path]
        else:
            stem = path.stem if path.suffix == ".ipynb" else text
            match = [p for p in available if p.stem == stem] or \
                    [p for p in available if p.stem.split("_", 1)[0] == stem]
        if len(match) != 1:
            names = ", ".join(p.stem for p in available) or "(none)"
            what = "is ambiguous" if match else "not found"
            raise ValueError(f"chapter {text!r} {what}; available: {names}")
        if match[0] not in chosen:
            chosen.append(match[0])
    return chosen


def notebook_parameters(path) -> dict[str, object]:
    """Names and defaults assigned in the notebook's cell tagged ``parameters``.

    Defaults are Python literals where possible, else the source text. ``ValueError`` if there is no such cell.
    """
    nb = nbformat.read(str(path), as_version=4)
    cell = next((c for c in nb.cells if c.cell_type == "code"
                 and "parameters" in c.get("metadata", {}).get("tags", [])), None)
    if cell is None:
        raise ValueError(f"{Path(path).name} has no code cell tagged 'parameters'")
    try:
        tree = ast.parse(cell.source)
    except SyntaxError as err:
        raise ValueError(f"{Path(path).name}: cannot parse the parameters cell: {err}") from err
    params = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        try:
            default = ast.literal_eval(value)
        except ValueError:
            default = ast.get_source_segment(cell.source, value)
        for target in targets:
            if isinstance(target, ast.Name):
                params[target.id] = default
    return params


def check_parameters(path, parameters) -> None:
    """``ValueError`` naming any of ``parameters`` that the notebook's parameters cell does not define."""
    known = notebook_parameters(path)
    unknown = sorted(set(parameters) - set(known))
    if unknown:
        raise ValueError(f"{Path(path).stem}: unknown parameter(s) {', '.join(unknown)}; "
                         f"the notebook's parameters are: {', '.join(known) or '(none)'}")
    for name, value in parameters.items():
        default = known[name]
        if not _same_kind(default, value):
            raise ValueError(f"{Path(path).stem}: parameter {name} expects {type(default).__name__} like its "
                             f"default {default!r}, got {value!r} ({type(value).__name__})")


def _same_kind(default, value) -> bool:
    """Whether ``value`` can stand for a parameter whose default is ``default``: anything for a None or
    non-literal default; a number for a number (an int where the default is an int or a bool where it is a bool);
    a string for a string; a sequence for a sequence."""
    if default is None or value is None:
        return True
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int)
    if isinstance(default, float):
        return isinstance(value, (int, float))
    if isinstance(default, (tuple, list)):
        return isinstance(value, (tuple, list))
    if isinstance(default, dict):
        return isinstance(value, dict)
    return True


def check_device(device: str) -> None:
    """``ValueError`` unless ``device`` is ``"auto"`` or a device this machine has (``cpu``, ``cuda[:N]``).

    Checked before any notebook starts, so that ``--device cuda`` without CUDA fails at once rather than in
    the first training cell of the first chapter.
    """
    if device == "auto":
        return
    from .train import resolve_device  # imports torch: only when a device is named

    try:
        resolve_device(device)
    except ValueError as err:
        raise ValueError(f"--device {device}: {err}") from None


def _check_kernel(kernel_name: str) -> None:
    """``ValueError`` for an unknown kernel; a warning if it would not run this interpreter."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    ksm = KernelSpecManager()
    try:
        spec = ksm.get_kernel_spec(kernel_name)
    except NoSuchKernel:
        raise ValueError(f"no Jupyter kernel {kernel_name!r}; available: "
                         f"{', '.join(sorted(ksm.find_kernel_specs()))}") from None
    exe = spec.argv[0] if spec.argv else ""
    # jupyter_client replaces a bare "python"/"python3"/"python3.X" with sys.executable.
    aliases = {"python", f"python{sys.version_info[0]}", "python{}.{}".format(*sys.version_info[:2])}
    if exe not in aliases and Path(exe).resolve() != Path(sys.executable).resolve():
        warnings.warn(f"kernel {kernel_name!r} runs {exe}, not this interpreter ({sys.executable}); "
                      "lossnotes may be missing or stale there", RuntimeWarning, stacklevel=3)


def _kill_tree(pid: int) -> None:
    """Kill ``pid`` and all its descendants (the kernel lives in its own session, so killpg is not enough)."""
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil comes with ipykernel
        os.killpg(pid, signal.SIGKILL)
        return
    try:
        parent = psutil.Process(pid)
        procs = parent.children(recursive=True) + [parent]
    except psutil.NoSuchProcess:
        return
    for proc in procs:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(procs, timeout=10)


def _cell_error(stderr: str) -> tuple[str | None, str | None]:
    for line in reversed(stderr.splitlines()):
        if line.startswith("LOSSNOTES-CELL-ERROR "):
            info = json.loads(line.split(" ", 1)[1])
            summary = f"cell In [{info['cell']}] raised {info['ename']}: {info['evalue']}"
            return summary, _ANSI.sub("", "\n".join(info["traceback"] or []))
    return None, None


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:]) or "(no output)"


def run_notebooks(chapters=None, *, full: bool = False, device: str = "auto", timeout: float | None = None,
                  parameters: dict | None = None, output_dir=None, kernel_name: str = "python3",
                  notebooks_dir=None, echo: bool = False) -> list[RunResult]:
    """Execute the chosen notebooks (all by default) in order with ``quick = not full`` and ``device``.

    ``parameters`` are extra notebook parameters; names a notebook does not define raise ``ValueError``
    before anything runs. ``timeout`` is a hard wall-clock limit per notebook (default 600 s quick,
    6 h full). Executed notebooks go to ``<build>/notebooks/``, or ``<output_dir>/notebooks/`` when
    ``output_dir`` is given, in which case ``$LOSSNOTES_OUTPUT`` is set to it for the notebooks.
    ``device`` is checked first (:func:`check_device`). ``echo`` prints one line per notebook.
    """
    timeout = (FULL_TIMEOUT if full else QUICK_TIMEOUT) if timeout is None else float(timeout)
    if not (math.isfinite(timeout) and timeout > 0):
        raise ValueError(f"timeout must be a finite number of seconds > 0, got {timeout}")
    check_device(device)
    params = {"quick": not full, "device": device, **(parameters or {})}
    notebooks = resolve_chapters(chapters, notebooks_dir)
    for nb in notebooks:  # validate everything before running anything
        check_parameters(nb, params)
    if notebooks:
        _check_kernel(kernel_name)

    out_root = Path(output_dir) if output_dir is not None else paths.build_dir()
    out_dir = out_root / "notebooks"
    out_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    if output_dir is not None:
        env["LOSSNOTES_OUTPUT"] = str(Path(output_dir).resolve())
    if env.get("MPLBACKEND", "").lower() == "agg":
        env.pop("MPLBACKEND")  # let the kernel use its inline backend so executed notebooks show figures
    env[NO_PROGRESS_ENV] = "1"  # executed chapters carry no progress bars (JupyterLab still shows them)

    results = []
    for index, nb in enumerate(notebooks, 1):
        output = out_dir / nb.name
        spec = {"input": str(nb.resolve()), "output": str(output.resolve()), "parameters": params,
                "kernel_name": kernel_name, "cwd": str(nb.resolve().parent),
                "execution_timeout": max(1, int(timeout))}
        if echo:
            print(f"[{index}/{len(notebooks)}] {nb.stem} ({'full' if full else 'quick'}) ... ", end="", flush=True)
        started, start = time.time(), time.perf_counter()
        # stderr goes to a file, not a pipe: a stray grandchild holding a pipe open cannot block us.
        with tempfile.TemporaryFile("w+") as log:
            proc = subprocess.Popen([sys.executable, "-c", _CHILD, json.dumps(spec)], env=env,
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
            timed_out = False
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                _kill_tree(proc.pid)
                proc.wait()
            seconds = time.perf_counter() - start
            log.seek(0)
            stderr = log.read()
        error = trace = None
        if timed_out:
            error = f"timed out after {timeout:.0f} s (notebook and kernel killed)"
        elif proc.returncode != 0:
            error, trace = _cell_error(stderr)
            if error is None:
                error = f"papermill exited with code {proc.returncode}:\n{_tail(stderr)}"
        result = RunResult(nb.stem, seconds, error is None, error, output, timed_out, trace, started)
        results.append(result)
        if echo:
            print(f"{_status(result)} in {seconds:.1f} s", flush=True)
    return results


def _status(result: RunResult) -> str:
    return "ok" if result.ok else ("TIMEOUT" if result.timed_out else "FAILED")


def print_timing_table(results, file=None) -> None:
    """Print name, status and seconds per notebook, a total, then the errors."""
    file = sys.stdout if file is None else file
    width = max([len(r.name) for r in results] + [8])
    print(f"{'notebook':<{width}}  {'status':<7}  {'seconds':>9}", file=file)
    print(f"{'-' * width}  {'-' * 7}  {'-' * 9}", file=file)
    for r in results:
        print(f"{r.name:<{width}}  {_status(r):<7}  {r.seconds:>9.1f}", file=file)
    total = sum(r.seconds for r in results)
    failed = sum(not r.ok for r in results)
    print(f"{'total':<{width}}  {f'{failed} bad' if failed else 'ok':<7}  {total:>9.1f}", file=file)
    for r in results:
        if not r.ok:
            print(f"\n{r.name}: {r.error}\n  executed notebook: {r.output}", file=file)


def chapter_summary(result: RunResult, results_dir) -> dict:
    """One row of :func:`print_run_summary`: the records this run wrote for the chapter and, per status of
    :data:`lossnotes.records.STATUSES`, how many paper items have it.

    Records count only if ``<results_dir>/<chapter>.json`` was written during this run (its ``created`` stamp is
    not older than the run's start); statuses come from :func:`lossnotes.records.item_status`, one per paper item,
    and items the chapter declares with ``Recorder.not_run`` count as "not run here".
    """
    import datetime as dt

    from .records import STATUSES, status_table

    row = {"chapter": result.name, "status": _status(result), "seconds": result.seconds, "records": 0,
           "items": 0, **{status: 0 for status in STATUSES}}
    path = Path(results_dir) / f"{result.name}.json"
    if not path.is_file():
        return row
    doc = json.loads(path.read_text())
    created = dt.datetime.fromisoformat(doc["created"]).timestamp()
    if result.started is not None and created < int(result.started):
        return row  # left by an earlier run
    row["records"] = len(doc.get("records", []))
    table = status_table(result.name, Path(results_dir))
    row["items"] = len(table)
    for status, count in table["status"].value_counts().items():
        row[str(status)] = int(count)
    return row


def _items(row: dict) -> str:
    from .records import STATUSES

    if not row["items"]:
        return "-"
    counts = ", ".join(f"{row[s]} {s}" for s in STATUSES if row.get(s))
    return f"{row['items']}: {counts}"


def print_run_summary(results, results_dir, file=None) -> list[dict]:
    """Print one line per chapter: status, seconds, records written, and the chapter's paper items by status
    (reproduced, partly, contradicted, ... by the status rule of :func:`lossnotes.records.item_status`) from the
    records this run wrote; then a total and the failures. Returns the rows (:func:`chapter_summary`)."""
    file = sys.stdout if file is None else file
    rows = [chapter_summary(r, results_dir) for r in results]
    width = max([len(r["chapter"]) for r in rows] + [7])
    head = f"{'chapter':<{width}}  {'status':<7}  {'seconds':>7}  {'records':>7}  paper items by status"
    print(head, file=file)
    print("-" * len(head), file=file)
    for row in rows:
        print(f"{row['chapter']:<{width}}  {row['status']:<7}  {row['seconds']:>7.1f}  {row['records']:>7}  "
              f"{_items(row)}", file=file)
    failed = sum(r["status"] != "ok" for r in rows)
    total = sum(r["seconds"] for r in rows)
    print(f"{len(rows)} chapter(s) in {total:.0f} s, {failed or 'none'} failed; "
          f"{sum(r['records'] for r in rows)} records written to {results_dir}", file=file)
    for r in results:
        if not r.ok:
            print(f"{r.name}: {r.error.splitlines()[0] if r.error else 'failed'}\n  executed notebook: {r.output}",
                  file=file)
    return rows
