"""The registry port, in the gateway's vocabulary (not any registry's WSDL or JSON names)."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from gateway.domain.dates import BirthDate
from gateway.domain.identity import match_identity
from gateway.domain.names import NameMatch


class FieldOutcome(enum.StrEnum):
    MATCH = "match"
    MISMATCH = "mismatch"
    MISSING = "missing"  # we did not send it, or the registry holds none


@dataclass(frozen=True)
class Residence:
    scheme: str  # "legacy63" | "2025-07"
    commune_code: str


@dataclass(frozen=True)
class RegistryPerson:
    pid: str
    full_name: str
    birth: BirthDate | None
    gender: str | None
    vital_status: str  # alive | deceased
    death_date: dt.date | None = None
    residence: Residence | None = None
    legacy_ids: tuple[str, ...] = ()

    def __repr__(self) -> str:  # keep IDs out of tracebacks and logs
        return f"RegistryPerson(pid={self.pid[:3]}…, vital_status={self.vital_status})"


@dataclass(frozen=True)
class VerifyRequest:
    ref: str  # the caller's handle, echoed back
    pid: str
    full_name: str | None = None
    birth: BirthDate | None = None
    gender: str | None = None


@dataclass(frozen=True)
class VerifyResult:
    ref: str
    found: bool
    fields: dict[str, FieldOutcome] = field(default_factory=dict)  # name, birth_date, gender
    name_match: NameMatch | None = None
    vital_status: str | None = None
    death_date: dt.date | None = None
    error_code: str | None = None  # set when this one person could not be checked


@dataclass(frozen=True)
class TickRecord:
    pid: str
    exclusion_group: str
    period: str
    locality: str  # admin unit code (scheme-qualified: "2025-07:26734")
    programme: str
    payment_ref: str


@dataclass(frozen=True)
class Enrolment:
    """The SPDCI IBR "enrolled" answer: where a person is already enrolled or ticked."""

    programme: str
    locality: str
    period: str | None
    status: str  # enrolled | ticked
    exclusion_group: str | None = None


@dataclass(frozen=True)
class ChangeEvent:
    cursor: str
    kind: str  # death | reissue | move
    pid: str
    new_pid: str | None = None
    death_date: dt.date | None = None
    residence: Residence | None = None


@dataclass(frozen=True)
class ChangePage:
    events: tuple[ChangeEvent, ...]
    next_cursor: str | None


_OUTCOMES = {o.value: o for o in FieldOutcome}


def compare_fields(req: VerifyRequest, rec: RegistryPerson) -> VerifyResult:
    """The per-field comparison every registry implementation answers with (the gateway's own
    identity matching, ``gateway.domain.identity``, applied to the registry's record)."""
    found = match_identity(req, rec)
    return VerifyResult(
        ref=req.ref,
        found=True,
        fields={k: _OUTCOMES[v] for k, v in found.fields.items()},
        name_match=found.name_match,
        vital_status=rec.vital_status,
        death_date=rec.death_date,
    )


@runtime_checkable
class RegistryPort(Protocol):
    """Every call may raise ``gateway.errors.GatewayError`` with a code from
    ``adapters.registry.errors``; ``verify`` reports per-person failures in
    ``VerifyResult.error_code`` instead, so one bad person never fails the others."""

    name: str
    max_batch: int  # persons one ``verify`` call answers efficiently (1: one lookup each)

    def lookup(self, pid: str) -> RegistryPerson | None:
        """The registry's record for a personal ID, or None if it holds none."""

    def verify(self, requests: Sequence[VerifyRequest]) -> list[VerifyResult]:
        """Per-field comparison for a batch; one result per request, in order."""

    def resolve_legacy(self, legacy_id: str) -> str | None:
        """The current personal ID for a 9-digit CMND number, or None."""

    def publish_tick(self, tick: TickRecord) -> None:
        """Record that the person was paid (idempotent on pid, group, period)."""

    def withdraw_tick(self, tick: TickRecord, reason: str) -> None:
        """Remove a tick published in error or for a payment that was returned."""

    def enrolled(self, pid: str) -> list[Enrolment]:
        """Programmes and localities the person is enrolled in or ticked by."""

    def changes(self, cursor: str | None, limit: int = 500) -> ChangePage:
        """Events (deaths, re-issued IDs, residence moves) after the cursor."""
