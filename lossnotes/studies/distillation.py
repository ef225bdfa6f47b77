"""Chapter 04d's distillation surrogate (ours, not in Shamir & Warmuth): a student learns a teacher's logits.

What the chapter needs beyond the protocol of :mod:`lossnotes.experiments`:

* :class:`ScoreData`: images, the teacher's scores as the training target ``y``, and the true ``labels``;
* the student losses as module-level functions (picklable, so joblib can ship them; their hyper-parameters go in
  through :func:`functools.partial` with plain floats, which also keeps the protocol's cache keys stable);
* :func:`fidelity_scores`, the evaluator: the student's agreement with the teacher (the selection metric),
  accuracy, top-k fidelity and centred score errors;
* :func:`run_study`: each loss's own hyper-parameter (CE's temperature, the selective losses' scale alpha) chosen on
  the validation split together with the learning rate, with the same grid size for every loss, then the seeds;
* :func:`paired_difference` and :func:`resolve`: verdicts computed from 95 % intervals of paired differences;
* :func:`record_study` and :func:`discussion_markdown`: records, and prose computed from the committed records.

The protocol has no hyper-parameter axis besides the learning rate, so :func:`run_study` runs it twice: first one
arm per (loss, hyper-parameter value) with the first seed only (the lr grid on validation), then the chosen value of
each loss at its chosen lr with every seed. The two calls share the validation split (it is drawn with the first
seed) and the cache, so the first seed's run is read back, not retrained (with ``cache=False`` it is retrained).
"""
from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .. import experiments as E
from .. import links
from .. import losses as L
from .. import metrics as M
from ..train import predict

__all__ = ["ScoreData", "score_data", "ce_temperature", "square", "centred_square", "exp_link_loss", "composite_exp",
           "composite_sigmoid", "composite_smelu", "Candidate", "student_candidates", "link_scale",
           "fidelity_scores", "METRICS", "HIGHER_IS_BETTER", "Study", "run_study", "paired_difference", "resolve",
           "thesis_verdict", "accuracy_verdict", "overall_verdict", "record_study", "discussion_markdown"]


# ----------------------------------------------------------------------------------------- data

@dataclass
class ScoreData:
    """Inputs ``x``, score targets ``y`` (the teacher's logits, ``(N, K)``) and class ``labels`` ``(N,)``.

    The trainer reads ``x`` and ``y``; :func:`lossnotes.experiments.take` subsets every tensor field, so the labels
    follow the rows. (The protocol stratifies its validation split by ``y``; for 2-D targets that is the number of
    positive scores per row, not the class: at thousands of validation rows the class shares stay close anyway.)
    """

    x: torch.Tensor
    y: torch.Tensor
    labels: torch.Tensor

    def __post_init__(self):
        if not (len(self.x) == len(self.y) == len(self.labels)):
            raise ValueError(f"x, y and labels must have the same length, got {len(self.x)}, {len(self.y)}, "
                             f"{len(self.labels)}")
        if self.y.ndim != 2 or self.labels.ndim != 1:
            raise ValueError(f"y must be (N, K) scores and labels (N,) classes, got {tuple(self.y.shape)} and "
                             f"{tuple(self.labels.shape)}")

    def __len__(self) -> int:
        return len(self.y)


def score_data(dataset, teacher_scores) -> ScoreData:
    """:class:`ScoreData` from a labelled ``dataset`` (``.x``, ``.y`` class indices) and the teacher's scores on it."""
    return ScoreData(torch.as_tensor(dataset.x), torch.as_tensor(teacher_scores, dtype=torch.float32),
                     torch.as_tensor(dataset.y))


# ----------------------------------------------------------------------------------------- losses

def ce_temperature(pred, target, *, T=1.0):
    r"""Distillation CE at temperature ``T``: :func:`lossnotes.losses.softmax_score_ce` with :math:`\gamma = T`,
    i.e. :math:`T\,\mathrm{CE}(\mathrm{softmax}(\mathbf s/T), \mathrm{softmax}(\hat{\mathbf s}/T))`; gradient
    :math:`\mathrm{softmax}(\hat{\mathbf s}/T) - \mathrm{softmax}(\mathbf s/T)`."""
    return L.softmax_score_ce(pred, target, gamma=T)


def square(pred, target):
    r"""Square loss on the logits, the identity-link matching loss (6): :math:`\tfrac12\sum_k(\hat s_k - s_k)^2`."""
    return L.matching_loss(pred, target, links.identity_link())


def centred_square(pred, target, reduction="mean"):
    r"""Square loss on row-centred logits: :math:`\tfrac12\sum_k\bigl[(\hat s_k - \bar{\hat s}) - (s_k - \bar s)\bigr]^2`.

    Softmax is shift invariant, so the teacher's logits are only defined up to a per-row constant; this loss ignores
    that constant (it is the square loss of (6) restricted to the zero-sum subspace)."""
    s_hat, s = torch.as_tensor(pred), torch.as_tensor(target).to(pred)
    if s_hat.ndim != 2 or s_hat.shape != s.shape:
        raise ValueError(f"pred and target must be (N, K) of the same shape, got {tuple(s_hat.shape)} and "
                         f"{tuple(s.shape)}")
    diff = (s_hat - s_hat.mean(1, keepdim=True)) - (s - s.mean(1, keepdim=True))
    per_sample = 0.5 * (diff ** 2).sum(1)
    if reduction == "none":
        return per_sample
    if reduction == "sum":
        return per_sample.sum()
    if reduction != "mean":
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    return per_sample.mean()


def exp_link_loss(pred, target, *, alpha, beta):
    """Decomposed exp-link matching loss (28): ``matching_loss`` with ``links.exp_link(alpha, beta)``."""
    return L.matching_loss(pred, target, links.exp_link(alpha, beta))


def composite_exp(pred, target, *, alpha, beta):
    """Composite Softmax (29) with ``q = links.exp_link(alpha, beta)`` (high-score selective)."""
    return L.composite_softmax(pred, target, q=links.exp_link(alpha, beta))


def composite_sigmoid(pred, target, *, alpha, beta):
    """Composite Softmax with ``q = links.sigmoid_link(alpha, beta)``: :math:`Q = \\mathrm{softplus}(x)`."""
    return L.composite_softmax(pred, target, q=links.sigmoid_link(alpha, beta))


def composite_smelu(pred, target, *, alpha, beta, c=1.0):
    """Composite Softmax with ``Q = SmeLU`` (``links.smelu_link(c, alpha, beta)``): low scores clipped."""
    return L.composite_softmax(pred, target, q=links.smelu_link(c, alpha, beta))


@dataclass(frozen=True)
class Candidate:
    """One value of one loss's hyper-parameter: ``loss`` (the row name), ``label`` (e.g. ``"T=2"``), the loss
    callable, the family (``"baseline"``, ``"decomposed"`` or ``"composite"``) and the value itself."""

    loss: str
    label: str
    fn: Callable
    family: str
    value: float | None = None

    @property
    def arm_name(self) -> str:
        return f"{self.loss} [{self.label}]"


LOSS_NAMES = {
    "ce": "(a) CE, temperature T",
    "square": "(b) square on logits",
    "centred": "(b') centred square",
    "exp": "(c) decomposed exp link",
    "cexp": "(d) composite, q = exp",
    "csig": "(e) composite, q = sigmoid",
    "csmelu": "(f) composite, Q = SmeLU",
}


def link_scale(teacher_train_scores) -> tuple[float, float, float]:
    """``(sigma_T, alpha_unit, beta)``: the teacher's logit std, ``1/sigma_T`` (one unit of x per std) and the median
    third-largest logit (the lower edge of the top-3 region), from the teacher's **training** scores."""
    t = torch.as_tensor(teacher_train_scores, dtype=torch.float64)
    sigma = float(t.std())
    beta = float(t.sort(dim=1, descending=True).values[:, 2].median())
    return sigma, 1.0 / sigma, beta


def student_candidates(*, alpha_unit: float, beta: float, c: float = 1.0, temperatures: Sequence[float] = (1, 2, 4),
                       alpha_multipliers: Sequence[float] = (0.5, 1, 2)) -> list[Candidate]:
    """Every (loss, hyper-parameter) pair of the study: CE over ``temperatures``, (c)-(f) over
    ``alpha = m * alpha_unit`` for ``m`` in ``alpha_multipliers`` (beta and c fixed by the rule), and the square
    losses, which have no hyper-parameter. CE and each selective loss get grids of the same size when
    ``len(temperatures) == len(alpha_multipliers)``."""
    if len(temperatures) != len(alpha_multipliers):
        raise ValueError("temperatures and alpha_multipliers must have the same length (the same budget per loss), "
                         f"got {len(temperatures)} and {len(alpha_multipliers)}")
    out = [Candidate(LOSS_NAMES["ce"], f"T={T:g}", functools.partial(ce_temperature, T=float(T)), "baseline", float(T))
           for T in temperatures]
    out.append(Candidate(LOSS_NAMES["square"], "-", square, "baseline"))
    out.append(Candidate(LOSS_NAMES["centred"], "-", centred_square, "baseline"))
    for key, fn, family in (("exp", exp_link_loss, "decomposed"), ("cexp", composite_exp, "composite"),
                            ("csig", composite_sigmoid, "composite"), ("csmelu", composite_smelu, "composite")):
        for m in alpha_multipliers:
            kw = {"alpha": float(m * alpha_unit), "beta": float(beta)}
            if key == "csmelu":
                kw["c"] = float(c)
            out.append(Candidate(LOSS_NAMES[key], f"alpha={m:g}/sigma_T", functools.partial(fn, **kw), family,
                                 float(m)))
    return out


# ----------------------------------------------------------------------------------------- evaluator

#: Metric key -> label, in the order the chapter shows them.
METRICS = {
    "acc": "test accuracy",
    "agree1": "top-1 agreement",
    "overlap3": "top-3 overlap",
    "agree3": "top-3 set agreement",
    "ndcg3": "NDCG@3",
    "cmse_top3": "centred MSE, teacher's top 3",
    "cmse_rest": "centred MSE, other 7",
}
HIGHER_IS_BETTER = {k: not k.startswith("cmse") for k in METRICS}
#: Bumped whenever :func:`fidelity_scores` changes what it computes (the protocol's cache keys on its name only).
FIDELITY_VERSION = 2


def fidelity_scores(model, data, device="cpu") -> dict[str, float]:
    """The evaluator of the distillation study: ``evaluator(model, data, device) -> dict``.

    ``data.y`` holds the teacher's scores of ``data.x``, ``data.labels`` the true classes. Keys: ``agree1`` (top-1
    agreement with the teacher: the selection metric), ``acc`` (against the labels), ``overlap3``, ``agree3``,
    ``ndcg3`` (rank grades from the teacher), ``cmse_top3``/``cmse_rest`` (score error on the teacher's top 3 and on
    the rest, each part centred on its own mean: :func:`lossnotes.metrics.centred_mse`), and for the protocol's degeneracy checks ``top_share`` (the largest share of one predicted
    class) and ``finite``.
    """
    S = predict(model, data.x, device=device).double()
    T = torch.as_tensor(data.y).double().cpu()
    if not torch.isfinite(S).all():
        return {**{k: float("nan") for k in METRICS}, "top_share": 1.0, "finite": 0.0}
    pred = S.argmax(1)
    top, rest = M.centred_mse(S, T, 3)
    return {"agree1": M.top_k_agreement(S, T, 1),
            "acc": float((pred == torch.as_tensor(data.labels).cpu()).double().mean()),
            "overlap3": M.top_k_overlap(S, T, 3),
            "agree3": M.top_k_agreement(S, T, 3),
            "ndcg3": M.ndcg_at_k(S, M.rank_relevance(T, 3), 3),
            "cmse_top3": top, "cmse_rest": rest,
            "top_share": float(torch.bincount(pred, minlength=S.shape[1]).max()) / len(pred),
            "finite": 1.0}


# ----------------------------------------------------------------------------------------- the study

@dataclass
class Study:
    """What :func:`run_study` returns.

    Attributes:
        comparison: a :class:`lossnotes.experiments.Comparison` with one arm per loss (its chosen hyper-parameter
            value), every seed; its ``summary``/``runs``/``curves``/``lr_table`` work as usual.
        grid: one row per (loss, value, lr) of the first stage: the validation score that chose both.
        chosen: loss -> the chosen :class:`Candidate`.
        families: loss -> family.
        stage1: the first stage's comparison (one arm per candidate, first seed).
    """

    comparison: E.Comparison
    grid: object
    chosen: dict
    families: dict
    stage1: E.Comparison

    def seconds(self) -> float:
        return self.stage1.seconds() + self.comparison.seconds()


def run_study(candidates: Sequence[Candidate], train_data, test_data, *, make_model: Callable, epochs: int,
              protocol: E.Protocol, train_kwargs: Mapping | None = None, device="auto", tag: str = "",
              progress: bool = True) -> Study:
    """Choose each loss's hyper-parameter value and lr on validation, then train every seed (see the module doc).

    The value of a loss is the one whose run at its chosen lr has the best validation ``protocol.metric`` (first
    seed, epoch by ``protocol.selection``); degenerate runs rank last, ties go to the earlier value of the grid.
    """
    import pandas as pd

    tag = f"{tag}/fidelity-v{FIDELITY_VERSION}"   # a new evaluator version must not read old runs' scores back
    names = [c.arm_name for c in candidates]
    if len(set(names)) != len(names):
        raise ValueError("candidates must have distinct (loss, label) pairs")
    arms = {c.arm_name: E.Arm(make_model, c.fn, key=[c.loss, c.label]) for c in candidates}
    first = dataclasses.replace(protocol, seeds=protocol.seeds[:1], tune_seeds=1)
    stage1 = E.run_comparison(arms, train_data, test_data, epochs=epochs, protocol=first, train_kwargs=train_kwargs,
                              evaluator=fidelity_scores, device=device, tag=tag, progress=progress)
    grid_rows, chosen = [], {}
    metric, higher = protocol.metric, protocol.higher_is_better
    table = stage1.lr_table()
    for c in candidates:
        part = table[table.arm == c.arm_name]
        for r in part.to_dict("records"):
            grid_rows.append({"loss": c.loss, "value": c.label, "lr": r["lr"], f"val {metric}": r[f"val {metric}"],
                              "degenerate": bool(r["degenerate"]), "lr chosen": bool(r["chosen"])})
        run = next(x for x in stage1.final if x.arm == c.arm_name)
        score = run.val[stage1._epoch(run, protocol.selection)].get(metric, float("nan"))
        bad = bool(stage1.reasons(run, protocol.selection))
        key = (bad, -score if higher else score) if math.isfinite(score) else (True, math.inf)
        if c.loss not in chosen or key < chosen[c.loss][0]:
            chosen[c.loss] = (key, c)
    chosen = {loss: c for loss, (_, c) in chosen.items()}
    grid = pd.DataFrame(grid_rows)
    grid["value chosen"] = [chosen[r.loss].label == r.value for r in grid.itertuples(index=False)]
    arms2 = {c.arm_name: dataclasses.replace(arms[c.arm_name], lr_grid=(stage1.chosen_lr[c.arm_name],))
             for c in chosen.values()}
    stage2 = E.run_comparison(arms2, train_data, test_data, epochs=epochs, protocol=protocol, train_kwargs=train_kwargs,
                              evaluator=fidelity_scores, device=device, tag=tag, progress=progress)
    # one arm per loss, named by the loss (its chosen value is in `chosen`)
    by_arm = {c.arm_name: loss for loss, c in chosen.items()}
    rename = lambda runs: [dataclasses.replace(r, arm=by_arm[r.arm]) for r in runs if r.arm in by_arm]  # noqa: E731
    comparison = E.Comparison({by_arm[n]: a for n, a in arms2.items()},
                              rename([r for r in stage1.tuning if r.arm in by_arm]), rename(stage2.final),
                              {by_arm[n]: lr for n, lr in stage2.chosen_lr.items()}, protocol, epochs)
    families = {c.loss: c.family for c in candidates}
    return Study(comparison, grid, chosen, families, stage1)


# ----------------------------------------------------------------------------------------- verdicts

def paired_difference(comparison: E.Comparison, a: str, b: str, metric: str, selection: str = "best-val") -> dict:
    """:meth:`lossnotes.experiments.Comparison.paired_difference` (seed-paired, degenerate seeds left out), with
    the arms, metric and selection it was asked for."""
    return {"a": a, "b": b, "metric": metric, "selection": selection,
            **comparison.paired_difference(a, b, metric, selection=selection)}


def resolve(mean: float, ci95: float | None, *, higher_is_better: bool = True, margin: float = 0.0) -> str:
    """Verdict on a difference ``a - b`` from its 95 % interval: ``"a better"`` when the whole interval lies on a's
    side of ``margin`` (``+margin`` for higher-is-better, ``-margin`` otherwise), ``"b better"`` when it lies wholly on
    the other side of ``-margin`` (resp. ``+margin``), else ``"unresolved"`` (the interval reaches across; one seed,
    no interval, is always unresolved)."""
    if ci95 is None or not math.isfinite(mean) or not math.isfinite(ci95):
        return "unresolved"
    lo, hi = mean - ci95, mean + ci95
    if not higher_is_better:
        lo, hi = -hi, -lo
    if lo > margin:
        return "a better"
    if hi < -margin:
        return "b better"
    return "unresolved"


def _val_score(comparison: E.Comparison, arm: str) -> float:
    runs = comparison.runs([comparison.protocol.metric])
    part = runs[(runs.arm == arm) & (runs.selection == "best-val") & (~runs.degenerate)]
    return float(part[f"val {comparison.protocol.metric}"].mean()) if len(part) else -math.inf


def thesis_verdict(study: Study, *, fidelity: Sequence[str] = ("agree1", "overlap3", "agree3", "ndcg3", "cmse_top3"),
                   acc_margin: float = 0.01) -> dict:
    """The thesis (composite selective losses beat the others on top-k fidelity at equal accuracy), decided by paired
    95 % intervals between two representatives chosen **on validation** (the composite loss and the other loss with
    the best mean validation selection metric), at the best-validation epoch.

    Returns ``{"selective", "reference", "rows", "overall"}``; each row has the paired difference and ``verdict``.
    Accuracy counts as matched unless the interval says the composite is worse by more than ``acc_margin``.
    """
    comp = study.comparison
    sel = [n for n in comp.arms if study.families[n] == "composite"]
    ref = [n for n in comp.arms if study.families[n] != "composite"]
    best_sel = max(sel, key=lambda n: _val_score(comp, n))
    best_ref = max(ref, key=lambda n: _val_score(comp, n))
    rows = []
    for m in (*fidelity, "acc"):
        d = paired_difference(comp, best_sel, best_ref, m)
        if m == "acc":
            d["verdict"] = accuracy_verdict(d["mean"], d["ci95"], acc_margin)
        else:
            d["verdict"] = resolve(d["mean"], d["ci95"], higher_is_better=HIGHER_IS_BETTER[m])
        rows.append(d)
    return {"selective": best_sel, "reference": best_ref, "rows": rows,
            "overall": overall_verdict([r["verdict"] for r in rows[:-1]], rows[-1]["verdict"])}


def accuracy_verdict(mean: float, ci95: float | None, margin: float = 0.01) -> str:
    """Accuracy difference ``a - b``: ``"matched"`` when the whole 95 % interval lies above ``-margin`` (a is not worse
    by more than the margin), ``"worse"`` when it lies wholly below ``-margin``, else ``"undecided"``."""
    if ci95 is None or not math.isfinite(mean) or not math.isfinite(ci95):
        return "undecided"
    if mean - ci95 > -margin:
        return "matched"
    if mean + ci95 < -margin:
        return "worse"
    return "undecided"


def overall_verdict(fidelity_verdicts: Sequence[str], accuracy: str) -> str:
    """One sentence from the per-metric verdicts ("a better" = the selective representative wins) and the accuracy
    verdict of :func:`accuracy_verdict`."""
    wins = sum(v == "a better" for v in fidelity_verdicts)
    losses = sum(v == "b better" for v in fidelity_verdicts)
    n = len(fidelity_verdicts)
    acc = {"matched": "accuracy matched", "worse": "accuracy worse beyond the margin",
           "undecided": "accuracy undecided (the interval reaches past the margin)"}[accuracy]
    if wins == n and accuracy == "matched":
        return f"held: the composite loss wins all {n} top-k fidelity metrics by more than its interval, {acc}"
    if wins and not losses:
        return f"held in part: the composite loss wins {wins} of {n} fidelity metrics, the rest unresolved; {acc}"
    if losses and not wins:
        return (f"contradicted: the reference wins {losses} of {n} fidelity metrics, the composite loss none"
                f"{'' if losses == n else ' (the rest unresolved)'}; {acc}")
    if wins and losses:
        return f"mixed: the composite loss wins {wins}, the reference {losses} of {n} fidelity metrics; {acc}"
    return f"unresolved: every difference lies inside its 95 % interval; {acc}"


# ----------------------------------------------------------------------------------------- records and prose

def _clean(v):
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else v


def record_study(rec, study: Study, *, table: str, diff_table: str, setting: str, reference: str,
                 metrics: Sequence[str] = tuple(METRICS)) -> None:
    """Records: every loss x metric x selection (``table``), and the paired differences of every other loss against
    ``reference`` at the best-validation epoch (``diff_table``; the verdict is in the note)."""
    comp = study.comparison
    summ = comp.summary(list(metrics))
    for row in summ.to_dict("records"):
        c = study.chosen[row["arm"]]
        note = (f"{c.label} and lr chosen on validation (top-1 agreement)" if c.label != "-" else
                "lr chosen on validation (top-1 agreement)")
        for m in metrics:
            clean = {**row, f"{m} std": _clean(row[f"{m} std"]), f"{m} ci95": _clean(row[f"{m} ci95"])}
            rec.add_summary(clean, table=table, row=row["arm"], metric=METRICS[m], key=m, setting=setting,
                            note=note, group=f"{METRICS[m]}, {row['selection']}")
    for name in comp.arms:
        if name == reference:
            continue
        for m in metrics:
            d = paired_difference(comp, name, reference, m)
            if not d["seeds"] or not math.isfinite(d["mean"]):
                continue
            verdict = resolve(d["mean"], d["ci95"], higher_is_better=HIGHER_IS_BETTER[m])
            rec.add(table=diff_table, row=f"{name} minus {reference}", metric=METRICS[m], ours=d["mean"],
                    ours_std=d["std"], ci95=d["ci95"], seeds=d["seeds"], selection="best-val", lr=comp.chosen_lr[name],
                    setting=setting, group=METRICS[m],
                    note=(f"paired over seeds (same initial weights and batches); verdict: "
                          f"{verdict.replace('a better', 'first better').replace('b better', 'reference better')}"
                          + (f"; {d['left_out']} degenerate seed(s) left out" if d["left_out"] else "")))


def _fmt(v, ci, digits=3):
    return E.format_interval(v, ci, digits)


def discussion_markdown(records, *, table: str, diff_table: str, teacher_table: str) -> str:
    """The discussion of a run's distillation results, computed from its records (``lossnotes.records.Record``)."""
    recs = [r for r in records if r.table in (table, diff_table, teacher_table)]
    if not recs:
        return "*No distillation records in this file.*"
    main = [r for r in recs if r.table == table and r.selection is not None]
    get = {(r.row, r.metric, r.selection): r for r in main}
    needed = [(METRICS[m], sel) for m in ("agree1", "acc", "ndcg3") for sel in ("best-val", "last")]
    losses = [n for n in dict.fromkeys(r.row for r in main) if all((n, *k) in get for k in needed)]
    if not losses:
        return ("*The records in this file predate the experiment protocol (no best-validation and last-epoch "
                "numbers per loss): run the chapter in full mode to regenerate them.*")
    main = [r for r in main if r.row in losses]
    lab = METRICS
    teacher = next((r for r in recs if r.table == teacher_table), None)
    setting = main[0].setting
    seeds = main[0].seeds
    out = [f"**Setting of these records** ({main[0].mode} mode, {main[0].device}): {setting}.",
           ""]
    if teacher is not None:
        out.append(f"The teacher reaches a test accuracy of {teacher.ours:.3f}; every student below is measured "
                   f"against its scores. Intervals are 95 % Student-t half-widths over {len(seeds)} seed(s).")
        out.append("")
    # 1. ranking by the selection metric, with intervals
    a1 = sorted(losses, key=lambda n: -get[(n, lab["agree1"], "best-val")].ours)
    lines = []
    for n in a1:
        r = get[(n, lab["agree1"], "best-val")]
        acc = get[(n, lab["acc"], "best-val")]
        nd = get[(n, lab["ndcg3"], "best-val")]
        last = get.get((n, lab["agree1"], "last"))
        flag = " **(degenerate runs: see the note)**" if r.degenerate else ""
        lines.append(f"| {n} | {r.note.split(' and lr')[0] if r.note and ' and lr' in r.note else '-'} | {r.lr:g} | {_fmt(r.ours, r.ci95)} | "
                     f"{_fmt(last.ours, last.ci95) if last else '-'} | {_fmt(nd.ours, nd.ci95)} | "
                     f"{_fmt(acc.ours, acc.ci95)} |{flag}")
    out += ["| student loss | chosen | lr | top-1 agreement (best-val epoch) | same, last epoch | NDCG@3 | "
            "test accuracy |", "|---|---|---|---|---|---|---|", *lines, ""]
    # 2. verdicts against the reference, from the paired intervals
    diffs = [r for r in recs if r.table == diff_table]
    if diffs:
        ref = diffs[0].row.split(" minus ")[1]
        by_loss: dict[str, dict[str, str]] = {}
        for r in diffs:
            name = r.row.split(" minus ")[0]
            key = next(k for k, v in METRICS.items() if v == r.metric)
            v = resolve(r.ours, r.ci95, higher_is_better=HIGHER_IS_BETTER[key])
            by_loss.setdefault(name, {})[r.metric] = {"a better": "better", "b better": "worse"}.get(v, "unresolved")
        out.append(f"**Against {ref}** (paired differences at the best-validation epoch; a verdict needs the whole "
                   f"95 % interval on one side of zero):")
        out.append("")
        for name, v in by_loss.items():
            better = [m for m, x in v.items() if x == "better"]
            worse = [m for m, x in v.items() if x == "worse"]
            unres = [m for m, x in v.items() if x == "unresolved"]
            parts = []
            if better:
                parts.append("better on " + ", ".join(better))
            if worse:
                parts.append("worse on " + ", ".join(worse))
            if unres:
                parts.append(f"unresolved on {len(unres)} of {len(v)} metrics")
            out.append(f"- {name}: " + "; ".join(parts) + ".")
        out.append("")
        widest = max(diffs, key=lambda r: (r.ci95 or 0.0) if r.metric == lab["agree1"] else -1)
        if widest.ci95 is not None:
            out.append(f"The widest interval on top-1 agreement is ±{widest.ci95:.3f} ({widest.row}): a difference "
                       f"smaller than that is not evidence either way here.")
            out.append("")
    # 3. best vs last epoch, degenerate runs
    gaps = [(n, get[(n, lab["agree1"], "best-val")].ours - get[(n, lab["agree1"], "last")].ours)
            for n in losses if (n, lab["agree1"], "last") in get]
    if gaps:
        n, g = max(gaps, key=lambda x: abs(x[1]))
        out.append(f"Best-validation versus last epoch: the largest gap in top-1 agreement is {g:+.3f} ({n}); "
                   + ("no student collapses late." if abs(g) < 0.02 else "that student degrades late in training."))
    bad = sorted({r.row for r in main if r.degenerate})
    out.append("Degenerate runs (flagged by the protocol): " + (", ".join(bad) if bad else "none") + ".")
    return "\n".join(out)
