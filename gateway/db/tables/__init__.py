"""All tables of the canonical model (ARCHITECTURE.md §2), one module per area."""

from gateway.db.tables._base import metadata
from gateway.db.tables.cases import case_action, mismatch_case, recon_run
from gateway.db.tables.enrollment import (
    enrollment,
    enrollment_transition,
    flag,
    import_batch,
    quarantine_row,
    registry_verification,
    tick,
)
from gateway.db.tables.messaging import inbox_message, outbox_message
from gateway.db.tables.ops import api_token, app_user, audit_event, job_lock, job_run, kv_state
from gateway.db.tables.payments import confirmation, payment_batch, payment_instruction
from gateway.db.tables.payments_evidence import inbound_rejection
from gateway.db.tables.people import household, payee_account, person, person_identifier
from gateway.db.tables.reference import (
    admin_scheme,
    admin_succession,
    admin_unit,
    allowed_combination,
    amount_rule,
    exclusion_group,
    programme,
    standard_level,
)
from gateway.db.tables.registry import registry_event, registry_verify_run
from gateway.db.tables.stats import stats_snapshot, stats_snapshot_case
from gateway.db.tables.web import qr_token_use, rate_limit_window

REFERENCE_TABLES = (
    admin_scheme,
    admin_unit,
    admin_succession,
    standard_level,
    exclusion_group,
    programme,
    amount_rule,
    allowed_combination,
)

__all__ = [
    "REFERENCE_TABLES",
    "admin_scheme",
    "admin_succession",
    "admin_unit",
    "allowed_combination",
    "amount_rule",
    "api_token",
    "app_user",
    "audit_event",
    "case_action",
    "confirmation",
    "enrollment",
    "enrollment_transition",
    "exclusion_group",
    "flag",
    "household",
    "import_batch",
    "inbound_rejection",
    "inbox_message",
    "job_lock",
    "job_run",
    "kv_state",
    "metadata",
    "mismatch_case",
    "outbox_message",
    "payee_account",
    "payment_batch",
    "payment_instruction",
    "person",
    "person_identifier",
    "programme",
    "qr_token_use",
    "quarantine_row",
    "rate_limit_window",
    "recon_run",
    "registry_event",
    "registry_verification",
    "registry_verify_run",
    "standard_level",
    "stats_snapshot",
    "stats_snapshot_case",
    "tick",
]
