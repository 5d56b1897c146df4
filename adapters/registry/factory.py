"""Build the configured registry adapter (``ANSINH_REGISTRY_BACKEND`` = ``soap`` or ``rest``).

Called only by ``gateway.bootstrap``; nothing here connects: the SOAP adapter loads its WSDL on
first use, the REST adapter fetches a token on its first call.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import requests

from adapters import signing
from adapters.http import TlsFiles, build_session, timeouts
from adapters.registry import mapping
from adapters.registry.port import RegistryPort
from gateway.settings import RegistrySettings, Settings, SettingsError

if TYPE_CHECKING:
    from adapters.registry.soap_headers import AnswerSignature


def build(settings: Settings) -> RegistryPort:
    reg = settings.registry
    if reg.backend == "soap":
        return build_soap(settings)
    if reg.backend == "rest":
        return build_rest(settings)
    raise SettingsError(f"ANSINH_REGISTRY_BACKEND {reg.backend!r} has no real adapter")


def _tls(settings: Settings, url: str) -> TlsFiles | None:
    reg = settings.registry
    if reg.mtls or url.startswith("https://"):
        return TlsFiles.from_certs_dir(settings.security.certs_dir, mutual=reg.mtls)
    return None


def _pool(settings: Settings) -> int:
    return max(settings.http.max_concurrency, settings.registry.verify_concurrency)


def _session(settings: Settings, url: str) -> requests.Session:
    reg = settings.registry
    tls = _tls(settings, url)
    pool = _pool(settings)
    return build_session(settings.http, tls, pool=pool, proxy=reg.proxy)


def catalog(reg: RegistrySettings) -> dict[str, Path]:
    """The pinned schema catalog plus ``ANSINH_REGISTRY_SCHEMA_CATALOG`` entries."""
    from adapters.registry.wsdl_loading import DEFAULT_CATALOG

    entries = dict(DEFAULT_CATALOG)
    for pair in filter(None, (reg.schema_catalog or "").split(";")):
        url, sep, path = pair.partition("=")
        if not sep or not url.strip() or not path.strip():
            raise SettingsError(
                "ANSINH_REGISTRY_SCHEMA_CATALOG entries are URL=path, ';'-separated"
            )
        entries[url.strip()] = Path(path.strip())
    return entries


def build_soap(settings: Settings) -> RegistryPort:
    from adapters.registry.soap import SoapRegistry
    from adapters.registry.soap_headers import TimestampedSignature, XRoadIdentity
    from adapters.registry.wire import Wire
    from adapters.registry.wsdl_loading import CatalogTransport

    reg = settings.registry
    wsdl = reg.wsdl_url or (f"{reg.url}?wsdl" if reg.url else None)
    if wsdl is None:
        raise SettingsError(
            "the SOAP registry needs ANSINH_REGISTRY_WSDL_URL or ANSINH_REGISTRY_URL"
        )
    session = _session(settings, reg.url or wsdl)
    the_mapping = mapping.load(reg.mapping)
    xroad = None
    if reg.xroad_client or reg.xroad_service:
        if not (reg.xroad_client and reg.xroad_service):
            raise SettingsError(
                "X-Road headers need both ANSINH_REGISTRY_XROAD_CLIENT and _SERVICE"
            )
        try:
            xroad = XRoadIdentity(
                reg.xroad_client,
                reg.xroad_service,
                reg.xroad_user_id,
                reg.xroad_issue,
                the_mapping.xroad_service_version,
            )
        except ValueError as exc:
            raise SettingsError(str(exc)) from None
    wsse = TimestampedSignature.from_certs(settings.security.certs_dir) if reg.wsse_sign else None
    answers = _answer_signature(reg.wsse_verify_cert)
    transport = CatalogTransport(
        session,
        catalog=catalog(reg),
        timeout=timeouts(settings.http),
        max_bytes=settings.http.max_response_bytes,
    )
    return SoapRegistry(
        the_mapping,
        wsdl=wsdl,
        http=settings.http,
        transport=transport,
        wire=Wire(
            settings.http,
            "registry",
            tls=_tls(settings, reg.url or wsdl),
            maxsize=_pool(settings),
            proxy=reg.proxy,
        ),
        address=reg.url,
        xroad=xroad,
        wsse=wsse,
        answer_signature=answers,
    )


def _answer_signature(cert_path: str | None) -> AnswerSignature | None:
    from adapters.registry.soap_headers import AnswerSignature

    if not cert_path:
        return None
    try:
        return AnswerSignature(Path(cert_path).read_bytes())
    except OSError as exc:
        raise SettingsError(
            f"ANSINH_REGISTRY_WSSE_VERIFY_CERT: cannot read {cert_path}: {exc.strerror}"
        ) from None


def build_rest(settings: Settings) -> RegistryPort:
    from adapters.registry.oauth import TokenSource
    from adapters.registry.rest import RestRegistry

    reg, sec = settings.registry, settings.security
    if not reg.url:
        raise SettingsError("the REST registry needs ANSINH_REGISTRY_URL")
    if not (reg.oauth_client_id and reg.oauth_client_secret):
        raise SettingsError("the REST registry needs ANSINH_REGISTRY_OAUTH_CLIENT_ID and _SECRET")
    session = _session(settings, reg.url)
    tokens = TokenSource(
        session,
        settings.http,
        token_url=reg.oauth_token_url or f"{reg.url.rstrip('/')}/oauth2/client/token",
        client_id=reg.oauth_client_id,
        client_secret=reg.oauth_client_secret,
    )
    keys_json = sec.certs_dir / "signing" / "keys.json"
    if not keys_json.exists():
        raise SettingsError(
            f"the REST registry needs published keys in {keys_json} (ansinh certs init)"
        )
    return RestRegistry(
        reg.url,
        http=settings.http,
        session=session,
        tokens=tokens,
        signing_key=signing.load_signing_key(sec.certs_dir, sec.signing_key_id),
        key_id=sec.signing_key_id,
        sender_id=reg.sender_id,
        registry_keys=signing.KeyStore.from_keys_json(keys_json),
        registry_id=reg.registry_id,
        async_search=reg.async_search,
    )
