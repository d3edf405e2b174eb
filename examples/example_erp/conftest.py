"""The plugin's fixtures: one CRM database for the session (recompra_pipelines.testing)."""

from __future__ import annotations

import pytest

from recompra_pipelines.testing import crm_database


@pytest.fixture(scope="session")
def engine():
    with crm_database() as engine:
        yield engine
