"""The conda environment and pyproject.toml pin the same dependencies."""

import re
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"


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


@pytest.mark.slow
def test_a_wheel_install_needs_nothing_from_the_source_tree(tmp_path):
    """Built as a wheel and imported from anywhere but the checkout, the package finds everything it
    needs (the config schema comes from the workflow that calls it, not from a path beside the source)."""
    import subprocess
    import sys
    import zipfile

    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path / "dist"),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    wheel = next((tmp_path / "dist").glob("avengers_pro-*.whl"))
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    assert not (site / "workflow").exists()
    script = (
        "import pkgutil, importlib, avengers_pro, yaml\n"
        f"assert avengers_pro.__file__.startswith({str(site)!r}), avengers_pro.__file__\n"
        "for module in pkgutil.walk_packages(avengers_pro.__path__, 'avengers_pro.'):\n"
        "    importlib.import_module(module.name)\n"
        "from avengers_pro.config import validate_config\n"
        f"config = yaml.safe_load(open({str(ROOT / 'config.yaml')!r}))\n"
        f"print(validate_config(config, {str(SCHEMA)!r})['avengers']['top_k'])\n"
    )
    # -I: no user site, no PYTHONPATH, no current directory on the path; the venv's packages stay.
    done = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(site)!r})\n" + script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "3"
