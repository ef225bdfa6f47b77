import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from lossnotes.plotting import PALETTE, save_figure, set_style  # noqa: E402


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
