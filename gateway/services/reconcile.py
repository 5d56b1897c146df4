"""Reconciliation: approved entitlements × instructions × confirmations × registry × ticks.

Everything happens inside the database, in a handful of set-based statements, so a city of
7 million entitlements never passes through Python (docs/reconciliation.md):

1. one ``INSERT … SELECT`` per mismatch type writes the run's findings into a temporary table
   (``recon_found``), evidence JSON built in SQL;
2. open cases still found are touched (``last_seen_run_id``), open cases of the checked scope no
   longer found are closed with the run named as the reason, and new findings open cases
   (``INSERT … SELECT … ON CONFLICT DO NOTHING`` against the partial unique index of open cases,
   so a re-run never duplicates one).

An incremental run first collects the enrollments touched since the last successful run's
watermark (``recon_scope``) and restricts both the findings and the closing to them. Two runs
never interleave: a PostgreSQL advisory transaction lock; SQLite's write transaction.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, DateTime, bindparam, insert, select, text, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import aliased

from gateway.db.database import Database
from gateway.db.dialect import iso_utc_sql, json_embed_sql, json_object_sql, xact_lock
from gateway.db.tables import mismatch_case, recon_run
from gateway.db.tables.payments import LIVE_OR_SETTLED
from gateway.domain.states import EnrollmentState, MismatchType
from gateway.services.cases import suppressed_on
from gateway.services.context import Services

M, E = MismatchType, EnrollmentState
ENTITLED = "('approved', 'paid')"
NOT_ENTITLED = "({})".format(", ".join(f"'{s}'" for s in E if s not in (E.APPROVED, E.PAID)))
LOCK_KEY = 0x616E_7265  # "anre": one reconciliation at a time across processes
# rows written by a transaction that began before a run and committed after it carry
# timestamps older than that run's start: the next incremental run looks back this far
RECHECK_MARGIN = dt.timedelta(minutes=5)
# PostgreSQL, incremental ticked_elsewhere only: priced as a spinning disk (the default 4), the
# planner hash-joins the whole enrollment table to reach the scope instead of probing its keys
# (EXPLAIN at 1M: 219 → 104 ms). For the whole run it was no gain: approved_unpaid got slower.
PROBE_PAGE_COST = 1.1
ANALYZE_AFTER = 10_000  # cases opened by one run after which PostgreSQL re-reads the statistics
COLUMNS = (
    "type, dedup_key, unit_id, programme_id, period, person_id, enrollment_id, instruction_id,"
    " evidence"
)


@dataclass
class ReconcileSummary:
    run_id: int
    kind: str = "full"
    opened: int = 0
    still_open: int = 0
    closed: int = 0
    by_type: dict[str, int] = field(default_factory=dict)
    scope: int | None = None  # enrollments re-checked by an incremental run; None = all
    suppressed: int = 0  # findings resolved for good by an officer: no new case
    watermark: str | None = None
    seconds: float = 0.0
    steps: dict[str, float] = field(default_factory=dict)  # seconds per statement

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        yield
        self.steps[name] = round(self.steps.get(name, 0.0) + time.perf_counter() - started, 3)

    def as_counts(self) -> dict[str, Any]:
        """JSON-able figures of the run (job-run records, CLI ``--json``, recon_run.counts)."""
        return {
            "run_id": self.run_id,
            "kind": self.kind,
            "opened": self.opened,
            "still_open": self.still_open,
            "closed": self.closed,
            "by_type": dict(sorted(self.by_type.items())),
            "scope": self.scope,
            "suppressed": self.suppressed,
            "watermark": self.watermark,
            "seconds": round(self.seconds, 3),
            "steps": self.steps,
        }


def run(svc: Services, *, kind: str = "full") -> ReconcileSummary:
    """One reconciliation run, full or incremental, in one transaction."""
    return run_on(svc.db, svc.clock, kind=kind)


def run_on(
    db: Database, clock: Callable[[], dt.datetime], *, kind: str = "full"
) -> ReconcileSummary:
    """``run`` on a bare database (the benchmark has no ports to build)."""
    if kind not in ("full", "incremental"):
        raise ValueError(f"kind must be full or incremental, not {kind!r}")
    started = time.perf_counter()
    now = clock()
    try:
        with db.begin() as conn:
            xact_lock(conn, LOCK_KEY)
            summary = _run(conn, kind, now)
            summary.seconds = time.perf_counter() - started
            conn.execute(
                update(recon_run)
                .where(recon_run.c.id == summary.run_id)
                .values(finished_at=clock(), outcome="succeeded", counts=summary.as_counts())
            )
        return summary
    except Exception as exc:
        with db.begin() as conn:
            conn.execute(
                insert(recon_run).values(
                    kind=kind,
                    started_at=now,
                    finished_at=clock(),
                    counts={},
                    outcome="failed",
                    error=f"{type(exc).__name__}: {exc}"[:2000],
                )
            )
        raise


def _run(conn: Connection, kind: str, now: dt.datetime) -> ReconcileSummary:
    since = _last_watermark(conn) if kind == "incremental" else None
    run_id = int(
        conn.execute(
            insert(recon_run)
            .values(
                kind=kind,
                started_at=now,
                watermark=now.astimezone(dt.UTC).isoformat(),
                counts={},
                outcome="running",
            )
            .returning(recon_run.c.id)
        ).scalar_one()
    )
    sql = _Sql(conn.dialect.name)
    summary = ReconcileSummary(run_id, kind, watermark=now.astimezone(dt.UTC).isoformat())
    for stmt in sql.temp_tables():
        conn.exec_driver_sql(stmt)
    if since is not None:
        with summary.step("scope"):
            conn.execute(_text(sql.scope_sql()), {"since": since - RECHECK_MARGIN, "now": now})
        summary.scope = int(conn.exec_driver_sql("SELECT count(*) FROM recon_scope").scalar_one())
        conn.exec_driver_sql("ANALYZE recon_scope")  # temporary tables get no automatic stats
    for name, statement in sql.findings(incremental=since is not None):
        probe = sql.pg and since is not None and name == M.TICKED_ELSEWHERE
        with summary.step(name):
            if probe:  # see PROBE_PAGE_COST
                conn.exec_driver_sql(f"SET LOCAL random_page_cost = {PROBE_PAGE_COST}")
            conn.execute(_text(statement), {"now": now, "since": (since or now) - RECHECK_MARGIN})
            if probe:
                conn.exec_driver_sql("SET LOCAL random_page_cost TO DEFAULT")
    conn.exec_driver_sql("CREATE INDEX ix_recon_found_key ON recon_found (type, dedup_key)")
    # findings an officer resolved for good are dropped here, against the resolved cases as
    # they stand (ix_mismatch_case_resolved) — not inside the INSERT of new cases, where
    # PostgreSQL would probe the very table the statement is growing
    summary.suppressed = _rows(
        conn,
        summary,
        "suppress",
        text(
            f"""DELETE FROM recon_found WHERE EXISTS (SELECT 1 FROM mismatch_case r
              WHERE r.type = recon_found.type AND r.dedup_key = recon_found.dedup_key
                AND {_stays_resolved()})"""  # noqa: S608
        ),
        {},
    )
    conn.exec_driver_sql("ANALYZE recon_found")
    summary.by_type = {
        str(t): int(n)
        for t, n in conn.exec_driver_sql("SELECT type, count(*) FROM recon_found GROUP BY type")
    }
    in_scope = (  # through ix_mismatch_case_enrollment, not a scan of every open case
        ""
        if since is None
        else "AND id IN (SELECT m.id FROM recon_scope s CROSS JOIN mismatch_case m"
        " WHERE m.enrollment_id = s.enrollment_id AND m.status = 'open')"
    )
    params = {"run": run_id, "now": now}
    summary.still_open = _rows(
        conn,
        summary,
        "touch",
        _text(
            """UPDATE mismatch_case SET last_seen_run_id = :run
            WHERE id IN (SELECT m.id FROM recon_found f CROSS JOIN mismatch_case m
              WHERE m.status = 'open' AND m.type = f.type AND m.dedup_key = f.dedup_key)"""
        ),
        params,
    )
    summary.closed = _rows(
        conn,
        summary,
        "close",
        _text(
            f"""UPDATE mismatch_case SET status = 'closed', closed_at = :now, updated_at = :now,
              resolution = 'auto_closed', resolution_reason = :reason
            WHERE status = 'open' AND type IN ({", ".join(f"'{t}'" for t in M)}) {in_scope}
              AND NOT EXISTS (SELECT 1 FROM recon_found f
                WHERE f.type = mismatch_case.type AND f.dedup_key = mismatch_case.dedup_key)"""  # noqa: S608
        ),
        {**params, "reason": f"cause no longer present in reconciliation run {run_id}"},
    )
    summary.opened = _rows(
        conn,
        summary,
        "open",
        _text(
            f"""INSERT INTO mismatch_case ({COLUMNS}, status, opened_at, updated_at,
              opened_run_id, last_seen_run_id)
            SELECT {COLUMNS}, 'open', :now, :now, :run, :run FROM recon_found f
            WHERE true  -- SQLite needs a WHERE before ON CONFLICT in INSERT … SELECT
            ON CONFLICT (type, dedup_key) WHERE status = 'open' DO NOTHING"""  # noqa: S608
        ),
        params,
    )
    for stmt in sql.drop_temp_tables():
        conn.exec_driver_sql(stmt)
    if sql.pg and summary.opened > ANALYZE_AFTER:
        # the next run's plans must not take a city's cases for an empty table
        conn.exec_driver_sql("ANALYZE mismatch_case")
    return summary


def _rows(
    conn: Connection, summary: ReconcileSummary, name: str, stmt: Any, params: dict[str, Any]
) -> int:
    with summary.step(name):
        return int(conn.execute(stmt, params).rowcount)


def _stays_resolved() -> str:
    """SQL on alias ``r``: a resolved case whose finding must not open a new case (every false
    positive; any resolution of a finding read from a stored confirmation). One definition,
    ``gateway.services.cases.suppressed_condition``; probed through ix_mismatch_case_resolved."""
    condition = suppressed_on(aliased(mismatch_case, name="r"))
    # spelled by the SQLite compiler for both databases: plain SQL (IN, substr), bound values
    # inlined as literals
    return str(condition.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))


def _last_watermark(conn: Connection) -> dt.datetime | None:
    value = conn.execute(
        select(recon_run.c.watermark)
        .where(recon_run.c.outcome == "succeeded", recon_run.c.watermark.is_not(None))
        .order_by(recon_run.c.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    return None if value is None else dt.datetime.fromisoformat(value)


def _text(sql: str) -> Any:
    stamp = DateTime(timezone=True)
    names = [n for n in ("now", "since") if f":{n}" in sql]
    return text(sql).bindparams(*[bindparam(n, type_=stamp) for n in names])


class _Sql:
    """The statements of a run, spelled for one dialect."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self.pg = dialect == "postgresql"
        # SQLite joins CROSS JOIN tables in the order written (its planner has no statistics on
        # the run's temporary tables); PostgreSQL plans plain joins from statistics
        self.join = "JOIN" if self.pg else "CROSS JOIN"
        # SQLite's statistics hold no histogram: it would scan millions of entitlements rather
        # than read the few in the states that are not owed through the state index
        self.by_state = "" if self.pg else "INDEXED BY ix_enrollment_state_unit"

    def temp_tables(self) -> list[str]:
        evidence = "JSONB" if self.pg else "TEXT"
        suffix = " ON COMMIT DROP" if self.pg else ""
        return [
            *self.drop_temp_tables(),
            f"""CREATE TEMP TABLE recon_found (type VARCHAR(32) NOT NULL,
              dedup_key VARCHAR(160) NOT NULL, unit_id BIGINT, programme_id BIGINT,
              period VARCHAR(7), person_id BIGINT, enrollment_id BIGINT, instruction_id BIGINT,
              evidence {evidence} NOT NULL){suffix}""",
            f"CREATE TEMP TABLE recon_scope (enrollment_id BIGINT PRIMARY KEY){suffix}",
        ]

    def drop_temp_tables(self) -> list[str]:
        schema = "pg_temp" if self.pg else "temp"  # never a permanent table of the same name
        return [f"DROP TABLE IF EXISTS {schema}.{t}" for t in ("recon_found", "recon_scope")]

    def json(self, *pairs: tuple[str, str]) -> str:
        return json_object_sql(self.dialect, pairs)

    def scope_sql(self) -> str:
        """Enrollments whose facts changed since the watermark (each branch on an index)."""
        return """INSERT INTO recon_scope (enrollment_id)
            SELECT id FROM enrollment WHERE updated_at >= :since
            UNION SELECT id FROM enrollment WHERE created_at >= :since
            UNION SELECT enrollment_id FROM payment_instruction WHERE state_changed_at >= :since
            UNION SELECT enrollment_id FROM payment_instruction WHERE created_at >= :since
            UNION SELECT enrollment_id FROM payment_instruction
              WHERE state = 'unknown' AND deadline_at >= :since AND deadline_at < :now
            UNION SELECT i.enrollment_id FROM confirmation c
              JOIN payment_instruction i ON i.id = c.instruction_id WHERE c.received_at >= :since
            UNION SELECT e.id FROM tick t JOIN enrollment e ON e.person_id = t.person_id
              WHERE t.created_at >= :since
            UNION SELECT e.id FROM tick t JOIN enrollment e ON e.person_id = t.person_id
              WHERE t.withdrawn_at >= :since
            UNION SELECT enrollment_id FROM registry_verification
              WHERE checked_at >= :since AND enrollment_id IS NOT NULL
            UNION SELECT e.id FROM person p JOIN enrollment e ON e.person_id = p.id
              WHERE p.updated_at >= :since"""

    def findings(self, *, incremental: bool) -> list[tuple[str, str]]:
        """One INSERT … SELECT per mismatch type (ARCHITECTURE.md §2)."""
        # incremental: the scope drives every join (CROSS JOIN fixes SQLite's join order: the
        # temporary table has no statistics); full: each check starts from its own index
        scope = "AND e.id = s.enrollment_id" if incremental else ""
        inc = incremental
        # SQLite, incremental, checks of rare states (held, unknown, a confirmation's or the
        # registry's anomaly, deceased …): start from the rare rows' own index, as the full run
        # does, and keep those in the scope. Without a histogram SQLite takes a state for an
        # eighth of the table and would walk the whole scope instead (7.3M: 0.25 s → ms each).
        # The unary + keeps the scope test a filter, never the driving index.
        rare_first = inc and not self.pg
        in_scope = "AND +e.id IN (SELECT enrollment_id FROM recon_scope)" if rare_first else scope

        def frm(full: str, scoped: str, *, rare: bool = False) -> str:
            if not inc or (rare and rare_first):
                return f"FROM {full}"
            if not self.pg:  # SQLite keeps the written order of CROSS JOINs
                scoped = scoped.replace("JOIN ", "CROSS JOIN ")
            return f"FROM recon_scope s {self.join} enrollment e ON e.id = s.enrollment_id {scoped}"

        new_conf = "AND c.received_at >= :since" if incremental else ""
        key = "'e:' || CAST(e.id AS TEXT)"
        ikey = "'i:' || CAST(i.id AS TEXT)"
        ecols = "e.unit_id, e.programme_id, e.period, e.person_id, e.id"
        head = f"INSERT INTO recon_found ({COLUMNS}) SELECT"
        i_then_e = "payment_instruction i JOIN enrollment e ON e.id = i.enrollment_id"
        e_then_i = "JOIN payment_instruction i ON i.enrollment_id = e.id"
        found_from_i = frm(i_then_e, e_then_i)
        rare_from_i = frm(i_then_e, e_then_i, rare=True)
        last_reason = (
            "(SELECT li.reason_code FROM payment_instruction li WHERE li.enrollment_id = e.id"
            " ORDER BY li.attempt DESC LIMIT 1)"
        )
        latest_verification = (
            "v.id = (SELECT max(v2.id) FROM registry_verification v2"
            " WHERE v2.enrollment_id = v.enrollment_id AND v2.outcome <> 'error')"
        )

        def instruction_check(
            mtype: MismatchType,
            where: str,
            *extra: tuple[str, str],
            source: str | None = None,
            rare: bool = False,
        ) -> str:
            evidence = self.json(("reference", "i.reference"), ("amount", "i.amount"), *extra)
            source = source or (rare_from_i if rare else found_from_i)
            return f"""{head} '{mtype}', {ikey}, {ecols}, i.id, {evidence}
                {source} WHERE {where} {in_scope if rare else scope}"""

        def registry_check(mtype: MismatchType, outcome: str) -> str:
            evidence = self.json(
                ("fields", json_embed_sql(self.dialect, "v.fields")),
                ("checked_at", iso_utc_sql(self.dialect, "v.checked_at")),
            )
            return f"""{head} '{mtype}', {key}, {ecols}, NULL, {evidence}
                {
                frm(
                    "registry_verification v JOIN enrollment e ON e.id = v.enrollment_id",
                    "JOIN registry_verification v ON v.enrollment_id = e.id",
                    rare=True,
                )
            }
                WHERE v.outcome = '{outcome}' AND e.state IN {ENTITLED}
                  AND {latest_verification} {in_scope}"""

        def confirmed(result: str) -> str:
            sub = "SELECT c.instruction_id FROM confirmation c WHERE c.apply_result = "
            return f"i.id IN ({sub}'{result}')"

        settlements = (
            "(SELECT count(*) FROM confirmation c WHERE c.instruction_id = i.id"
            " AND c.apply_result IN ('settled', 'duplicate_settlement'))"
        )
        reported_amount = (
            "(SELECT max(c.amount) FROM confirmation c WHERE c.instruction_id = i.id"
            " AND c.apply_result = 'amount_mismatch')"
        )
        statements = [
            f"""{head} '{M.APPROVED_UNPAID}', {key}, {ecols}, NULL,
                {self.json(("amount", "e.amount"), ("last_reason", last_reason))}
              {frm("enrollment e", "")} WHERE e.state = 'approved' {scope}
                AND NOT EXISTS (SELECT 1 FROM payment_instruction i
                  WHERE i.enrollment_id = e.id AND i.{LIVE_OR_SETTLED})
                AND EXISTS (SELECT 1 FROM payment_batch b
                  WHERE b.programme_id = e.programme_id AND b.period = e.period)""",  # noqa: S608
            instruction_check(
                M.PAID_NOT_APPROVED,
                f"e.state IN {NOT_ENTITLED} AND i.state = 'settled'",
                ("enrollment_state", "e.state"),
                # from the few entitlements not owed, not from millions of settled payments
                source=frm(
                    f"enrollment e {self.by_state} {self.join} payment_instruction i"
                    " ON i.enrollment_id = e.id",
                    "JOIN payment_instruction i ON i.enrollment_id = e.id",
                    rare=True,
                ),
                rare=True,
            ),
            instruction_check(
                M.DUPLICATE_PAYMENT,
                confirmed("duplicate_settlement"),
                ("settlements", settlements),
                rare=True,
            ),
            instruction_check(
                M.AMOUNT_MISMATCH,
                confirmed("amount_mismatch"),
                ("reported_amount", reported_amount),
                ("state", "i.state"),
                rare=True,
            ),
            instruction_check(
                M.RETURNED_PAYMENT,
                "i.state IN ('returned', 'rejected')",
                ("state", "i.state"),
                ("reason_code", "i.reason_code"),
            ),
            instruction_check(
                M.ACCOUNT_NAME_MISMATCH,
                "i.state = 'held' AND i.payee_account_id IN"
                " (SELECT a.id FROM payee_account a WHERE a.status = 'mismatch')",
                ("reason_code", "i.reason_code"),
                rare=True,
            ),
            instruction_check(
                M.UNKNOWN_OUTCOME_OVERDUE,
                "i.state = 'unknown' AND i.deadline_at < :now",
                ("state", "i.state"),
                ("deadline_at", iso_utc_sql(self.dialect, "i.deadline_at")),
                rare=True,
            ),
            f"""{head} '{M.UNKNOWN_REFERENCE}',
                substr('c:' || c.source || ':' || c.item_key, 1, 160),
                NULL, NULL, NULL, NULL, NULL, NULL,
                {
                self.json(
                    ("reference", "c.reference"),
                    ("amount", "c.amount"),
                    ("outcome", "c.outcome"),
                    ("source", "c.source"),
                )
            }
              FROM confirmation c WHERE c.apply_result = 'unknown_reference' {new_conf}""",
            registry_check(M.IDENTITY_MISMATCH, "mismatch"),
            f"""{head} '{M.IDENTITY_MISMATCH}', 'c:' || CAST(c.id AS TEXT), {ecols}, i.id,
                {
                self.json(
                    ("reference", "i.reference"),
                    ("evidence_ref", "c.evidence_ref"),
                    ("counter_id", "'differs from the beneficiary''s'"),
                )
            }
              {
                frm(
                    "confirmation c JOIN payment_instruction i ON i.id = c.instruction_id"
                    " JOIN enrollment e ON e.id = i.enrollment_id",
                    "JOIN payment_instruction i ON i.enrollment_id = e.id"
                    " JOIN confirmation c ON c.instruction_id = i.id",
                    rare=True,
                )
            }
              WHERE c.apply_result = 'id_mismatch' {in_scope}""",
            registry_check(M.NOT_FOUND, "not_found"),
            f"""{head} '{M.DECEASED}', {key}, {ecols}, NULL,
                {self.json(("state", "e.state"), ("death_date", "CAST(p.death_date AS TEXT)"))}
              {
                frm(
                    "person p JOIN enrollment e ON e.person_id = p.id",
                    "JOIN person p ON p.id = e.person_id",
                    rare=True,
                )
            }
              WHERE p.vital_status = 'deceased' AND e.state IN {ENTITLED} {in_scope}""",
            *self.ticked_elsewhere(incremental, head, key, ecols, scope, frm),
        ]
        return [(_type_of(q), q) for q in statements]

    def ticked_elsewhere(
        self,
        incremental: bool,
        head: str,
        key: str,
        ecols: str,
        scope: str,
        frm: Callable[[str, str], str],
    ) -> list[str]:
        """A tick is the enrollment's own when it is the local tick of its programme (one
        enrollment per programme, period and person) or names one of its payments. A full run
        reads only the ticks that can be someone else's: those not made by a local payment
        (partial index ``ix_tick_unowned``), and local ticks of persons with more than one
        enrollment in the period (``ix_enrollment_person_period``) — never the whole ledger."""
        evidence = self.json(
            ("programme", "t.programme_code"),
            ("payment_ref", "t.payment_ref"),
            ("source", "t.source"),
            ("unit_id", "t.unit_id"),
        )
        select_ = f"""{head} '{M.TICKED_ELSEWHERE}',
            substr({key} || ':' || COALESCE(t.payment_ref, ''), 1, 160), {ecols}, NULL,
            {evidence}"""
        owned = f"""t.state = 'active' AND e.state IN {ENTITLED}
            AND t.exclusion_group = COALESCE(g.exclusion_group, g.code)
            AND (t.payment_ref IS NULL OR (
              NOT (t.source = 'local' AND t.programme_code = g.code)
              AND NOT EXISTS (SELECT 1 FROM payment_instruction o
                WHERE o.enrollment_id = e.id AND o.reference = t.payment_ref)))"""  # noqa: S608
        to_e = "JOIN enrollment e ON e.person_id = t.person_id AND e.period = t.period"
        if incremental:
            source = frm("", "JOIN tick t ON t.person_id = e.person_id AND t.period = e.period")
            return [
                f"""{select_} {source} JOIN programme g ON g.id = e.programme_id
                WHERE {owned} {scope}"""
            ]
        several = (
            "(SELECT person_id, period FROM enrollment GROUP BY person_id, period"
            " HAVING count(*) > 1) m"
        )
        return [
            f"""{select_} FROM tick t {to_e} JOIN programme g ON g.id = e.programme_id
            WHERE t.state = 'active' AND (t.source <> 'local' OR t.payment_ref IS NULL)
              AND {owned}""",
            f"""{select_} FROM {several} {self.join} tick t
              ON t.person_id = m.person_id AND t.period = m.period
              {to_e} JOIN programme g ON g.id = e.programme_id
            WHERE t.source = 'local' AND t.payment_ref IS NOT NULL AND {owned}""",
        ]


def _type_of(statement: str) -> str:
    found = re.search(r"SELECT '(\w+)'", statement)
    assert found is not None
    return found[1]
