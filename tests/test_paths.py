from pathlib import Path

from lossnotes.paths import repo_root, shown


def test_shown_is_relative_inside_the_repository_and_unchanged_outside(tmp_path):
    assert shown(repo_root() / "results" / "00_foundations.json") == "results/00_foundations.json"
    assert shown(tmp_path / "x.json") == str(tmp_path / "x.json")
    assert not Path(shown(repo_root() / "build" / "results" / "a.json")).is_absolute()
