"""Where alerts go and when a day counts as stale: the `alerts` resource.

Secrets never pass through Dagster's config (which the UI shows): the webhook URL and the SMTP
password are read from their environment variables only. Everything else may be set on the
resource and otherwise comes from its `RECOMPRA_*` variable.
"""

from __future__ import annotations

import smtplib
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage

import dagster as dg
import httpx

from recompra_pipelines import settings as env
from recompra_pipelines.dagster_ui import dagster_url

WEBHOOK_URL_ENV = env.ALERT_WEBHOOK_URL.env


@dataclass(frozen=True)
class SmtpDestination:
    host: str
    port: int
    sender: str
    recipients: tuple[str, ...]
    user: str | None = None
    password: str | None = None
    starttls: bool = True

    def __repr__(self) -> str:  # the password stays out of logs
        return f"SmtpDestination(host={self.host!r}, port={self.port}, to={self.recipients})"


@dataclass(frozen=True)
class AlertSettings:
    ui_url: str
    stale_after: timedelta
    webhook_url: str | None = None
    smtp: SmtpDestination | None = None

    @property
    def has_destination(self) -> bool:
        return self.webhook_url is not None or self.smtp is not None

    def __repr__(self) -> str:  # the webhook URL is a secret
        return (
            f"AlertSettings(ui_url={self.ui_url!r}, webhook={'set' if self.webhook_url else None},"
            f" smtp={self.smtp!r})"
        )


class Alerting(dg.ConfigurableResource):
    """Alert destinations (a Slack-compatible incoming webhook and/or e-mail over SMTP), the
    UI address their links point at, and the freshness limit of a day's sync."""

    ui_url: str | None = None  # RECOMPRA_DAGSTER_URL
    freshness_minutes: int | None = None  # RECOMPRA_FRESHNESS_MINUTES
    smtp_host: str | None = None  # RECOMPRA_ALERT_SMTP_HOST; unset: no e-mail
    smtp_port: int | None = None  # RECOMPRA_ALERT_SMTP_PORT
    smtp_user: str | None = None  # RECOMPRA_ALERT_SMTP_USER
    smtp_starttls: bool | None = None  # RECOMPRA_ALERT_SMTP_STARTTLS (on)
    email_from: str | None = None  # RECOMPRA_ALERT_EMAIL_FROM
    email_to: str | None = None  # RECOMPRA_ALERT_EMAIL_TO, comma-separated

    def settings(self) -> AlertSettings:
        smtp_host = env.ALERT_SMTP_HOST.resolve(self.smtp_host)
        smtp = None
        if smtp_host:
            recipients = env.ALERT_EMAIL_TO.resolve(self.email_to) or ""
            sender = env.ALERT_EMAIL_FROM.resolve(self.email_from) or ""
            if not recipients.strip() or not sender.strip():
                raise ValueError(
                    f"e-mail alerts need {env.ALERT_EMAIL_FROM.env} and {env.ALERT_EMAIL_TO.env} "
                    f"when {env.ALERT_SMTP_HOST.env} is set"
                )
            smtp = SmtpDestination(
                host=smtp_host,
                port=env.ALERT_SMTP_PORT.resolve(self.smtp_port),
                sender=sender.strip(),
                recipients=tuple(r.strip() for r in recipients.split(",") if r.strip()),
                user=env.ALERT_SMTP_USER.resolve(self.smtp_user),
                password=env.ALERT_SMTP_PASSWORD.read(),
                starttls=env.ALERT_SMTP_STARTTLS.resolve(self.smtp_starttls),
            )
        return AlertSettings(
            ui_url=(self.ui_url or dagster_url()).rstrip("/"),
            stale_after=timedelta(minutes=env.FRESHNESS_MINUTES.resolve(self.freshness_minutes)),
            webhook_url=env.ALERT_WEBHOOK_URL.read(),
            smtp=smtp,
        )


def deliver(settings: AlertSettings, subject: str, text: str) -> None:
    """Send one message to every configured destination; raises when one of them refuses it
    (the caller keeps the message and tries again on its next tick)."""
    if settings.webhook_url:
        # Slack's incoming-webhook payload; Mattermost and Rocket.Chat take the same.
        try:
            response = httpx.post(settings.webhook_url, json={"text": text}, timeout=10.0)
        except httpx.HTTPError as error:  # its message could carry the URL, a secret
            raise AlertNotDelivered(
                f"the alert webhook could not be reached ({type(error).__name__})"
            ) from None
        if response.status_code >= 300:
            raise AlertNotDelivered(f"the alert webhook answered HTTP {response.status_code}")
    if settings.smtp:
        _send_mail(settings.smtp, subject, text)


class AlertNotDelivered(RuntimeError):
    pass


def _send_mail(smtp: SmtpDestination, subject: str, text: str) -> None:
    message = EmailMessage()
    message["From"] = smtp.sender
    message["To"] = ", ".join(smtp.recipients)
    message["Subject"] = subject
    message.set_content(text)
    try:
        with smtplib.SMTP(smtp.host, smtp.port, timeout=15) as client:
            if smtp.starttls:
                client.starttls()
            if smtp.user:
                client.login(smtp.user, smtp.password or "")
            client.send_message(message)
    except (OSError, smtplib.SMTPException) as error:
        raise AlertNotDelivered(f"e-mail via {smtp.host}:{smtp.port} failed: {error}") from None
