"""One parsing rule per kind of setting, whichever resource carries it."""

from __future__ import annotations

import pytest

from recompra_pipelines import settings
from recompra_pipelines.resources.alerting import Alerting
from recompra_pipelines.resources.dagster_history import DagsterHistoryRetention
from recompra_pipelines.resources.settings import RecompraSettings
from recompra_pipelines.resources.whatsapp import WhatsAppCloudApi

SWITCH = settings.Switch("RECOMPRA_TEST_SWITCH", True)
NUMBER = settings.WholeNumber("RECOMPRA_TEST_NUMBER", 7, minimum=1, maximum=23)


@pytest.mark.parametrize("raw", ["off", "OFF", " false ", "no", "0"])
def test_every_switch_reads_the_same_words_as_off(raw):
    assert SWITCH.read({SWITCH.env: raw}) is False


@pytest.mark.parametrize("raw", ["on", "True", "yes", "1"])
def test_every_switch_reads_the_same_words_as_on(raw):
    assert SWITCH.read({SWITCH.env: raw}) is True


def test_unset_or_blank_means_the_default():
    assert SWITCH.read({}) is True
    assert NUMBER.read({NUMBER.env: "  "}) == 7


def test_a_word_a_switch_does_not_know_is_refused_naming_the_variable():
    with pytest.raises(settings.SettingError, match=r"RECOMPRA_TEST_SWITCH='disable'"):
        SWITCH.read({SWITCH.env: "disable"})


@pytest.mark.parametrize(
    ("raw", "message"),
    [("seven", "expected a whole number"), ("0", "at least 1"), ("24", "at most 23")],
)
def test_whole_numbers_are_checked_against_their_bounds(raw, message):
    with pytest.raises(settings.SettingError, match=f"RECOMPRA_TEST_NUMBER='{raw}': .*{message}"):
        NUMBER.read({NUMBER.env: raw})


def test_a_value_set_on_a_resource_wins_and_is_checked_by_the_same_rule(monkeypatch):
    monkeypatch.setenv(settings.LIFECYCLE_HOUR.env, "5")
    monkeypatch.setenv(settings.SYNC_CHANGE_CHECK.env, "no")
    assert RecompraSettings().lifecycle_local_hour() == 5
    assert RecompraSettings(lifecycle_hour=3).lifecycle_local_hour() == 3
    assert RecompraSettings().change_check_enabled() is False
    assert RecompraSettings(sync_change_check=True).change_check_enabled() is True
    with pytest.raises(settings.SettingError, match="RECOMPRA_LIFECYCLE_HOUR=24"):
        RecompraSettings(lifecycle_hour=24).lifecycle_local_hour()


def test_the_resources_share_the_rule(monkeypatch):
    # "false" used to pause sending but not the change check, and "no" paused neither.
    monkeypatch.setenv(settings.WHATSAPP_DISPATCH.env, "no")
    monkeypatch.setenv(settings.ALERT_SMTP_STARTTLS.env, "no")
    monkeypatch.setenv(settings.ALERT_SMTP_HOST.env, "smtp.example")
    monkeypatch.setenv(settings.ALERT_EMAIL_FROM.env, "from@example")
    monkeypatch.setenv(settings.ALERT_EMAIL_TO.env, "to@example")
    monkeypatch.setenv(settings.RETENTION_DAGSTER_MAX_RUNS.env, "-1")
    assert WhatsAppCloudApi().is_enabled() is False
    assert Alerting().settings().smtp.starttls is False
    with pytest.raises(settings.SettingError, match="RECOMPRA_RETENTION_DAGSTER_MAX_RUNS='-1'"):
        DagsterHistoryRetention().limits()
    monkeypatch.setenv(settings.FRESHNESS_MINUTES.env, "soon")
    with pytest.raises(settings.SettingError, match="RECOMPRA_FRESHNESS_MINUTES='soon'"):
        Alerting().settings()


def test_the_sync_cadence_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv(settings.SYNC_LOOKBACK_DAYS.env, "3")
    monkeypatch.setenv(settings.SYNC_LOOKBACK_EVERY_MINUTES.env, "60")
    cadence = RecompraSettings().sync_cadence()
    assert (cadence.lookback_days, cadence.lookback_every_minutes) == (3, 60)
    monkeypatch.setenv(settings.SYNC_LOOKBACK_EVERY_MINUTES.env, "2")
    with pytest.raises(settings.SettingError, match="at least 5"):
        RecompraSettings().sync_cadence()
