"""The import contracts `make lint` checks (pyproject.toml, [tool.importlinter]) hold, and each of
them fails the lint when broken: a copy of the package with one deliberate violation per contract
is linted with the same configuration."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
PACKAGE = "recompra_pipelines"
# One module per contract, each breaking it the way a careless change would.
VIOLATIONS = {
    "domain/priced_sql.py": "import sqlalchemy\n",
    "db/from_org_file.py": "from recompra_pipelines.orgfile import organization\n",
    "orgfile/stores_itself.py": "from recompra_pipelines.db import bulk\n",
    "sync/run_now.py": "def run():\n    import dagster\n\n    return dagster\n",
    "simulators/own_database.py": "import pgserver\n",
}


def _lint(source_root: Path) -> subprocess.CompletedProcess[str]:
    """`lint-imports` with the project's configuration on the package found under source_root."""
    return subprocess.run(
        [str(LINT_IMPORTS), str(ROOT / "pyproject.toml"), "--no-cache", "--no-logo"],
        cwd=source_root,
        env={**os.environ, "PYTHONPATH": str(source_root), "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_package_keeps_every_import_contract():
    completed = _lint(ROOT)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "5 kept, 0 broken" in completed.stdout


def test_a_deliberate_violation_of_each_contract_fails_the_lint(tmp_path):
    copy = tmp_path / PACKAGE
    shutil.copytree(ROOT / PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    for relative, source in VIOLATIONS.items():
        (copy / relative).write_text(source)

    completed = _lint(tmp_path)
    report = completed.stdout

    assert completed.returncode != 0, report
    assert "0 kept, 5 broken" in report
    assert "recompra_pipelines.domain.priced_sql -> sqlalchemy" in report
    assert "recompra_pipelines.db.from_org_file -> recompra_pipelines.orgfile" in report
    assert "recompra_pipelines.orgfile.stores_itself -> recompra_pipelines.db" in report
    assert "recompra_pipelines.sync.run_now -> dagster" in report
    assert "recompra_pipelines.simulators.own_database -> pgserver" in report
