"""The offline book: chapter 00 executed in quick mode and built into HTML, then read in headless Chromium from a
local server with every non-local request blocked. ``make book`` builds every chapter; here one small chapter."""
from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from lossnotes.book import (WIDGET_MIME, BrowserUnavailable, _clean_copy, _escape, _failed, book_pages,
                            build_book, check_book, find_chromium)
from lossnotes.cli import main

# The build is shared by the tests of this module; under pytest-xdist they run on one worker (--dist loadgroup).
pytestmark = pytest.mark.xdist_group("book")


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    root = tmp_path_factory.mktemp("book")
    return build_book(["00"], build_root=root)


def _browser_or_skip():
    try:
        import playwright  # noqa: F401
    except ImportError:
        pytest.skip("Playwright's Python package is not installed (pip install playwright)")
    if find_chromium() is None:
        pytest.skip("no Chromium executable (the set-up installs the Debian package chromium when run as root)")


class _Refs(HTMLParser):
    """Every URL a page would load by itself: scripts, stylesheets, images, fonts, frames."""

    def __init__(self):
        super().__init__()
        self.urls = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("script", "img", "iframe", "source") and a.get("src"):
            self.urls.append(a["src"])
        if tag == "link" and a.get("href") and set((a.get("rel") or "").split()) & {"stylesheet", "preload", "icon"}:
            self.urls.append(a["href"])


@pytest.mark.notebook
@pytest.mark.slow
def test_book_is_built_from_the_executed_chapter_with_everything_local(book):
    assert book.chapters == ["00_foundations"]
    assert [r.name for r in book.runs] == ["00_foundations"] and book.runs[0].ok  # it was run: not there yet
    pages = book_pages(book.html_dir)
    assert {"index.html", "chapters/00_foundations.html", "scoreboard.html", "search.html"} <= set(pages)
    assert (book.html_dir / "searchindex.js").is_file()
    assert (book.html_dir / "_static" / "mathjax" / "tex-chtml.js").is_file()
    assert (book.html_dir / "_static" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").is_dir()
    remote = {}
    for page in pages:
        parser = _Refs()
        parser.feed((book.html_dir / page).read_text())
        far = [u for u in parser.urls if re.match(r"^(https?:)?//", u)]
        if far:
            remote[page] = far
    assert not remote, f"pages load files from the network: {remote}"
    chapter = (book.html_dir / "chapters" / "00_foundations.html").read_text()
    assert "_static/mathjax/tex-chtml.js" in chapter and "<img" in chapter
    index = (book.html_dir / "index.html").read_text()
    assert "00 · Foundations" in index and "scoreboard.html" in index
    assert "Reproduction scoreboard" in (book.html_dir / "scoreboard.html").read_text()


@pytest.mark.notebook
@pytest.mark.slow
def test_book_in_headless_chromium_offline(book, tmp_path):
    _browser_or_skip()
    report = check_book(book.html_dir, screenshot_dir=tmp_path)
    message = report.summary()
    checked = {p.page: p for p in report.pages}
    assert set(book_pages(book.html_dir)) == set(checked), message
    assert report.ok, message   # no blocked or failed request, no JS error, math rendered, no raw $$, images load
    chapter = checked["chapters/00_foundations.html"]
    assert chapter.math > 10 and chapter.unrendered == 0, message
    assert chapter.images >= 1 and not chapter.broken_images, message
    assert checked["search.html"].search_hits > 0, message
    assert [p.name for p in report.screenshots] == ["book-chapter.png", "book-scoreboard.png"]
    assert all(p.stat().st_size > 10_000 for p in report.screenshots)


def test_the_browser_check_can_fail(tmp_path):
    """A page that reaches for the network, leaves TeX raw and shows a broken image is reported on every count."""
    _browser_or_skip()
    (tmp_path / "bad.html").write_text(
        '<html><head><script src="https://cdn.invalid/mathjax.js"></script></head><body>'
        '<p>Display math left as text: $$x^2$$ and <span class="math">\\(y\\)</span></p>'
        '<img src="missing.png"></body></html>')
    report = check_book(tmp_path, ["bad.html"])
    [page] = report.pages
    assert not report.ok
    assert page.blocked == ["https://cdn.invalid/mathjax.js"]
    assert page.math == 1 and page.unrendered == 1
    assert any("$$" in r for r in page.raw_math)
    assert page.broken_images and any("missing.png" in f for f in page.failed)


def test_missing_browser_is_reported_not_crashed(tmp_path, monkeypatch):
    monkeypatch.setenv("LOSSNOTES_CHROMIUM", str(tmp_path / "no-such-chromium"))
    assert find_chromium() is None
    with pytest.raises(BrowserUnavailable, match="Chromium"):
        check_book(tmp_path, [])


def test_clean_copy_drops_progress_widgets_and_keeps_the_rest(tmp_path):
    nb = new_notebook(metadata={"widgets": {"application/vnd.jupyter.widget-state+json": {"state": {}}},
                                "papermill": {"parameters": {"quick": True}, "end_time": "2026-12-05T21:00:00",
                                              "duration": 12.5}})
    nb.cells.append(nbformat.v4.new_markdown_cell("# 07 · A chapter"))
    nb.cells.append(new_code_cell("x", outputs=[
        new_output("display_data", data={WIDGET_MIME: {"model_id": "abc"}, "text/plain": "HBox()"}),
        new_output("stream", name="stdout", text="kept\n")]))
    src, dst = tmp_path / "07_x.ipynb", tmp_path / "copy.ipynb"
    nbformat.write(nb, str(src))
    info = _clean_copy(src, dst)
    out = nbformat.read(str(dst), as_version=4)
    assert [o.output_type for o in out.cells[1].outputs] == ["stream"]
    assert "widgets" not in out.metadata
    assert info == {"name": "07_x", "title": "07 · A chapter", "mode": "quick", "ended": "2026-12-05 21:00",
                    "seconds": 12.5}


def test_a_failed_execution_is_not_taken_for_an_executed_chapter(tmp_path):
    nb = new_notebook(metadata={"papermill": {"exception": True}})
    nbformat.write(nb, str(tmp_path / "a.ipynb"))
    nb.metadata.papermill["exception"] = None
    nbformat.write(nb, str(tmp_path / "b.ipynb"))
    (tmp_path / "c.ipynb").write_text("{not json")
    assert [_failed(tmp_path / n) for n in ("a.ipynb", "b.ipynb", "c.ipynb")] == [True, False, True]
    assert not _failed(Path(tmp_path / "b.ipynb"))


def test_cli_book_without_executed_chapters_says_so(tmp_path, capsys):
    nbdir = tmp_path / "notebooks-src"
    nbdir.mkdir()
    nbformat.write(new_notebook(cells=[new_code_cell("quick = True", metadata={"tags": ["parameters"]})]),
                   str(nbdir / "00_x.ipynb"))
    assert main(["book", "--build-root", str(tmp_path / "b"), "--no-run", "--notebooks-dir", str(nbdir)]) == 1
    assert "no executed chapter" in capsys.readouterr().err


def test_scoreboard_cells_are_shown_as_they_are():
    # a record's note or setting may hold '|', '$' or a backslash: in a MyST table they must stay text
    assert _escape("a|b") == "a\\|b"
    assert _escape("cost $5 and $7, \\alpha") == "cost \\$5 and \\$7, \\\\alpha"
    assert [_escape(v) for v in (None, float("nan"), 0.123456789, 3)] == ["", "", "0.123457", "3"]
