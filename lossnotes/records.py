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

import numpy as np
import pandas as pd

from . import paths

__all__ = [
    "Record", "RECORDS", "record", "Recorder", "describe_device", "load_records", "load_not_run",
    "scoreboard", "scoreboard_markdown", "write_scoreboard", "SCOREBOARD_COLUMNS",
    "item_status", "status_table", "status_markdown", "STATUSES", "RELATIVE_TOLERANCE",
    "CommittedResults", "format_record", "intervals_overlap", "LR_EDGE_NOTE", "CLAIM_METRIC",
]

MODES = ("quick", "full")
SCOREBOARD_COLUMNS = ["chapter", "table", "row", "metric", "paper", "ours", "ours_std", "ci95", "delta",
                      "selection", "lr", "degenerate", "setting", "mode", "device", "seeds", "group", "note",
                      "source"]
SELECTIONS = ("best-val", "last")
#: How a record's note says that its lr was chosen at an end of the grid (see Recorder.add_summary).
LR_EDGE_NOTE = "lr chosen at an end of the grid"


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
    ci95: float | None = None
    selection: str | None = None
    lr: float | None = None
    degenerate: bool = False
    group: str | None = None

    def __post_init__(self):
        for name in ("chapter", "table", "row", "metric", "setting", "device"):
            setattr(self, name, _text(name, getattr(self, name)))
        self.note = _text("note", self.note, optional=True)
        self.group = _text("group", self.group, optional=True)
        self.ours = _number("ours", self.ours)
        self.paper = _number("paper", self.paper, optional=True)
        for name in ("ours_std", "ci95"):
            value = _number(name, getattr(self, name), optional=True)
            if value is not None and value < 0:
                raise ValueError(f"{name} must be >= 0, got {value}")
            setattr(self, name, value)
        if self.selection is not None and self.selection not in SELECTIONS:
            raise ValueError(f"selection must be None or one of {SELECTIONS}, got {self.selection!r}")
        self.lr = _number("lr", self.lr, optional=True)
        if self.lr is not None and self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.selection is not None and self.lr is None:
            raise ValueError("a training record (selection set) must carry the lr it was trained with")
        if not isinstance(self.degenerate, (bool, np.bool_)):
            raise ValueError(f"degenerate must be a bool, got {self.degenerate!r}")
        self.degenerate = bool(self.degenerate)
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
           note=None, ci95=None, selection=None, lr=None, degenerate=False, group=None,
           into: list | None = None) -> Record:
    """Validate one number as a :class:`Record`, append it to ``into`` (default :data:`RECORDS`), return it."""
    rec = Record(chapter=chapter, table=table, row=row, metric=metric, paper=paper, ours=ours,
                 ours_std=ours_std, setting=setting, mode=mode, device=device, seeds=seeds, note=note,
                 ci95=ci95, selection=selection, lr=lr, degenerate=degenerate, group=group)
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
        self.not_run_items: list[dict] = []

    def add(self, *, table, row, metric, ours, paper=None, ours_std=None, setting, seeds, note=None, ci95=None,
            selection=None, lr=None, degenerate=False, group=None) -> Record:
        """Validate and keep one number (see :class:`Record`); returns the record."""
        return record(self.chapter, table, row, metric, ours=ours, paper=paper, ours_std=ours_std,
                      setting=setting, mode=self.mode, device=self.device, seeds=seeds, note=note, ci95=ci95,
                      selection=selection, lr=lr, degenerate=degenerate, group=group, into=self.records)

    def add_summary(self, summary_row, *, table, row, metric, key, paper=None, setting, note=None,
                    group=None) -> Record:
        """Record one row of :meth:`lossnotes.experiments.Comparison.summary` (its test metric ``key``): mean,
        std, ci95, selection, lr, seeds and the degenerate flag come from the protocol, not from the caller; an lr
        chosen at an end of its grid is said in the note (it starts with :data:`LR_EDGE_NOTE`)."""
        r = summary_row
        reasons = r.get("reasons") or ""
        n_bad = int(r.get("n_degenerate", 0))
        if n_bad:
            flag = f"{n_bad} of {len(r['seeds'])} seeds degenerate ({reasons}); the mean leaves them out"
            if n_bad == len(r["seeds"]):
                flag = f"all {n_bad} seeds degenerate ({reasons}); the mean is over them"
            note = flag if note is None else f"{note}; {flag}"
        side = r.get("lr_edge")
        if isinstance(side, str) and side:          # pandas fills a missing one with NaN, which is truthy
            edge = f"{LR_EDGE_NOTE} ({side}); the best lr may lie outside it"
            note = edge if note is None else f"{note}; {edge}"

        def spread(name):  # pandas turns a missing spread (one seed) into NaN next to numbers
            v = r.get(name)
            return None if v is None or (isinstance(v, numbers.Real) and math.isnan(v)) else v

        return self.add(table=table, row=row, metric=metric, ours=r[key], paper=paper, ours_std=spread(f"{key} std"),
                        ci95=spread(f"{key} ci95"), setting=setting, seeds=list(r["seeds"]), note=note,
                        selection=r["selection"], lr=float(r["lr"]), degenerate=bool(r["degenerate"]), group=group)

    def not_run(self, *, table, reason) -> None:
        """Declare a paper item this chapter does not run here (it shows as "not run here" in the status table)."""
        self.not_run_items.append({"table": _text("table", table), "reason": _text("reason", reason)})

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
            "not_run": list(self.not_run_items),
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


class CommittedResults:
    """A chapter's committed full-mode records (``results/<chapter>.json``), looked up the way a discussion
    cell reads them: by ``group`` (what :meth:`Recorder.add_summary` was given) and ``row`` (the arm).

    ``exists`` is False (and every look-up empty) when the chapter has no committed run yet.
    """

    def __init__(self, chapter: str, root=None):
        self.chapter = _text("chapter", chapter)
        self.path = Path(root if root is not None else paths.repo_root()) / "results" / f"{self.chapter}.json"
        self.exists = self.path.is_file()
        self.records: list[Record] = load_records(self.path) if self.exists else []

    @property
    def has_protocol(self) -> bool:
        """True when the records come from the experiment protocol (they carry a best-val selection)."""
        return any(r.selection == "best-val" for r in self.records)

    def where(self, **fields_) -> list[Record]:
        """Every record whose named fields equal the given values (``selection=None`` matches any)."""
        unknown = set(fields_) - {f.name for f in fields(Record)}
        if unknown:
            raise ValueError(f"unknown record fields {sorted(unknown)}")
        return [r for r in self.records if all(v is None or getattr(r, k) == v for k, v in fields_.items())]

    def get(self, group: str, row: str, *, selection: str | None = "best-val", table: str | None = None):
        """The first record of ``group`` for arm ``row`` (at ``selection``; any when None), or None."""
        found = self.where(group=group, row=row, selection=selection, table=table)
        return found[0] if found else None

    def rows(self, group: str, *, selection: str | None = "best-val") -> list[str]:
        """The arms recorded in ``group``, in recording order."""
        return list(dict.fromkeys(r.row for r in self.where(group=group, selection=selection)))


def format_record(rec: Record | None, digits: int = 1) -> str:
    """``"91.2 ± 0.4"`` for a record (``"-"`` for None), marked **(degenerate)** when the protocol flagged it."""
    from .experiments import format_interval

    if rec is None:
        return "-"
    return format_interval(rec.ours, rec.ci95, digits) + (" **(degenerate)**" if rec.degenerate else "")


def intervals_overlap(a: Record, b: Record) -> bool:
    """True when the two records' means are within the sum of their 95 % half-widths (a missing one counts 0)."""
    return abs(a.ours - b.ours) <= (a.ci95 or 0.0) + (b.ci95 or 0.0)


def load_not_run(path) -> list[dict]:
    """The items a ``results/<chapter>.json`` declares as not run here (``table``, ``reason``)."""
    return list(json.loads(Path(path).read_text()).get("not_run", []))


def _frame(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    for col in SCOREBOARD_COLUMNS:
        if col not in df:
            df[col] = None
    if len(df):
        df["paper"] = df["paper"].astype(float)
        df["ours_std"] = df["ours_std"].astype(float)
        df["ci95"] = df["ci95"].astype(float)
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


# ------------------------------------------------------------------------------------ reproduction status

STATUSES = ("reproduced", "partly", "contradicted", "not separated", "not run here", "ours only", "degenerate")
#: Records of a qualitative claim carry a metric starting with this and ours = 1 (holds), 0.5 (not separated from
#: the alternative by the seed intervals) or 0 (reversed), against paper = 1.
CLAIM_METRIC = "claim holds"
#: A row agrees with the paper when the paper's number is inside our 95 % interval, or within this share of it.
RELATIVE_TOLERANCE = 0.01


def _agrees(rec: Record) -> bool:
    gap = abs(rec.ours - rec.paper)
    return gap <= max(rec.ci95 or 0.0, RELATIVE_TOLERANCE * abs(rec.paper))


def _paper_ranks(recs: list[Record]) -> bool:
    """True when the paper's numbers single out one best row (a tie at the top, e.g. several claims recorded as
    1 = holds, orders nothing)."""
    lower = any(w in recs[0].metric.lower() for w in ("error", "loss", "fn/f", "mse"))
    best = (min if lower else max)(r.paper for r in recs)
    return sum(r.paper == best for r in recs) == 1


def _ordering_holds(recs: list[Record]) -> bool:
    """The row the paper ranks first is our first, or not separated from our first by the two rows' combined
    95 % interval (higher is better unless the metric says error/loss)."""
    lower = any(w in recs[0].metric.lower() for w in ("error", "loss", "fn/f", "mse"))
    pick = min if lower else max
    theirs, ours = pick(recs, key=lambda r: r.paper), pick(recs, key=lambda r: r.ours)
    return theirs.row == ours.row or abs(ours.ours - theirs.ours) <= math.hypot(ours.ci95 or 0.0, theirs.ci95 or 0.0)


def _claim_status(rows: list[Record]) -> tuple[str, str]:
    """Claims: all hold -> reproduced; any reversed -> contradicted; some hold -> partly; none separated -> not
    separated (the seed intervals cannot tell the alternatives apart: neither confirmed nor contradicted)."""
    held = sum(r.ours >= 1.0 for r in rows)
    reversed_ = sum(r.ours <= 0.0 for r in rows)
    text = f"{held} of {len(rows)} claim row(s) hold, {len(rows) - held - reversed_} not separated, {reversed_} reversed"
    if held == len(rows):
        return "reproduced", text
    if reversed_:
        return "contradicted", text
    return ("partly" if held else "not separated"), text


def item_status(records: list[Record]) -> tuple[str, str]:
    """``(status, paper vs ours)`` of one paper item (a table or figure) from its records, by a written rule.

    Rows considered: records with a paper number, selection ``None`` or ``"best-val"``, not degenerate.
    A row *agrees* when the paper's number lies inside our 95 % interval (``ci95``) or within
    :data:`RELATIVE_TOLERANCE` of it. Rows sharing a ``group`` (default: the whole item) are contenders, and
    *the paper's ordering holds* in a group when the paper's best row is our best row or is not separated from it
    (their difference within the combined 95 % interval; with one seed there is no interval, so it must be ours).
    A group whose paper numbers tie at the top has no paper's best row and is not counted as ordered.

    * reproduced: every row agrees;
    * partly: some rows agree, or the ordering holds in at least half of the groups with two or more rows;
    * contradicted: no row agrees and the paper's best row is clearly behind ours (or there is nothing to order);
    * degenerate: every row with a paper number is degenerate; ours only: no paper number at all.

    Claim records (metric starting with :data:`CLAIM_METRIC`) are read as verdicts instead: all hold ->
    reproduced, any reversed -> contradicted, some hold -> partly, none separated -> not separated.
    """
    with_paper = [r for r in records if r.paper is not None and r.selection in (None, "best-val")]
    if not with_paper:
        return "ours only", ""
    rows = [r for r in with_paper if not r.degenerate]
    if not rows:
        return "degenerate", f"{len(with_paper)} row(s), all degenerate"
    if all(r.metric.startswith(CLAIM_METRIC) for r in rows):
        return _claim_status(rows)
    agree = [_agrees(r) for r in rows]
    groups: dict[str, list[Record]] = {}
    for r in rows:
        groups.setdefault(r.group or "", []).append(r)
    ordered = [g for g in groups.values() if len(g) > 1 and _paper_ranks(g)]
    holds = sum(_ordering_holds(g) for g in ordered)
    if all(agree):
        status = "reproduced"
    elif any(agree) or (ordered and 2 * holds >= len(ordered)):
        status = "partly"
    else:
        status = "contradicted"
    parts = [f"{sum(agree)}/{len(rows)} rows agree"]
    if ordered:
        parts.append(f"paper's best row is ours or tied with it in {holds}/{len(ordered)} group(s)")
    gaps = [r.ours - r.paper for r in rows]
    parts.append(f"ours - paper from {min(gaps):+.3g} to {max(gaps):+.3g}")
    if len(rows) < len(with_paper):
        parts.append(f"{len(with_paper) - len(rows)} degenerate row(s) left out")
    return status, "; ".join(parts)


def status_table(chapter: str | None = None, root=None) -> pd.DataFrame:
    """The reproduction-status table: chapter | paper item | status | paper vs ours | setting that differs.

    Read from the committed full runs (``<repo>/results``) unless ``root`` is given; statuses come from
    :func:`item_status`, and items a chapter declared with :meth:`Recorder.not_run` are "not run here".
    """
    directory = _result_dirs(root)[0] if root is not None else paths.repo_root() / "results"
    rows = []
    files = sorted(directory.glob("*.json")) if directory.is_dir() else []
    for file in files:
        if chapter is not None and file.stem != chapter and not file.stem.startswith(f"{chapter}_"):
            continue
        recs = load_records(file)
        items: dict[str, list[Record]] = {}
        for r in recs:
            items.setdefault(r.table, []).append(r)
        for table, group in items.items():
            status, summary = item_status(group)
            settings = sorted({r.setting for r in group})
            rows.append({"chapter": file.stem, "paper item": table, "status": status, "paper vs ours": summary,
                         "setting that differs": settings[0] if len(settings) == 1 else " | ".join(settings[:2])
                         + (f" (+{len(settings) - 2} more)" if len(settings) > 2 else "")})
        for item in load_not_run(file):
            rows.append({"chapter": file.stem, "paper item": item["table"], "status": "not run here",
                         "paper vs ours": "", "setting that differs": item["reason"]})
    return pd.DataFrame(rows, columns=["chapter", "paper item", "status", "paper vs ours", "setting that differs"])


def status_markdown(chapter: str, root=None) -> str:
    """The chapter's reproduction-status table (committed full runs) as markdown, for the top of a notebook."""
    df = status_table(chapter, root)
    if not len(df):
        return f"*No committed full-mode records for {chapter} yet: run it with `lossnotes run {chapter.split('_', 1)[0]} --full`.*"
    return scoreboard_markdown(df.drop(columns="chapter"))
