"""One Online Software day merged into PostgreSQL by dlt, written as a new dlt user would.

    .venv-bench-dlt/bin/python bench/dlt/load_day.py --server-url URL --day 2026-11-20 \
        --pipelines-dir DIR --dataset NAME --out result.json

Runs in the bench's own virtualenv (bench/dlt/requirements.txt), never the product's, so it
imports nothing of recompra_pipelines. The ERP token comes from DLT_BENCH_ERP_TOKEN and the
database from DLT_BENCH_DATABASE (a PostgreSQL connection string, as a JSON string), so neither
shows in `ps`.

The pipeline is dlt's documented shape for "merge a REST answer on its key": one
`@dlt.resource(primary_key="id", write_disposition="merge")` yielding the day's records as the
ERP sent them; dlt's default normalizer infers the schema and unnests `itens` into the child
table `sales__itens`, linked by `_dlt_parent_id`. Run twice on the same --pipelines-dir it is a
re-load: dlt merges the same rows again (it has no notion of an unchanged day).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import date
from pathlib import Path

import dlt
import requests

LISTAR_VENDAS_PATH = "/planodecontas/apirestweb/vends/listvends.php"


@dlt.resource(name="sales", primary_key="id", write_disposition="merge")
def sales(server_url: str, token: str, day: date):
    text = f"{day.day:02d}{day.month:02d}{day.year:04d}"
    response = requests.post(
        server_url.rstrip("/") + LISTAR_VENDAS_PATH,
        json={"token": token, "rotina": "listarVendas001", "dtinicio": text, "dtfim": text},
        timeout=120,
    )
    response.raise_for_status()
    yield response.json()["resultado"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server-url", required=True)
    parser.add_argument("--day", required=True, type=date.fromisoformat)
    parser.add_argument("--pipelines-dir", required=True, type=Path)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    database = json.loads(os.environ["DLT_BENCH_DATABASE"])

    started = time.perf_counter()
    pipeline = dlt.pipeline(
        pipeline_name="online_software_sales",
        pipelines_dir=str(args.pipelines_dir),
        destination=dlt.destinations.postgres(credentials=database),
        dataset_name=args.dataset,
        progress="log" if os.environ.get("DLT_BENCH_PROGRESS") else None,
    )
    info = pipeline.run(sales(args.server_url, os.environ["DLT_BENCH_ERP_TOKEN"], args.day))
    run_seconds = time.perf_counter() - started
    with pipeline.sql_client() as client:
        rows = {
            table: client.execute_sql(
                f"SELECT count(*) FROM {client.make_qualified_table_name(table)}"
            )[0][0]
            for table in ("sales", "sales__itens")
        }
    trace = pipeline.last_trace
    result = {
        "dlt_version": dlt.__version__,
        "run_seconds": run_seconds,
        "step_seconds": {
            step.step: (step.finished_at - step.started_at).total_seconds()
            for step in trace.steps
            if step.finished_at and step.started_at
        },
        "rows": rows,
        "has_failed_jobs": info.has_failed_jobs,
    }
    args.out.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
