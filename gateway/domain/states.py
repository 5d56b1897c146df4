"""State machines and closed vocabularies, spelled out once (Mojaloop ``Enums.js`` style)."""

from __future__ import annotations

import enum

from gateway.errors import InvalidState


class EnrollmentState(enum.StrEnum):
    PROPOSED = "proposed"
    VERIFIED = "verified"
    APPROVED = "approved"
    PAID = "paid"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    SUSPENDED = "suspended"


_E = EnrollmentState
ENROLLMENT_TRANSITIONS: dict[EnrollmentState, frozenset[EnrollmentState]] = {
    _E.PROPOSED: frozenset({_E.VERIFIED, _E.REJECTED, _E.CANCELLED, _E.SUSPENDED}),
    _E.VERIFIED: frozenset({_E.APPROVED, _E.PROPOSED, _E.REJECTED, _E.CANCELLED, _E.SUSPENDED}),
    _E.APPROVED: frozenset({_E.PAID, _E.CANCELLED, _E.SUSPENDED}),
    # a settled payment that the bank later returns puts the entitlement back to unpaid
    _E.PAID: frozenset({_E.APPROVED}),
    _E.SUSPENDED: frozenset({_E.PROPOSED, _E.VERIFIED, _E.APPROVED, _E.CANCELLED}),
    _E.REJECTED: frozenset({_E.PROPOSED}),
    _E.CANCELLED: frozenset(),
}


class InstructionState(enum.StrEnum):
    CREATED = "created"
    HELD = "held"  # stopped before sending (death notification, open case)
    SENT = "sent"
    ACCEPTED = "accepted"
    SETTLED = "settled"
    REJECTED = "rejected"
    RETURNED = "returned"
    UNKNOWN = "unknown"  # timed out after submit: query, never resend
    CANCELLED = "cancelled"


_I = InstructionState
INSTRUCTION_TRANSITIONS: dict[InstructionState, frozenset[InstructionState]] = {
    # rejected before sending: the account check found the account closed, blocked or unknown
    _I.CREATED: frozenset({_I.SENT, _I.HELD, _I.CANCELLED, _I.UNKNOWN, _I.REJECTED}),
    _I.HELD: frozenset({_I.CREATED, _I.CANCELLED}),
    # returned without a settlement seen first: a return that overtook its settlement report,
    # or cash the post office could not pay out and sent back
    _I.SENT: frozenset(
        {_I.ACCEPTED, _I.SETTLED, _I.REJECTED, _I.RETURNED, _I.UNKNOWN, _I.CANCELLED}
    ),
    _I.ACCEPTED: frozenset({_I.SETTLED, _I.REJECTED, _I.RETURNED, _I.UNKNOWN, _I.CANCELLED}),
    _I.UNKNOWN: frozenset({_I.ACCEPTED, _I.SETTLED, _I.REJECTED, _I.RETURNED}),
    _I.SETTLED: frozenset({_I.RETURNED}),
    _I.REJECTED: frozenset(),
    _I.RETURNED: frozenset(),
    _I.CANCELLED: frozenset(),
}
OPEN_INSTRUCTION_STATES = frozenset({_I.CREATED, _I.HELD, _I.SENT, _I.ACCEPTED, _I.UNKNOWN})


def check_enrollment_transition(current: str, target: str) -> None:
    if EnrollmentState(target) not in ENROLLMENT_TRANSITIONS[EnrollmentState(current)]:
        raise InvalidState(
            f"an enrollment cannot go from {current} to {target}",
            f"hồ sơ không thể chuyển từ trạng thái {current} sang {target}",
            code="enrollment.invalid_transition",
        )


def check_instruction_transition(current: str, target: str) -> None:
    if InstructionState(target) not in INSTRUCTION_TRANSITIONS[InstructionState(current)]:
        raise InvalidState(
            f"a payment instruction cannot go from {current} to {target}",
            f"lệnh chi không thể chuyển từ trạng thái {current} sang {target}",
            code="instruction.invalid_transition",
        )


class Channel(enum.StrEnum):
    BANK = "bank"
    POSTOFFICE = "postoffice"


class VitalStatus(enum.StrEnum):
    ALIVE = "alive"
    DECEASED = "deceased"
    UNKNOWN = "unknown"


class FlagKind(enum.StrEnum):
    """Reasons screening stops an enrollment from being approved without an override."""

    TICKED_ELSEWHERE = "ticked_elsewhere"  # paid/ticked by another locality or programme
    ENROLLED_ELSEWHERE = "enrolled_elsewhere"  # registry says enrolled elsewhere (IBR)
    DUPLICATE_IN_INTAKE = "duplicate_in_intake"  # listed twice (two communes, same round)
    EXCLUSIVE_PROGRAMME = "exclusive_programme"  # another programme of the same group
    POSSIBLE_DUPLICATE = "possible_duplicate"  # fuzzy name+date+commune match, no valid ID
    IDENTITY_MISMATCH = "identity_mismatch"  # registry disagrees on name/birth/gender
    PID_INCONSISTENT = "pid_inconsistent"  # ID digits disagree with birth date or gender
    DECEASED = "deceased"
    NOT_FOUND = "not_found"  # not in the registry
    LEGACY_UNRESOLVED = "legacy_unresolved"  # only a 9-digit CMND the registry cannot resolve
    SPLIT_COMMUNE = "split_commune"  # old commune split across several new ones
    ACCOUNT_NAME_MISMATCH = "account_name_mismatch"


class MismatchType(enum.StrEnum):
    """Reconciliation case types (ARCHITECTURE.md §2)."""

    APPROVED_UNPAID = "approved_unpaid"
    PAID_NOT_APPROVED = "paid_not_approved"
    DUPLICATE_PAYMENT = "duplicate_payment"
    AMOUNT_MISMATCH = "amount_mismatch"
    IDENTITY_MISMATCH = "identity_mismatch"
    DECEASED = "deceased"
    NOT_FOUND = "not_found"
    TICKED_ELSEWHERE = "ticked_elsewhere"
    ACCOUNT_NAME_MISMATCH = "account_name_mismatch"
    RETURNED_PAYMENT = "returned_payment"
    UNKNOWN_OUTCOME_OVERDUE = "unknown_outcome_overdue"
    UNKNOWN_REFERENCE = "unknown_reference"  # a confirmation that matches no instruction


class Role(enum.StrEnum):
    COMMUNE = "commune_officer"
    DISTRICT = "district_officer"
    PROVINCE = "province_officer"
    MINISTRY = "ministry_officer"
    BANK = "bank_client"
    AUDITOR = "auditor"


# who may do what; scope (admin unit) is checked separately
PROPOSERS = frozenset({Role.COMMUNE, Role.DISTRICT, Role.PROVINCE})
APPROVERS = frozenset({Role.DISTRICT, Role.PROVINCE, Role.MINISTRY})
CASE_WORKERS = frozenset({Role.COMMUNE, Role.DISTRICT, Role.PROVINCE, Role.MINISTRY})
READERS = frozenset({Role.COMMUNE, Role.DISTRICT, Role.PROVINCE, Role.MINISTRY, Role.AUDITOR})
