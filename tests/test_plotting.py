import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from lossnotes.plotting import (PALETTE, distinct_styles, figure_legend, mean_band, plain_log_ticks,  # noqa: E402
                               save_figure, set_style)


@pytest.fixture
def fig():
    f, ax = plt.subplots()
    ax.plot([0, 1, 2], [1, 0.5, 0.2], label="loss")
    yield f
    plt.close(f)


def test_style_applied():
    set_style()
    assert matplotlib.rcParams["figure.dpi"] == 110
    first = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"][0]
    assert matplotlib.colors.to_hex(first) == matplotlib.colors.to_hex(PALETTE[0])


def test_save_figure_writes_png_and_svg(fig, tmp_path, monkeypatch):
    monkeypatch.setenv("LOSSNOTES_OUTPUT", str(tmp_path))
    written = save_figure(fig, "00_foundations", "loss_curve")
    assert written == [tmp_path / "figures/00_foundations/loss_curve.png",
                       tmp_path / "figures/00_foundations/loss_curve.svg"]
    assert written[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = written[1].read_text()
    assert "<svg" in svg and "<dc:date>" not in svg  # no timestamp, re-saves are byte-stable
    assert save_figure(fig, "00_foundations", "loss_curve", formats=("png",)) == written[:1]


@pytest.mark.parametrize("name", ["", "a/b", "..\\x", "..", ".hidden", "curve.png"])
def test_save_figure_rejects_bad_names(fig, tmp_path, monkeypatch, name):
    monkeypatch.setenv("LOSSNOTES_OUTPUT", str(tmp_path))
    with pytest.raises(ValueError):
        save_figure(fig, "00", name)
    assert not (tmp_path / "figures" / "00").exists() or not any((tmp_path / "figures" / "00").iterdir())


def test_save_figure_rejects_bad_chapter_and_format(fig, tmp_path, monkeypatch):
    monkeypatch.setenv("LOSSNOTES_OUTPUT", str(tmp_path))
    with pytest.raises(ValueError):
        save_figure(fig, "../x", "ok")
    with pytest.raises(ValueError, match="unsupported"):
        save_figure(fig, "00", "ok", formats=("png", "docx"))


def test_distinct_styles_keep_coinciding_curves_apart():
    styles = distinct_styles(7)
    assert len(styles) == 7
    widths = [s["lw"] for s in styles]
    assert widths == sorted(widths, reverse=True) and widths[0] > widths[-1]
    # neighbours differ in colour and in dash pattern, so a later curve drawn on an earlier one shows
    for a, b in zip(styles, styles[1:]):
        assert a["ls"] != b["ls"] and a["color"] != b["color"]
    assert distinct_styles(1)[0]["lw"] == 4.0
    for bad in (0, -1, 2.5):
        with pytest.raises(ValueError):
            distinct_styles(bad)
    with pytest.raises(ValueError):
        distinct_styles(3, widest=1.0, narrowest=2.0)


def test_mean_band_draws_mean_and_min_max():
    f, ax = plt.subplots()
    runs = [[1.0, 3.0], [2.0, 6.0], [0.0, 0.0]]
    line = mean_band(ax, [1, 2, 3], runs, color=PALETTE[1], label="loss")
    assert list(line.get_ydata()) == [2.0, 4.0, 0.0] and line.get_label() == "loss"
    (band,) = ax.collections
    ys = band.get_paths()[0].vertices[:, 1]
    assert ys.min() == 0.0 and ys.max() == 6.0
    f2, ax2 = plt.subplots()
    mean_band(ax2, [1, 2], [0.5, 0.7])                      # one seed: a line, no band
    assert not ax2.collections
    with pytest.raises(ValueError, match="one row per x"):
        mean_band(ax2, [1, 2, 3], [[1.0], [2.0]])
    f3, ax3 = plt.subplots()
    mean_band(ax3, [1], [[0.2, 0.6]])                     # one epoch, two seeds: the range as a vertical bar
    (bar,) = ax3.collections
    assert sorted(bar.get_segments()[0][:, 1]) == [0.2, 0.6]
    plt.close(f), plt.close(f2), plt.close(f3)


def test_figure_legend_collects_each_label_once_outside(tmp_path):
    f, (a, b) = plt.subplots(1, 2)
    a.plot([0, 1], [0, 1], label="SML"); a.plot([0, 1], [1, 0], label="LGL"); a.legend()
    b.plot([0, 1], [0, 2], label="SML"); b.plot([0, 1], [2, 0], label="LGL-INR")
    leg = figure_legend(f)
    assert [t.get_text() for t in leg.get_texts()] == ["SML", "LGL", "LGL-INR"]
    assert a.get_legend() is None                            # the panel legend gives way to the figure's
    f.canvas.draw()
    box = leg.get_window_extent()
    assert box.x0 >= max(ax.get_window_extent().x1 for ax in (a, b)) - 1   # right of the panels
    below = figure_legend(f, where="below")
    assert len(below.get_texts()) == 3
    with pytest.raises(ValueError):
        figure_legend(f, where="left")
    empty, _ = plt.subplots()
    with pytest.raises(ValueError, match="no labelled"):
        figure_legend(empty)
    plt.close(f), plt.close(empty)


def test_plain_log_ticks_label_numbers_not_powers():
    f, ax = plt.subplots()
    ax.plot([0.3, 30], [1, 2])
    ax.set_xscale("log")
    plain_log_ticks(ax.xaxis)
    f.canvas.draw()
    labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert "1" in labels and "10" in labels and "2" in labels and not any("10^" in s or "$" in s for s in labels)
    plain_log_ticks(ax.xaxis, values=[0.5, 4.44466, 30, 1000])
    f.canvas.draw()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0.5", "4.44", "30", "1000"]
    plt.close(f)
