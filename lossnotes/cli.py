"""Command line: ``lossnotes run``, ``scoreboard``, ``list`` and ``book`` (also ``python -m lossnotes``)."""
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
        "run", help="execute notebooks with papermill, print a per-chapter table",
        description="Execute chapter notebooks (all by default) into build/notebooks/ and print one line per "
                    "chapter (status, time, records written, paper items reproduced/partly/contradicted); the "
                    "full scoreboard and status tables go to files. Exits non-zero if any notebook fails or "
                    "times out, 2 on bad arguments (an unknown parameter, --device cuda without CUDA).")
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
    run.add_argument("--no-scoreboard", action="store_true", help="do not write the scoreboard files afterwards")

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

    book = sub.add_parser(
        "book", help="build the offline HTML book of the executed chapters",
        description="Build a browsable HTML book (sphinx with myst-nb and sphinx-book-theme, MathJax served "
                    "locally, nothing fetched from the network) from the executed notebooks in build/notebooks/, "
                    "running in quick mode the chapters that are not there yet, with a page for the reproduction "
                    "scoreboard. Output: build/book/html/index.html.")
    book.add_argument("chapters", nargs="*", metavar="CHAPTER", help="chapters to include (default: all)")
    book.add_argument("--build-root", type=Path, default=None, metavar="DIR",
                      help="where executed notebooks are read from (DIR/notebooks) and the book is written "
                           "(DIR/book); default: build/")
    book.add_argument("--no-run", action="store_true",
                      help="do not run missing chapters; build from the executed notebooks that exist")
    book.add_argument("--check", action="store_true",
                      help="afterwards load every page in headless Chromium with all non-local requests blocked")
    book.add_argument("--screenshots", type=Path, default=None, metavar="DIR",
                      help="with --check: save a screenshot of the first chapter page and of the scoreboard page")
    book.add_argument("--notebooks-dir", type=Path, default=None, help=argparse.SUPPRESS)

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


def _write_status(path: Path, root) -> Path:
    from .records import scoreboard_markdown, status_table

    df = status_table(None, root)
    parts = [f"## {name}\n\n{scoreboard_markdown(part.drop(columns='chapter'))}"
             for name, part in df.groupby("chapter", sort=True)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts) if parts else "no records found\n")
    return path


def _cmd_run(args) -> int:
    from . import paths
    from .records import scoreboard, write_scoreboard
    from .runner import discover_notebooks, print_run_summary, run_notebooks

    if not discover_notebooks(args.notebooks_dir):
        print("no notebooks found", file=sys.stderr)
        return 1
    params = {name: _value(value) for name, value in args.parameter}
    results = run_notebooks(args.chapters or None, full=args.full, device=args.device, timeout=args.timeout,
                            parameters=params, output_dir=args.output, kernel_name=args.kernel,
                            notebooks_dir=args.notebooks_dir, echo=True)
    out = args.output if args.output is not None else (paths.repo_root() if args.full else paths.build_dir())
    print()
    print_run_summary(results, out / "results")
    if not args.no_scoreboard:
        files = {"csv_path": out / "scoreboard.csv", "markdown_path": out / "scoreboard.md"} if args.output else {}
        csv_path, md_path = write_scoreboard(scoreboard(args.output), **files)
        status_path = _write_status((args.output or paths.build_dir()) / "status.md", out)
        print(f"scoreboard (every record): {md_path} and {csv_path.name}; status tables: {status_path}")
    book = paths.build_dir() / "book" / "html" / "index.html"
    print(f"the book: {book}" + ("" if book.is_file() else " (build it with: make book)")
          + "; committed full runs: lossnotes scoreboard --status")
    return 0 if all(r.ok for r in results) else 1


def _cmd_book(args) -> int:
    from .book import BrowserUnavailable, build_book, check_book

    try:
        result = build_book(args.chapters or None, build_root=args.build_root, run_missing=not args.no_run,
                            notebooks_dir=args.notebooks_dir, echo=True)
    except RuntimeError as err:
        print(f"lossnotes book: {err}", file=sys.stderr)
        return 1
    failed = [r for r in result.runs if not r.ok]
    for r in failed:
        print(f"left out of the book: {r.name}: {r.error.splitlines()[0] if r.error else 'failed'} "
              f"(executed notebook: {r.output})")
    if args.check or args.screenshots:
        try:
            report = check_book(result.html_dir, screenshot_dir=args.screenshots)
        except BrowserUnavailable as err:
            print(f"lossnotes book: cannot check the book in a browser: {err}", file=sys.stderr)
            return 1
        print(report.summary())
        if not report.ok:
            return 1
    return 1 if failed else 0


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
        if args.command == "book":
            return _cmd_book(args)
        if args.status:
            _print_status(args.root, args.chapter)
        else:
            _print_scoreboard(args.root, args.csv, args.markdown)
        return 0
    except ValueError as err:
        print(f"lossnotes {args.command}: error: {err}", file=sys.stderr)
        return 2
