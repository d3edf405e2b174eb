"""The Dagster daemon's machinery over the project's code location, shared by this package."""

from __future__ import annotations

import pytest

from recompra_pipelines_tests.dagster_daemon import daemon_workspace, in_memory_instance


@pytest.fixture(scope="module")
def daemon(database_url):
    """(instance, workspace): a test instance with the project's run queue, and the code
    location loaded as the webserver and the daemon load it."""
    with in_memory_instance() as instance, daemon_workspace(instance) as workspace:
        yield instance, workspace
