"""What one reported outcome does to one payment instruction — pure, no I/O.

The service loads (and locks) the instructions a message names, runs ``decide`` for every item
in order against an in-memory ``Instruction`` (so a settlement and a return in one statement
apply in sequence), then writes the collected changes in a few set-based statements.

Results (stored per confirmation as ``apply_result``; reconciliation reads them):
``settled``, ``rejected``, ``returned``, ``accepted``, ``unknown_reference``,
``amount_mismatch`` (other amount, other currency, a fraction of a dong), ``id_mismatch`` (the
ID recorded at the post-office counter is not the beneficiary's), ``duplicate_settlement`` (a
second settlement of a settled payment: never a second payment), ``unknown_outcome`` (stored,
never applied) and ``ignored_<state>`` (a late or out-of-order report that no longer applies).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from gateway.domain.states import EnrollmentState, InstructionState

IS, E = InstructionState, EnrollmentState
SETTLE_FROM = frozenset({IS.CREATED, IS.SENT, IS.ACCEPTED, IS.UNKNOWN})
REJECT_FROM = SETTLE_FROM
# a return may overtake the settlement it undoes (out-of-order callbacks, a statement read
# before the notification), and the post office returns cash it never paid out
RETURN_FROM = frozenset({IS.SETTLED, IS.SENT, IS.ACCEPTED, IS.UNKNOWN})
ACCEPT_FROM = frozenset({IS.SENT, IS.UNKNOWN})


@dataclass(frozen=True)
class Report:
    """One reported outcome, as much of it as the decision needs."""

    reference: str
    outcome: str  # settled | rejected | unpaid | returned | pending | …
    amount: int | None = None
    amount_text: str | None = None
    currency: str | None = None
    reason_code: str | None = None
    counter_pid_index: bytes | None = None


@dataclass
class Instruction:
    """The instruction and its enrollment as locked for this application; mutated by decide."""

    id: int
    reference: str
    amount: int
    state: str
    reason_code: str | None
    settled_at: dt.datetime | None
    enrollment_id: int
    enrollment_state: str
    pid_index: bytes | None
    state_changed_at: dt.datetime | None = None
    changed: bool = False
    transitions: list[tuple[str, str, str]] = field(default_factory=list)  # from, to, reason
    ticks: list[tuple[str, str | None]] = field(default_factory=list)  # add | withdraw, reason

    def move(self, target: str, now: dt.datetime, reason: str | None = None) -> None:
        self.state, self.state_changed_at, self.changed = target, now, True
        if reason is not None:
            self.reason_code = reason[:40]
        if target == IS.SETTLED:
            self.settled_at = now

    def enroll(self, target: str, reason: str) -> None:
        self.transitions.append((self.enrollment_state, target, reason))
        self.enrollment_state = target


def decide(instr: Instruction | None, report: Report, now: dt.datetime) -> str:
    """Apply one report to the instruction in memory; returns the result to store."""
    if instr is None:
        return "unknown_reference"
    if report.outcome == "settled":
        return _settle(instr, report, now)
    if report.outcome in ("rejected", "unpaid"):
        if instr.state not in REJECT_FROM:
            return f"ignored_{instr.state}"
        instr.move(IS.REJECTED, now, report.reason_code or report.outcome)
        return "rejected"
    if report.outcome == "returned":
        return _return(instr, report, now)
    if report.outcome == "pending":
        if instr.state not in ACCEPT_FROM:
            return f"ignored_{instr.state}"
        instr.move(IS.ACCEPTED, now)
        return "accepted"
    return "unknown_outcome"  # credited, proprietary status, instructed: stored, never applied


def _settle(instr: Instruction, report: Report, now: dt.datetime) -> str:
    if (report.currency or "VND") != "VND":
        return "amount_mismatch"
    if report.amount is not None and report.amount != instr.amount:
        return "amount_mismatch"
    if report.amount is None and report.amount_text is not None:
        return "amount_mismatch"  # a fraction of a dong: not what we instructed
    if report.counter_pid_index is not None and report.counter_pid_index != instr.pid_index:
        return "id_mismatch"
    if instr.state == IS.SETTLED:
        return "duplicate_settlement"
    if instr.state not in SETTLE_FROM:
        return f"ignored_{instr.state}"
    instr.move(IS.SETTLED, now)
    if instr.enrollment_state == E.APPROVED:
        instr.enroll(E.PAID, f"payment {instr.reference} settled")
    instr.ticks.append(("add", None))
    return "settled"


def _return(instr: Instruction, report: Report, now: dt.datetime) -> str:
    if instr.state not in RETURN_FROM:
        return f"ignored_{instr.state}"
    was_settled = instr.state == IS.SETTLED
    instr.move(IS.RETURNED, now, report.reason_code)
    if was_settled:
        if instr.enrollment_state == E.PAID:
            instr.enroll(E.APPROVED, f"payment {instr.reference} returned ({report.reason_code})")
        instr.ticks.append(("withdraw", f"payment returned ({report.reason_code})"))
    return "returned"
