"""The offline book: the executed chapters as a browsable HTML site, and a headless-browser check of it.

:func:`build_book` writes a sphinx project into ``build/book/src`` from the executed notebooks in
``build/notebooks`` (running in quick mode those that are missing), with an intro page, one page per chapter and a
scoreboard page, and builds it into ``build/book/html``. It uses Jupyter Book 1.x's stack (myst-nb reads the
notebooks, ``sphinx-book-theme`` lays out the pages) through ``sphinx-build`` rather than the ``jupyter-book``
command, which always loads extensions that reach for the network. MathJax 3 is served
from the book's own ``_static/mathjax`` (copied from the ``sphinx-mathjax-offline`` package), so nothing is
fetched from the network: no CDN, no web fonts. Search is sphinx's own client-side index.

:func:`check_book` loads pages in headless Chromium (the system browser, driven by Playwright) from a local
server with every non-local request blocked, and reports blocked or failed requests, unrendered math, raw
``$$`` left in the text and images that did not load.
"""
from __future__ import annotations

import contextlib
import functools
import http.server
import importlib.util
import json
import math
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from . import paths

__all__ = ["BookResult", "PageCheck", "BookCheck", "BrowserUnavailable", "executed_notebooks", "build_book",
           "book_pages", "serve", "find_chromium", "check_book"]

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
#: MathJax 3 bundles left out of the book's copy: the book loads ``tex-chtml.js`` (fonts and TeX extensions
#: are loaded from beside it on demand); the other combined bundles would only add megabytes.
_MATHJAX_SKIP = re.compile(r"^(tex-chtml-full.*|tex-svg.*|tex-mml-.*|mml-.*|node-main)\.js$")


@dataclass
class BookResult:
    """A built book: ``html_dir / "index.html"`` is its first page."""

    html_dir: Path
    source_dir: Path
    chapters: list[str]
    seconds: float
    size_bytes: int
    runs: list = field(default_factory=list)  # RunResult of the chapters run because they were missing
    log: Path | None = None


def _failed(path: Path) -> bool:
    """True if papermill recorded a cell error in this executed notebook."""
    try:
        meta = json.loads(path.read_text()).get("metadata", {}).get("papermill", {})
    except (OSError, ValueError):
        return True
    return bool(meta.get("exception"))


def executed_notebooks(chapters=None, *, build_root=None, notebooks_dir=None, run_missing: bool = True,
                       echo: bool = False) -> tuple[list[Path], list]:
    """The executed copies ``<build_root>/notebooks/<chapter>.ipynb`` of the chosen chapters (all by default).

    Chapters without a successful executed copy are run in quick mode first (``run_missing``), their figures
    and records going under ``build_root`` as a quick run's do. Returns ``(notebooks, runs)``: the executed
    notebooks that exist and ran without error, in chapter order, and the runs made here.
    """
    from .runner import resolve_chapters, run_notebooks

    root = Path(build_root) if build_root is not None else paths.build_dir()
    sources = resolve_chapters(chapters, notebooks_dir)
    missing = [nb for nb in sources if not (root / "notebooks" / nb.name).is_file()
               or _failed(root / "notebooks" / nb.name)]
    runs = []
    if missing and run_missing:
        if echo:
            print(f"running {len(missing)} chapter(s) not yet executed in {root / 'notebooks'}", flush=True)
        runs = run_notebooks(missing, output_dir=None if build_root is None else root, notebooks_dir=notebooks_dir,
                             echo=echo)
    executed = [root / "notebooks" / nb.name for nb in sources]
    stale = [nb.stem for nb, p in zip(sources, executed) if p.is_file() and nb.stat().st_mtime > p.stat().st_mtime]
    if stale and echo:
        print(f"note: {', '.join(stale)} changed since executed; the book shows the earlier run "
              f"(refresh with: lossnotes run {' '.join(s[:2] for s in stale)})", flush=True)
    return [p for p in executed if p.is_file() and not _failed(p)], runs


def _chapter_title(nb) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return ""


def _clean_copy(src: Path, dst: Path) -> dict:
    """Copy an executed notebook for the book without widget outputs (progress bars, which need the widget
    JavaScript from a CDN and mean nothing on a static page); return what the intro page lists about it."""
    nb = nbformat.read(str(src), as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if WIDGET_MIME not in o.get("data", {})]
    nb.metadata.pop("widgets", None)
    nbformat.write(nb, str(dst))
    pm = nb.metadata.get("papermill", {})
    params = pm.get("parameters", {})
    return {"name": src.stem, "title": _chapter_title(nb) or src.stem,
            "mode": "quick" if params.get("quick", True) else "full",
            "ended": (pm.get("end_time") or "")[:16].replace("T", " "),
            "seconds": pm.get("duration")}


def _escape(text) -> str:
    """Text for a MyST table cell, shown as it is: no ``$`` math, no ``|`` column breaks, no escapes."""
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return ""
    if isinstance(text, float):
        text = f"{text:.6g}"
    return str(text).replace("\\", "\\\\").replace("$", "\\$").replace("|", "\\|").replace("\n", " ")


def _table(df) -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(_escape(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def _intro_page(chapters: list[dict]) -> str:
    rows = ["| chapter | executed | mode | run time |", "|---|---|---|---|"]
    for c in chapters:
        took = f"{c['seconds']:.0f} s" if isinstance(c["seconds"], (int, float)) else ""
        rows.append(f"| [{_escape(c['title'])}](chapters/{c['name']}.ipynb) | {c['ended']} | {c['mode']} | {took} |")
    return "\n".join([
        "# lossnotes",
        "",
        "Chapters on classification loss functions: each derives a loss's gradients with SymPy, checks the "
        "paper's claims as asserts, redraws the paper's figures and reruns its experiments under one experiment "
        "protocol. This book shows the chapters as they were executed (outputs, figures and numbers included), "
        "so they can be read without running anything. It works offline: everything it loads is in this folder.",
        "",
        *rows,
        "",
        "The chapter pages show the run listed above (quick mode runs small settings on a laptop's CPU; "
        "`lossnotes run --full` runs the papers' settings). The [reproduction scoreboard](scoreboard.md) gathers "
        "what the committed full runs reproduce of each paper.",
        "",
    ])


def _scoreboard_page() -> str:
    from .records import STATUSES, scoreboard, status_table

    status = status_table()
    records = scoreboard(paths.repo_root())
    lines = [
        "# Reproduction scoreboard",
        "",
        "What the committed full runs (`results/<chapter>.json`) reproduce of each paper. Each paper item (a "
        "table or figure) gets a status by the written rule of `lossnotes.records.item_status`: *reproduced* "
        "when every row's paper number lies inside our 95 % interval (or within 1 % of it), *partly* when some "
        "rows do or the paper's best row is ours or tied with ours, *contradicted* when the paper's best row is "
        "clearly behind ours, *not run here* for what a chapter could not run. The committed runs used reduced "
        "settings on a CPU, stated in each record's setting. (The chapter pages of this book may show a quick "
        "run; their numbers are not the ones gathered here.)",
        "",
    ]
    if not len(status):
        return "\n".join(lines + ["No committed records yet.", ""])
    counts = status.pivot_table(index="chapter", columns="status", values="paper item", aggfunc="count",
                                fill_value=0)
    counts = counts[[s for s in STATUSES if s in counts.columns]]
    counts.insert(0, "items", counts.sum(axis=1))
    lines += ["## Status per chapter", "", _table(counts.reset_index()), ""]
    for chapter, part in status.groupby("chapter", sort=True):
        lines += [f"### {chapter}", "", _table(part.drop(columns="chapter")), ""]
    lines += ["## Every record", "",
              "Each reproduced number with the paper's number, our mean and 95 % interval, how the epoch was "
              "selected, the learning rate chosen on validation, and whether runs were degenerate.", ""]
    shown = [c for c in ("table", "row", "metric", "paper", "ours", "ci95", "delta", "selection", "lr",
                         "degenerate", "seeds", "setting", "note") if c in records]
    for chapter, part in records.groupby("chapter", sort=True):
        lines += [f"### {chapter} (records)", "", _table(part[shown]), ""]
    return "\n".join(lines)


def _conf_py(title: str) -> str:
    """Sphinx configuration: Jupyter Book 1.x's stack (myst-nb, sphinx-book-theme) without the extensions
    that reach for the network (thebe, launch buttons, comments), MathJax from ``_static/mathjax``."""
    options = {"home_page_in_toc": True, "use_download_button": True, "use_fullscreen_button": True,
               "use_repository_button": False, "use_issues_button": False, "use_edit_page_button": False,
               "launch_buttons": {}, "show_toc_level": 2,
               "extra_footer": "Built offline by <code>lossnotes book</code> from the executed chapters."}
    return "\n".join([
        "# Written by lossnotes.book on every build; edit lossnotes/book.py instead.",
        f"project = {title!r}",
        f"html_title = {title!r}",
        "author = 'lossnotes'",
        "html_show_copyright = False",
        "extensions = ['myst_nb']",
        "root_doc = 'index'",
        "exclude_patterns = ['_build', '**.ipynb_checkpoints']",
        "html_theme = 'sphinx_book_theme'",
        f"html_theme_options = {options!r}",
        "html_static_path = ['_mathjax']  # copied into _static/: MathJax is served by the book itself",
        "mathjax_path = 'mathjax/tex-chtml.js'",
        "html_sourcelink_suffix = ''",
        "myst_enable_extensions = ['amsmath', 'colon_fence', 'dollarmath']",
        "myst_dmath_double_inline = True  # $$...$$ inside a paragraph is display math, as in JupyterLab",
        "nb_execution_mode = 'off'  # the notebooks come executed",
        "nb_ipywidgets_js = {}  # no widget JavaScript from a CDN",
        "nb_output_stderr = 'show'",
        "nb_merge_streams = True  # one block per cell for what it printed",
        "nb_render_markdown_format = 'myst'  # Markdown outputs (tables from code) keep their $math$",
        "suppress_warnings = ['mystnb.unknown_mime_type', 'myst.header']",
        "",
    ])


def _toctrees(chapters: list[str]) -> str:
    lines = ["```{toctree}", ":caption: Chapters", ":maxdepth: 1", ":hidden:", ""]
    lines += [f"chapters/{name}" for name in chapters]
    lines += ["```", "", "```{toctree}", ":caption: Results", ":maxdepth: 1", ":hidden:", "", "scoreboard", "```", ""]
    return "\n".join(lines)


def _copy_mathjax(static_dir: Path) -> None:
    spec = importlib.util.find_spec("sphinx-mathjax-offline")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the book serves MathJax itself: install the package sphinx-mathjax-offline "
                           "(a dependency of lossnotes)")
    source = Path(list(spec.submodule_search_locations)[0]) / "static" / "mathjax"
    target = static_dir / "mathjax"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target, ignore=lambda d, names: [n for n in names if _MATHJAX_SKIP.match(n)
                                                              and Path(d) == source])


def _size(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())


def build_book(chapters=None, *, build_root=None, notebooks_dir=None, run_missing: bool = True,
               title: str = "lossnotes", echo: bool = False) -> BookResult:
    """Build the HTML book from the executed chapters (see the module docstring); returns where it is.

    ``build_root`` (default ``build/``) holds the executed notebooks (``notebooks/``) and receives the book
    (``book/src``, ``book/doctrees`` and ``book/html``). ``RuntimeError`` with the build log's tail if sphinx fails, or if
    no chapter could be executed.
    """
    root = Path(build_root) if build_root is not None else paths.build_dir()
    executed, runs = executed_notebooks(chapters, build_root=root if build_root is not None else None,
                                        notebooks_dir=notebooks_dir, run_missing=run_missing, echo=echo)
    if not executed:
        failed = "; ".join(f"{r.name}: {r.error}" for r in runs if not r.ok)
        raise RuntimeError(f"no executed chapter in {root / 'notebooks'} to build the book from"
                           + (f" ({failed})" if failed else ""))
    book = root / "book"
    src = book / "src"
    if src.exists():
        shutil.rmtree(src)
    (src / "chapters").mkdir(parents=True)
    (src / "_mathjax").mkdir()
    infos = [_clean_copy(p, src / "chapters" / p.name) for p in executed]
    names = [i["name"] for i in infos]
    (src / "index.md").write_text(_intro_page(infos) + "\n" + _toctrees(names))
    (src / "scoreboard.md").write_text(_scoreboard_page())
    (src / "conf.py").write_text(_conf_py(title))
    _copy_mathjax(src / "_mathjax")

    html = book / "html"
    if html.exists():  # pages are rewritten from the kept doctrees; no stale files from earlier builds
        shutil.rmtree(html)
    command = [sys.executable, "-m", "sphinx", "-b", "html", "-q", "-d", str(book / "doctrees"), str(src), str(html)]
    log = book / "build.log"
    if echo:
        print(f"building the book of {len(names)} chapter(s) (sphinx, log: {log}) ... ", end="", flush=True)
    start = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                              env={**os.environ, "PYTHONWARNINGS": "ignore::DeprecationWarning"})
    seconds = time.perf_counter() - start
    if proc.returncode != 0 or not (html / "index.html").is_file():
        tail = "\n".join(log.read_text().strip().splitlines()[-20:])
        raise RuntimeError(f"sphinx-build failed (exit {proc.returncode}); the end of {log}:\n{tail}")
    result = BookResult(html, src, names, seconds, _size(html), runs, log)
    if echo:
        print(f"done in {seconds:.0f} s")
        print(f"the book: {html / 'index.html'} ({result.size_bytes / 2**20:.1f} MiB, {len(names)} chapter(s))")
    return result


def book_pages(html_dir) -> list[str]:
    """The book's HTML pages, relative to ``html_dir`` (not the theme's or sphinx's assets)."""
    html_dir = Path(html_dir)
    skip = {"_static", "_sources", "_images", "_sphinx_design_static", ".doctrees"}
    return sorted(p.relative_to(html_dir).as_posix() for p in html_dir.rglob("*.html")
                  if not skip & set(p.relative_to(html_dir).parts))


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # no request log on the terminal
        pass


@contextlib.contextmanager
def serve(directory):
    """Serve ``directory`` on 127.0.0.1 (a free port) in a thread; yields the base URL ending in ``/``."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class BrowserUnavailable(RuntimeError):
    """No headless Chromium here: Playwright's Python package or a Chromium executable is missing."""


def find_chromium() -> str | None:
    """The Chromium executable: ``$LOSSNOTES_CHROMIUM``, else ``chromium`` (Debian's package) or Chrome on PATH."""
    env = os.environ.get("LOSSNOTES_CHROMIUM")
    if env:
        return env if Path(env).is_file() else None
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass
class PageCheck:
    """What one page did in the browser (``ok`` when nothing went wrong)."""

    page: str
    blocked: list[str] = field(default_factory=list)       # non-local requests (aborted)
    failed: list[str] = field(default_factory=list)        # local requests that failed or got HTTP >= 400
    errors: list[str] = field(default_factory=list)        # uncaught JavaScript errors
    math: int = 0                                          # math elements on the page
    unrendered: int = 0                                    # of which MathJax did not render
    raw_math: list[str] = field(default_factory=list)      # TeX left as text ($$, \(, $\alpha ...)
    images: int = 0
    broken_images: list[str] = field(default_factory=list)
    search_hits: int | None = None                         # search.html only

    @property
    def ok(self) -> bool:
        return not (self.blocked or self.failed or self.errors or self.unrendered or self.raw_math
                    or self.broken_images or self.search_hits == 0)

    def line(self) -> str:
        bits = [f"math {self.math - self.unrendered}/{self.math} rendered", f"{self.images} image(s)"]
        if self.search_hits is not None:
            bits.append(f"{self.search_hits} search hit(s)")
        for name in ("blocked", "failed", "errors", "raw_math", "broken_images"):
            items = getattr(self, name)
            if items:
                bits.append(f"{name.replace('_', ' ')}: {len(items)} ({'; '.join(items[:3])})")
        return f"{'ok' if self.ok else 'BAD':<3}  {self.page}: " + ", ".join(bits)


@dataclass
class BookCheck:
    pages: list[PageCheck]
    screenshots: list[Path] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.pages) and all(p.ok for p in self.pages)

    def summary(self) -> str:
        lines = [p.line() for p in self.pages]
        lines.append(f"{sum(p.ok for p in self.pages)}/{len(self.pages)} page(s) ok in headless Chromium, "
                     "every non-local request blocked")
        lines += [f"screenshot: {s}" for s in self.screenshots]
        return "\n".join(lines)


# Runs in the page once it has loaded: waits for MathJax, then counts what rendered and what did not.
_INSPECT = r"""
async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) { await MathJax.startup.promise; }
  const imgs = Array.from(document.images);
  imgs.forEach(i => { i.loading = 'eager'; });
  await Promise.all(imgs.map(i => i.decode().catch(() => null)));
  const math = Array.from(document.querySelectorAll('.math'));
  const clone = document.body.cloneNode(true);
  // code shows TeX on purpose; search results quote page text as plain text
  clone.querySelectorAll('pre, code, script, style, textarea, .highlight, mjx-container, #search-results')
    .forEach(n => n.remove());
  const raw = clone.textContent.match(/.{0,30}(\$\$|\\\(|\\\[|\$\\[A-Za-z]|\\begin\{).{0,30}/g) || [];
  return {
    math: math.length,
    unrendered: math.filter(n => !n.querySelector('mjx-container')).length,
    raw: raw.map(s => s.replace(/\s+/g, ' ').trim()),
    images: imgs.length,
    broken: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.currentSrc || i.src),
  };
}
"""


def _watch(page, check: PageCheck, base: str) -> None:
    """Abort every request that does not go to ``base`` and note it; note failed requests and JS errors."""

    def route(route, request):
        if request.url.startswith(base):
            route.continue_()
        else:
            check.blocked.append(request.url)
            route.abort()

    def failed(request):
        if request.url.startswith(base):
            check.failed.append(f"{request.url[len(base):]} ({request.failure})")

    def response(resp):
        if resp.status >= 400:
            check.failed.append(f"{resp.url[len(base):]} (HTTP {resp.status})")

    page.route("**/*", route)
    page.on("requestfailed", failed)
    page.on("response", response)
    page.on("pageerror", lambda err: check.errors.append(str(err)))


def _screenshot(page, path: Path) -> Path:
    """A viewport screenshot as a small palette PNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path))
    try:
        from PIL import Image

        with Image.open(path) as im:
            im.convert("RGB").quantize(colors=128).save(path, optimize=True)
    except ImportError:  # pragma: no cover - Pillow comes with matplotlib
        pass
    return path


def check_book(html_dir, pages=None, *, search_term: str | None = "softmax", screenshot_dir=None,
               chromium: str | None = None, timeout_s: float = 120.0) -> BookCheck:
    """Load the book's pages (default: all, :func:`book_pages`) in headless Chromium from a local server,
    aborting every request that is not to that server, and report per page (:class:`PageCheck`).

    ``search.html`` is loaded with ``?q=<search_term>`` and must find something. ``screenshot_dir``: save
    ``book-chapter.png`` (the first chapter page, scrolled to its first figure) and
    ``book-scoreboard.png`` there. :class:`BrowserUnavailable` if Playwright or Chromium is missing.
    """
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as err:
        raise BrowserUnavailable(f"Playwright's Python package is not installed ({err}); "
                                 "pip install playwright (it drives the system Chromium)") from None
    exe = chromium or find_chromium()
    if exe is None:
        raise BrowserUnavailable("no Chromium executable found (install the Debian package: apt-get install "
                                 "chromium, or set $LOSSNOTES_CHROMIUM)")
    html_dir = Path(html_dir)
    pages = list(pages) if pages is not None else book_pages(html_dir)
    checks, shots = [], []
    chapter = next((p for p in pages if p.startswith("chapters/")), None)
    wanted = {chapter: "book-chapter.png", "scoreboard.html": "book-scoreboard.png"} if screenshot_dir else {}
    with serve(html_dir) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, headless=True, args=["--disable-dev-shm-usage"])
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 800}, service_workers="block")
            context.set_default_timeout(timeout_s * 1000)
            for name in pages:
                check = PageCheck(name)
                page = context.new_page()
                _watch(page, check, base)
                query = f"?q={search_term}" if name == "search.html" and search_term else ""
                page.goto(base + name + query, wait_until="load")
                if query:
                    page.wait_for_function("() => !document.querySelector('#search-progress') || "
                                           "!document.querySelector('#search-progress').textContent"
                                           ".startsWith('Preparing')")
                    with contextlib.suppress(Exception):
                        page.wait_for_selector("#search-results li", timeout=15000)
                    check.search_hits = page.locator("#search-results li").count()
                info = page.evaluate(_INSPECT)
                with contextlib.suppress(Exception):  # let late requests (fonts, MathJax parts) finish or fail
                    page.wait_for_load_state("networkidle", timeout=15000)
                check.math, check.unrendered = info["math"], info["unrendered"]
                check.raw_math, check.images = info["raw"], info["images"]
                check.broken_images = [s[len(base):] if s.startswith(base) else s for s in info["broken"]]
                if name in wanted:
                    figure = page.locator(".cell_output img").first
                    if name == chapter and figure.count():
                        page.evaluate("el => window.scrollTo(0, el.getBoundingClientRect().top + window.scrollY"
                                      " - 240)", figure.element_handle())
                    shots.append(_screenshot(page, Path(screenshot_dir) / wanted[name]))
                checks.append(check)
                page.close()
        finally:
            browser.close()
    return BookCheck(checks, shots)
