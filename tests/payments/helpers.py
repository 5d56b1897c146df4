"""Approved bank/post-office entitlements, a real bank simulator and a real gateway over HTTP."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from adapters import signing
from adapters.http import TlsFiles, build_session
from adapters.payments.bank_rest import BankRestChannel
from adapters.payments.simulator import serve_in_thread, tls_context
from adapters.payments.simulator.bank import BankConfig, BankSim
from adapters.payments.simulator.bank_api import create_app
from adapters.registry.port import RegistryPerson
from certs import pki
from gateway.db.tables import enrollment
from gateway.domain.dates import BirthDate
from gateway.domain.names import bank_form
from gateway.security.principal import Actor
from gateway.services import enrollments, intake, verify
from gateway.services.context import Services
from gateway.settings import HttpSettings

SYSTEM = Actor.system("test")
NAMES = ("Nguyễn Văn An", "Trần Thị Bình", "Lê Văn Cường", "Phạm Thị Dung", "Hoàng Văn Em")
HTTP = HttpSettings(max_retries=0, read_timeout=5.0, connect_timeout=2.0)


def person(i: int, names: tuple[str, ...] = NAMES) -> tuple[str, str]:
    """A synthetic person: 12-digit ID (born 1950, male) and a name."""
    return f"0790500{i:05d}", names[i % len(names)]


def approve(
    svc: Services,
    fakes: dict[str, Any],
    n: int,
    *,
    channel: str = "bank",
    key: str = "t/1",
    names: tuple[str, ...] = NAMES,
) -> dict[tuple[str, str], tuple[str, str]]:
    """n approved enrollments; returns the bank accounts (bin, number) → (holder, status)."""
    accounts, rows = {}, []
    for i in range(n):
        pid, name = person(i, names)
        fakes["registry"].add(RegistryPerson(pid, name, BirthDate(1950, 3, 4), "M", "alive"))
        row = {
            "personal_id": pid,
            "full_name": name,
            "birth_date": "1950-03-04",
            "gender": "Nam",
            "commune_code": "26743",
            "channel": channel,
        }
        if channel == "bank":
            number = f"00{i:08d}"
            row |= {"bank_bin": "970436", "account_number": number}
            accounts[("970436", number)] = (bank_form(name), "active")
            fakes["bank"].open_account("970436", number, bank_form(name))
        rows.append(row)
    intake.import_rows(
        svc,
        SYSTEM,
        source_key=key,
        source_kind="fake",
        mapping="canonical",
        programme_code="ND20-TCXH",
        period="2026-07",
        content_hash=key,
        rows=rows,
    )
    verify.verify_pending(svc, SYSTEM)
    with svc.db.read() as conn:
        ids = list(conn.execute(select(enrollment.c.id).order_by(enrollment.c.id)).scalars())
    enrollments.approve(svc, SYSTEM, ids, reason="test")
    return accounts


@dataclass
class Keys:
    gateway: Ed25519PrivateKey
    bank: Ed25519PrivateKey

    def bank_store(self) -> signing.KeyStore:
        return signing.KeyStore({"bank-sim-1": self.bank.public_key()})

    def gateway_store(self) -> signing.KeyStore:
        return signing.KeyStore({"ansinh-dev-1": self.gateway.public_key()})


def new_keys() -> Keys:
    return Keys(Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate())


def start_bank(
    keys: Keys, accounts: dict, config: BankConfig, certs: Path | None = None
) -> tuple[BankSim, Any, str]:
    sim = BankSim(config, accounts, keys.bank, keys.gateway_store())
    server, url = serve_in_thread(
        create_app(sim), ssl_context=tls_context(certs) if certs else None
    )
    return sim, server, url


def channel(keys: Keys, url: str, callback: str | None, certs: Path | None = None):
    tls = None
    if certs is not None:
        pki.init(certs)
        tls = TlsFiles(certs / "client.crt", certs / "client.key", certs / "ca.crt")
    return BankRestChannel(
        url,
        build_session(HTTP, tls),
        HTTP,
        sender_id="ansinh-gateway",
        bank_id="bank-sim",
        key=keys.gateway,
        key_id="ansinh-dev-1",
        bank_keys=keys.bank_store(),
        callback_url=callback,
    )


def start_gateway(svc: Services) -> tuple[Any, str]:
    from gateway import create_app

    app = create_app(svc.settings, services=svc)
    return serve_in_thread(app)


def token(svc: Services, username: str, role: str) -> dict[str, str]:
    """A bearer token header for a national-level user (ministry officer, auditor)."""
    from tests.e2e.seed import user_bearer

    return user_bearer(svc, username, role)


def drain(sim: BankSim, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while sim.deliverer.pending() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sim.deliverer.pending() == 0, "callbacks still pending"
