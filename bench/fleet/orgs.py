"""The simulated fleet: N organizations of a realistic mix, derived from N alone.

Out of every 25 organizations: 2 are restaurants on CardápioWeb (60–180 orders a day), one is a
large Online Software store (5,000 sales a day), three are medium (600) and the rest are small
shops (30–150). Every organization has the demo's cashback program, WhatsApp templates and
campaigns (`examples/demo/loja-centro.yaml`), and its effects start today, so new sales accrue
cashback, fire campaigns and send messages the way a live customer's do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

TEMPLATE_ORG_FILE = Path(__file__).resolve().parents[2] / "examples" / "demo" / "loja-centro.yaml"
WHATSAPP_TOKEN = "fleet-whatsapp-token"
LARGE_SALES_PER_DAY = 5_000
MEDIUM_SALES_PER_DAY = 600
SMALL_SALES_PER_DAY = (30, 50, 80, 120, 150)
RESTAURANT_ORDERS_PER_DAY = (60, 120, 180)


class StoreKind(StrEnum):
    SMALL = "small"
    MEDIUM = "medium"
    LARGE = "large"
    RESTAURANT = "restaurant (CardápioWeb)"


@dataclass(frozen=True)
class FleetOrg:
    index: int
    kind: StoreKind
    per_day: int  # sales (Online Software) or orders (CardápioWeb) on an ordinary day

    @property
    def org_id(self) -> str:
        return f"fleet-{self.index:04d}"

    @property
    def token(self) -> str:
        """The Online Software token, or the CardápioWeb API key."""
        return f"{self.org_id}-token"

    @property
    def merchant_id(self) -> str:
        return str(10_000 + self.index)

    @property
    def on_cardapio_web(self) -> bool:
        return self.kind is StoreKind.RESTAURANT


def fleet(n: int) -> list[FleetOrg]:
    return [_org(index) for index in range(n)]


def _org(index: int) -> FleetOrg:
    slot = index % 25
    if slot in (9, 21):
        return FleetOrg(index, StoreKind.RESTAURANT, RESTAURANT_ORDERS_PER_DAY[index % 3])
    if slot == 12:
        return FleetOrg(index, StoreKind.LARGE, LARGE_SALES_PER_DAY)
    if slot in (3, 16, 24):
        return FleetOrg(index, StoreKind.MEDIUM, MEDIUM_SALES_PER_DAY)
    return FleetOrg(index, StoreKind.SMALL, SMALL_SALES_PER_DAY[index % 5])


def org_file(org: FleetOrg, *, erp_urls: dict[bool, str], effects_start: date) -> dict[str, Any]:
    """The org file of `org` (the demo store's programs), pointing at the fleet's simulators;
    `erp_urls` maps "on CardápioWeb" to the simulator's base URL."""
    data = yaml.safe_load(TEMPLATE_ORG_FILE.read_text())
    data["id"] = org.org_id
    data["name"] = f"Fleet store {org.index} ({org.kind})"
    data["effects_start"] = effects_start.isoformat()
    url = erp_urls[org.on_cardapio_web]
    if org.on_cardapio_web:
        data["integration"] = {
            "type": "cardapio-web",
            "server_url": url,
            "merchant_id": org.merchant_id,
            "api_key": org.token,
            # The simulator allows more than the documented 5/min history and 280/min details.
            "history_per_minute": 600,
            "details_per_minute": 6000,
        }
    else:
        data["integration"] = {"type": "ONLINE-SOFTWARE", "server_url": url, "token": org.token}
    data["whatsapp"]["connection"] = {
        "phone_number_id": f"55{900_000_000 + org.index}",
        "business_account_id": f"66{900_000_000 + org.index}",
        "token": WHATSAPP_TOKEN,
    }
    return data
