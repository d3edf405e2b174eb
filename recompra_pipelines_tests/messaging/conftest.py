"""Fixtures the dispatch and webhook tests share: one WhatsApp simulator per test module."""

import pytest

from recompra_pipelines_tests.messaging.support import FakeClock, simulator_for_templates


@pytest.fixture(scope="module")
def served():
    clock = FakeClock()
    sim = simulator_for_templates(clock)
    with sim.run_in_thread() as url:
        yield sim, url, clock


@pytest.fixture
def simulator(served):
    """The module's simulator, emptied, its clock back at the database's now."""
    sim, _, clock = served
    sim.reset()
    clock.reset()
    return served
