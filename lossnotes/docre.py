r"""Document-level relation extraction (DocRE) for the HingeABL chapter: data, a model, metrics.

Data (all multi-hot targets follow the ATLOP convention: column 0 = TH, set exactly for "no relation"):

* :func:`load_docred`: the DocRED / Re-DocRED JSON format (``title``, ``vertexSet``, ``labels`` with
  ``h``/``t``/``r``), read from local files, giving every ordered entity pair of every document, its
  multi-hot target and the "Ign" mask (gold facts also present in the training set, compared by entity
  mention names as the official evaluation does). Re-DocRED is not shipped and cannot be downloaded here;
  the error says where to put it.
* :func:`make_docre_surrogate`: a synthetic stand-in with Re-DocRED's statistics (Wang et al. 2023,
  Tables 5-6: 96 relations, ~19.4 entities and ~391 pairs a document, ~94% NA pairs, ~28 triples a
  document, multi-label pairs) whose relations follow a hidden bilinear teacher on entity latents
  (learnable but noisy), entities drawn from a shared pool so that facts recur across splits (Ign).
* :func:`make_fashion_tiles`: a real-pixel multi-label task with the same kind of imbalance: tiles of
  2x2 Fashion-MNIST cells, most tiles empty ("NA"), long-tailed item classes, some tiles with 2-3 items.

Model: :class:`PairBilinear`, a small shared encoder and the bilinear classifier of Eq. (2),
:math:`s_r = z_s^\top W_r z_o + b_r`.

Metrics (pair-level multi-hot predictions, e.g. from :func:`lossnotes.losses.threshold_predict`):
:func:`docre_scores` (micro F1, Ign F1 as in the official DocRED evaluation, macro F1, macro Ign F1) and
:func:`error_patterns` (TP, TN, FP, FN_CRK, FN_IRK of Wang et al. 2023, Figure 2 / Table 1 / Table 4).
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .data import DataNotFoundError, _candidates, _env_dir, _not_found, load_fashion_mnist
from .paths import repo_root

__all__ = ["PairData", "load_docred", "read_rel2id", "train_facts", "make_docre_surrogate",
           "make_fashion_tiles", "PairBilinear", "docre_scores", "error_patterns", "pattern_statistics", "run_loss",
           "REDOCRED_STATS", "DataNotFoundError"]

#: Re-DocRED statistics quoted by Wang et al. 2023 (Tables 5 and 6).
REDOCRED_STATS = {"relations": 96, "entities_per_doc": 19.4, "pairs_per_doc": 391.0, "na_fraction": 0.94,
                  "triples_per_doc_train": 28.1, "triples_per_doc_dev": 34.6, "docs_train": 3053,
                  "docs_dev": 500, "docs_test": 500}


@dataclass
class PairData:
    """Entity pairs as samples: ``x`` pair inputs (model-specific; None for JSON data without features),
    ``y`` float32 multi-hot ``(N, C)`` (column 0 = TH), ``doc`` and ``head``/``tail`` indices, ``in_train``
    bool ``(N, C)`` marking gold facts also in the training set (the "Ign" set; all False for train);
    ``teacher``: float32 ``(N, C)`` logits of the generator itself where there is one (the surrogate: its
    noise-free teacher score minus the relation's threshold, TH column 0), else None (see :func:`oracle_scores`)."""

    x: torch.Tensor | None
    y: torch.Tensor
    doc: torch.Tensor
    head: torch.Tensor
    tail: torch.Tensor
    in_train: torch.Tensor
    relations: list = field(default_factory=list)
    name: str = ""
    teacher: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.y)

    @property
    def num_classes(self) -> int:
        return self.y.shape[1]

    def summary(self) -> dict:
        """Pairs, documents, NA fraction, triples, multi-label pairs: the quantities of Tables 5-6."""
        pos = self.y[:, 1:] > 0
        docs = int(self.doc.max()) + 1 if len(self.doc) else 0
        n_rel = pos.sum(1)
        return {"documents": docs, "pairs": len(self), "pairs_per_doc": len(self) / max(docs, 1),
                "na_fraction": float((n_rel == 0).float().mean()),
                "triples_per_doc": float(pos.sum()) / max(docs, 1),
                "multi_label_pairs": int((n_rel > 1).sum()),
                "ign_fraction_of_facts": float(self.in_train[:, 1:][pos].float().mean()) if pos.any() else 0.0}


# ---------------------------------------------------------------------------------- DocRED JSON

_DOCRED_FILES = {"train": ["train_revised.json", "train_annotated.json"],
                 "dev": ["dev_revised.json", "dev.json"],
                 "test": ["test_revised.json", "test.json"]}


def _docred_dirs(root):
    repo = repo_root()
    return _candidates(root, ["re-docred", "docred"], [
        _env_dir("re-docred"), _env_dir("docred"), repo / "data" / "re-docred", repo / "data" / "docred"])


def _find_file(dirs, names):
    for d in dirs:
        for n in names:
            if (d / n).is_file():
                return d / n
    return None


def _missing(what, names, dirs, root):
    howto = ("Re-DocRED (Tan et al. 2022, github.com/tonytan48/Re-DocRED) ships train_revised.json, "
             "dev_revised.json and test_revised.json; DocRED ships train_annotated.json and dev.json. Put them, "
             f"with rel2id.json (relation id -> column, e.g. HingeABL's meta/rel2id.json: "
             f"{{\"Na\": 0, \"P17\": 1, ...}}), in {repo_root() / 'data' / 're-docred'}/ or "
             "$LOSSNOTES_DATA/re-docred/" + (f", or in {root}/" if root is not None else "") + ".")
    return _not_found(what, " or ".join(names), dirs, [], howto, root is not None)


def read_rel2id(root=None) -> dict:
    """The relation -> column map (``rel2id.json``; column 0 must be ``"Na"``, the TH column)."""
    dirs = _docred_dirs(root)
    path = _find_file(dirs, ["rel2id.json"])
    if path is None:
        raise _missing("DocRED relation map", ["rel2id.json"], dirs, root)
    rel2id = json.loads(path.read_text())
    if sorted(rel2id.values()) != list(range(len(rel2id))) or rel2id.get("Na", 0) != 0:
        raise ValueError(f"{path}: rel2id must map relations to 0..{len(rel2id) - 1} with 'Na' -> 0")
    return rel2id


def _read_docs(path: Path) -> list:
    try:
        docs = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(docs, list) or not all(isinstance(d, dict) and "vertexSet" in d for d in docs):
        raise ValueError(f"{path} is not in the DocRED format (a list of documents with 'vertexSet')")
    return docs


def train_facts(docs, rel2id=None) -> set:
    """The official "facts in train": ``(mention name of h, mention name of t, relation)`` for every
    mention pair of every labelled triple (relation as its id string, e.g. ``"P17"``)."""
    facts = set()
    for doc in docs:
        vs = doc["vertexSet"]
        for lab in doc.get("labels", []):
            for n1 in vs[lab["h"]]:
                for n2 in vs[lab["t"]]:
                    facts.add((n1["name"], n2["name"], lab["r"]))
    return facts


def load_docred(split: str = "dev", *, root=None, rel2id: dict | None = None, facts: set | None = None) -> PairData:
    """Every ordered entity pair (h != t) of every document of ``split`` ("train", "dev", "test") as a
    :class:`PairData` with ``x=None`` (text features need a text encoder, which lossnotes does not ship).

    ``in_train[i, r]`` is True when pair i's gold relation r is a training fact (see :func:`train_facts`,
    read from the train file unless ``facts`` is given; all False for ``split="train"``).
    """
    if split not in _DOCRED_FILES:
        raise ValueError(f"split must be one of {tuple(_DOCRED_FILES)}, got {split!r}")
    dirs = _docred_dirs(root)
    path = _find_file(dirs, _DOCRED_FILES[split])
    if path is None:
        raise _missing(f"DocRED/Re-DocRED ({split} split)", _DOCRED_FILES[split], dirs, root)
    rel2id = rel2id or read_rel2id(root)
    docs = _read_docs(path)
    if facts is None and split != "train":
        tpath = _find_file(dirs, _DOCRED_FILES["train"])
        if tpath is None:
            raise _missing("DocRED/Re-DocRED train split (needed for the Ign facts)", _DOCRED_FILES["train"], dirs, root)
        facts = train_facts(_read_docs(tpath))
    facts = facts if split != "train" else set()
    c = len(rel2id)
    ys, ign, dd, hh, tt = [], [], [], [], []
    for di, doc in enumerate(docs):
        vs = doc["vertexSet"]
        n = len(vs)
        labels = {}
        for lab in doc.get("labels", []):
            if lab["r"] not in rel2id:
                raise ValueError(f"{path}: document {doc.get('title', di)!r} has relation {lab['r']!r} not in rel2id")
            if not (0 <= lab["h"] < n and 0 <= lab["t"] < n):
                raise ValueError(f"{path}: document {doc.get('title', di)!r} has a label with h/t out of range")
            labels.setdefault((lab["h"], lab["t"]), set()).add(lab["r"])
        for h in range(n):
            for t in range(n):
                if h == t:
                    continue
                y = np.zeros(c, dtype=np.float32)
                g = np.zeros(c, dtype=bool)
                for r in labels.get((h, t), ()):
                    y[rel2id[r]] = 1
                    g[rel2id[r]] = any((a["name"], b["name"], r) in facts for a in vs[h] for b in vs[t])
                y[0] = float(not y[1:].any())
                ys.append(y), ign.append(g), dd.append(di), hh.append(h), tt.append(t)
    id2rel = {v: k for k, v in rel2id.items()}
    return PairData(x=None, y=torch.from_numpy(np.stack(ys)), doc=torch.tensor(dd), head=torch.tensor(hh),
                    tail=torch.tensor(tt), in_train=torch.from_numpy(np.stack(ign)),
                    relations=[id2rel[i] for i in range(c)], name=f"docred-{split}")


# ---------------------------------------------------------------------------------- surrogate

def _zipf(k, exponent, rng):
    p = 1.0 / np.arange(1, k + 1) ** exponent
    return rng.permutation(p / p.sum())


def make_docre_surrogate(num_docs=None, *, num_relations: int = 96, mean_entities: float = 19.4,
                         triples_per_doc: float = 28.1, zipf_exponent: float = 1.0, pool_size: int = 2000,
                         latent_dim: int = 4, feature_dim: int = 32, feature_noise: float = 0.1,
                         context_noise: float = 0.1, correlated_every: int = 4, seed: int = 0) -> dict:
    r"""A synthetic document-level RE set with Re-DocRED's shape; returns ``{split: PairData}``.

    ``num_docs``: ``{"train": 3053, "dev": 500}`` by default (Table 6); pass fewer for quick runs.
    Each document draws ~Poisson(``mean_entities``) entities from a shared pool of ``pool_size``
    (popularity Zipf-distributed, so entity pairs and facts recur across documents and splits). Entity e has
    a latent :math:`a_e \in \mathbb R^k`; relation r holds for (s, o) in a document when the teacher score
    :math:`a_s^\top U_r a_o + \epsilon_{doc}` (``context_noise``) is above a per-relation threshold set
    so that relation r's frequency follows a Zipf law (``zipf_exponent``) with ``triples_per_doc`` triples
    a document on average (thresholds fixed on the first split, so all splits share them). Every
    ``correlated_every``-th relation's teacher is correlated with the previous one (multi-label pairs such
    as "country" / "located in"). The model sees per-document noisy features
    :math:`x_e = M a_e + \sigma\xi` (``feature_dim``, ``feature_noise``): ``x`` is ``(N, 2, feature_dim)``
    (subject, object). ``teacher`` holds the noise-free teacher score minus the relation's threshold (column
    0 = 0): thresholded at 0 it is the best a model can do given ``context_noise`` (:func:`oracle_scores`).
    """
    num_docs = dict(num_docs or {"train": REDOCRED_STATS["docs_train"], "dev": REDOCRED_STATS["docs_dev"]})
    if not num_docs or any((not isinstance(v, int)) or v < 1 for v in num_docs.values()):
        raise ValueError(f"num_docs must map split names to positive ints, got {num_docs!r}")
    rng = np.random.default_rng(seed)
    k = latent_dim
    latents = rng.standard_normal((pool_size, k))
    popularity = _zipf(pool_size, 0.6, rng)
    u = rng.standard_normal((num_relations, k, k)) / math.sqrt(k)
    for r in range(1, num_relations, max(correlated_every, 1)) if correlated_every else ():
        u[r] = 0.8 * u[r - 1] + 0.6 * u[r]
    mix = rng.standard_normal((feature_dim, k)) / math.sqrt(k)
    freq = _zipf(num_relations, zipf_exponent, rng)
    pairs_per_doc = mean_entities * (mean_entities - 1) + mean_entities    # E[n(n-1)] under Poisson
    freq = np.minimum(freq * triples_per_doc / pairs_per_doc, 0.5)
    thresholds = None
    out, seen_facts = {}, set()
    for split, n_docs in num_docs.items():
        xs, scores, cleans, dd, hh, tt, ids = [], [], [], [], [], [], []
        for di in range(n_docs):
            n = max(3, int(rng.poisson(mean_entities)))
            ents = rng.choice(pool_size, size=n, replace=False, p=popularity)
            feats = latents[ents] @ mix.T + feature_noise * rng.standard_normal((n, feature_dim))
            h, t = np.where(~np.eye(n, dtype=bool))
            a_h, a_t = latents[ents[h]], latents[ents[t]]
            clean = np.einsum("pi,rij,pj->pr", a_h, u, a_t)
            sc = clean + context_noise * rng.standard_normal((len(h), num_relations))
            xs.append(np.stack([feats[h], feats[t]], 1)), scores.append(sc), cleans.append(clean)
            dd.append(np.full(len(h), di)), hh.append(h), tt.append(t), ids.append(np.stack([ents[h], ents[t]], 1))
        sc = np.concatenate(scores)
        if thresholds is None:
            thresholds = np.array([np.quantile(sc[:, r], 1 - freq[r]) for r in range(num_relations)])
        pos = sc > thresholds
        y = np.zeros((len(sc), num_relations + 1), dtype=np.float32)
        y[:, 1:] = pos
        y[:, 0] = ~pos.any(1)
        teacher = np.zeros_like(y)
        teacher[:, 1:] = np.concatenate(cleans) - thresholds
        ids = np.concatenate(ids)
        in_train = np.zeros_like(y, dtype=bool)
        if seen_facts:
            for i, r in zip(*np.nonzero(pos)):
                in_train[i, r + 1] = (int(ids[i, 0]), int(ids[i, 1]), int(r)) in seen_facts
        if split == "train" or not seen_facts:
            seen_facts = {(int(ids[i, 0]), int(ids[i, 1]), int(r)) for i, r in zip(*np.nonzero(pos))}
        out[split] = PairData(
            x=torch.from_numpy(np.concatenate(xs).astype(np.float32)), y=torch.from_numpy(y),
            doc=torch.from_numpy(np.concatenate(dd)), head=torch.from_numpy(np.concatenate(hh)),
            tail=torch.from_numpy(np.concatenate(tt)), in_train=torch.from_numpy(in_train),
            relations=["TH"] + [f"R{r + 1}" for r in range(num_relations)], name=f"docre-surrogate-{split}",
            teacher=torch.from_numpy(teacher))
    return out


# ---------------------------------------------------------------------------------- Fashion-MNIST tiles

def make_fashion_tiles(split: str = "train", num_tiles: int = 6000, *, grid: int = 2, active: float = 0.06,
                       items_probs=(0.8, 0.15, 0.05), zipf_exponent: float = 1.0, noise: float = 0.05,
                       root=None, seed: int = 0) -> PairData:
    """Multi-label Fashion-MNIST tiles with DocRE-like imbalance; returns :class:`PairData`.

    A tile is a ``grid x grid`` arrangement of Fashion-MNIST images downsampled to 14x14 (so 28x28 for
    grid 2). With probability ``active`` a tile holds 1, 2 or 3 items (``items_probs``) in random cells
    with classes drawn from a long-tailed (Zipf, ``zipf_exponent``) distribution over the 10 classes; the
    other tiles are empty (NA, target column 0), like the ~94% NA entity pairs of Re-DocRED. Empty cells
    hold Gaussian noise (``noise``). ``x``: float32 ``(N, 1, 14 grid, 14 grid)``; ``y``: ``(N, 11)``
    (column 0 = TH, column c+1 = Fashion-MNIST class c). ``in_train`` is all False (no Ign notion here).
    """
    if grid < 1 or num_tiles < 1:
        raise ValueError("grid and num_tiles must be positive")
    if abs(sum(items_probs) - 1) > 1e-9 or len(items_probs) > grid * grid:
        raise ValueError("items_probs must sum to 1 with at most grid*grid entries")
    rng = np.random.default_rng(seed + (0 if split == "train" else 7919))
    ds = load_fashion_mnist(split, root=root)
    small = torch.nn.functional.avg_pool2d(ds.x, 2).numpy()[:, 0]          # (M, 14, 14)
    labels = ds.y.numpy()
    by_class = [np.flatnonzero(labels == c) for c in range(10)]
    class_p = 1.0 / np.arange(1, 11) ** zipf_exponent
    class_p = class_p / class_p.sum()                                      # class 0 most frequent, 9 rarest
    side = 14 * grid
    x = (noise * rng.standard_normal((num_tiles, 1, side, side))).astype(np.float32)
    y = np.zeros((num_tiles, 11), dtype=np.float32)
    for i in range(num_tiles):
        if rng.random() < active:
            n_items = 1 + rng.choice(len(items_probs), p=items_probs)
            cells = rng.choice(grid * grid, size=n_items, replace=False)
            for cell in cells:
                c = rng.choice(10, p=class_p)
                img = small[rng.choice(by_class[c])]
                r0, c0 = divmod(int(cell), grid)
                x[i, 0, 14 * r0:14 * r0 + 14, 14 * c0:14 * c0 + 14] += img
                y[i, c + 1] = 1
    y[:, 0] = y[:, 1:].sum(1) == 0
    n = num_tiles
    return PairData(x=torch.from_numpy(x), y=torch.from_numpy(y), doc=torch.arange(n), head=torch.zeros(n, dtype=torch.long),
                    tail=torch.zeros(n, dtype=torch.long), in_train=torch.zeros(n, 11, dtype=torch.bool),
                    relations=["TH"] + list(ds.classes), name=f"fashion-tiles-{split}")


# ---------------------------------------------------------------------------------- model

class PairBilinear(nn.Module):
    r"""Shared encoder + the bilinear classifier of Eq. (2): :math:`s_r = z_s^\top W_r z_o + b_r`.

    Input ``(N, 2, in_features)`` (subject, object features); the encoder is an MLP
    ``in -> hidden -> hidden`` (ReLU) followed by separate subject/object projections with ``tanh``
    (as ATLOP's head); output logits ``(N, num_classes)``, column 0 = TH.
    """

    def __init__(self, in_features: int, num_classes: int, hidden: int = 32):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.head_s = nn.Linear(hidden, hidden)
        self.head_o = nn.Linear(hidden, hidden)
        self.weight = nn.Parameter(torch.randn(num_classes, hidden, hidden) / hidden)
        self.bias = nn.Parameter(torch.zeros(num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.encoder(x)
        zs, zo = torch.tanh(self.head_s(h[:, 0])), torch.tanh(self.head_o(h[:, 1]))
        c, d, _ = self.weight.shape
        left = (zs @ self.weight.permute(1, 0, 2).reshape(d, c * d)).view(-1, c, d)   # z_s^T W_r, all r
        return (left * zo[:, None, :]).sum(-1) + self.bias


# ---------------------------------------------------------------------------------- metrics

def _as_bool(a, name, shape=None):
    t = torch.as_tensor(a)
    if t.dim() != 2:
        raise ValueError(f"{name} must be (N, C) multi-hot, got shape {tuple(t.shape)}")
    if shape is not None and tuple(t.shape) != tuple(shape):
        raise ValueError(f"{name} has shape {tuple(t.shape)}, expected {tuple(shape)}")
    if t.dtype != torch.bool:
        if not bool(((t == 0) | (t == 1)).all()):
            raise ValueError(f"{name} must hold 0/1 values")
        t = t != 0
    return t


def _f1(p, r):
    return 0.0 if p + r == 0 else 2 * p * r / (p + r)


def docre_scores(pred, target, in_train=None) -> dict:
    """Micro F1 and Ign F1 as the official DocRED evaluation, and macro F1 / macro Ign F1.

    ``pred``, ``target``: multi-hot ``(N, C)`` (column 0 = TH, ignored: only relation facts count);
    ``in_train``: bool ``(N, C)``, True for gold facts also in the training set (None: none are).
    Micro: P = correct / predicted, R = correct / gold; Ign precision discounts the correct predictions
    that are training facts, ``(correct - c_tr) / (predicted - c_tr)``, recall unchanged (official code).
    Macro: the same per relation, averaged over the relations with at least one gold fact.
    Returns percentages.
    """
    p = _as_bool(pred, "pred")
    g = _as_bool(target, "target", p.shape)
    tr = torch.zeros_like(g) if in_train is None else _as_bool(in_train, "in_train", p.shape)
    p, g, tr = p[:, 1:], g[:, 1:], tr[:, 1:]
    correct = (p & g)
    c_r, n_pred_r, n_gold_r = correct.sum(0).double(), p.sum(0).double(), g.sum(0).double()
    ctr_r = (correct & tr).sum(0).double()

    def prf(c, npred, ngold, ctr):
        prec = c / npred if npred > 0 else 0.0
        rec = c / ngold if ngold > 0 else 0.0
        prec_ign = (c - ctr) / (npred - ctr) if npred - ctr > 0 else 0.0
        return _f1(prec, rec), _f1(prec_ign, rec), prec, rec

    f1, f1_ign, prec, rec = prf(*(float(v.sum()) for v in (c_r, n_pred_r, n_gold_r, ctr_r)))
    per = [prf(float(c_r[r]), float(n_pred_r[r]), float(n_gold_r[r]), float(ctr_r[r]))
           for r in range(g.shape[1]) if n_gold_r[r] > 0]
    macro = float(np.mean([x[0] for x in per])) if per else 0.0
    macro_ign = float(np.mean([x[1] for x in per])) if per else 0.0
    return {"f1": 100 * f1, "ign_f1": 100 * f1_ign, "precision": 100 * prec, "recall": 100 * rec,
            "macro_f1": 100 * macro, "macro_ign_f1": 100 * macro_ign}


def error_patterns(logits, pred, target) -> dict:
    """Count each pair's prediction pattern (Wang et al. 2023, Figure 2; as the official ``statistic.py``):

    * ``TN``: no relation, none predicted; ``TP``: predicted set == gold set (non-empty);
    * ``FN_CRK`` / ``FN_IRK``: gold relations but none predicted, with correct / incorrect label ranking:
      CRK when the ranks of the gold relations among all relations (1 + number of relations scoring
      strictly higher; TH not ranked) are exactly 1..|P| (the official code also requires |P| <= 3);
    * ``FP``: everything else (something predicted, but not exactly the gold set).
    """
    s = torch.as_tensor(logits)
    p = _as_bool(pred, "pred", s.shape)[:, 1:]
    g = _as_bool(target, "target", s.shape)[:, 1:]
    s = s[:, 1:]
    gold_any, pred_any = g.any(1), p.any(1)
    tn = ~gold_any & ~pred_any
    tp = gold_any & (p == g).all(1)
    fn = gold_any & ~pred_any
    fp = ~tn & ~tp & ~fn
    crk = torch.zeros_like(fn)
    for i in torch.nonzero(fn).flatten().tolist():
        pos = torch.nonzero(g[i]).flatten()
        ranks = sorted(1 + int((s[i] > s[i, r]).sum()) for r in pos.tolist())
        crk[i] = ranks == list(range(1, len(ranks) + 1))
    return {"TP": int(tp.sum()), "TN": int(tn.sum()), "FP": int(fp.sum()),
            "FN_CRK": int((fn & crk).sum()), "FN_IRK": int((fn & ~crk).sum())}


def pattern_statistics(counts: dict) -> dict:
    """Table 4's ratios from :func:`error_patterns` counts, in percent: F/(T+F), FN/F, FN_CRK/FN."""
    fn = counts["FN_CRK"] + counts["FN_IRK"]
    f = counts["FP"] + fn
    t = counts["TP"] + counts["TN"]
    return {"F/(T+F)": 100 * f / max(t + f, 1), "FN/F": 100 * fn / max(f, 1),
            "FN_CRK/FN": 100 * counts["FN_CRK"] / max(fn, 1)}


# ---------------------------------------------------------------------------------- one experiment

def run_loss(loss_name: str, train_data: PairData, eval_data: PairData, model: nn.Module, *, seed: int,
             epochs: int, batch_size: int = 256, lr: float = 1e-2, variant: str = "paper", top_k: int | None = 4,
             device="auto", hyper_parameters: dict | None = None, amp=None) -> dict:
    """Train ``model`` with a registered thresholding loss (Adam) and score it on ``eval_data``.

    Predictions use the loss's own decision rule (:func:`lossnotes.losses.decision_rule`) with at most
    ``top_k`` relations a pair (ATLOP/HingeABL evaluate with 4). Returns ``scores``
    (:func:`docre_scores`), ``patterns`` (:func:`error_patterns`), ``stats`` (:func:`pattern_statistics`),
    the eval ``logits`` and the training ``history``.
    """
    from . import losses as L
    from .registry import get
    from .train import predict, train

    spec = get(loss_name)
    hp = dict(hyper_parameters or {})
    if variant != "paper":
        hp["variant"] = variant
    loss_fn = lambda z, t: spec.fn(z, t, **hp)   # noqa: E731
    history = train(model, loss_fn, train_data, epochs=epochs, batch_size=batch_size, lr=lr, optimizer="adam",
                    device=device, amp=amp, seed=seed, progress=False)
    logits = predict(model, eval_data, device=device)
    pred = L.decision_rule(loss_name, variant)(logits, top_k=top_k)
    patterns = error_patterns(logits, pred, eval_data.y)
    return {"scores": docre_scores(pred, eval_data.y, eval_data.in_train), "patterns": patterns,
            "stats": pattern_statistics(patterns), "logits": logits, "pred": pred, "history": history}


# ---------------------------------------------------------------------------------- the experiment protocol

def threshold_loss(logits, target, *, name: str, variant: str = "paper", **hyper_parameters):
    """The registered thresholding loss ``name`` (``variant`` "paper" or "official") as a picklable
    ``loss_fn(logits, target)`` for :class:`lossnotes.experiments.Arm` (bind it with ``functools.partial``)."""
    from .registry import get

    hp = dict(hyper_parameters)
    if variant != "paper":
        hp["variant"] = variant
    return get(name).fn(logits, target, **hp)


def loss_arm(name: str, make_model, *, variant: str = "paper", lr_grid=None, batch_size: int = 256,
             **hyper_parameters):
    """An :class:`lossnotes.experiments.Arm` training ``make_model()`` with the thresholding loss ``name``
    (Adam, ``batch_size``); the arm's cache key holds the loss, variant and hyper-parameters."""
    import functools

    from .experiments import Arm

    return Arm(make_model=make_model,
               loss_fn=functools.partial(threshold_loss, name=name, variant=variant, **hyper_parameters),
               train_kwargs={"optimizer": "adam", "batch_size": batch_size}, lr_grid=lr_grid,
               key={"loss": name, "variant": variant, **hyper_parameters})


def prediction_scores(logits, data: PairData, *, rule: str = "threshold", top_k: int | None = 4) -> dict:
    """Everything the chapter's tables read off one set of logits on ``data``: :func:`docre_scores`, the
    :func:`error_patterns` counts and :func:`pattern_statistics`, ``n_pred_pos`` (predicted relation facts;
    0 means the model predicts nothing), ``n_gold`` (gold facts) and ``pos_below_th`` (% of gold facts whose
    score is not above :math:`s_{TH}`, the quantity of Figure 1b/1c).

    ``rule``: ``"threshold"`` (:func:`lossnotes.losses.threshold_predict`, the rule of every paper-form loss
    and of the official forms except Balanced Softmax) or ``"zero"`` (official Balanced Softmax)."""
    from .losses import threshold_predict, zero_threshold_predict

    if rule not in ("threshold", "zero"):
        raise ValueError(f"rule must be 'threshold' or 'zero', got {rule!r}")
    z = torch.as_tensor(logits).detach().float().cpu()
    pred = (threshold_predict if rule == "threshold" else zero_threshold_predict)(z, top_k=top_k)
    gold = data.y > 0
    counts = error_patterns(z, pred, data.y)
    gap = (z[:, 1:] - z[:, :1])[gold[:, 1:]]
    return {**docre_scores(pred, data.y, data.in_train), **counts, **pattern_statistics(counts),
            "n_pred_pos": int(pred[:, 1:].sum()), "n_gold": int(gold[:, 1:].sum()),
            "pos_below_th": 100 * float((gap <= 0).float().mean()) if len(gap) else float("nan"),
            "finite": float(torch.isfinite(z).all())}


def docre_evaluator(model: nn.Module, data: PairData, device="cpu", *, rule: str = "threshold",
                    top_k: int | None = 4) -> dict:
    """The evaluator :func:`lossnotes.experiments.run_comparison` calls for the multi-label task:
    :func:`prediction_scores` of ``model``'s logits on ``data`` (selection metric ``"f1"``, micro F1 in %)."""
    from .train import predict

    return prediction_scores(predict(model, data, device=device), data, rule=rule, top_k=top_k)


def oracle_scores(data: PairData, *, top_k: int | None = 4) -> dict:
    """The generator's own teacher thresholded (:attr:`PairData.teacher`): what a model that learned the
    teacher exactly would score given the label noise; :func:`prediction_scores` of the teacher logits."""
    if data.teacher is None:
        raise ValueError(f"{data.name or 'data'} has no teacher scores (only the surrogate has them)")
    return prediction_scores(data.teacher, data, top_k=top_k)


def pair_model(in_features: int, num_classes: int, hidden: int) -> nn.Module:
    """:class:`PairBilinear` (a picklable model factory for the protocol: ``functools.partial(pair_model, ...)``)."""
    return PairBilinear(in_features, num_classes, hidden=hidden)


def tile_model(in_features: int, hidden: int, num_classes: int = 11) -> nn.Module:
    """The tiles' MLP (one hidden layer of ``hidden`` units; picklable factory for the protocol)."""
    from .models import MLP

    return MLP(in_features, hidden=(hidden,), num_classes=num_classes)
