"""The fleet's ERPs and WhatsApp, in a process of their own: `python -m bench.fleet.simulators`.

Serves the Online Software, CardápioWeb and WhatsApp Cloud API simulators on free loopback
ports, with every organization of the fleet configured and the ERP clocks running from
`--clock-start` today (store time), so sales and cancellations keep arriving as in a live
store. Writes each organization's org file (pointing at these servers) and `ready.json` (the
URLs) into `--out`, then serves until SIGTERM. Its own process, so its CPU is measured apart
from the product's: in production the ERPs run elsewhere.
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bench.fleet.orgs import fleet, org_file
from recompra_pipelines.orgfile.organization import OrgFile
from recompra_pipelines.simulators.erp_cardapio_web import CardapioWebSimulator
from recompra_pipelines.simulators.erp_online_software import OnlineSoftwareSimulator
from recompra_pipelines.simulators.whatsapp import WhatsAppSimulator

STORE_TIMEZONE = ZoneInfo("America/Sao_Paulo")
READY_FILE = "ready.json"
ORG_FILES_DIR = "orgs"
# Day-to-day volume of an Online Software store varies by up to ±20 %.
DAILY_VARIATION = 0.2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, required=True, help="organizations in the fleet")
    parser.add_argument("--clock-start", required=True, help="HH:MM today, store time")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    orgs = fleet(args.n)
    online_software = OnlineSoftwareSimulator(accept_any_token=False)
    cardapio_web = CardapioWebSimulator()
    whatsapp = WhatsAppSimulator()
    for org in orgs:
        if org.on_cardapio_web:
            cardapio_web.configure(org.merchant_id, api_key=org.token, orders_per_day=org.per_day)
        else:
            online_software.configure(
                org.token, sales_per_day=org.per_day, daily_variation=DAILY_VARIATION
            )
    online_software.start_clock_today_at(args.clock_start)
    cardapio_web.start_clock_today_at(args.clock_start)
    today = datetime.now(STORE_TIMEZONE).date()
    with ExitStack() as stack:
        urls = {
            "online_software": stack.enter_context(online_software.run_in_thread()),
            "cardapio_web": stack.enter_context(cardapio_web.run_in_thread()),
            "whatsapp": stack.enter_context(whatsapp.run_in_thread()),
        }
        erp_urls = {False: urls["online_software"], True: urls["cardapio_web"]}
        org_dir = args.out / ORG_FILES_DIR
        org_dir.mkdir(parents=True, exist_ok=True)
        for org in orgs:
            data = org_file(org, erp_urls=erp_urls, effects_start=today)
            whatsapp.register_org_file(OrgFile.model_validate(data))
            (org_dir / f"{org.org_id}.json").write_text(json.dumps(data))
        (args.out / READY_FILE).write_text(json.dumps({"urls": urls, "day": today.isoformat()}))
        stop.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
