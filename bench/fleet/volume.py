"""How many runs a day this fleet costs, modelled from the simulators' own data.

The sync schedule launches a run for an organization's day when the ERP's answer changed since
the last run: at the 5-minute tick after each new sale, order or cancellation. Counting, over
the whole day, the 5-minute slots in which something happened gives the day's sync runs (what
`bench.run_volume` replays tick by tick for one store mix). On top: one lookback run at
midnight, the expiry and lifecycle runs, and one WhatsApp dispatch run for the day's scheduled
messages.
"""

from __future__ import annotations

import math
from datetime import date, datetime, time

from bench.fleet.orgs import FleetOrg
from bench.fleet.simulators import DAILY_VARIATION, STORE_TIMEZONE
from recompra_pipelines.simulators.erp_cardapio_web import CardapioWebSimulator
from recompra_pipelines.simulators.online_software_sales import TokenConfig, generate_day

TICK_SECONDS = 300
# Lookback at midnight, cashback expiry, lifecycle, WhatsApp dispatch of scheduled messages.
OTHER_RUNS_PER_DAY = 4


def sync_runs(org: FleetOrg, day: date) -> int:
    """The day's 5-minute slots with a change in the ERP's answer."""
    if org.on_cardapio_web:
        simulator = CardapioWebSimulator(
            now=datetime.combine(day, time(23, 59, 59), tzinfo=STORE_TIMEZONE)
        )
        simulator.configure(org.merchant_id, orders_per_day=org.per_day)
        midnight = datetime.combine(day, time(), tzinfo=STORE_TIMEZONE)
        moments = [
            (datetime.fromisoformat(o["created_at"]) - midnight).total_seconds()
            for o in simulator.orders_for(org.merchant_id, day)
        ]
    else:
        config = TokenConfig(sales_per_day=org.per_day, daily_variation=DAILY_VARIATION)
        moments = []
        for record in generate_day(org.token, config, day):
            moments.append(record.at)
            if record.cancelled_at is not None:
                moments.append(record.cancelled_at)
    return len({math.ceil(moment / TICK_SECONDS) for moment in moments})


def runs_per_day(orgs: list[FleetOrg], day: date) -> int:
    return sum(sync_runs(org, day) + OTHER_RUNS_PER_DAY for org in orgs)
