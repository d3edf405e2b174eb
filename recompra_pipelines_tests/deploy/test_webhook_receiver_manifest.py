"""deploy/webhooks/receiver.yaml, checked without a cluster: every field is one Kubernetes
knows (a round trip through the API client's models keeps the documents whole), the container
runs the receiver's CLI on the port its Service, probes and Ingress use, secrets only by
reference."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from click.testing import CliRunner
from kubernetes.client import ApiClient

from recompra_pipelines.cli import main
from recompra_pipelines.messaging.webhook_receiver import (
    APP_SECRET_ENV,
    HEALTH_PATH,
    VERIFY_TOKEN_ENV,
    WEBHOOK_PATH,
)

MANIFEST = Path(__file__).resolve().parents[2] / "deploy" / "webhooks" / "receiver.yaml"
MODELS = {"Deployment": "V1Deployment", "Service": "V1Service", "Ingress": "V1Ingress"}


class _Response:
    def __init__(self, document: dict) -> None:
        self.data = json.dumps(document)


def documents() -> dict[str, dict]:
    return {d["kind"]: d for d in yaml.safe_load_all(MANIFEST.read_text())}


def test_every_field_is_a_kubernetes_field():
    api = ApiClient()
    for kind, document in documents().items():
        model = api.deserialize(_Response(document), MODELS[kind])
        assert api.sanitize_for_serialization(model) == document, kind


def test_the_receiver_is_served_where_its_service_probes_and_ingress_point():
    docs = documents()
    pod = docs["Deployment"]["spec"]["template"]["spec"]
    [container] = pod["containers"]
    command = container["command"]
    assert command[:3] == ["recompra", "serve", "webhooks"]
    assert CliRunner().invoke(main, [*command[1:], "--help"]).exit_code == 0
    port = int(command[command.index("--port") + 1])
    [named] = container["ports"]
    assert named["containerPort"] == port
    assert container["readinessProbe"]["httpGet"] == {"path": HEALTH_PATH, "port": named["name"]}
    assert docs["Service"]["spec"]["ports"][0]["targetPort"] == named["name"]
    assert (
        docs["Service"]["spec"]["selector"] == docs["Deployment"]["spec"]["selector"]["matchLabels"]
    )
    [rule] = docs["Ingress"]["spec"]["rules"]
    [path] = rule["http"]["paths"]
    assert path["path"] == WEBHOOK_PATH
    assert path["backend"]["service"]["name"] == docs["Service"]["metadata"]["name"]


def test_secrets_come_only_from_secret_references():
    [container] = documents()["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert "env" not in container
    assert {s["secretRef"]["name"] for s in container["envFrom"]} == {
        "recompra-crm-database",
        "recompra-whatsapp-webhook",
    }
    text = MANIFEST.read_text()
    for name in (APP_SECRET_ENV, VERIFY_TOKEN_ENV):
        assert f"--from-literal={name}=" in text  # documented how to create it
