"""The conda environment and pyproject.toml pin the same dependencies."""

import re
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _pins(requirements):
    pins = {}
    for requirement in requirements:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*==\s*([^\s;]+)", requirement.strip())
        if match:
            pins[match.group(1).lower().replace("_", "-")] = match.group(2)
    return pins


@pytest.mark.parametrize("env_file", ["environment.yml", "workflow/envs/avengers-pro.yaml"])
def test_conda_environments_match_pyproject(env_file):
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = _pins(project["dependencies"])
    assert wanted, "pyproject.toml pins nothing"
    assert len(wanted) == len(project["dependencies"]), "every dependency in pyproject.toml must be pinned with =="
    env = yaml.safe_load((ROOT / env_file).read_text())
    pip_section = next(item["pip"] for item in env["dependencies"] if isinstance(item, dict) and "pip" in item)
    assert _pins(pip_section) == wanted
    assert "python=3.11" in env["dependencies"]


def test_every_rule_declares_its_software_and_resources():
    for path in (ROOT / "workflow" / "rules").glob("*.smk"):
        text = path.read_text()
        n_rules = len(re.findall(r"^\s*rule \w+:", text, flags=re.M))
        for directive in ("conda:", "threads:", "resources:", "log:"):
            assert text.count(directive) == n_rules, f"{path.name}: {directive} missing on some rule"


def test_torch_is_pinned_to_the_cpu_release():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert _pins(project["dependencies"])["torch"] == "2.13.0"
