"""Machine-readable records of every reproduced number, and the scoreboard that gathers them.

A notebook creates one :class:`Recorder`, calls :meth:`Recorder.add` for every number it reproduces and
:meth:`Recorder.save` at the end, which writes ``results/<chapter>.json`` under
:func:`lossnotes.paths.results_dir`. :func:`scoreboard` reads all such files back into one table.
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import numbers
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import pandas as pd

from . import paths

__all__ = [
    "Record", "RECORDS", "record", "Recorder", "describe_device", "load_records",
    "scoreboard", "scoreboard_markdown", "write_scoreboard", "SCOREBOARD_COLUMNS",
]

MODES = ("quick", "full")
SCOREBOARD_COLUMNS = ["chapter", "table", "row", "metric", "paper", "ours", "ours_std", "delta",
                      "setting", "mode", "device", "seeds", "note", "source"]


def _number(name: str, value, *, optional: bool = False) -> float | None:
    """``value`` as a finite float; accepts Python/NumPy reals and one-element tensors/arrays."""
    if value is None and optional:
        return None
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        n = value.numel() if callable(getattr(value, "numel", None)) else getattr(value, "size", 1)
        if n != 1:
            raise ValueError(f"{name} must be a single number, got an array of shape {tuple(value.shape)}")
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def _text(name: str, value, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    return value


@dataclass(kw_only=True)
class Record:
    """One reproduced number: where it is in the paper, the paper's value and ours, and how we got it."""

    chapter: str
    table: str
    row: str
    metric: str
    paper: float | None = None
    ours: float
    ours_std: float | None = None
    setting: str
    mode: str
    device: str
    seeds: list[int]
    note: str | None = None

    def __post_init__(self):
        for name in ("chapter", "table", "row", "metric", "setting", "device"):
            setattr(self, name, _text(name, getattr(self, name)))
        self.note = _text("note", self.note, optional=True)
        self.ours = _number("ours", self.ours)
        self.paper = _number("paper", self.paper, optional=True)
        self.ours_std = _number("ours_std", self.ours_std, optional=True)
        if self.ours_std is not None and self.ours_std < 0:
            raise ValueError(f"ours_std must be >= 0, got {self.ours_std}")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        seeds = [self.seeds] if isinstance(self.seeds, numbers.Integral) else list(self.seeds)
        if not seeds or any(isinstance(s, bool) or not isinstance(s, numbers.Integral) for s in seeds):
            raise ValueError(f"seeds must be a non-empty list of ints, got {self.seeds!r}")
        self.seeds = [int(s) for s in seeds]

    @property
    def delta(self) -> float | None:
        """``ours - paper`` when the paper's number is known."""
        return None if self.paper is None else self.ours - self.paper


#: Records made with :func:`record` (module-level; a :class:`Recorder` keeps its own list).
RECORDS: list[Record] = []


def record(chapter, table, row, metric, *, ours, paper=None, ours_std=None, setting, mode, device, seeds,
           note=None, into: list | None = None) -> Record:
    """Validate one number as a :class:`Record`, append it to ``into`` (default :data:`RECORDS`), return it."""
    rec = Record(chapter=chapter, table=table, row=row, metric=metric, paper=paper, ours=ours,
                 ours_std=ours_std, setting=setting, mode=mode, device=device, seeds=seeds, note=note)
    (RECORDS if into is None else into).append(rec)
    return rec


def describe_device(device="auto") -> str:
    """Human description: ``"cpu (N cores)"`` or the CUDA device's name; ``"auto"`` is resolved first."""
    import torch

    dev = str(device)
    if dev == "auto":
        dev = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(dev)
    if dev.type == "cpu":
        try:
            cores = len(os.sched_getaffinity(0))
        except AttributeError:  # not on Linux
            cores = os.cpu_count() or 1
        return f"cpu ({cores} core{'s' if cores != 1 else ''})"
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            return f"{dev} (unavailable)"
        return torch.cuda.get_device_name(dev)
    return str(dev)


class Recorder:
    """Collects a chapter's records; :meth:`save` writes them to ``results/<chapter>.json``."""

    def __init__(self, chapter: str, quick: bool, device="auto"):
        self.chapter = _text("chapter", chapter)
        if "/" in chapter or "\\" in chapter:
            raise ValueError(f"chapter must not contain path separators, got {chapter!r}")
        self.quick = bool(quick)
        self.mode = "quick" if self.quick else "full"
        self.device = describe_device(device)
        self.records: list[Record] = []

    def add(self, *, table, row, metric, ours, paper=None, ours_std=None, setting, seeds, note=None) -> Record:
        """Validate and keep one number (see :class:`Record`); returns the record."""
        return record(self.chapter, table, row, metric, ours=ours, paper=paper, ours_std=ours_std,
                      setting=setting, mode=self.mode, device=self.device, seeds=seeds, note=note,
                      into=self.records)

    def frame(self) -> pd.DataFrame:
        """The records so far as a table (for display in the notebook)."""
        return _frame([asdict(r) for r in self.records])

    @property
    def path(self) -> Path:
        return paths.results_dir(self.quick) / f"{self.chapter}.json"

    def save(self) -> Path:
        """Write all records (replacing an earlier file for this chapter and output root); return the path."""
        import torch

        doc = {
            "chapter": self.chapter,
            "mode": self.mode,
            "device": self.device,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "torch": torch.__version__,
            "records": [asdict(r) for r in self.records],
        }
        path = self.path
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(doc, indent=2, allow_nan=False) + "\n")
        tmp.replace(path)
        return path


def load_records(path) -> list[Record]:
    """Read a ``results/<chapter>.json`` file back into validated records."""
    doc = json.loads(Path(path).read_text())
    names = {f.name for f in fields(Record)}
    return [Record(**{k: v for k, v in r.items() if k in names}) for r in doc["records"]]


def _frame(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    for col in SCOREBOARD_COLUMNS:
        if col not in df:
            df[col] = None
    if len(df):
        df["paper"] = df["paper"].astype(float)
        df["ours_std"] = df["ours_std"].astype(float)
        df["delta"] = df["ours"] - df["paper"]
        df["seeds"] = df["seeds"].map(lambda s: ",".join(map(str, s)) if isinstance(s, list) else s)
    return df[[c for c in SCOREBOARD_COLUMNS if c in df]]


def _result_dirs(root) -> list[Path]:
    if root is not None:
        root = Path(root)
        return [root / "results" if (root / "results").is_dir() else root]
    dirs = [paths.repo_root() / "results", paths.build_dir() / "results"]
    env = os.environ.get("LOSSNOTES_OUTPUT")
    if env:
        dirs.append(Path(env) / "results")
    unique = []
    for d in dirs:
        if d.resolve() not in [u.resolve() for u in unique]:
            unique.append(d)
    return unique


def _source(directory: Path) -> str:
    try:
        return str(directory.resolve().relative_to(paths.repo_root().resolve()))
    except ValueError:
        return str(directory)


def scoreboard(root=None) -> pd.DataFrame:
    """All records in ``results/*.json`` as one table, with ``delta = ours - paper`` and a ``source`` column.

    ``root``: a directory holding ``results/`` (or the results directory itself). Default: the committed
    full runs in ``<repo>/results``, the quick runs in ``<repo>/build/results`` and, when set,
    ``$LOSSNOTES_OUTPUT/results``.
    """
    rows = []
    for directory in _result_dirs(root):
        for file in sorted(directory.glob("*.json")) if directory.is_dir() else []:
            for rec in load_records(file):
                rows.append({**asdict(rec), "source": _source(directory)})
    return _frame(rows)


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def scoreboard_markdown(df: pd.DataFrame) -> str:
    """The scoreboard as a GitHub-flavoured markdown table (numbers to 6 significant digits)."""
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def write_scoreboard(df: pd.DataFrame | None = None, *, csv_path=None, markdown_path=None) -> tuple[Path, Path]:
    """Write the scoreboard (default: :func:`scoreboard`) to ``build/scoreboard.csv`` and ``.md``."""
    df = scoreboard() if df is None else df
    csv_path = Path(csv_path) if csv_path else paths.build_dir() / "scoreboard.csv"
    markdown_path = Path(markdown_path) if markdown_path else paths.build_dir() / "scoreboard.md"
    for p in (csv_path, markdown_path):
        p.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(csv_path, index=False)
    markdown_path.write_text(scoreboard_markdown(df))
    return csv_path, markdown_path
