"""The sparse maps and their Fenchel-Young losses (chapter 08) against torch's own ops and against the ``entmax``
package (deep-spin/entmax, the official code of Peters et al. 2019), side by side: speed and agreement.

For each shape, forward + backward time (median of repetitions in which ours, the package's and the reference
are timed in turn, so machine load hits all three alike) as ratios
to ``F.softmax`` (maps; the backward gets a fixed random upstream gradient) or ``F.cross_entropy`` (losses), for
ours and for the package's function; ``ours / entmax`` is the direct comparison; agreement is the largest
absolute difference of the outputs and of the gradients (float32; the bisection rows differ by the number of
halvings: ours 60, the package's 50).

    python benchmarks/bench_sparse_maps.py [--device cuda] [--repeats 30] [--shapes 4096x10,1024x1000] [--out DIR]

Runs without ``entmax`` too (``pip install entmax``): the peer columns are then empty and the script says so.
Not a test: it reports.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_losses import _fwd_bwd, _keep_freed_memory, _sync  # noqa: E402  (the same timing, one place)

import lossnotes.losses as L  # noqa: E402
from lossnotes.paths import build_dir  # noqa: E402

SHAPES = [(4096, 10), (1024, 1000)]

try:
    import entmax as _entmax
except ImportError:                                     # the benchmark still runs; the peer columns stay empty
    _entmax = None


def _maps():
    """name -> (ours, the package's or None); each ``f(z) -> p`` along the last dim."""
    e = _entmax
    return {
        "sparsemax": (L.sparsemax, e and (lambda z: e.sparsemax(z, dim=-1))),
        "entmax15": (L.entmax15, e and (lambda z: e.entmax15(z, dim=-1))),
        "entmax_bisect alpha=1.5": (lambda z: L.entmax_bisect(z, 1.5), e and (lambda z: e.entmax_bisect(z, 1.5))),
        "entmax_bisect alpha=1.25": (lambda z: L.entmax_bisect(z, 1.25), e and (lambda z: e.entmax_bisect(z, 1.25))),
    }


def _losses():
    """name -> (ours, the package's or None); each ``f(z, y) -> scalar`` (mean over the batch)."""
    e = _entmax
    return {
        "sparsemax_loss": (L.sparsemax_loss, e and (lambda z, y: e.sparsemax_loss(z, y).mean())),
        "entmax15_loss": (L.entmax15_loss, e and (lambda z, y: e.entmax15_loss(z, y).mean())),
        "entmax_loss alpha=1.5": (lambda z, y: L.entmax_loss(z, y, alpha=1.5),
                                  e and (lambda z, y: e.entmax_bisect_loss(z, y, alpha=1.5).mean())),
    }


def _time_interleaved(fns, z, target, device, repeats):
    """Median forward + backward time of each of ``fns``, timed in turn within every repetition (so a change of
    machine load hits all of them alike; ``bench_losses._time_pair`` for more than two)."""
    for _ in range(3):
        for f in fns:
            _fwd_bwd(f, z, target)
    times = [[] for _ in fns]
    for _ in range(repeats):
        for f, bucket in zip(fns, times):
            _sync(device)
            t0 = time.perf_counter()
            _fwd_bwd(f, z, target)
            _sync(device)
            bucket.append(time.perf_counter() - t0)
    return [statistics.median(b) for b in times]


def _value_and_grad(fn, z, *args):
    z = z.detach().requires_grad_(True)
    out = fn(z, *args)
    (grad,) = torch.autograd.grad(out, z, torch.ones_like(out) if out.dim() else None)
    return out.detach(), grad


def bench(device="cpu", repeats=30, shapes=SHAPES):
    device = torch.device(device)
    rows = []
    for n, c in shapes:
        g = torch.Generator().manual_seed(0)
        z = (3.0 * torch.randn(n, c, generator=g)).to(device)
        y = torch.randint(0, c, (n,), generator=g).to(device)
        upstream = torch.randn(n, c, generator=g).to(device)
        softmax_ref = lambda x, _t: (F.softmax(x, dim=-1) * upstream).sum()       # noqa: E731
        ce_ref = lambda x, t: F.cross_entropy(x, t)                                 # noqa: E731
        cases = [("map", name, (lambda x, _t, f=ours: (f(x) * upstream).sum()),
                  None if peer is None else (lambda x, _t, f=peer: (f(x) * upstream).sum()), softmax_ref, ours, peer)
                 for name, (ours, peer) in _maps().items()]
        cases += [("loss", name, ours, peer, ce_ref, ours, peer) for name, (ours, peer) in _losses().items()]
        for kind, name, ours_scalar, peer_scalar, ref, ours_raw, peer_raw in cases:
            timed = [ours_scalar, ref] + ([] if peer_scalar is None else [peer_scalar])
            t_ours, t_ref, *t_peer = _time_interleaved(timed, z, y, device, repeats)
            row = {"kind": kind, "name": name, "N": n, "C": c, "device": str(device),
                   "reference": "F.softmax" if kind == "map" else "F.cross_entropy",
                   "ours_ratio": t_ours / t_ref, "ours_ms": 1e3 * t_ours, "entmax_ratio": None, "ours_over_entmax": None,
                   "max_abs_diff": None, "max_abs_grad_diff": None}
            if peer_scalar is not None:
                row["entmax_ratio"] = t_peer[0] / t_ref
                row["ours_over_entmax"] = t_ours / t_peer[0]
                args = () if kind == "map" else (y,)
                (a, ga), (b, gb) = _value_and_grad(ours_raw, z, *args), _value_and_grad(peer_raw, z, *args)
                row["max_abs_diff"] = float((a - b).abs().max())
                row["max_abs_grad_diff"] = float((ga - gb).abs().max())
            rows.append(row)
            peer_txt = ("entmax package not installed" if row["entmax_ratio"] is None else
                        f"entmax x{row['entmax_ratio']:.2f}  ours/entmax {row['ours_over_entmax']:.2f}  "
                        f"|diff| {row['max_abs_diff']:.1e} (grad {row['max_abs_grad_diff']:.1e})")
            print(f"{name:26s} N={n:5d} C={c:5d}  ours x{row['ours_ratio']:.2f} of {row['reference']}  {peer_txt}",
                  flush=True)
    return rows


def markdown(rows) -> str:
    lines = ["| map or loss | N | C | reference | ours / reference | entmax / reference | ours / entmax | "
             "max abs diff (value) | max abs diff (gradient) |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        fmt = lambda v, f: "-" if v is None else format(v, f)          # noqa: E731
        lines.append(f"| {r['name']} | {r['N']} | {r['C']} | {r['reference']} | {r['ours_ratio']:.2f} | "
                     f"{fmt(r['entmax_ratio'], '.2f')} | {fmt(r['ours_over_entmax'], '.2f')} | "
                     f"{fmt(r['max_abs_diff'], '.1e')} | {fmt(r['max_abs_grad_diff'], '.1e')} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--shapes", default=None, help="N x C shapes, comma separated (default: %s)"
                        % ",".join(f"{n}x{c}" for n, c in SHAPES))
    parser.add_argument("--out", type=Path, default=build_dir() / "benchmarks")
    args = parser.parse_args(argv)
    if args.device == "cpu":
        torch.set_flush_denormal(True)
        _keep_freed_memory()
    if _entmax is None:
        print("the entmax package is not installed (pip install entmax): only ours against torch's ops is timed")
    shapes = SHAPES if not args.shapes else [tuple(int(v) for v in s.split("x")) for s in args.shapes.split(",")]
    rows = bench(args.device, args.repeats, shapes)
    args.out.mkdir(parents=True, exist_ok=True)
    tag = "cuda" if args.device.startswith("cuda") else "cpu"
    meta = {"device": torch.cuda.get_device_name() if tag == "cuda" else f"cpu ({torch.get_num_threads()} threads)",
            "torch": torch.__version__, "entmax": getattr(_entmax, "__version__", None) if _entmax else None,
            "repeats": args.repeats}
    (args.out / f"sparse_maps_{tag}.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    table = markdown(rows)
    (args.out / f"sparse_maps_{tag}.md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
