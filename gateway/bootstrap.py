"""The composition root: the only place that turns settings into engines and adapters.

Nothing here runs at import. ``build_services`` is called by ``create_app``, the CLI and the
scheduler; tests call it with explicit settings and hand-made fakes.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from pathlib import Path

from adapters.payments.fake import FakeBank, FakePostOffice
from adapters.payments.port import PaymentChannel
from adapters.registry.fake import FakeRegistry
from adapters.registry.port import RegistryPort
from adapters.welfare.fake import FakeWelfareSource
from adapters.welfare.port import ListFile, WelfareSource
from gateway.db.database import Database
from gateway.db.engine import make_engine
from gateway.security.vault import PiiVault
from gateway.services.context import Services
from gateway.settings import Settings, SettingsError

DEV_SECRETS = "dev-secrets.json"


def dev_secrets(data_dir: Path) -> dict[str, str]:
    """Keys for a development or test start, generated once under the data directory (0600)."""
    path = data_dir / DEV_SECRETS
    if path.exists():
        return dict(json.loads(path.read_text()))
    data_dir.mkdir(parents=True, exist_ok=True)
    values = {
        "secret_key": secrets.token_urlsafe(32),
        "pii_key": base64.b64encode(secrets.token_bytes(32)).decode(),
        "blind_index_key": base64.b64encode(secrets.token_bytes(32)).decode(),
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(values, fh)
    return values


def resolve_secrets(settings: Settings) -> Settings:
    """Fill missing secrets from the dev file; production must supply its own (Settings.check)."""
    sec = settings.security
    if sec.pii_key and sec.blind_index_key and sec.secret_key:
        return settings
    if settings.env == "production":
        raise SettingsError(
            "production start needs ANSINH_SECRET_KEY, ANSINH_PII_KEY, ANSINH_BLIND_INDEX_KEY"
        )
    dev = dev_secrets(settings.data_dir)
    from dataclasses import replace

    return settings.with_(
        security=replace(
            sec,
            secret_key=sec.secret_key or dev["secret_key"],
            pii_key=sec.pii_key or base64.b64decode(dev["pii_key"]),
            blind_index_key=sec.blind_index_key or base64.b64decode(dev["blind_index_key"]),
        )
    )


def build_vault(settings: Settings) -> PiiVault:
    sec = settings.security
    assert sec.pii_key is not None and sec.blind_index_key is not None
    return PiiVault.single(sec.pii_key, sec.blind_index_key)


def build_registry(settings: Settings) -> RegistryPort:
    backend = settings.registry.backend
    if backend == "fake":
        return FakeRegistry()
    from adapters.registry.factory import build  # real adapters pull zeep/lxml: import on demand

    return build(settings)


def build_payments(settings: Settings) -> dict[str, PaymentChannel]:
    if settings.payments.backend == "fake":
        return {"bank": FakeBank(), "postoffice": FakePostOffice()}
    from adapters.payments.factory import build

    return build(settings)


def build_welfare(settings: Settings) -> WelfareSource:
    if settings.welfare.backend == "fake":
        return FakeWelfareSource()
    from adapters.welfare.factory import build

    return build(settings)


def open_welfare_file(path: Path, mapping: str) -> ListFile:
    """A provincial list file (CSV or XLSX) read the way its mapping describes."""
    from adapters.welfare.files import open_list
    from mappings import engine

    return open_list(path, engine.load(mapping).source)


def build_services(
    settings: Settings,
    *,
    registry: RegistryPort | None = None,
    payments: dict[str, PaymentChannel] | None = None,
    welfare: WelfareSource | None = None,
) -> Services:
    settings = resolve_secrets(settings)
    db = Database(make_engine(settings.db_url))
    return Services(
        settings=settings,
        db=db,
        vault=build_vault(settings),
        registry=registry if registry is not None else build_registry(settings),
        welfare=welfare if welfare is not None else build_welfare(settings),
        payments=payments if payments is not None else build_payments(settings),
    )
