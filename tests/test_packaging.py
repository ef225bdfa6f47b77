"""Project conventions: environment.yml agrees with pyproject.toml, notebooks are committed clean and
parameterised, the README starts with the two commands."""
from __future__ import annotations

import ast
import json
import re
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _split(requirement: str) -> tuple[str, str]:
    m = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", requirement)
    return m.group(1).lower().replace("_", "-"), m.group(2).replace(" ", "")


def test_environment_yml_agrees_with_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = dict(_split(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"])
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    have = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for pip_dep in dep["pip"]:
                if not pip_dep.startswith("-"):
                    have.update([_split(pip_dep)])
        else:
            name, spec = _split(dep)
            if name not in ("python", "pip"):
                have[name] = spec.lstrip("=") if spec.startswith("=") and not spec.startswith("==") else spec
    assert set(have) == set(wanted), f"only in environment.yml: {set(have) - set(wanted)}; " \
                                     f"only in pyproject.toml: {set(wanted) - set(have)}"
    for name, spec in wanted.items():
        if name == "torch":     # pinned in environment.yml and the Makefile; a range in pyproject
            assert have[name] == "==2.13.0"
        else:
            assert have[name] == spec, f"{name}: environment.yml {have[name]!r} vs pyproject {spec!r}"


def test_makefile_installs_the_pinned_torch_first():
    text = (ROOT / "Makefile").read_text()
    assert text.index("torch==2.13.0") < text.index("-e '.[dev]'")


def test_readme_starts_with_the_two_commands():
    lines = [l.strip() for l in (ROOT / "README.md").read_text().splitlines() if l.strip()]
    commands = [l for l in lines[:12] if l in ("make run", "make test")]
    assert commands == ["make run", "make test"]
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_there_are_notebooks():
    assert NOTEBOOKS, "no chapters found in notebooks/"
    assert NOTEBOOKS[0].name.startswith("00_")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_committed_without_outputs(path):
    nb = json.loads(path.read_text())
    dirty = [i for i, c in enumerate(nb["cells"]) if c.get("outputs") or c.get("execution_count")]
    assert not dirty, f"{path.name}: cells {dirty} hold outputs; strip them (outputs go to build/)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_has_a_parameters_cell_first(path):
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert "parameters" in code[0].get("metadata", {}).get("tags", []), "first code cell must be tagged parameters"
    names = {t.id for node in ast.parse("".join(code[0]["source"])).body if isinstance(node, ast.Assign)
             for t in node.targets if isinstance(t, ast.Name)}
    assert {"quick", "device", "seed"} <= names, f"parameters cell lacks {({'quick', 'device', 'seed'} - names)}"
