"""Typed settings, read once from ``ANSINH_*`` environment variables.

Nothing here connects anywhere or reads a key file: settings hold *values and paths*; the
composition root (``gateway.bootstrap``) turns them into engines, sessions and adapters.
Every variable is listed in ``docs/configuration.md``.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

PREFIX = "ANSINH_"
ENVIRONMENTS = ("development", "test", "production")


class SettingsError(ValueError):
    """A setting is missing or malformed; raised at start-up, never later."""


@dataclass(frozen=True)
class HttpSettings:
    connect_timeout: float = 3.05
    read_timeout: float = 10.0
    max_retries: int = 3
    backoff_base: float = 0.2
    backoff_max: float = 5.0
    max_concurrency: int = 16
    breaker_failures: int = 5
    breaker_reset_seconds: float = 30.0
    max_response_bytes: int = 10 * 1024 * 1024


@dataclass(frozen=True)
class RegistrySettings:
    backend: str = "fake"  # fake | soap | rest
    url: str | None = None
    wsdl_url: str | None = None
    mapping: str = "registry/default.toml"
    xroad_client: str | None = None  # INSTANCE/CLASS/MEMBER/SUBSYSTEM
    xroad_service: str | None = None
    xroad_user_id: str | None = None
    wsse_sign: bool = False
    # the registry's signing certificate (PEM): when set, every SOAP answer must carry a valid
    # WS-Security signature by it over Body and Timestamp
    wsse_verify_cert: str | None = None
    mtls: bool = False
    oauth_token_url: str | None = None
    oauth_client_id: str | None = None
    oauth_client_secret: str | None = None
    batch_size: int = 200
    verify_concurrency: int = 4  # registry calls in flight during bulk verification
    xroad_issue: str | None = None
    schema_catalog: str | None = None  # extra "URL=path;URL=path" entries for offline WSDLs
    sender_id: str = "ansinh-gateway"  # our sender_id in SPDCI envelopes
    registry_id: str = "registry-sim"  # the registry's sender_id (its signatures are checked)
    async_search: bool = False  # REST: /registry/search + txn/status instead of /sync/search
    notify_senders: str = "registry-sim=registry-sim-1"  # who may notify us: sender=key[,key]
    proxy: str | None = None  # HTTP(S) proxy to the registry (the environment is not read)


@dataclass(frozen=True)
class PaymentSettings:
    backend: str = "fake"  # fake | bank_rest | iso20022 | postoffice
    bank_url: str | None = None
    postoffice_url: str | None = None
    callback_base_url: str | None = None
    mtls: bool = False
    unknown_deadline_seconds: int = 3600
    sender_id: str = "ansinh-gateway"
    bank_id: str = "bank-sim"  # the bank's sender id: its signatures must say so
    bank_keys_file: str | None = None  # bank public keys (keys.json); default certs/signing
    apply_on_receive: bool = True  # apply a callback in the request; false: the inbox job does
    status_query_after_seconds: int = 300  # an unknown outcome is queried after this
    inbox_grace_seconds: int = 10  # the inbox job leaves messages younger than this alone
    payer_name: str = "So Y te"  # the paying agency's account (G2P payer_fa, pain.001 Dbtr)
    payer_account: str = "0000000000"
    payer_bin: str = "970415"
    pain001_version: str = "pain.001.001.09"
    postoffice_list_format: str = "csv"  # payout lists sent to the post office: csv | xlsx
    return_window_days: int = 14  # settled payments asked about again (lost return callbacks)


@dataclass(frozen=True)
class WelfareSettings:
    backend: str = "fake"  # fake | rest | files
    url: str | None = None
    inbox_dir: str | None = None
    mapping: str = "canonical"  # mapping of the files in the inbox (REST lists name their own)
    token: str | None = None  # bearer token the provincial REST API expects
    page_size: int = 500
    # screening at intake also asks the registry's enrolled query (per person, after the import)
    screen_registry: bool = False


@dataclass(frozen=True)
class SecuritySettings:
    secret_key: str | None = None
    pii_key: bytes | None = None  # 32 bytes, AES-256-GCM
    blind_index_key: bytes | None = None  # 32 bytes, HMAC-SHA256
    certs_dir: Path = Path("certs/dev")
    signing_key_id: str = "ansinh-dev-1"
    session_minutes: int = 30


@dataclass(frozen=True)
class WebSettings:
    """Officer workspace, public status lookup and doorstep QR (docs/web.md)."""

    qr_key_id: str = "ansinh-qr-1"  # signing/<id>.key signs new QR tokens
    qr_validity_days: int = 45
    qr_revoked_keys: tuple[str, ...] = ()  # key ids whose tokens are refused
    lookup_rate_limit: int = 10  # public lookups per client and window
    lookup_rate_window_seconds: int = 300
    public_min_count: int = 5  # public statistics: smaller counts are shown as "< N"
    # daily statistics snapshots older than this are pruned, but each month's last one is kept
    # for good (year-on-year reports); 0 keeps every day
    stats_keep_days: int = 400


@dataclass(frozen=True)
class Settings:
    env: str = "development"
    data_dir: Path = Path("var")
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    log_json: bool = True
    http: HttpSettings = field(default_factory=HttpSettings)
    registry: RegistrySettings = field(default_factory=RegistrySettings)
    payments: PaymentSettings = field(default_factory=PaymentSettings)
    welfare: WelfareSettings = field(default_factory=WelfareSettings)
    security: SecuritySettings = field(default_factory=SecuritySettings)
    web: WebSettings = field(default_factory=WebSettings)

    @property
    def db_url(self) -> str:
        """The database URL; the embedded SQLite file under the data directory by default."""
        return self.database_url or f"sqlite:///{(self.data_dir / 'ansinh.db').as_posix()}"

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = _Env(os.environ if environ is None else environ)
        settings = cls(
            env=env.choice("ENV", ENVIRONMENTS, "development"),
            data_dir=Path(env.text("DATA_DIR", "var")),
            database_url=env.opt("DATABASE_URL"),
            host=env.text("HOST", "127.0.0.1"),
            port=env.integer("PORT", 8000),
            log_level=env.text("LOG_LEVEL", "INFO").upper(),
            log_json=env.flag("LOG_JSON", True),
            http=HttpSettings(
                connect_timeout=env.number("HTTP_CONNECT_TIMEOUT", 3.05),
                read_timeout=env.number("HTTP_READ_TIMEOUT", 10.0),
                max_retries=env.integer("HTTP_MAX_RETRIES", 3),
                backoff_base=env.number("HTTP_BACKOFF_BASE", 0.2),
                backoff_max=env.number("HTTP_BACKOFF_MAX", 5.0),
                max_concurrency=env.integer("HTTP_MAX_CONCURRENCY", 16),
                breaker_failures=env.integer("HTTP_BREAKER_FAILURES", 5),
                breaker_reset_seconds=env.number("HTTP_BREAKER_RESET_SECONDS", 30.0),
                max_response_bytes=env.integer("HTTP_MAX_RESPONSE_BYTES", 10 * 1024 * 1024),
            ),
            registry=RegistrySettings(
                backend=env.choice("REGISTRY_BACKEND", ("fake", "soap", "rest"), "fake"),
                url=env.opt("REGISTRY_URL"),
                wsdl_url=env.opt("REGISTRY_WSDL_URL"),
                mapping=env.text("REGISTRY_MAPPING", "registry/default.toml"),
                xroad_client=env.opt("REGISTRY_XROAD_CLIENT"),
                xroad_service=env.opt("REGISTRY_XROAD_SERVICE"),
                xroad_user_id=env.opt("REGISTRY_XROAD_USER_ID"),
                wsse_sign=env.flag("REGISTRY_WSSE_SIGN", False),
                wsse_verify_cert=env.opt("REGISTRY_WSSE_VERIFY_CERT"),
                mtls=env.flag("REGISTRY_MTLS", False),
                oauth_token_url=env.opt("REGISTRY_OAUTH_TOKEN_URL"),
                oauth_client_id=env.opt("REGISTRY_OAUTH_CLIENT_ID"),
                oauth_client_secret=env.opt("REGISTRY_OAUTH_CLIENT_SECRET"),
                batch_size=env.integer("REGISTRY_BATCH_SIZE", 200),
                verify_concurrency=env.integer("REGISTRY_VERIFY_CONCURRENCY", 4),
                xroad_issue=env.opt("REGISTRY_XROAD_ISSUE"),
                schema_catalog=env.opt("REGISTRY_SCHEMA_CATALOG"),
                sender_id=env.text("REGISTRY_SENDER_ID", "ansinh-gateway"),
                registry_id=env.text("REGISTRY_ID", "registry-sim"),
                async_search=env.flag("REGISTRY_ASYNC_SEARCH", False),
                notify_senders=env.text("REGISTRY_NOTIFY_SENDERS", "registry-sim=registry-sim-1"),
                proxy=env.opt("REGISTRY_PROXY"),
            ),
            payments=PaymentSettings(
                backend=env.choice(
                    "PAYMENTS_BACKEND", ("fake", "bank_rest", "iso20022", "postoffice"), "fake"
                ),
                bank_url=env.opt("BANK_URL"),
                postoffice_url=env.opt("POSTOFFICE_URL"),
                callback_base_url=env.opt("CALLBACK_BASE_URL"),
                mtls=env.flag("PAYMENTS_MTLS", False),
                unknown_deadline_seconds=env.integer("PAYMENTS_UNKNOWN_DEADLINE_SECONDS", 3600),
                sender_id=env.text("PAYMENTS_SENDER_ID", "ansinh-gateway"),
                bank_id=env.text("BANK_ID", "bank-sim"),
                bank_keys_file=env.opt("BANK_KEYS_FILE"),
                apply_on_receive=env.flag("PAYMENTS_APPLY_ON_RECEIVE", True),
                status_query_after_seconds=env.integer("PAYMENTS_STATUS_QUERY_AFTER_SECONDS", 300),
                inbox_grace_seconds=env.integer("PAYMENTS_INBOX_GRACE_SECONDS", 10),
                payer_name=env.text("PAYER_NAME", "So Y te"),
                payer_account=env.text("PAYER_ACCOUNT", "0000000000"),
                payer_bin=env.text("PAYER_BIN", "970415"),
                pain001_version=env.choice(
                    "PAIN001_VERSION", ("pain.001.001.03", "pain.001.001.09"), "pain.001.001.09"
                ),
                postoffice_list_format=env.choice("POSTOFFICE_LIST_FORMAT", ("csv", "xlsx"), "csv"),
                return_window_days=env.integer("PAYMENTS_RETURN_WINDOW_DAYS", 14),
            ),
            welfare=WelfareSettings(
                backend=env.choice("WELFARE_BACKEND", ("fake", "rest", "files"), "fake"),
                url=env.opt("WELFARE_URL"),
                inbox_dir=env.opt("WELFARE_INBOX_DIR"),
                mapping=env.text("WELFARE_MAPPING", "canonical"),
                token=env.opt("WELFARE_TOKEN"),
                page_size=env.integer("WELFARE_PAGE_SIZE", 500),
                screen_registry=env.flag("WELFARE_SCREEN_REGISTRY", False),
            ),
            security=SecuritySettings(
                secret_key=env.opt("SECRET_KEY"),
                pii_key=env.key("PII_KEY"),
                blind_index_key=env.key("BLIND_INDEX_KEY"),
                certs_dir=Path(env.text("CERTS_DIR", "certs/dev")),
                signing_key_id=env.text("SIGNING_KEY_ID", "ansinh-dev-1"),
                session_minutes=env.integer("SESSION_MINUTES", 30),
            ),
            web=WebSettings(
                qr_key_id=env.text("QR_KEY_ID", "ansinh-qr-1"),
                qr_validity_days=env.integer("QR_VALIDITY_DAYS", 45),
                qr_revoked_keys=tuple(
                    k.strip() for k in (env.opt("QR_REVOKED_KEYS") or "").split(",") if k.strip()
                ),
                lookup_rate_limit=env.integer("LOOKUP_RATE_LIMIT", 10),
                lookup_rate_window_seconds=env.integer("LOOKUP_RATE_WINDOW_SECONDS", 300),
                public_min_count=env.integer("PUBLIC_MIN_COUNT", 5),
                stats_keep_days=env.integer("STATS_KEEP_DAYS", 400),
            ),
        )
        settings.check()
        return settings

    def check(self) -> None:
        """Fail fast on a production start without the secrets a dev start may generate."""
        if self.env != "production":
            return
        sec = self.security
        missing = [
            name
            for name, value in (
                ("ANSINH_SECRET_KEY", sec.secret_key),
                ("ANSINH_PII_KEY", sec.pii_key),
                ("ANSINH_BLIND_INDEX_KEY", sec.blind_index_key),
                ("ANSINH_DATABASE_URL", self.database_url),
            )
            if not value
        ]
        if missing:
            raise SettingsError(f"production start needs {', '.join(missing)}")


class _Env:
    """Typed reads of ``ANSINH_*`` variables with messages that name the variable."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def opt(self, name: str) -> str | None:
        value = self._environ.get(PREFIX + name, "").strip()
        return value or None

    def text(self, name: str, default: str) -> str:
        return self.opt(name) or default

    def integer(self, name: str, default: int) -> int:
        raw = self.opt(name)
        if raw is None:
            return default
        try:
            return int(raw)
        except ValueError:
            raise SettingsError(f"{PREFIX}{name} must be an integer, got {raw!r}") from None

    def number(self, name: str, default: float) -> float:
        raw = self.opt(name)
        if raw is None:
            return default
        try:
            return float(raw)
        except ValueError:
            raise SettingsError(f"{PREFIX}{name} must be a number, got {raw!r}") from None

    def flag(self, name: str, default: bool) -> bool:
        raw = self.opt(name)
        if raw is None:
            return default
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise SettingsError(f"{PREFIX}{name} must be true or false, got {raw!r}")

    def choice(self, name: str, allowed: tuple[str, ...], default: str) -> str:
        value = self.text(name, default)
        if value not in allowed:
            raise SettingsError(
                f"{PREFIX}{name} must be one of {', '.join(allowed)}, got {value!r}"
            )
        return value

    def key(self, name: str) -> bytes | None:
        raw = self.opt(name)
        if raw is None:
            return None
        try:
            key = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise SettingsError(f"{PREFIX}{name} must be base64") from None
        if len(key) != 32:
            raise SettingsError(f"{PREFIX}{name} must decode to 32 bytes, got {len(key)}")
        return key
