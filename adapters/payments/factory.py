"""Payment channels from settings (called lazily by ``gateway.bootstrap`` for non-fake backends).

``ANSINH_PAYMENTS_BACKEND`` picks the bank side — ``bank_rest`` (G2P Connect over mutual TLS) or
``iso20022`` (pain.001 out, pain.002/camt in, over the bank's file API) — and the post office is
real whenever ``ANSINH_POSTOFFICE_URL`` is set (backend ``postoffice`` alone: only the post
office is real). Whatever is not configured stays the in-memory fake.
"""

from __future__ import annotations

from pathlib import Path

from adapters import signing
from adapters.http import TlsFiles, build_session
from adapters.payments.bank_rest import BankRestChannel
from adapters.payments.fake import FakeBank, FakePostOffice
from adapters.payments.iso20022.channel import IsoFileChannel
from adapters.payments.iso20022.write import Debtor
from adapters.payments.port import PaymentChannel
from adapters.payments.postoffice import PostOfficeChannel
from gateway.settings import Settings, SettingsError


def _required(value: str | None, name: str) -> str:
    if not value:
        raise SettingsError(f"ANSINH_{name} is required for ANSINH_PAYMENTS_BACKEND")
    return value


def bank_rest(settings: Settings) -> BankRestChannel:
    pay, sec = settings.payments, settings.security
    tls = TlsFiles.from_certs_dir(sec.certs_dir, mutual=pay.mtls)
    keys_file = Path(pay.bank_keys_file) if pay.bank_keys_file else None
    callback = pay.callback_base_url
    return BankRestChannel(
        _required(pay.bank_url, "BANK_URL"),
        build_session(settings.http, tls),
        settings.http,
        sender_id=pay.sender_id,
        bank_id=pay.bank_id,
        key=signing.load_signing_key(sec.certs_dir, sec.signing_key_id),
        key_id=sec.signing_key_id,
        bank_keys=signing.KeyStore.from_keys_json(
            keys_file or sec.certs_dir / "signing" / "keys.json"
        ),
        callback_url=f"{callback.rstrip('/')}/api/v1/payments/bank/on-disburse"
        if callback
        else None,
        payer_fa=f"account:{pay.payer_account}@{pay.payer_bin}.vn-bank",
    )


def build(settings: Settings) -> dict[str, PaymentChannel]:
    pay = settings.payments
    bank: PaymentChannel = FakeBank()
    if pay.backend == "bank_rest":
        bank = bank_rest(settings)
    elif pay.backend == "iso20022":
        rest = bank_rest(settings)  # the account-name inquiry goes through the bank's mapper
        bank = IsoFileChannel(
            _required(pay.bank_url, "BANK_URL"),
            rest.session,
            settings.http,
            bank_id=pay.bank_id,
            debtor=Debtor(pay.payer_name, pay.payer_account, pay.payer_bin),
            version=pay.pain001_version,
            account_check=rest.check_account,
        )
    post: PaymentChannel = FakePostOffice()
    if pay.postoffice_url:
        tls = TlsFiles.from_certs_dir(settings.security.certs_dir, mutual=pay.mtls)
        post = PostOfficeChannel(
            pay.postoffice_url,
            build_session(settings.http, tls),
            settings.http,
            list_format=pay.postoffice_list_format,
        )
    elif pay.backend == "postoffice":
        raise SettingsError("ANSINH_POSTOFFICE_URL is required for the postoffice backend")
    return {"bank": bank, "postoffice": post}
