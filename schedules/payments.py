"""Payment jobs: resolve unknown outcomes by status query (never a resend), ask again about
recent settlements (returns whose callback was lost), apply inbox messages that were stored but
not applied (a crash between the two steps, or deferred apply), fetch confirmation files."""

from __future__ import annotations

from typing import Any

from schedules.spec import JobSpec


def query_unknown(svc: Any) -> dict[str, Any]:
    from gateway.services import disburse

    summary = disburse.query_unknown(svc)
    return {
        "queried": summary.queried,
        "resolved": summary.resolved,
        "still_unknown": summary.still_unknown,
    }


def query_returns(svc: Any) -> dict[str, Any]:
    from gateway.services import disburse

    summary = disburse.query_returns(svc)
    return {"queried": summary.queried, "returned": summary.results.get("returned", 0)}


def apply_inbox(svc: Any) -> dict[str, Any]:
    from gateway.services import inbound

    return inbound.apply_pending(svc, min_age_seconds=svc.settings.payments.inbox_grace_seconds)


def fetch_files(svc: Any) -> dict[str, Any]:
    from gateway.services import confirm

    out: dict[str, Any] = {}
    for channel in ("bank", "postoffice"):
        out[channel] = confirm.fetch_and_apply(svc, channel).applied
    return out


JOBS = [
    JobSpec(
        "payments.query_unknown",
        "query the channel for unknown outcomes and lost callbacks (txn/status)",
        query_unknown,
        interval_seconds=300,
    ),
    JobSpec(
        "payments.query_returns",
        "ask again about payments settled within the return window (lost return callbacks)",
        query_returns,
        interval_seconds=86_400,
    ),
    JobSpec(
        "payments.apply_inbox",
        "apply inbox messages stored but not applied",
        apply_inbox,
        interval_seconds=30,
    ),
    JobSpec(
        "payments.fetch_files",
        "fetch pain.002 / camt / post-office return files and apply them",
        fetch_files,
        interval_seconds=600,
    ),
]
