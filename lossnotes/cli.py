"""Command line: ``lossnotes run``, ``lossnotes scoreboard``, ``lossnotes list`` (also ``python -m lossnotes``)."""
from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

__all__ = ["main", "build_parser"]


def _value(text: str):
    """A ``-p`` value: a Python literal (``3``, ``0.1``, ``True``, ``[1, 2]``), ``true``/``false``/``none``, else text."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return {"true": True, "false": False, "none": None}.get(text.lower(), text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lossnotes",
        description="Run the lossnotes chapter notebooks and gather the reproduced numbers.",
        epilog="Quick runs write to build/, full runs to the repository's figures/ and results/.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run", help="execute notebooks with papermill, print timings and the scoreboard",
        description="Execute chapter notebooks (all by default) into build/notebooks/, print a timing table "
                    "and the scoreboard. Exits non-zero if any notebook fails or times out.")
    run.add_argument("chapters", nargs="*", metavar="CHAPTER",
                     help='chapter to run: "00", "00_foundations" or a notebook path (default: all)')
    run.add_argument("--full", action="store_true",
                     help="full-size run (quick=False); writes into figures/ and results/")
    run.add_argument("--device", default="auto", help='device parameter: auto, cpu, cuda, cuda:N (default: auto)')
    run.add_argument("--timeout", type=float, default=None, metavar="S",
                     help="wall-clock limit per notebook in seconds (default: 600 quick, 21600 full)")
    run.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                     help="extra notebook parameter (repeatable); VALUE is a Python literal or text")
    run.add_argument("--output", type=Path, default=None, metavar="DIR",
                     help="write figures, results and executed notebooks under DIR (sets $LOSSNOTES_OUTPUT)")
    run.add_argument("--kernel", default="python3", help="Jupyter kernel name (default: python3)")
    run.add_argument("--notebooks-dir", type=Path, default=None, help=argparse.SUPPRESS)
    run.add_argument("--no-scoreboard", action="store_true", help="do not print the scoreboard afterwards")

    board = sub.add_parser(
        "scoreboard", help="gather results/*.json into one table",
        description="Gather every results/<chapter>.json (committed full runs and build/ quick runs by default), "
                    "print it as markdown and write CSV and markdown copies.")
    board.add_argument("--root", type=Path, default=None,
                       help="directory holding results/ (default: <repo> and <repo>/build)")
    board.add_argument("--csv", type=Path, default=None, metavar="PATH", help="default: build/scoreboard.csv")
    board.add_argument("--markdown", type=Path, default=None, metavar="PATH", help="default: build/scoreboard.md")
    board.add_argument("--status", action="store_true",
                       help="print the reproduction-status table per chapter instead (committed full runs by "
                            "default; the rule is in lossnotes.records.item_status)")
    board.add_argument("--chapter", default=None, help='with --status: one chapter ("01" or its full name)')

    lst = sub.add_parser("list", help="list chapters and their parameters",
                         description="List the chapter notebooks with their parameters and defaults.")
    lst.add_argument("--notebooks-dir", type=Path, default=None, help=argparse.SUPPRESS)
    return parser


def _print_scoreboard(root=None, csv_path=None, markdown_path=None) -> None:
    from .records import scoreboard, scoreboard_markdown, write_scoreboard

    df = scoreboard(root)
    csv_path, markdown_path = write_scoreboard(df, csv_path=csv_path, markdown_path=markdown_path)
    if len(df):
        print(scoreboard_markdown(df))
    else:
        print("no records found")
    print(f"scoreboard written to {markdown_path} and {csv_path}")


def _print_status(root=None, chapter=None) -> None:
    from .records import scoreboard_markdown, status_table

    df = status_table(chapter, root)
    if not len(df):
        print("no records found")
        return
    for name, part in df.groupby("chapter", sort=True):
        print(f"## {name}\n")
        print(scoreboard_markdown(part.drop(columns="chapter")))


def _cmd_run(args) -> int:
    from .runner import discover_notebooks, print_timing_table, run_notebooks

    if not discover_notebooks(args.notebooks_dir):
        print("no notebooks found", file=sys.stderr)
        return 1
    params = {name: _value(value) for name, value in args.parameter}
    results = run_notebooks(args.chapters or None, full=args.full, device=args.device, timeout=args.timeout,
                            parameters=params, output_dir=args.output, kernel_name=args.kernel,
                            notebooks_dir=args.notebooks_dir, echo=True)
    print()
    print_timing_table(results)
    if not args.no_scoreboard:
        print()
        out = args.output
        _print_scoreboard(out, *((out / "scoreboard.csv", out / "scoreboard.md") if out else ()))
    return 0 if all(r.ok for r in results) else 1


def _cmd_list(args) -> int:
    from .runner import discover_notebooks, notebook_parameters

    notebooks = discover_notebooks(args.notebooks_dir)
    if not notebooks:
        print("no notebooks found")
    for nb in notebooks:
        try:
            params = ", ".join(f"{k}={v!r}" for k, v in notebook_parameters(nb).items())
        except ValueError as err:
            params = f"!! {err}"
        print(f"{nb.stem}: {params}")
    return 0


def main(argv=None) -> int:
    """Entry point; returns the exit status (0 ok, 1 a notebook failed, 2 bad arguments)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            return _cmd_run(args)
        if args.command == "list":
            return _cmd_list(args)
        if args.status:
            _print_status(args.root, args.chapter)
        else:
            _print_scoreboard(args.root, args.csv, args.markdown)
        return 0
    except ValueError as err:
        print(f"lossnotes {args.command}: error: {err}", file=sys.stderr)
        return 2
