"""Speed and memory of every registered loss as ratios to ``torch.nn.functional.cross_entropy``.

Losses with several float inputs (``spec.inputs``) are timed against ``F.cross_entropy`` on the logits the
same inputs give a plain softmax head: ``s * cosine`` for the cosine losses (AM-Softmax, ArcFace; ``s`` the loss's
default), ``features @ weight.T`` for the features/weight losses (L-Softmax, SphereFace, L2-softmax; the matmul
is timed in both); gradients flow to every input in both.

Plain multi-label losses (target kind ``"multilabel"``) are timed against
``F.binary_cross_entropy_with_logits`` on the same logits and 0/1 target (``reference`` in each row).

Multi-hot (thresholding) losses get a float32 target shaped like Re-DocRED's pairs
(:func:`docred_like_target`: 94% of the rows "no relation", the rest 1-3 relations), the input the DocRE
models give them.

For each loss and shape: forward + backward time (median over many interleaved repetitions, loss and
reference timed alternately in the same process, so machine load affects both alike) and the memory kept
for the backward pass (bytes of saved tensors; on CUDA also the peak allocation above the inputs).
Value checks (NaN/label range) are timed both on and off (``lossnotes.losses.unchecked``). On the CPU,
denormals are flushed to zero (``torch.set_flush_denormal``), as GPUs pay nothing for them, and freed memory is
kept by the allocator (glibc ``mallopt``), so that page faults on fresh allocations do not decide the ratios.

    python benchmarks/bench_losses.py [--device cuda] [--repeats 50] [--family softmax] [--shapes 16384x97]
                                      [--compile] [--out DIR]

Not a test: it reports; the targets (e.g. 1.5x for the softmax family) are read off its table.
``--family robust`` times the label-noise losses (chapter 05; target 2.5x at 4096x10 and 1024x1000 on the CPU,
the bi-tempered loss's normalisation iterations excepted).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from lossnotes.losses import unchecked
from lossnotes.paths import build_dir
from lossnotes.registry import all_losses, as_inputs

SHAPES = [(4096, 10), (1024, 1000), (16384, 97)]
FEATURE_DIM = 128          # d for the features/weight losses


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _leaves(inputs):
    return tuple(x.detach().requires_grad_(True) for x in as_inputs(inputs))


def _fwd_bwd(fn, inputs, target):
    fn(*_leaves(inputs), target).backward()


def _saved_bytes(fn, logits, target) -> int:
    """Bytes of the tensors autograd keeps between forward and backward (storage-deduplicated)."""
    seen: dict[int, int] = {}

    def pack(t):
        try:
            storage = t.untyped_storage()
            seen[storage.data_ptr()] = storage.nbytes()
        except RuntimeError:
            pass
        return t

    zs = _leaves(logits)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = fn(*zs, target)
    loss.backward()
    z_ptrs = {z.untyped_storage().data_ptr() for z in zs}
    return sum(n for ptr, n in seen.items() if ptr not in z_ptrs)


def _cuda_peak(fn, logits, target, device) -> int | None:
    if device.type != "cuda":
        return None
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    base = torch.cuda.memory_allocated(device)
    _fwd_bwd(fn, logits, target)
    torch.cuda.synchronize(device)
    return torch.cuda.max_memory_allocated(device) - base


def _time_pair(fn, ref, logits, target, device, repeats):
    for _ in range(3):                      # warm-up
        _fwd_bwd(fn, logits, target)
        _fwd_bwd(ref, logits, target)
    t_fn, t_ref = [], []
    for _ in range(repeats):
        for f, bucket in ((fn, t_fn), (ref, t_ref)):
            _sync(device)
            t0 = time.perf_counter()
            _fwd_bwd(f, logits, target)
            _sync(device)
            bucket.append(time.perf_counter() - t0)
    return statistics.median(t_fn), statistics.median(t_ref)


def docred_like_target(n, c, *, seed=0, na_fraction=0.94, device="cpu"):
    """A float32 multi-hot (n, c) target shaped like Re-DocRED's entity pairs (ATLOP convention, column 0 =
    no relation): ``na_fraction`` of the rows have no relation, the others 1, 2 or 3 relations (with
    probabilities 0.9, 0.08, 0.02) drawn from a Zipf(1) frequency over the c - 1 relations."""
    g = torch.Generator().manual_seed(seed)
    target = torch.zeros(n, c)
    rows = torch.nonzero(torch.rand(n, generator=g) >= na_fraction).squeeze(1)
    counts = torch.multinomial(torch.tensor([0.9, 0.08, 0.02]), len(rows), replacement=True, generator=g) + 1
    freq = 1.0 / torch.arange(1, c, dtype=torch.float64)
    for row, k in zip(rows.tolist(), counts.tolist()):
        target[row, 1 + torch.multinomial(freq, k, generator=g)] = 1.0
    target[:, 0] = (target[:, 1:].sum(1) == 0).float()
    return target.to(device)


def _reference(spec, ref_target):
    """F.cross_entropy on the logits a plain softmax head makes from the same inputs (F.binary_cross_entropy_with_logits
    on the same logits and target for a plain multi-label loss)."""
    if spec.target_kind == "multilabel":
        return lambda z, t: F.binary_cross_entropy_with_logits(z, t)
    if spec.inputs == ("cosine",):
        s = spec.defaults.get("s", 1.0)
        return lambda cos, _t: F.cross_entropy(s * cos, ref_target)
    if spec.inputs == ("features", "weight"):
        return lambda x, w, _t: F.cross_entropy(x @ w.T, ref_target)
    return lambda z, _t: F.cross_entropy(z, ref_target)      # same logits, torch's fused op


def bench(device="cpu", repeats=30, family=None, shapes=SHAPES):
    device = torch.device(device)
    rows = []
    for spec in all_losses(family):
        for n, c in shapes:
            if "weight" in spec.inputs:
                # ||x|| ~ 3, so x @ W^T is O(1) as after training: with the generator's default scale the
                # logits reach +-100 and exp underflows to denormals, which alone make CPU softmax 50x slower
                logits, target = spec.extra["make_inputs"](n, c, seed=0, dtype=torch.float32, device=device,
                                                           d=FEATURE_DIM, scale=3.0 / FEATURE_DIM ** 0.5)
            else:
                logits, target = spec.sample_inputs(n, c, seed=0, dtype=torch.float32, device=device)
            if spec.target_kind == "multihot":
                target = docred_like_target(n, c, seed=0, device=device)
            elif spec.target_kind == "multilabel":
                target = target.float()
            ref_target = torch.randint(0, c, (n,), device=device)
            ref = _reference(spec, ref_target)
            fn = lambda *a, _s=spec: _s.call(a[:-1], a[-1])      # noqa: E731
            row = {"loss": spec.name, "family": spec.family, "N": n, "C": c, "device": str(device),
                   "reference": "bce_with_logits" if spec.target_kind == "multilabel" else "cross_entropy"}
            for label, ctx in (("checked", contextlib.nullcontext), ("unchecked", unchecked)):
                with ctx():
                    t_fn, t_ref = _time_pair(fn, ref, logits, target, device, repeats)
                row[f"time_ratio_{label}"] = t_fn / t_ref
                row[f"ms_{label}"] = 1e3 * t_fn
            row["ms_cross_entropy"] = 1e3 * t_ref
            saved, saved_ref = _saved_bytes(fn, logits, target), _saved_bytes(ref, logits, target)
            row["saved_MB"] = saved / 2**20
            row["saved_ratio"] = saved / max(saved_ref, 1)
            peak, peak_ref = _cuda_peak(fn, logits, target, device), _cuda_peak(ref, logits, target, device)
            row["cuda_peak_ratio"] = None if peak is None else peak / max(peak_ref, 1)
            rows.append(row)
            print(f"{spec.name:24s} N={n:6d} C={c:5d}  time x{row['time_ratio_checked']:.2f} "
                  f"(unchecked x{row['time_ratio_unchecked']:.2f})  saved-for-backward x{row['saved_ratio']:.2f}"
                  + ("" if peak is None else f"  cuda peak x{row['cuda_peak_ratio']:.2f}"), flush=True)
    return rows


def _keep_freed_memory() -> bool:
    """glibc's malloc hands a freed block of a few MB back to the OS, and the next (N, C) allocation
    page-faults on first touch; which call pays that depends on the allocator's history, not on the loss,
    and swung the CPU ratios by +-30% between runs. Keep freed memory (mmap threshold 32 MiB, no trimming), the
    steady state a training loop's repeated allocations reach. Returns whether it applied (glibc only)."""
    import ctypes
    import ctypes.util
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3
        return bool(libc.mallopt(m_mmap_threshold, 32 << 20)) and bool(libc.mallopt(m_trim_threshold, 2 ** 31 - 1))
    except (OSError, AttributeError):
        return False


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--family", default=None)
    parser.add_argument("--compile", action="store_true",
                        help="thresholding losses through torch.compile (lossnotes.losses.compile_thresholding)")
    parser.add_argument("--shapes", default=None,
                        help="N x C shapes, comma separated, e.g. 16384x97 (default: %s)"
                        % ",".join(f"{n}x{c}" for n, c in SHAPES))
    parser.add_argument("--out", type=Path, default=build_dir() / "benchmarks")
    args = parser.parse_args(argv)
    if args.device == "cpu":
        torch.set_num_threads(max(1, torch.get_num_threads()))
        # exp of a logit 90 below the row maximum is a float32 denormal; x86 arithmetic on denormals is ~100x
        # slower, so a loss whose logits are larger than the reference's would be timed on that, not its work
        torch.set_flush_denormal(True)
        steady_allocator = _keep_freed_memory()
    else:
        steady_allocator = False
    if args.compile:
        from lossnotes.losses import compile_thresholding
        compile_thresholding(True)
    shapes = SHAPES if not args.shapes else [tuple(int(v) for v in item.split("x")) for item in args.shapes.split(",")]
    rows = bench(args.device, args.repeats, args.family, shapes)
    args.out.mkdir(parents=True, exist_ok=True)
    tag = "cuda" if args.device.startswith("cuda") else "cpu"
    meta = {"device": torch.cuda.get_device_name() if tag == "cuda" else f"cpu ({torch.get_num_threads()} threads)",
            "torch": torch.__version__, "repeats": args.repeats, "compiled_thresholding": args.compile,
            "steady_allocator": steady_allocator}
    (args.out / f"losses_{tag}.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    lines = ["| loss | N | C | time / F.cross_entropy | unchecked | saved for backward / F.cross_entropy | CUDA peak ratio |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        peak = "" if r["cuda_peak_ratio"] is None else f"{r['cuda_peak_ratio']:.2f}"
        lines.append(f"| {r['loss']} | {r['N']} | {r['C']} | {r['time_ratio_checked']:.2f} | "
                     f"{r['time_ratio_unchecked']:.2f} | {r['saved_ratio']:.2f} | {peak} |")
    header = f"Device: {meta['device']}, torch {meta['torch']}" + (", thresholding losses compiled" if args.compile else "")
    header += ", freed memory kept (mallopt)" if steady_allocator else ""
    (args.out / f"losses_{tag}.md").write_text(header + "\n\n" + "\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
