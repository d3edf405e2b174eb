"""What the built wheel and the production image carry: the product (simulators included, they
need nothing beyond the runtime dependencies), not the tests; the embedded database only through
the `demo` extra, which the image does not install; and a clear message where it is missing."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest
from click.testing import CliRunner

from recompra_pipelines.cli import main
from recompra_pipelines.db.engine import DATABASE_URL_ENV

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "setup.py", "recompra_pipelines", "recompra_pipelines_tests")
DEMO_ONLY = ("pgserver",)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    """The wheel built from a copy of the sources (the build writes build/ and egg-info)."""
    tree = tmp_path_factory.mktemp("source")
    for name in SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tree / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, tree / name)
    built = subprocess.run(
        [sys.executable, "-c", "from setuptools import build_meta; build_meta.build_wheel('dist')"],
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    [path] = (tree / "dist").glob("recompra_pipelines-*.whl")
    with zipfile.ZipFile(path) as archive:
        yield archive


def _metadata(wheel: zipfile.ZipFile):
    [name] = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    return Parser().parsestr(wheel.read(name).decode())


def test_the_wheel_has_the_product_and_not_the_tests(wheel):
    packages = {name.split("/")[0] for name in wheel.namelist()}
    assert "recompra_pipelines_tests" not in packages
    names = set(wheel.namelist())
    assert {
        "recompra_pipelines/definitions.py",
        "recompra_pipelines/simulators/erp_online_software.py",
        "recompra_pipelines/db/migrations/env.py",
        "recompra_pipelines/db/migrations/script.py.mako",
        "recompra_pipelines/db/migrations/versions/0001_initial_schema.py",
    } <= names


def test_the_embedded_database_is_only_a_demo_dependency(wheel):
    requirements = _metadata(wheel).get_all("Requires-Dist")
    for package in DEMO_ONLY:
        mentions = [r for r in requirements if re.match(rf"{package}\b", r)]
        assert mentions and all('extra == "demo"' in r for r in mentions), requirements
    unconditional = [r for r in requirements if "extra ==" not in r]
    assert not [r for r in unconditional if r.startswith(("pytest", "hypothesis", "ruff"))]


def test_the_production_image_installs_no_extra():
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    installs = re.findall(r"pip install ([^\n&]*)", dockerfile)
    assert installs, "the Dockerfile installs the project with pip"
    for arguments in installs:
        assert "[" not in arguments and "pgserver" not in arguments, arguments
    assert "recompra_pipelines_tests" not in dockerfile


@pytest.mark.parametrize("command", [["db", "upgrade"], ["demo", "--once"]])
def test_without_the_demo_extra_and_a_database_url_the_cli_says_what_to_do(command, monkeypatch):
    monkeypatch.delenv(DATABASE_URL_ENV, raising=False)
    monkeypatch.setitem(sys.modules, "pgserver", None)  # what `import pgserver` sees uninstalled

    result = CliRunner().invoke(main, command)

    assert result.exit_code == 1, result.output
    assert f"{DATABASE_URL_ENV} is not set" in result.output
    assert "'.[demo]'" in result.output
    assert "Traceback" not in result.output
