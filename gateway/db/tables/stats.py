"""Daily statistics snapshots: the figures provincial systems report, per unit and programme.

One row per (day, unit, programme, period). Sentinels instead of NULLs keep the unique key
enforceable on both databases (a NULL never equals a NULL in a UNIQUE constraint): ``unit_id``
0 is the whole country, ``programme_id`` 0 is every programme, ``period`` ``*`` is every
period. Re-taking a day's snapshot replaces that day's rows; the unique key makes a duplicate
impossible. Every figure is defined in docs/statistics.md.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Date, DateTime, Index, String, Table, UniqueConstraint

from gateway.db.tables._base import metadata

NATIONAL = 0  # unit_id of the whole country
ALL_PROGRAMMES = 0
ALL_PERIODS = "*"
UNASSIGNED = -1  # unit_id of open cases that name no admin unit (counted nationally only)

# additive figures: every roll-up is a SUM of these over the rows one level below
MEASURES = (
    "records",  # enrollments in any state: the rows of the lists
    "proposed",
    "verified",
    "rejected",
    "cancelled",
    "suspended",
    "approved",  # entitled: approved or paid
    "approved_amount",
    "paid",
    "paid_amount",
    "unpaid",  # approved, not yet paid
    "unpaid_amount",
    "bank",  # entitled, by channel
    "bank_amount",
    "postoffice",
    "postoffice_amount",
    "paid_account",  # paid, by the channel that actually paid
    "paid_account_amount",
    "paid_cash",
    "paid_cash_amount",
    "account_verified",  # entitled, paid to a bank account the bank verified
    "reg_matched",  # registry-sync campaign: latest registry answer, one bucket per record
    "reg_corrected",  # subset of reg_matched: matched after an earlier mismatch/not found
    "reg_unmatched",
    "reg_deceased",
    "reg_unchecked",
)


def _dimensions() -> list[Column[object]]:
    return [
        Column("day", Date, nullable=False),
        Column("as_of", DateTime(timezone=True), nullable=False),
        Column("level", String(10), nullable=False),  # national | province | district | commune
        Column("scheme", String(16), nullable=False),  # "" for the national rows
        Column("unit_id", BigInteger, nullable=False),
        Column("parent_id", BigInteger),  # the row one level up (0: national); NULL for national
        Column("programme_id", BigInteger, nullable=False),
        Column("period", String(7), nullable=False),
    ]


stats_snapshot = Table(
    "stats_snapshot",
    metadata,
    *_dimensions(),
    *(Column(m, BigInteger, nullable=False, default=0) for m in MEASURES),
    UniqueConstraint("day", "unit_id", "programme_id", "period"),
    # the drill-down: the rows one level below a unit
    Index("ix_stats_snapshot_children", "day", "parent_id", "programme_id", "period"),
)

# Open mismatch cases by type, with the same dimensions (a child table so that roll-ups stay
# plain GROUP BYs and a new case type needs no migration).
stats_snapshot_case = Table(
    "stats_snapshot_case",
    metadata,
    *_dimensions(),
    Column("type", String(32), nullable=False),
    Column("open_cases", BigInteger, nullable=False),
    UniqueConstraint("day", "unit_id", "programme_id", "period", "type"),
)
