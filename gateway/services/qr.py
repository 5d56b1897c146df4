"""Doorstep QR: a signed token per approved cash beneficiary, checked by field officers.

Token (compact, ASCII, verifiable offline with the published public key)::

    ANSQR1.<kid>.<base64url(JSON claims)>.<base64url(Ed25519 signature)>

The signature covers ``ANSQR1.<kid>.<claims>``; ``kid`` names the key in
``signing/keys.json`` so keys rotate (certs/README.md). The claims carry what a scanner shows
without the server — masked name, programme, period, amount, commune — plus a token id
(``jti``), issue and expiry times. Marking a token paid confirms the cash payment through the
same inbox and confirmation service as a post-office return file (source ``qr-doorstep``); the
``qr_token_use`` row (unique ``jti``) makes a token usable once.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, select, update

from adapters.payments.port import ConfirmationItem, InboundMessage
from adapters.signing import KeyStore, SignatureError, load_signing_key
from gateway.db.dialect import insert_ignore
from gateway.db.tables import (
    admin_unit,
    enrollment,
    payment_instruction,
    person,
    programme,
    qr_token_use,
)
from gateway.domain.states import CASE_WORKERS, EnrollmentState, InstructionState
from gateway.errors import Forbidden, GatewayError, problem
from gateway.security.principal import Actor
from gateway.services import audit, confirm, units
from gateway.services.context import Services
from gateway.services.workspace import mask_name
from gateway.settings import Settings

PREFIX = "ANSQR1"
SOURCE = "qr-doorstep"
PAYABLE_INSTRUCTIONS = (
    InstructionState.CREATED,
    InstructionState.SENT,
    InstructionState.ACCEPTED,
    InstructionState.UNKNOWN,
)

REASONS = {  # reason -> (English, Vietnamese)
    "malformed": ("the text is not a QR payment token", "nội dung không phải mã QR chi trả"),
    "signature": ("the signature does not match", "chữ ký không khớp"),
    "unknown_key": ("signed with an unknown key", "ký bằng khóa không xác định"),
    "revoked_key": ("signed with a revoked key", "ký bằng khóa đã bị thu hồi"),
    "expired": ("the token has expired", "mã đã hết hạn"),
    "not_found": ("no such entitlement", "không có hồ sơ hưởng tương ứng"),
    "out_of_scope": (
        "the beneficiary is outside your admin unit",
        "người hưởng ngoài địa bàn quản lý của bạn",
    ),
    "already_paid": ("already paid", "đã chi trả"),
    "cancelled": ("the doorstep payment was cancelled", "lượt chi tại nhà đã bị hủy"),
    "in_progress": ("another officer is recording this payment", "đang được ghi nhận"),
    "stale": (
        "the entitlement changed since the token was issued",
        "hồ sơ đã thay đổi sau khi cấp mã",
    ),
    "not_payable": ("the entitlement is not approved for payment", "hồ sơ chưa được duyệt chi"),
    "no_instruction": ("no cash payment instruction is waiting", "chưa có lệnh chi tiền mặt"),
    "not_cash": ("the beneficiary is paid by bank transfer", "người hưởng nhận qua ngân hàng"),
}


class QrInvalid(GatewayError):
    """``Mã QR không hợp lệ`` with the specific reason (code ``qr.<reason>``)."""

    status = 422

    def __init__(self, reason: str) -> None:
        en, vi = REASONS[reason]
        super().__init__(f"Invalid QR code: {en}", f"Mã QR không hợp lệ: {vi}", code=f"qr.{reason}")
        self.reason = reason


@dataclass(frozen=True)
class Claims:
    jti: str
    enrollment_id: int
    programme: str
    period: str
    amount: int
    name: str  # masked
    unit: str  # commune code
    issued: int
    expires: int


_SHORT = {
    "jti": "j",
    "enrollment_id": "e",
    "programme": "p",
    "period": "d",
    "amount": "a",
    "name": "n",
    "unit": "u",
    "issued": "i",
    "expires": "x",
}


@dataclass
class Keyring:
    """The current signing key and every public key a verifier trusts (with revocations)."""

    key_id: str
    signer: Ed25519PrivateKey | None
    public: KeyStore


def keyring_from_settings(settings: Settings) -> Keyring:
    certs: Path = settings.security.certs_dir
    kid = settings.web.qr_key_id
    store = KeyStore.from_keys_json(certs / "signing" / "keys.json")
    for revoked in settings.web.qr_revoked_keys:
        store.revoke(revoked)
    key_path = certs / "signing" / f"{kid}.key"
    signer = load_signing_key(certs, kid) if key_path.exists() else None
    return Keyring(kid, signer, store)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(claims: Claims, keyring: Keyring) -> str:
    if keyring.signer is None:
        raise GatewayError(
            f"QR signing key {keyring.key_id} is not available",
            f"không có khóa ký mã QR {keyring.key_id}",
            code="qr.no_signing_key",
        )
    body = {_SHORT[k]: v for k, v in asdict(claims).items()}
    payload = _b64(json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode())
    signed = f"{PREFIX}.{keyring.key_id}.{payload}"
    return f"{signed}.{_b64(keyring.signer.sign(signed.encode()))}"


def decode(token: str, public: KeyStore, now: dt.datetime) -> Claims:
    """Offline verification: format, key (known, not revoked), signature, expiry."""
    parts = token.strip().split(".")
    if len(parts) != 4 or parts[0] != PREFIX:
        raise QrInvalid("malformed")
    _, kid, payload, signature = parts
    try:
        key = public.get(kid)
    except SignatureError as exc:
        raise QrInvalid("revoked_key" if exc.reason == "revoked_key" else "unknown_key") from None
    try:
        key.verify(_unb64(signature), f"{PREFIX}.{kid}.{payload}".encode())
        raw = json.loads(_unb64(payload))
        claims = Claims(**{long: raw[short] for long, short in _SHORT.items()})
    except InvalidSignature:
        raise QrInvalid("signature") from None
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise QrInvalid("malformed") from None
    if now.timestamp() > claims.expires:
        raise QrInvalid("expired")
    return claims


def key_id_of(token: str) -> str:
    parts = token.strip().split(".")
    return parts[1] if len(parts) == 4 else ""


# -- issuing --------------------------------------------------------------------------------


def _entitlement_query() -> Any:
    return (
        select(
            enrollment.c.id,
            enrollment.c.state,
            enrollment.c.amount,
            enrollment.c.period,
            enrollment.c.unit_id,
            enrollment.c.channel,
            programme.c.code.label("programme"),
            programme.c.name_vi,
            programme.c.name_en,
            admin_unit.c.code.label("unit_code"),
            admin_unit.c.name.label("unit_name"),
            person.c.full_name,
        )
        .join(programme, programme.c.id == enrollment.c.programme_id)
        .join(admin_unit, admin_unit.c.id == enrollment.c.unit_id)
        .join(person, person.c.id == enrollment.c.person_id)
    )


def claims_for(row: Any, now: dt.datetime, validity_days: int) -> Claims:
    return Claims(
        jti=secrets.token_urlsafe(12),
        enrollment_id=int(row.id),
        programme=row.programme,
        period=row.period,
        amount=int(row.amount),
        name=mask_name(row.full_name),
        unit=row.unit_code,
        issued=int(now.timestamp()),
        expires=int((now + dt.timedelta(days=validity_days)).timestamp()),
    )


@dataclass(frozen=True)
class IssuedToken:
    enrollment_id: int
    name: str
    amount: int
    programme: str
    token: str


def issue_for_unit(
    svc: Services, actor: Actor, keyring: Keyring, unit_id: int, programme_id: int, period: str
) -> list[IssuedToken]:
    """Tokens for every approved cash (post-office) beneficiary of one commune and programme."""
    _require_worker(actor)
    now = svc.clock()
    with svc.db.read() as conn:
        units.require_scope(conn, actor, unit_id)
        rows = conn.execute(
            _entitlement_query()
            .where(
                enrollment.c.unit_id == unit_id,
                enrollment.c.programme_id == programme_id,
                enrollment.c.period == period,
                enrollment.c.state == EnrollmentState.APPROVED,
                enrollment.c.channel == "postoffice",
            )
            .order_by(person.c.name_key, enrollment.c.id)
        ).all()
    issued = [
        IssuedToken(
            r.id,
            mask_name(r.full_name),
            r.amount,
            r.programme,
            sign(claims_for(r, now, svc.settings.web.qr_validity_days), keyring),
        )
        for r in rows
    ]
    if issued:
        with svc.db.begin() as conn:
            audit.record(
                conn,
                actor,
                "qr.issue",
                "admin_unit",
                unit_id,
                purpose="doorstep cash payment",
                detail={"count": len(issued), "period": period, "key_id": keyring.key_id},
            )
    return issued


def _require_worker(actor: Actor) -> None:
    if not actor.is_system and actor.role not in CASE_WORKERS:
        raise Forbidden(
            "only commune, district, province or ministry officers pay at the door",
            "chỉ cán bộ xã, huyện, tỉnh hoặc bộ được chi trả tại nhà",
            code="role.cannot_pay",
        )


# -- checking and acting --------------------------------------------------------------------


@dataclass(frozen=True)
class Checked:
    claims: Claims
    programme_name_vi: str
    programme_name_en: str
    unit_name: str
    instruction_id: int
    reference: str


def check(svc: Services, actor: Actor, keyring: Keyring, token: str) -> Checked:
    """Everything a field officer needs before paying; any failure is a ``QrInvalid``."""
    claims = decode(token, keyring.public, svc.clock())
    with svc.db.read() as conn:
        return _check_row(conn, actor, claims)


def _check_row(conn: Connection, actor: Actor, claims: Claims) -> Checked:
    row = conn.execute(_entitlement_query().where(enrollment.c.id == claims.enrollment_id)).first()
    if row is None:
        raise QrInvalid("not_found")
    if not units.in_scope(conn, actor, row.unit_id):
        raise QrInvalid("out_of_scope")
    used = conn.execute(
        select(qr_token_use.c.status).where(
            qr_token_use.c.enrollment_id == row.id, qr_token_use.c.status != "failed"
        )
    ).scalars()
    statuses = set(used)
    if row.state == EnrollmentState.PAID or "paid" in statuses:
        raise QrInvalid("already_paid")
    if "cancelled" in statuses:
        raise QrInvalid("cancelled")
    if "pending" in statuses:
        raise QrInvalid("in_progress")
    if row.state != EnrollmentState.APPROVED:
        raise QrInvalid("not_payable")
    if row.channel != "postoffice":
        raise QrInvalid("not_cash")
    if (row.amount, row.programme, row.period) != (claims.amount, claims.programme, claims.period):
        raise QrInvalid("stale")
    instr = conn.execute(
        select(payment_instruction.c.id, payment_instruction.c.reference)
        .where(
            payment_instruction.c.enrollment_id == row.id,
            payment_instruction.c.state.in_(PAYABLE_INSTRUCTIONS),
        )
        .order_by(payment_instruction.c.attempt.desc())
        .limit(1)
    ).first()
    if instr is None:
        raise QrInvalid("no_instruction")
    return Checked(claims, row.name_vi, row.name_en, row.unit_name, instr.id, instr.reference)


@dataclass(frozen=True)
class DoorstepResult:
    status: str  # paid | cancelled | failed
    result: str  # what the confirmation service answered (settled, id_mismatch, …)
    reference: str


def mark_paid(
    svc: Services,
    actor: Actor,
    keyring: Keyring,
    token: str,
    *,
    counter_pid: str,
    evidence_ref: str,
) -> DoorstepResult:
    """Confirm a cash payment at the door through the post-office confirmation path."""
    _require_worker(actor)
    pid = "".join(ch for ch in counter_pid if ch.isdigit())
    if len(pid) != 12:
        raise problem(
            "counter_pid",
            "personal_id.format",
            "enter the 12-digit personal ID from the beneficiary's card",
            "nhập số định danh 12 chữ số trên thẻ căn cước của người nhận",
        )
    if not evidence_ref.strip():
        raise problem(
            "evidence_ref",
            "evidence.required",
            "a reference to the evidence photo is required",
            "cần mã tham chiếu ảnh minh chứng",
        )
    checked, attempt = _claim(svc, actor, keyring, token)
    item = ConfirmationItem(
        reference=checked.reference,
        item_key=f"{checked.claims.jti}:{attempt}",
        outcome="settled",
        amount=checked.claims.amount,
        raw_status="paid-at-door",
        counter_pid=pid,
        evidence_ref=evidence_ref.strip()[:120],
        occurred_at=svc.clock(),
    )
    result = _confirm(svc, checked, attempt, item)
    status = "paid" if result == "settled" else "failed"
    _finish(svc, actor, checked, status, result, evidence_ref=item.evidence_ref)
    return DoorstepResult(status, result, checked.reference)


def cancel(svc: Services, actor: Actor, keyring: Keyring, token: str, *, reason: str) -> str:
    """Record that the doorstep payment did not happen; the instruction is reported unpaid."""
    _require_worker(actor)
    if not reason.strip():
        raise problem("reason", "reason.required", "a reason is required", "phải ghi lý do")
    checked, attempt = _claim(svc, actor, keyring, token)
    item = ConfirmationItem(
        reference=checked.reference,
        item_key=f"{checked.claims.jti}:{attempt}",
        outcome="unpaid",
        reason_code="qr.cancelled",
        raw_status="cancelled-at-door",
        occurred_at=svc.clock(),
    )
    result = _confirm(svc, checked, attempt, item)
    _finish(svc, actor, checked, "cancelled", result, reason=reason.strip())
    return result


def _claim(svc: Services, actor: Actor, keyring: Keyring, token: str) -> tuple[Checked, int]:
    """Check the token and take it (unique jti) in one transaction; returns the attempt."""
    claims = decode(token, keyring.public, svc.clock())
    now = svc.clock()
    with svc.db.begin() as conn:
        checked = _check_row(conn, actor, claims)
        inserted = conn.execute(
            insert_ignore(conn, qr_token_use)
            .values(
                jti=claims.jti,
                enrollment_id=claims.enrollment_id,
                key_id=key_id_of(token),
                status="pending",
                attempts=1,
                actor=actor.label(),
                created_at=now,
                updated_at=now,
            )
            .returning(qr_token_use.c.id)
        ).scalar()
        if inserted is not None:
            return checked, 1
        retried = conn.execute(
            update(qr_token_use)
            .where(qr_token_use.c.jti == claims.jti, qr_token_use.c.status == "failed")
            .values(status="pending", attempts=qr_token_use.c.attempts + 1, updated_at=now)
            .returning(qr_token_use.c.attempts)
        ).scalar()
    if retried is None:
        raise QrInvalid("in_progress")
    return checked, int(retried)


def _confirm(svc: Services, checked: Checked, attempt: int, item: ConfirmationItem) -> str:
    body = json.dumps(
        {
            "jti": checked.claims.jti,
            "attempt": attempt,
            "reference": checked.reference,
            "outcome": item.outcome,
            "evidence_ref": item.evidence_ref,
        },
        sort_keys=True,
    ).encode()
    msg = InboundMessage(
        SOURCE, f"{checked.claims.jti}:{attempt}", "doorstep", body, (item,), {"kid": "qr"}
    )
    try:
        _, summary = confirm.receive_and_apply(svc, msg)
    except Exception:
        with svc.db.begin() as conn:
            _set_status(conn, checked.claims.jti, "failed", "error", svc.clock())
        raise
    return next(iter(summary.results), "duplicate_item")


def _finish(
    svc: Services,
    actor: Actor,
    checked: Checked,
    status: str,
    result: str,
    *,
    evidence_ref: str | None = None,
    reason: str | None = None,
) -> None:
    now = svc.clock()
    with svc.db.begin() as conn:
        _set_status(conn, checked.claims.jti, status, result, now, evidence_ref, reason)
        audit.record(
            conn,
            actor,
            f"qr.{status}",
            "enrollment",
            checked.claims.enrollment_id,
            purpose="doorstep cash payment",
            detail={
                "reference": checked.reference,
                "result": result,
                "evidence_ref": evidence_ref,
                "reason": reason,
            },
        )


def _set_status(
    conn: Connection,
    jti: str,
    status: str,
    result: str,
    now: dt.datetime,
    evidence_ref: str | None = None,
    reason: str | None = None,
) -> None:
    conn.execute(
        update(qr_token_use)
        .where(qr_token_use.c.jti == jti)
        .values(
            status=status, result=result, evidence_ref=evidence_ref, reason=reason, updated_at=now
        )
    )


def svg(token: str, *, scale: int = 3) -> str:
    """The token as an inline SVG QR code (segno; error correction M, byte mode)."""
    import segno

    return str(segno.make(token, error="m", micro=False).svg_inline(scale=scale, border=2))
