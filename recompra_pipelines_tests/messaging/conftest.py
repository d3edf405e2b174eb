"""The webhook receiver on a free loopback port, storing into the test database."""

import pytest

from recompra_pipelines.messaging.webhook_receiver import WEBHOOK_PATH, ReceiverSettings, create_app
from recompra_pipelines.simulators.serving import serve_in_thread
from recompra_pipelines_tests.messaging.support import APP_SECRET, VERIFY_TOKEN


@pytest.fixture(scope="module")
def receiver(engine, database_url):
    """The receiver's webhook URL (``…/webhooks/whatsapp``)."""
    settings = ReceiverSettings(APP_SECRET, VERIFY_TOKEN, database_url)
    with serve_in_thread(create_app(settings, engine), name="webhook receiver") as base:
        yield base + WEBHOOK_PATH
