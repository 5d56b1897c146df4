"""Which resolution applies to which mismatch case, and which resolved cases stay resolved.

Pure vocabulary, no I/O: the cases service refuses an action a case type does not allow, and
reconciliation (through ``gateway.services.cases.not_suppressed``) must not reopen a finding an
officer already settled for good.
"""

from __future__ import annotations

import enum

from gateway.domain.states import MismatchType

M = MismatchType


class CaseAction(enum.StrEnum):
    CONFIRM_PAID = "confirm_paid"
    REISSUE_PAYMENT = "reissue_payment"
    CANCEL_ENTITLEMENT = "cancel_entitlement"
    FALSE_POSITIVE = "false_positive"
    MERGE_PERSONS = "merge_persons"


A = CaseAction
ACTION_LABELS: dict[CaseAction, tuple[str, str]] = {  # (vi, en)
    A.CONFIRM_PAID: ("Xác nhận đã chi", "Confirm paid"),
    A.REISSUE_PAYMENT: ("Chi lại", "Re-issue payment"),
    A.CANCEL_ENTITLEMENT: ("Hủy quyền hưởng", "Cancel entitlement"),
    A.FALSE_POSITIVE: ("Không phải sai lệch", "False positive"),
    A.MERGE_PERSONS: ("Gộp hai người là một", "Merge persons"),
}

# confirm_paid settles an instruction still waiting for its outcome (the wrong-amount or
# wrong-ID report was kept, never applied; an unknown outcome the bank statement shows paid);
# reissue_payment replaces a payment that failed for good; an unknown outcome is queried,
# never re-sent, so it cannot be re-issued.
APPLICABLE: dict[MismatchType, frozenset[CaseAction]] = {
    M.APPROVED_UNPAID: frozenset({A.REISSUE_PAYMENT, A.CANCEL_ENTITLEMENT, A.FALSE_POSITIVE}),
    M.PAID_NOT_APPROVED: frozenset({A.CANCEL_ENTITLEMENT, A.FALSE_POSITIVE}),
    M.DUPLICATE_PAYMENT: frozenset({A.MERGE_PERSONS, A.CANCEL_ENTITLEMENT, A.FALSE_POSITIVE}),
    M.AMOUNT_MISMATCH: frozenset({A.CONFIRM_PAID, A.REISSUE_PAYMENT, A.FALSE_POSITIVE}),
    M.IDENTITY_MISMATCH: frozenset(
        {A.CONFIRM_PAID, A.CANCEL_ENTITLEMENT, A.MERGE_PERSONS, A.FALSE_POSITIVE}
    ),
    M.DECEASED: frozenset({A.CANCEL_ENTITLEMENT, A.FALSE_POSITIVE}),
    M.NOT_FOUND: frozenset({A.CANCEL_ENTITLEMENT, A.MERGE_PERSONS, A.FALSE_POSITIVE}),
    M.TICKED_ELSEWHERE: frozenset({A.CANCEL_ENTITLEMENT, A.MERGE_PERSONS, A.FALSE_POSITIVE}),
    M.ACCOUNT_NAME_MISMATCH: frozenset({A.REISSUE_PAYMENT, A.CANCEL_ENTITLEMENT, A.FALSE_POSITIVE}),
    M.RETURNED_PAYMENT: frozenset({A.REISSUE_PAYMENT, A.CANCEL_ENTITLEMENT, A.FALSE_POSITIVE}),
    M.UNKNOWN_OUTCOME_OVERDUE: frozenset({A.CONFIRM_PAID, A.CANCEL_ENTITLEMENT, A.FALSE_POSITIVE}),
    M.UNKNOWN_REFERENCE: frozenset({A.FALSE_POSITIVE}),
}

# Findings read from stored confirmations (a wrong amount, a second settlement, an unknown
# reference, a wrong ID at the counter: ``c:`` keys) are facts that never go away: once an
# officer resolved such a case, whatever the action, the same finding must not open a new case.
FACT_TYPES = frozenset({M.AMOUNT_MISMATCH, M.DUPLICATE_PAYMENT, M.UNKNOWN_REFERENCE})
FACT_KEY_PREFIX = "c:"


def applicable(case_type: str) -> tuple[CaseAction, ...]:
    """The actions a case of this type allows, in the order officers see them."""
    allowed = APPLICABLE.get(MismatchType(case_type), frozenset()) if _known(case_type) else ()
    return tuple(a for a in CaseAction if a in allowed)


def stays_resolved(case_type: str, dedup_key: str, resolution: str | None) -> bool:
    """True when a resolved case must keep its finding from being opened again."""
    if resolution == A.FALSE_POSITIVE:
        return True
    if resolution not in {a.value for a in CaseAction}:
        return False  # auto-closed by a run, or never resolved: a recurrence is a new case
    return case_type in FACT_TYPES or dedup_key.startswith(FACT_KEY_PREFIX)


def _known(case_type: str) -> bool:
    return case_type in {m.value for m in MismatchType}
