"""The reconciliation benchmark and its planted-defect check (``ansinh bench reconcile``).

Writes a whole city's round straight into the gateway's tables — N approved entitlements, their
payment instructions, ≈0.96·N confirmations, ticks and registry checks — with defects planted
at known rows, runs a full reconciliation, changes 1% of the rows and runs an incremental one,
and checks after each that the open cases are exactly the planted defects (the sets, not the
counts). DuckDB runs the plain comparison (unpaid, not approved, duplicate, amount, unknown
reference) on the same data as the reference, after the gateway's peak memory is read.

Rows are generated and loaded in chunks (COPY on PostgreSQL; executemany in large transactions
with relaxed durability on the benchmark's own SQLite file), so the process never holds the
city in memory. Every row's category is one byte of a ``bytearray``: the expected cases are
derived from it.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import random
import re
import resource
import sqlite3
import tempfile
import time
import uuid
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from sqlalchemy import DateTime, Engine, bindparam, create_engine, insert, select, text
from sqlalchemy.engine import make_url

from gateway.db import migrate
from gateway.db.database import Database
from gateway.db.engine import make_engine, normalise_url
from gateway.db.tables import admin_unit, payment_batch, programme
from gateway.refdata import admin_units, programmes
from gateway.services import reconcile
from gateway.services.context import utcnow
from gateway.services.reconcile import ReconcileSummary

PROGRAMME, GROUP, PERIOD, AMOUNT = "HCM-2021-GOI3", "hcm-2021-goi3", "2021-09", 1_500_000
CHUNK = 25_000  # entitlements per loaded chunk: a few tens of MB of row tuples at most
T0 = dt.datetime(2021, 9, 10, tzinfo=dt.UTC)  # when the round was paid and reported
DEADLINE = dt.datetime(2021, 9, 12, tzinfo=dt.UTC)

# row categories (one byte per entitlement) and the share of rows planted with each
NORMAL, UNPAID_NONE, UNPAID_REJECTED, AMOUNT_BAD, DUPLICATE, NOT_APPROVED = range(6)
DECEASED, TICKED, REG_MISMATCH, REG_NOT_FOUND, RETURNED, UNKNOWN_LATE = range(6, 12)
HELD, ID_MISMATCH, UNPAID_CANCELLED = range(12, 15)
SHARES: list[tuple[int, float]] = [
    (UNPAID_NONE, 0.025),
    (UNPAID_REJECTED, 0.025),
    (AMOUNT_BAD, 0.003),
    (DUPLICATE, 0.005),
    (NOT_APPROVED, 0.001),
    (DECEASED, 0.001),
    (TICKED, 0.002),
    (REG_MISMATCH, 0.0005),
    (REG_NOT_FOUND, 0.0005),
    (RETURNED, 0.001),
    (UNKNOWN_LATE, 0.0005),
    (HELD, 0.0005),
    (ID_MISMATCH, 0.0005),
]
UNKNOWN_REFERENCE_SHARE = 0.01


def expected_keys(category: int, k: int) -> list[tuple[str, str]]:
    """The cases a row of this category must produce (entitlement/instruction id ``k``)."""
    e, i = f"e:{k}", f"i:{k}"
    return {
        NORMAL: [],
        UNPAID_NONE: [("approved_unpaid", e)],
        UNPAID_REJECTED: [("approved_unpaid", e), ("returned_payment", i)],
        UNPAID_CANCELLED: [("returned_payment", i)],
        AMOUNT_BAD: [("amount_mismatch", i)],
        DUPLICATE: [("duplicate_payment", i)],
        NOT_APPROVED: [("paid_not_approved", i)],
        DECEASED: [("deceased", e)],
        TICKED: [("ticked_elsewhere", f"{e}:EXT{k}")],
        REG_MISMATCH: [("identity_mismatch", e)],
        REG_NOT_FOUND: [("not_found", e)],
        RETURNED: [("approved_unpaid", e), ("returned_payment", i)],
        UNKNOWN_LATE: [("unknown_outcome_overdue", i)],
        HELD: [("account_name_mismatch", i)],
        ID_MISMATCH: [("identity_mismatch", f"c:{k}")],
    }[category]


@dataclass
class BenchResult:
    approved: int
    db: str
    seconds: float = 0.0
    incremental_seconds: float = 0.0
    duckdb_seconds: float | None = None
    peak_rss_mb: float = 0.0
    defects_planted: int = 0
    defects_found: int = 0
    load_seconds: float = 0.0
    confirmations: int = 0
    changed_rows: int = 0
    incremental_scope: int = 0
    incremental_defects_planted: int = 0
    incremental_defects_found: int = 0
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    by_type: dict[str, int] = field(default_factory=dict)
    steps: dict[str, float] = field(default_factory=dict)
    rerun_seconds: float = 0.0
    rerun_steps: dict[str, float] = field(default_factory=dict)
    incremental_steps: dict[str, float] = field(default_factory=dict)
    duckdb_counts: dict[str, int] = field(default_factory=dict)
    duckdb_agrees: bool | None = None

    @property
    def ok(self) -> bool:
        return not self.missing and not self.unexpected and self.duckdb_agrees is not False

    def as_dict(self) -> dict[str, Any]:
        ratio = round(self.seconds / self.duckdb_seconds, 2) if self.duckdb_seconds else None
        return {
            "approved": self.approved,
            "db": self.db,
            "seconds": round(self.seconds, 2),
            "incremental_seconds": round(self.incremental_seconds, 3),
            "duckdb_seconds": None
            if self.duckdb_seconds is None
            else round(self.duckdb_seconds, 2),
            "ratio_to_duckdb": ratio,
            "peak_rss_mb": self.peak_rss_mb,
            "defects_planted": self.defects_planted,
            "defects_found": self.defects_found,
            "rows_per_second": round(self.approved / self.seconds) if self.seconds else None,
            "incremental_ratio": round(self.incremental_seconds / self.seconds, 4)
            if self.seconds
            else None,
            "confirmations": self.confirmations,
            "load_seconds": round(self.load_seconds, 1),
            "changed_rows": self.changed_rows,
            "incremental_scope": self.incremental_scope,
            "incremental_defects_planted": self.incremental_defects_planted,
            "incremental_defects_found": self.incremental_defects_found,
            "by_type": dict(sorted(self.by_type.items())),
            "steps": self.steps,
            "incremental_steps": self.incremental_steps,
            "rerun_seconds": round(self.rerun_seconds, 2),
            "rerun_steps": self.rerun_steps,
            "duckdb_counts": self.duckdb_counts,
            "duckdb_agrees": self.duckdb_agrees,
            "missing": self.missing[:10],
            "unexpected": self.unexpected[:10],
            "ok": self.ok,
        }


def peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM; see benchmarks/verify.py for why not ru_maxrss)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


# -- the planted city ----------------------------------------------------------------------


def plant(n: int, seed: int) -> bytearray:
    """One category byte per entitlement, drawn with the planted shares."""
    rnd = random.Random(seed)  # noqa: S311 - test data, not secrets
    cats = bytearray(n)
    bounds: list[tuple[float, int]] = []
    acc = 0.0
    for cat, share in SHARES:
        acc += share
        bounds.append((acc, cat))
    for k in range(n):
        u = rnd.random()
        if u < acc:
            cats[k] = next(c for b, c in bounds if u < b)
    return cats


def unknown_reference_count(n: int) -> int:
    return int(n * UNKNOWN_REFERENCE_SHARE)


def expected(cats: bytearray, unknown_refs: int) -> set[tuple[str, str]]:
    out = {
        key for k0, cat in enumerate(cats) if cat != NORMAL for key in expected_keys(cat, k0 + 1)
    }
    out.update(("unknown_reference", f"c:bank:UR{j}") for j in range(unknown_refs))
    return out


class _Rows:
    """Row tuples of every table for one chunk of entitlements (ids are the row number + 1;
    a duplicate's second confirmation is N + k, an unknown reference's 2N + j)."""

    def __init__(
        self, n: int, units: Sequence[int], programme_id: int, batch_id: int, ts: Callable[..., Any]
    ) -> None:
        self.n, self.units, self.programme_id, self.batch, self.ts = (
            n,
            units,
            programme_id,
            batch_id,
            ts,
        )
        self.t0, self.deadline = ts(T0), ts(DEADLINE)

    def chunk(self, cats: bytearray, start: int, stop: int) -> dict[str, list[tuple[Any, ...]]]:
        t0, n = self.t0, self.n
        rows: dict[str, list[tuple[Any, ...]]] = {t: [] for t in TABLES}
        for k0 in range(start, stop):
            k, cat = k0 + 1, cats[k0]
            unit = self.units[k0 % len(self.units)]
            ref = f"HCM{k:09d}"
            dead = cat == DECEASED
            rows["person"].append(
                (
                    k,
                    f"Nguyen Van {k}",
                    f"nguyen van {k}",
                    "deceased" if dead else "alive",
                    "2021-08-30" if dead else None,
                    t0,
                )
            )
            state = "paid"
            if cat in (
                UNPAID_NONE,
                UNPAID_REJECTED,
                AMOUNT_BAD,
                RETURNED,
                UNKNOWN_LATE,
                HELD,
                ID_MISMATCH,
            ):
                state = "approved"
            elif cat == NOT_APPROVED:
                state = "cancelled"
            rows["enrollment"].append(
                (k, self.programme_id, PERIOD, k, unit, AMOUNT, state, "bank", t0)
            )
            if cat == UNPAID_NONE:
                continue
            i_state, reason, account = "settled", None, None
            if cat == UNPAID_REJECTED:
                i_state, reason = "rejected", "AC04"
            elif cat in (AMOUNT_BAD, ID_MISMATCH):
                i_state = "sent"
            elif cat == RETURNED:
                i_state, reason = "returned", "AC06"
            elif cat == UNKNOWN_LATE:
                i_state = "unknown"
            elif cat == HELD:
                i_state, reason, account = "held", "name_mismatch", k
                rows["payee_account"].append(
                    (k, k, "970436", k.to_bytes(16, "big"), b"x", "mismatch", t0)
                )
            settled = t0 if i_state == "settled" else None
            rows["payment_instruction"].append(
                (
                    k,
                    k,
                    self.batch,
                    1,
                    f"{PROGRAMME}:{PERIOD}:{k}:1",
                    ref,
                    "bank",
                    account,
                    unit,
                    AMOUNT,
                    i_state,
                    reason,
                    t0,
                    t0,
                    self.deadline,
                    settled,
                )
            )
            if i_state == "settled":
                rows["confirmation"].append(
                    (k, k, ref, "bank", f"S{k}", "settled", AMOUNT, t0, t0, "settled")
                )
                if cat == DUPLICATE:
                    rows["confirmation"].append(
                        (
                            n + k,
                            k,
                            ref,
                            "bank",
                            f"D{k}",
                            "settled",
                            AMOUNT,
                            t0,
                            t0,
                            "duplicate_settlement",
                        )
                    )
                if cat == TICKED:
                    rows["tick"].append(
                        (k, k, GROUP, PERIOD, unit, PROGRAMME, f"EXT{k}", "registry", "active", t0)
                    )
                else:
                    rows["tick"].append(
                        (k, k, GROUP, PERIOD, unit, PROGRAMME, ref, "local", "active", t0)
                    )
            elif cat == AMOUNT_BAD:
                rows["confirmation"].append(
                    (
                        k,
                        k,
                        ref,
                        "bank",
                        f"S{k}",
                        "settled",
                        AMOUNT + 1000,
                        t0,
                        t0,
                        "amount_mismatch",
                    )
                )
            elif cat == ID_MISMATCH:
                rows["confirmation"].append(
                    (k, k, ref, "postoffice", f"S{k}", "settled", AMOUNT, t0, t0, "id_mismatch")
                )
            if cat in (REG_MISMATCH, REG_NOT_FOUND):
                outcome = "mismatch" if cat == REG_MISMATCH else "not_found"
                fields = '{"name": "differs"}' if cat == REG_MISMATCH else "{}"
                rows["registry_verification"].append((k, k, k, outcome, fields, "rest", t0))
        return rows

    def unknown_references(self, start: int, stop: int) -> list[tuple[Any, ...]]:
        return [
            (
                2 * self.n + j + 1,
                None,
                f"UR{j:09d}",
                "bank",
                f"UR{j}",
                "settled",
                AMOUNT,
                self.t0,
                self.t0,
                "unknown_reference",
            )
            for j in range(start, stop)
        ]


TABLES: dict[str, tuple[str, ...]] = {
    "person": ("id", "full_name", "name_key", "vital_status", "death_date", "created_at"),
    "enrollment": (
        "id",
        "programme_id",
        "period",
        "person_id",
        "unit_id",
        "amount",
        "state",
        "channel",
        "created_at",
    ),
    "payee_account": (
        "id",
        "person_id",
        "bin",
        "number_index",
        "number_enc",
        "status",
        "created_at",
    ),
    "payment_instruction": (
        "id",
        "enrollment_id",
        "batch_id",
        "attempt",
        "idempotency_key",
        "reference",
        "channel",
        "payee_account_id",
        "payout_unit_id",
        "amount",
        "state",
        "reason_code",
        "created_at",
        "state_changed_at",
        "deadline_at",
        "settled_at",
    ),
    "confirmation": (
        "id",
        "instruction_id",
        "reference",
        "source",
        "item_key",
        "outcome",
        "amount",
        "received_at",
        "applied_at",
        "apply_result",
    ),
    "tick": (
        "id",
        "person_id",
        "exclusion_group",
        "period",
        "unit_id",
        "programme_code",
        "payment_ref",
        "source",
        "state",
        "created_at",
    ),
    "registry_verification": (
        "id",
        "person_id",
        "enrollment_id",
        "outcome",
        "fields",
        "source",
        "checked_at",
    ),
}


# -- databases -----------------------------------------------------------------------------


class BenchDatabase:
    """A scratch database the benchmark owns: a temp SQLite file, or a fresh PostgreSQL
    database created beside the one the URL names (never someone else's data)."""

    def __init__(self, url: str | None, keep: bool = False) -> None:
        self.keep, self.tmpdir, self.admin_url = keep, None, None
        if url is None or make_url(normalise_url(url)).get_backend_name() == "sqlite":
            if url is None:
                self.tmpdir = tempfile.mkdtemp(prefix="ansinh-bench-")
                url = f"sqlite:///{self.tmpdir}/reconcile.db"
            self.url = url
            self.kind = "sqlite"
        else:
            self.admin_url = normalise_url(url)
            name = f"ansinh_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
            admin = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            admin.dispose()
            self.name = name
            self.url = (
                make_url(self.admin_url).set(database=name).render_as_string(hide_password=False)
            )
            self.kind = "postgresql"

    def prepare(self) -> Engine:
        engine = make_engine(self.url)
        migrate.upgrade(engine)
        with engine.begin() as conn:
            admin_units.load(conn)
            programmes.seed(conn)
        return engine

    def drop(self) -> None:
        if self.keep:
            return
        if self.kind == "postgresql" and self.admin_url is not None:
            admin = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
            admin.dispose()
        elif self.tmpdir is not None:
            for p in Path(self.tmpdir).iterdir():
                p.unlink()
            Path(self.tmpdir).rmdir()


def _sqlite_ts(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")  # as SQLAlchemy stores DateTime on SQLite


def _copy_value(value: Any) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, bytes):
        return "\\\\x" + value.hex()
    return str(value)  # the benchmark's own values: no tab, newline or backslash in them


def _copy_line(row: tuple[Any, ...]) -> str:
    """One line of COPY's text format (much cheaper than ``write_row``'s adaptation per value)."""
    return "\t".join(map(_copy_value, row)) + "\n"


class _Loader:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.pg = engine.dialect.name == "postgresql"
        if self.pg:
            self.proxy = engine.raw_connection()
            self.raw: Any = self.proxy.driver_connection
        else:
            path = make_url(str(engine.url)).database
            assert path is not None
            self.raw = sqlite3.connect(path, isolation_level=None)
            for pragma in ("synchronous=OFF", "foreign_keys=OFF", "cache_size=-65536"):
                self.raw.execute(f"PRAGMA {pragma}")

    def ts(self, value: dt.datetime) -> Any:
        return value if self.pg else _sqlite_ts(value)

    def write(self, rows: dict[str, list[tuple[Any, ...]]]) -> None:
        if self.pg:
            cur = self.raw.cursor()
            for table, batch in rows.items():
                if batch:
                    cols = ", ".join(TABLES[table])
                    with cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                        copy.write("".join(_copy_line(row) for row in batch))
            self.raw.commit()
            return
        self.raw.execute("BEGIN")
        for table, batch in rows.items():
            if batch:
                marks = ", ".join("?" for _ in TABLES[table])
                self.raw.executemany(
                    f"INSERT INTO {table} ({', '.join(TABLES[table])}) VALUES ({marks})",  # noqa: S608
                    batch,
                )
        self.raw.execute("COMMIT")

    def finish(self) -> None:
        """Sequences past the explicit ids (PostgreSQL) and planner statistics (both)."""
        if self.pg:
            cur = self.raw.cursor()
            for table in TABLES:
                cur.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"  # noqa: S608
                    f" COALESCE((SELECT max(id) FROM {table}), 1))"
                )
            self.raw.commit()
            self.raw.autocommit = True
            cur.execute("VACUUM ANALYZE")
            self.raw.autocommit = False
            self.proxy.close()
        else:
            self.raw.execute("ANALYZE")
            self.raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self.raw.close()


def load(engine: Engine, cats: bytearray, unknown_refs: int, csv_dir: Path | None = None) -> int:
    """Write the planted city; returns the number of confirmations written. With ``csv_dir``
    the compared columns also go to CSV files for the DuckDB reference."""
    n = len(cats)
    with engine.begin() as conn:
        programme_id = conn.execute(
            select(programme.c.id).where(programme.c.code == PROGRAMME)
        ).scalar_one()
        units = list(
            conn.execute(
                select(admin_unit.c.id).where(admin_unit.c.level == "commune").limit(400)
            ).scalars()
        )
        batch_id = conn.execute(
            insert(payment_batch)
            .values(
                reference="HCM-BATCH-1",
                channel="bank",
                programme_id=programme_id,
                period=PERIOD,
                state="sent",
                total_count=n,
                completed_count=0,
                total_amount=n * AMOUNT,
                actor="bench",
                created_at=T0,
            )
            .returning(payment_batch.c.id)
        ).scalar_one()
    loader = _Loader(engine)
    gen = _Rows(n, units, programme_id, batch_id, loader.ts)
    writers = _CsvWriters(csv_dir) if csv_dir is not None else None
    confirmations = 0
    for start in range(0, n, CHUNK):
        rows = gen.chunk(cats, start, min(n, start + CHUNK))
        j0, j1 = start * unknown_refs // n, min(n, start + CHUNK) * unknown_refs // n
        rows["confirmation"].extend(gen.unknown_references(j0, j1))
        confirmations += len(rows["confirmation"])
        loader.write(rows)
        if writers is not None:
            writers.add(rows)
    loader.finish()
    if writers is not None:
        writers.close()
    return confirmations


class _CsvWriters:
    """The columns the plain comparison needs, for DuckDB."""

    COLS: ClassVar[dict[str, tuple[int, ...]]] = {
        "enrollment": (0, 6, 5),  # id, state, amount
        "payment_instruction": (0, 1, 5, 9, 10),  # id, enrollment_id, reference, amount, state
        "confirmation": (0, 2, 5, 6),  # id, reference, outcome, amount
    }

    def __init__(self, folder: Path) -> None:
        self.files = {t: (folder / f"{t}.csv").open("w", newline="") for t in self.COLS}
        self.writers = {t: csv.writer(f) for t, f in self.files.items()}

    def add(self, rows: dict[str, list[tuple[Any, ...]]]) -> None:
        for table, picks in self.COLS.items():
            self.writers[table].writerows(tuple(r[i] for i in picks) for r in rows[table])

    def close(self) -> None:
        for f in self.files.values():
            f.close()


# -- the 1% that changes between the full and the incremental run ---------------------------


def change(engine: Engine, cats: bytearray, seed: int, share: float = 0.01) -> list[int]:
    """Change ``share`` of the entitlements the way a day does: payments returned (the
    entitlement is unpaid again), deaths reported, deaths corrected, unpaid entitlements
    cancelled. Updates ``cats`` to what the rows now are; returns the entitlements changed."""
    rnd = random.Random(seed + 1)  # noqa: S311 - test data, not secrets
    n = len(cats)
    picked = sorted(rnd.sample(range(n), max(1, int(n * share))))
    now = dt.datetime.now(dt.UTC)
    returned, died, revived, cancelled = [], [], [], []
    for k0 in picked:
        cat, k = cats[k0], k0 + 1
        if cat == NORMAL:
            if rnd.random() < 0.5:
                returned.append(k)
                cats[k0] = RETURNED
            else:
                died.append(k)
                cats[k0] = DECEASED
        elif cat == DECEASED:
            revived.append(k)
            cats[k0] = NORMAL
        elif cat == UNPAID_REJECTED:
            cancelled.append(k)
            cats[k0] = UNPAID_CANCELLED
    at = bindparam("at", type_=DateTime(timezone=True))

    def apply(sql: str, ids: list[int]) -> None:
        for s in range(0, len(ids), 20_000):
            part = ids[s : s + 20_000]
            conn.execute(
                text(sql.replace(":ids", ", ".join(map(str, part)))).bindparams(at),
                {"at": now},
            )

    with engine.begin() as conn:
        apply(
            "UPDATE payment_instruction SET state = 'returned', reason_code = 'AC06',"
            " state_changed_at = :at WHERE id IN (:ids)",
            returned,
        )
        apply(
            "UPDATE enrollment SET state = 'approved', updated_at = :at WHERE id IN (:ids)",
            returned,
        )
        apply(
            "UPDATE tick SET state = 'withdrawn', withdrawn_at = :at WHERE id IN (:ids)", returned
        )
        apply(
            "UPDATE person SET vital_status = 'deceased', death_date = '2021-09-20',"
            " updated_at = :at WHERE id IN (:ids)",
            died,
        )
        apply(
            "UPDATE person SET vital_status = 'alive', death_date = NULL, updated_at = :at"
            " WHERE id IN (:ids)",
            revived,
        )
        apply(
            "UPDATE enrollment SET state = 'cancelled', updated_at = :at WHERE id IN (:ids)",
            cancelled,
        )
    return sorted(returned + died + revived + cancelled)


# -- DuckDB, the analytic reference ---------------------------------------------------------


DUCK_QUERIES = {
    "approved_unpaid": """SELECT count(*) FROM enrollment e WHERE e.state = 'approved'
        AND NOT EXISTS (SELECT 1 FROM instr i WHERE i.enrollment_id = e.id
          AND i.state IN ('created', 'held', 'sent', 'accepted', 'unknown', 'settled'))""",
    "paid_not_approved": """SELECT count(*) FROM instr i JOIN enrollment e
        ON e.id = i.enrollment_id WHERE i.state = 'settled'
        AND e.state NOT IN ('approved', 'paid')""",
    "duplicate_payment": """SELECT count(*) FROM (SELECT c.reference FROM conf c
        JOIN instr i ON i.reference = c.reference AND c.amount = i.amount
        WHERE c.outcome = 'settled' GROUP BY c.reference HAVING count(*) > 1)""",
    "amount_mismatch": """SELECT count(DISTINCT i.id) FROM conf c JOIN instr i
        ON i.reference = c.reference WHERE c.outcome = 'settled' AND c.amount <> i.amount""",
    "unknown_reference": """SELECT count(*) FROM conf c
        WHERE NOT EXISTS (SELECT 1 FROM instr i WHERE i.reference = c.reference)""",
}


def duckdb_reference(csv_dir: Path) -> tuple[float, dict[str, int]]:
    """Seconds DuckDB takes for the plain comparison on the same rows (loading excluded)."""
    import duckdb

    con = duckdb.connect()
    con.execute(
        f"CREATE TABLE enrollment AS SELECT * FROM read_csv('{csv_dir}/enrollment.csv',"  # noqa: S608
        " header=false, columns={'id': 'BIGINT', 'state': 'VARCHAR', 'amount': 'BIGINT'})"
    )
    con.execute(
        f"CREATE TABLE instr AS SELECT * FROM read_csv('{csv_dir}/payment_instruction.csv',"  # noqa: S608
        " header=false, columns={'id': 'BIGINT', 'enrollment_id': 'BIGINT',"
        " 'reference': 'VARCHAR', 'amount': 'BIGINT', 'state': 'VARCHAR'})"
    )
    con.execute(
        f"CREATE TABLE conf AS SELECT * FROM read_csv('{csv_dir}/confirmation.csv',"  # noqa: S608
        " header=false, columns={'id': 'BIGINT', 'reference': 'VARCHAR',"
        " 'outcome': 'VARCHAR', 'amount': 'BIGINT'})"
    )
    started = time.perf_counter()
    counts = {}
    for name, sql in DUCK_QUERIES.items():
        row = con.execute(sql).fetchone()
        counts[name] = int(row[0]) if row else 0
    seconds = time.perf_counter() - started
    con.close()
    return seconds, counts


# -- the whole benchmark ----------------------------------------------------------------------


_KEY_FORMS = [
    (re.compile(r"e:(\d+)"), "e"),
    (re.compile(r"i:(\d+)"), "i"),
    (re.compile(r"c:(\d+)"), "c"),
    (re.compile(r"e:(\d+):EXT(\d+)"), "t"),
    (re.compile(r"c:bank:UR(\d+)"), "u"),
]


def _encode(mtype: str, key: str) -> tuple[str, int] | None:
    """(type/form, id) of a dedup key of a form the benchmark plants; None for any other."""
    for pattern, form in _KEY_FORMS:
        m = pattern.fullmatch(key)
        if m is not None and (form != "t" or m[1] == m[2]):
            return f"{mtype}/{form}", int(m[1])
    return None


def check_cases(
    engine: Engine, cats: bytearray, unknown_refs: int
) -> tuple[int, int, list[str], list[str]]:
    """Compare the open cases with the planted defects as exact sets, in little memory (one
    sorted array of 8-byte ids per type: a city's cases never become Python objects at once).
    Returns (planted, found, missing examples, unexpected examples)."""
    want: dict[str, array[int]] = {}
    for k0, cat in enumerate(cats):
        if cat != NORMAL:
            for mtype, key in expected_keys(cat, k0 + 1):
                group, ident = _encode(mtype, key) or ("?", 0)
                want.setdefault(group, array("q")).append(ident)
    want["unknown_reference/u"] = array("q", range(unknown_refs))
    got: dict[str, array[int]] = {}
    unexpected: list[str] = []
    with engine.connect() as conn:
        rows = conn.execution_options(stream_results=True, yield_per=50_000).execute(
            text("SELECT type, dedup_key FROM mismatch_case WHERE status = 'open'")
        )
        for mtype, key in rows:
            encoded = _encode(str(mtype), str(key))
            if encoded is None:
                unexpected.append(f"{mtype} {key}")
            else:
                got.setdefault(encoded[0], array("q")).append(encoded[1])
    planted = sum(len(a) for a in want.values())
    found, missing = 0, []
    for group in sorted(set(want) | set(got)):
        w, g = sorted(want.get(group, ())), sorted(got.get(group, ()))
        if w == g:
            found += len(w)
            continue
        ws, gs = set(w), set(g)
        found += len(ws & gs)
        missing += [f"{group} {i}" for i in sorted(ws - gs)[:10]]
        unexpected += [f"{group} {i}" for i in sorted(gs - ws)[:10]]
        if len(g) != len(gs):
            unexpected.append(f"{group}: {len(g) - len(gs)} duplicate open cases")
    return planted, found, missing, unexpected


def run_bench(
    approved: int,
    db_url: str | None = None,
    *,
    seed: int = 7,
    keep: bool = False,
    duckdb: bool = True,
    progress: Callable[[str], None] = lambda _m: None,
) -> BenchResult:
    """The benchmark on a scratch database (dropped afterwards unless ``keep``)."""
    database = BenchDatabase(db_url, keep=keep)
    csv_dir = Path(tempfile.mkdtemp(prefix="ansinh-bench-csv-")) if duckdb else None
    try:
        engine = database.prepare()
        result = check_planted(engine, approved, seed=seed, csv_dir=csv_dir, progress=progress)
        result.db = database.kind
        result.peak_rss_mb = peak_rss_mb()  # before DuckDB: the gateway's own peak
        engine.dispose()
        if csv_dir is not None:
            progress("DuckDB reference")
            result.duckdb_seconds, result.duckdb_counts = duckdb_reference(csv_dir)
            result.duckdb_agrees = all(
                result.duckdb_counts[t] == result.by_type.get(t, 0) for t in DUCK_QUERIES
            )
        return result
    finally:
        if csv_dir is not None:
            for p in csv_dir.iterdir():
                p.unlink()
            csv_dir.rmdir()
        database.drop()


def check_planted(
    engine: Engine,
    approved: int,
    *,
    seed: int = 7,
    csv_dir: Path | None = None,
    progress: Callable[[str], None] = lambda _m: None,
) -> BenchResult:
    """Plant, load, reconcile fully, change 1%, reconcile incrementally; after each run the
    open cases must be exactly the planted defects. The database must hold no other cases."""
    result = BenchResult(approved, engine.dialect.name)
    progress(f"planting {approved} entitlements")
    cats = plant(approved, seed)
    unknown_refs = unknown_reference_count(approved)
    started = time.perf_counter()
    result.confirmations = load(engine, cats, unknown_refs, csv_dir)
    result.load_seconds = time.perf_counter() - started
    progress(f"loaded in {result.load_seconds:.1f} s; full reconciliation")
    db = Database(engine)
    full = reconcile.run_on(db, utcnow, kind="full")
    result.seconds = full.seconds
    result.by_type, result.steps = full.by_type, full.steps
    planted, found, result.missing, result.unexpected = check_cases(engine, cats, unknown_refs)
    result.defects_planted, result.defects_found = planted, found
    rerun = reconcile.run_on(db, utcnow, kind="full")  # steady state: every case already open
    result.rerun_seconds, result.rerun_steps = rerun.seconds, rerun.steps
    if rerun.opened or rerun.closed:
        result.unexpected.append(f"a second full run opened {rerun.opened}, closed {rerun.closed}")
    progress(
        f"full run {full.seconds:.2f} s, again {rerun.seconds:.2f} s;"
        " changing 1% and running incrementally"
    )
    result.changed_rows = len(change(engine, cats, seed))
    inc: ReconcileSummary = reconcile.run_on(db, utcnow, kind="incremental")
    result.incremental_seconds = inc.seconds
    result.incremental_scope, result.incremental_steps = inc.scope or 0, inc.steps
    planted, found, missing, unexpected = check_cases(engine, cats, unknown_refs)
    result.incremental_defects_planted, result.incremental_defects_found = planted, found
    result.missing += [f"after incremental: {m}" for m in missing]
    result.unexpected += [f"after incremental: {u}" for u in unexpected]
    progress(f"incremental run {inc.seconds:.3f} s over {inc.scope} entitlements")
    return result
