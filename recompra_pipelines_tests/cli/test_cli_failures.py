"""The CLI when things go wrong: a database that never answers, an organization that does not
exist, a step that fails, an organization file with a mistake. Each ends in one line naming
the root cause, in known time, without registering anything in Dagster."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from click.testing import CliRunner

from recompra_pipelines.cli import main
from recompra_pipelines.partitions import ORGANIZATIONS
from recompra_pipelines_tests.helpers import new_org
from recompra_pipelines_tests.loopback import black_hole, raw_http

# Generous: the CLI gives up after its 2-second connect timeout; this only stops a hang.
HANG = 120


@pytest.mark.parametrize(
    "command", [["db", "upgrade"], ["sync", "--org", "loja", "--date", "2026-11-18"]]
)
def test_a_database_that_accepts_and_never_answers_fails_the_cli_within_its_timeout(command):
    with black_hole() as port:
        environment = {
            **os.environ,
            "RECOMPRA_DATABASE_URL": f"postgresql://crm@127.0.0.1:{port}/crm?connect_timeout=2",
        }
        environment.pop("DAGSTER_HOME", None)
        finished = subprocess.run(
            [sys.executable, "-m", "recompra_pipelines.cli", *command],
            env=environment,
            capture_output=True,
            text=True,
            timeout=HANG,
        )
    assert finished.returncode == 1
    assert finished.stderr.strip().splitlines()[-1] == (
        "Error: database: ConnectionTimeout: connection timeout expired"
    )


@pytest.mark.parametrize("org_id", ["a,b", "no-such-org", "Loja Centro"])
def test_an_unknown_organization_is_refused_before_any_partition_is_registered(
    org_id, engine, tmp_path, monkeypatch
):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    result = CliRunner().invoke(main, ["sync", "--org", org_id, "--date", "2026-11-18"])

    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        f"Error: UnknownOrganization: organization {org_id!r} does not exist"
        " (create it with `recompra org apply`)"
    )
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert instance.get_dynamic_partitions(ORGANIZATIONS) == []


def test_a_failed_sync_ends_with_the_steps_own_error(engine, tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    with raw_http(b'{"erro": "token invalido"}', status=401) as url:
        org_id, _ = new_org(engine, url)
        result = CliRunner().invoke(main, ["sync", "--org", org_id, "--date", "2026-11-18"])

    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        f"Error: sync of {org_id} 2026-11-18 failed: erp_raw_extract: SyncError: organization"
        f" {org_id}, day 2026-11-18: Online Software listarVendas001 for 2026-11-18: HTTP 401"
        ' (not retried): {"erro": "token invalido"}'
    )


def test_a_sync_that_succeeds_with_failed_warnings_says_so(engine, erp_simulator, monkeypatch):
    simulator, url = erp_simulator
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    org_id, token = new_org(engine, url)
    simulator.configure(token, sales_per_day=10, malformed_records=2)

    result = CliRunner().invoke(main, ["sync", "--org", org_id, "--date", "2026-11-18"])

    assert result.exit_code == 0
    [warning] = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert warning.startswith("warning: erp_quarantine_rate (WARN): did not pass (")
    assert "quarantined=2" in warning


def _apply(path: Path) -> str:
    result = CliRunner().invoke(main, ["org", "apply", str(path)])
    assert result.exit_code == 1
    return result.output.strip().splitlines()[-1]


def test_organization_files_with_repeated_keys_are_refused(tmp_path):
    yaml_file = tmp_path / "twice.yaml"
    yaml_file.write_text("id: loja\nname: Loja\nname: Outra Loja\n")
    assert _apply(yaml_file) == (
        f"Error: {yaml_file}: not valid YAML: duplicate key 'name' at line 3, column 1"
    )
    json_file = tmp_path / "twice.json"
    json_file.write_text('{"id": "loja", "name": "Loja", "id": "outra"}')
    assert _apply(json_file) == f"Error: {json_file}: not valid JSON: duplicate key 'id'"


def test_a_yaml_mistake_is_reported_by_position_without_quoting_the_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("id: loja\nintegration:\n  token: 'EAAG-secret-token-value\n")
    output = CliRunner().invoke(main, ["org", "apply", str(path)]).output
    assert "EAAG-secret-token-value" not in output
    assert (
        "not valid YAML: while scanning a quoted scalar, found unexpected end of stream" in output
    )


def test_aliases_and_oversized_files_and_names_are_refused(tmp_path):
    aliased = tmp_path / "aliased.yaml"
    aliased.write_text("a: &x [1, 2]\nb: *x\n")
    assert "aliases (*name) are not allowed at line 2, column 4" in _apply(aliased)

    huge = tmp_path / "huge.yaml"
    huge.write_text("id: loja\nname: " + "x" * 2_000_000 + "\n")
    assert _apply(huge) == (
        f"Error: {huge}: 2,000,016 bytes; an organization file has at most 1,000,000"
    )

    long_name = tmp_path / "long.yaml"
    long_name.write_text("id: loja\nname: " + "x" * 201 + "\n")
    assert (
        "name: String should have at most 200 characters"
        in CliRunner().invoke(main, ["org", "apply", str(long_name)]).output
    )
