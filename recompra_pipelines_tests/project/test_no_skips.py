"""A skipped test fails this suite (recompra_pipelines_tests/no_skips.py, registered by
conftest.py): shown on a throwaway suite run with the same plugin."""

from __future__ import annotations

pytest_plugins = ["pytester"]

# The plugin is already imported (conftest.py registers it), so pytest cannot rewrite it again.
RUN_WITH_THE_PLUGIN = (
    "-p",
    "recompra_pipelines_tests.no_skips",
    "-W",
    "ignore::pytest.PytestAssertRewriteWarning",
)


def test_skips_fail_while_passing_and_expected_failures_do_not(pytester):
    pytester.makepyfile(
        test_sample="""
        import pytest

        def test_runs():
            assert True

        def test_skips_at_run_time():
            pytest.skip("no server here")

        @pytest.mark.skipif(True, reason="not on this machine")
        def test_skipped_by_a_marker():
            pass

        @pytest.mark.xfail(reason="a known bug", strict=True)
        def test_expected_to_fail():
            assert False
        """
    )

    result = pytester.runpytest(*RUN_WITH_THE_PLUGIN)

    # A marker skips before the test runs, so its failure is reported as a setup error.
    result.assert_outcomes(passed=1, failed=1, errors=1, xfailed=1)
    result.stdout.fnmatch_lines(
        [
            "*skipped tests are not allowed*test_skipped_by_a_marker skipped: not on this machine*",
            "*skipped tests are not allowed*test_skips_at_run_time skipped: no server here*",
        ]
    )
    assert result.ret != 0


def test_a_module_that_skips_itself_stops_the_suite(pytester):
    pytester.makepyfile(
        test_module_skip="""
        import pytest

        pytest.importorskip("a_package_this_machine_lacks")

        def test_never_collected():
            pass
        """
    )

    result = pytester.runpytest(*RUN_WITH_THE_PLUGIN)

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*skipped tests are not allowed*a_package_this_machine_lacks*"])
    assert result.ret != 0
