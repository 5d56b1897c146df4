"""Reconciliation of a whole city (issue 6): full and incremental runs inside the database.

    .venv/bin/python benchmarks/reconcile.py [--quick] [--approved N] [--db URL] [--keep]

Same as ``ansinh bench reconcile`` (gateway/services/recon_bench.py): N approved entitlements
with their instructions, ≈0.96·N confirmations and planted defects (≈5% unpaid, 1% unknown
references, 0.5% duplicates, 0.3% amount mismatches, paid-not-approved, deaths, ticks elsewhere,
registry mismatches, returns, overdue unknown outcomes, held accounts, counter-ID mismatches),
bulk-loaded into a scratch database (a temporary SQLite file, or a new PostgreSQL database next
to ``--db``), a full reconciliation, 1% of the rows changed, an incremental reconciliation, the
open cases compared with the planted set after each, and DuckDB's time for the plain
comparison (unpaid, not approved, duplicate, amount, unknown reference) on the same rows.

Last line: {"approved": N, "db": …, "seconds": …, "incremental_seconds": …, "duckdb_seconds": …,
"ratio_to_duckdb": …, "peak_rss_mb": …, "defects_planted": …, "defects_found": …, …}
Targets at N = 7,300,000: seconds ≤ 30 (PostgreSQL) / ≤ 45 (SQLite), peak_rss_mb ≤ 1024,
incremental_seconds ≤ 5% of seconds. Exit status 1 when a planted defect was missed.
"""

from __future__ import annotations

import argparse
import json
import sys

from gateway.services.recon_bench import run_bench


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="100,000 entitlements")
    parser.add_argument("--approved", type=int, default=7_300_000)
    parser.add_argument("--db", help="postgresql+psycopg://127.0.0.1:5432/test (default: SQLite)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()
    approved = 100_000 if args.quick else args.approved
    result = run_bench(
        approved, args.db, keep=args.keep, progress=lambda m: print(m, file=sys.stderr)
    )
    print(json.dumps(result.as_dict()))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
