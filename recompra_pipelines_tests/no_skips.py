"""A pytest plugin that fails every skipped test (and every skipped module) of this suite.

The suite brings everything it needs on any machine (an embedded PostgreSQL when no server is
configured, the simulators on loopback), so a test that skips is one that silently stopped
proving anything: on a fresh clone it must run or fail. An expected failure (`xfail`) still runs
and is left alone. conftest.py registers this plugin for every run.
"""

from __future__ import annotations

import pytest

NO_SKIPS = (
    "skipped tests are not allowed in this suite: every test runs on every machine, "
    "a test that cannot run is a failure"
)


def _skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        path, line, message = longrepr
        return f"{message.removeprefix('Skipped: ')} ({path}:{line})"
    return str(longrepr)


def _fail_instead_of_skip(report: pytest.TestReport | pytest.CollectReport) -> None:
    if report.skipped and not hasattr(report, "wasxfail"):
        report.longrepr = f"{NO_SKIPS}: {report.nodeid} skipped: {_skip_reason(report)}"
        report.outcome = "failed"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    _fail_instead_of_skip(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector):
    report = yield
    _fail_instead_of_skip(report)
    return report
