import json
import math

import numpy as np
import pytest
import torch

from lossnotes.records import (LR_EDGE_NOTE, Record, Recorder, describe_device, load_records, record, scoreboard,
                               scoreboard_markdown, write_scoreboard)

BASE = dict(chapter="00", table="Table 1", row="SML", metric="accuracy", setting="2 epochs", mode="quick",
            device="cpu (2 cores)", seeds=[0])


def test_record_accepts_runtime_numbers():
    into = []
    r = record("00", "Table 1", "SML", "accuracy", ours=torch.tensor(0.91), paper=92, ours_std=np.float32(0.5),
               setting="2 epochs", mode="full", device="cpu", seeds=(0, 1), into=into)
    assert into == [r]
    assert isinstance(r.ours, float) and r.ours == pytest.approx(0.91)
    assert r.paper == 92.0 and r.seeds == [0, 1] and r.delta == pytest.approx(0.91 - 92)
    assert Record(**{**BASE, "ours": np.float64(1.5)}).delta is None


@pytest.mark.parametrize("bad", ["0.9", float("nan"), float("inf"), None, True, [0.9], torch.ones(3)])
def test_record_rejects_bad_ours(bad):
    with pytest.raises(ValueError, match="ours"):
        Record(**BASE, ours=bad)


@pytest.mark.parametrize("change", [{"mode": "fast"}, {"paper": float("nan")}, {"ours_std": -1.0},
                                    {"seeds": []}, {"seeds": ["0"]}, {"setting": ""}, {"paper": "92"}])
def test_record_rejects_bad_fields(change):
    with pytest.raises(ValueError):
        Record(**{**BASE, "ours": 0.5, **change})


def test_describe_device():
    assert describe_device("cpu").startswith("cpu (")
    assert describe_device("auto") == describe_device("cuda" if torch.cuda.is_available() else "cpu")


def test_recorder_save_load_round_trip(tmp_path, monkeypatch):
    monkeypatch.setenv("LOSSNOTES_OUTPUT", str(tmp_path))
    rec = Recorder("01_softmax", quick=True, device="cpu")
    rec.add(table="Table 2", row="LGL", metric="error %", ours=torch.tensor(7.25), paper=7.1, ours_std=0.2,
            setting="5000-sample subset, 2 epochs", seeds=[0, 1, 2])
    rec.add(table="Fig 3", row="SML", metric="loss", ours=0.5, setting="toy", seeds=0, note="no paper number")
    with pytest.raises(ValueError):
        rec.add(table="T", row="r", metric="m", ours="7.2", setting="s", seeds=[0])
    path = rec.save()
    assert path == tmp_path / "results" / "01_softmax.json"
    doc = json.loads(path.read_text())
    assert doc["chapter"] == "01_softmax" and doc["mode"] == "quick" and doc["device"].startswith("cpu")
    assert doc["torch"] == torch.__version__ and "created" in doc and len(doc["records"]) == 2
    assert load_records(path) == rec.records
    assert list(rec.frame()["ours"]) == [7.25, 0.5]


def _write(root, chapter, mode, rows):
    rec = Recorder(chapter, quick=(mode == "quick"), device="cpu")
    for row in rows:
        rec.add(**row)
    return rec.save()


def test_scoreboard_gathers_chapters_with_delta_and_markdown(tmp_path, monkeypatch):
    monkeypatch.setenv("LOSSNOTES_OUTPUT", str(tmp_path))
    _write(tmp_path, "00_foundations", "quick",
           [dict(table="Table 1", row="SML", metric="acc", ours=0.8125, paper=0.9, setting="s", seeds=[0])])
    _write(tmp_path, "01_softmax", "quick",
           [dict(table="Table 2", row="LGL", metric="acc", ours=0.75, setting="s", seeds=[1, 2]),
            dict(table="Table 2", row="LGL-INR", metric="acc", ours=0.6875, paper=0.5, ours_std=0.03125,
                 setting="s", seeds=[1, 2])])
    df = scoreboard(tmp_path)
    assert list(df["chapter"]) == ["00_foundations", "01_softmax", "01_softmax"]
    for col in ["chapter", "table", "row", "metric", "paper", "ours", "ours_std", "delta", "setting", "mode",
                "device", "seeds", "source"]:
        assert col in df.columns
    assert df["delta"].iloc[0] == pytest.approx(0.8125 - 0.9)
    assert math.isnan(df["delta"].iloc[1]) and df["delta"].iloc[2] == pytest.approx(0.1875)
    assert df["seeds"].iloc[1] == "1,2" and set(df["mode"]) == {"quick"}
    md = scoreboard_markdown(df)
    assert md.startswith("| chapter |") and md.count("\n") == 2 + 3
    for number in ["0.8125", "0.9", "-0.0875", "0.75", "0.6875", "0.03125", "0.1875"]:
        assert number in md
    csv_path, md_path = write_scoreboard(df, csv_path=tmp_path / "s.csv", markdown_path=tmp_path / "s.md")
    assert md_path.read_text() == md and "0.6875" in csv_path.read_text()


def test_scoreboard_default_roots_include_source(tmp_path, monkeypatch):
    monkeypatch.setenv("LOSSNOTES_OUTPUT", str(tmp_path))
    _write(tmp_path, "zz_fake", "quick", [dict(table="T", row="r", metric="m", ours=1.0, setting="s", seeds=[0])])
    df = scoreboard()
    mine = df[df["chapter"] == "zz_fake"]
    assert len(mine) == 1 and mine["source"].iloc[0] == str(tmp_path / "results")
    assert scoreboard(tmp_path / "nothing-here").empty


# ------------------------------------------------------------------------------ protocol fields, status

def test_training_records_carry_the_protocol():
    r = Record(**BASE, ours=0.9, ci95=0.02, selection="best-val", lr=0.01, degenerate=False)
    assert r.ci95 == 0.02 and r.lr == 0.01 and r.selection == "best-val"
    with pytest.raises(ValueError, match="lr"):
        Record(**BASE, ours=0.9, selection="last")                  # a training record without its lr
    with pytest.raises(ValueError, match="selection"):
        Record(**BASE, ours=0.9, selection="best", lr=0.1)
    with pytest.raises(ValueError, match="ci95"):
        Record(**BASE, ours=0.9, ci95=-1.0)
    with pytest.raises(ValueError, match="degenerate"):
        Record(**BASE, ours=0.9, degenerate="no")


def test_add_summary_takes_everything_from_the_protocol(tmp_path, monkeypatch):
    monkeypatch.setenv("LOSSNOTES_OUTPUT", str(tmp_path))
    rec = Recorder("09_x", quick=False, device="cpu")
    row = {"arm": "CE", "selection": "best-val", "lr": 0.01, "seeds": [0, 1, 2], "n_degenerate": 1,
           "degenerate": True, "reasons": "collapsed onto one class (95% of predictions)",
           "acc": 91.0, "acc std": 0.5, "acc ci95": 1.2}
    r = rec.add_summary(row, table="Table 3", row="CE", metric="test accuracy (%)", key="acc", paper=92.0,
                        setting="subset")
    assert (r.ours, r.ours_std, r.ci95, r.lr, r.selection, r.seeds) == (91.0, 0.5, 1.2, 0.01, "best-val", [0, 1, 2])
    assert r.degenerate and "1 of 3 seeds degenerate" in r.note and "grid" not in r.note
    edge = rec.add_summary({**row, "lr_edge": "top", "n_degenerate": 0, "degenerate": False}, table="Table 3",
                           row="CE", metric="test accuracy (%)", key="acc", setting="subset")
    assert edge.note.startswith(LR_EDGE_NOTE) and "(top)" in edge.note
    inside = rec.add_summary({**row, "lr_edge": float("nan"), "n_degenerate": 0, "degenerate": False},
                             table="Table 3", row="CE", metric="test accuracy (%)", key="acc", setting="subset")
    assert inside.note is None          # a summary frame's missing lr_edge is NaN, not an edge
    rec.not_run(table="Table 4", reason="CIFAR-10 not available offline")
    path = rec.save()
    assert load_records(path) == rec.records
    doc = json.loads(path.read_text())
    assert doc["not_run"] == [{"table": "Table 4", "reason": "CIFAR-10 not available offline"}]


def _rec(row, paper, ours, ci95=None, group=None, degenerate=False, metric="accuracy", selection="best-val"):
    return Record(**{**BASE, "row": row, "metric": metric}, paper=paper, ours=ours, ci95=ci95, group=group,
                  degenerate=degenerate, selection=selection, lr=0.1)


def test_item_status_rule():
    from lossnotes.records import item_status

    assert item_status([_rec("a", 90, 89.5, ci95=1.0), _rec("b", 80, 80.4)])[0] == "reproduced"   # ci / 1 % tolerance
    # nothing inside, but the paper's best row is our best: partly
    assert item_status([_rec("a", 90, 70), _rec("b", 80, 60)])[0] == "partly"
    # nothing inside and the ordering reversed beyond the intervals: contradicted
    status, text = item_status([_rec("a", 90, 60, ci95=1.0), _rec("b", 80, 70, ci95=1.0)])
    assert status == "contradicted" and "0/2 rows agree" in text
    # reversed, but the paper's best is tied with ours within the combined interval: partly
    assert item_status([_rec("a", 90, 69, ci95=2.0), _rec("b", 80, 70, ci95=2.0)])[0] == "partly"
    # error-like metrics rank the lowest first
    assert item_status([_rec("a", 5, 10, metric="error %"), _rec("b", 8, 20, metric="error %")])[0] == "partly"
    # degenerate rows are left out; all degenerate -> degenerate
    assert item_status([_rec("a", 90, 10, degenerate=True), _rec("b", 80, 80.1)])[0] == "reproduced"
    assert item_status([_rec("a", 90, 10, degenerate=True)])[0] == "degenerate"
    # last-epoch rows and rows without a paper number do not decide
    assert item_status([_rec("a", 90, 10, selection="last"), _rec("b", 80, 80.1)])[0] == "reproduced"
    assert item_status([_rec("a", None, 0.5)])[0] == "ours only"
    # groups: the ordering is judged within each group
    g = [_rec("a", 90, 60, group="x"), _rec("b", 80, 50, group="x"), _rec("a", 90, 40, group="y"), _rec("b", 80, 50, group="y")]
    assert item_status(g)[0] == "partly"
    # claims recorded as 1 = holds share a group: a tie at the top orders nothing, so reversed claims stay contradicted
    ties = [_rec("a", 1, 0), _rec("b", 1, 0.5), _rec("c", 1, 0)]
    status, text = item_status(ties)
    assert status == "contradicted" and "group" not in text
    # claim records are verdicts: 1 holds, 0.5 not separated, 0 reversed
    claim = "claim holds (1 yes, 0.5 not separated, 0 reversed)"
    verdicts = lambda *v: [_rec(f"c{i}", 1, x, metric=claim) for i, x in enumerate(v)]  # noqa: E731
    assert item_status(verdicts(1, 1))[0] == "reproduced"
    assert item_status(verdicts(1, 0.5))[0] == "partly"
    assert item_status(verdicts(0.5, 0.5))[0] == "not separated"
    status, text = item_status(verdicts(1, 0.5, 0))
    assert status == "contradicted" and text == "1 of 3 claim row(s) hold, 1 not separated, 1 reversed"


def test_status_table_reads_results_and_not_run(tmp_path, monkeypatch):
    from lossnotes.records import status_table

    monkeypatch.setenv("LOSSNOTES_OUTPUT", str(tmp_path))
    rec = Recorder("07_demo", quick=False, device="cpu")
    rec.add(table="Table 2", row="CE", metric="accuracy", ours=90.0, paper=90.5, setting="subset", seeds=[0, 1, 2],
            ci95=1.0, selection="best-val", lr=0.1)
    rec.not_run(table="Table 9", reason="needs ImageNet")
    rec.save()
    df = status_table("07", root=tmp_path)
    assert df[["paper item", "status"]].values.tolist() == [["Table 2", "reproduced"], ["Table 9", "not run here"]]
    assert df["setting that differs"].tolist() == ["subset", "needs ImageNet"]


def test_committed_results_look_up_by_group_and_row(tmp_path, monkeypatch):
    from lossnotes.records import CommittedResults, format_record, intervals_overlap

    monkeypatch.setenv("LOSSNOTES_OUTPUT", str(tmp_path))
    rec = Recorder("09_x", quick=False, device="cpu")
    common = dict(table="Table 3", metric="F1 (%)", setting="s", seeds=[0, 1], lr=0.01)
    rec.add(row="atl", ours=70.0, ci95=1.0, selection="best-val", group="tiles: F1 (%)", **common)
    rec.add(row="atl", ours=68.0, ci95=1.0, selection="last", group="tiles: F1 (%)", **common)
    rec.add(row="aml", ours=71.5, ci95=0.4, selection="best-val", group="tiles: F1 (%)", degenerate=True, **common)
    rec.add(row="atl", ours=55.0, selection="best-val", group="surrogate: F1 (%)", **common)
    rec.save()
    res = CommittedResults("09_x", root=tmp_path)
    assert res.exists and res.has_protocol and len(res.records) == 4
    assert res.get("tiles: F1 (%)", "atl").ours == 70.0
    assert res.get("tiles: F1 (%)", "atl", selection="last").ours == 68.0
    assert res.get("tiles: F1 (%)", "nope") is None and res.get("tiles: F1 (%)", "atl", table="Table 4") is None
    assert res.rows("tiles: F1 (%)") == ["atl", "aml"]
    assert [r.ours for r in res.where(row="atl", selection=None)] == [70.0, 68.0, 55.0]
    with pytest.raises(ValueError, match="unknown record fields"):
        res.where(colour="red")
    atl, aml = res.get("tiles: F1 (%)", "atl"), res.get("tiles: F1 (%)", "aml")
    assert format_record(atl) == "70.0 ± 1.0" and format_record(aml) == "71.5 ± 0.4 **(degenerate)**"
    assert format_record(None) == "-" and format_record(res.get("surrogate: F1 (%)", "atl")) == "55.0 (1 seed)"
    assert not intervals_overlap(atl, aml) and intervals_overlap(atl, res.get("tiles: F1 (%)", "atl", selection="last"))
    missing = CommittedResults("10_none", root=tmp_path)
    assert not missing.exists and missing.records == [] and not missing.has_protocol


def test_status_markdown_without_committed_run_names_the_chapter_to_run(tmp_path):
    from lossnotes.records import status_markdown

    assert "`lossnotes run 04a --full`" in status_markdown("04a_matching_links", root=tmp_path)
