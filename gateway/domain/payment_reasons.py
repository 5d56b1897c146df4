"""ISO 20022 reason codes for failed or returned credit transfers, mapped to what the gateway does
(DOMAIN.md §3). Banks' proprietary codes are mapped onto these by their adapter; a code we do not
know goes to the manual queue, never to an automatic resend."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class ReasonAction(enum.StrEnum):
    UPDATE_ACCOUNT = "needs_account_update"  # wrong account number: notify the commune
    NEW_ACCOUNT = "collect_new_account"  # closed: a new account, never a retry
    HOLD_UNTIL_UPDATED = "hold_retry_after_update"  # blocked (expired ID, no biometrics)
    ACCOUNT_CANNOT_RECEIVE = "account_cannot_receive"  # e.g. a savings account
    INCIDENT = "incident_never_resend"  # duplicate detected by the bank: an idempotency bug
    REVERIFY = "block_and_reverify"  # name or ID does not match the account holder
    CONFIGURATION = "configuration_error"  # our initiating party is not registered
    STOP_BENEFIT = "stop_benefit_check_death"  # the beneficiary died
    FIX_BANK_CODE = "fix_bank_code"  # wrong BIN / bank identifier
    REGULATORY_HOLD = "regulatory_hold"  # AML or sanctions
    QUERY_STATUS = "query_status_before_retry"  # timeout somewhere: the outcome is unknown
    MANUAL = "manual_queue"


@dataclass(frozen=True)
class Reason:
    code: str
    name: str
    action: ReasonAction
    retry_allowed: bool  # may a *new* attempt follow once the cause is fixed?


_A = ReasonAction
REASONS: dict[str, Reason] = {
    r.code: r
    for r in (
        Reason("AC01", "IncorrectAccountNumber", _A.UPDATE_ACCOUNT, True),
        Reason("AC03", "InvalidCreditorAccountNumber", _A.UPDATE_ACCOUNT, True),
        Reason("AC04", "ClosedAccountNumber", _A.NEW_ACCOUNT, True),
        Reason("AC06", "BlockedAccount", _A.HOLD_UNTIL_UPDATED, True),
        Reason("AG01", "TransactionForbidden", _A.ACCOUNT_CANNOT_RECEIVE, True),
        Reason("AM05", "Duplication", _A.INCIDENT, False),
        Reason("BE01", "InconsistentWithEndCustomer", _A.REVERIFY, True),
        Reason("BE05", "UnrecognisedInitiatingParty", _A.CONFIGURATION, True),
        Reason("MD07", "EndCustomerDeceased", _A.STOP_BENEFIT, False),
        Reason("RC01", "BankIdentifierIncorrect", _A.FIX_BANK_CODE, True),
        Reason("RR01", "MissingDebtorAccountOrIdentification", _A.REGULATORY_HOLD, False),
        Reason("RR02", "MissingDebtorNameOrAddress", _A.REGULATORY_HOLD, False),
        Reason("RR03", "MissingCreditorNameOrAddress", _A.REGULATORY_HOLD, False),
        Reason("RR04", "RegulatoryReason", _A.REGULATORY_HOLD, False),
        Reason("MS03", "NotSpecifiedReasonAgentGenerated", _A.MANUAL, False),
        Reason("NARR", "Narrative", _A.MANUAL, False),
        Reason("AB05", "TimeoutCreditorAgent", _A.QUERY_STATUS, False),
        Reason("AB06", "TimeoutInstructedAgent", _A.QUERY_STATUS, False),
    )
}


def reason(code: str | None) -> Reason | None:
    return REASONS.get((code or "").strip().upper())


def action_for(code: str | None) -> ReasonAction | None:
    """The gateway action for a reason code; ``None`` when there is no code at all."""
    if not code:
        return None
    known = reason(code)
    return known.action if known else ReasonAction.MANUAL
