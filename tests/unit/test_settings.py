"""Settings come from ANSINH_* variables, once, with errors that name the variable."""

from __future__ import annotations

import base64

import pytest

from gateway.settings import Settings, SettingsError


def test_defaults_are_embedded_sqlite_and_fakes() -> None:
    settings = Settings.from_env({})
    assert settings.db_url == "sqlite:///var/ansinh.db"
    assert settings.registry.backend == "fake" and settings.payments.backend == "fake"


def test_values_are_typed() -> None:
    key = base64.b64encode(b"k" * 32).decode()
    settings = Settings.from_env(
        {
            "ANSINH_DATABASE_URL": "postgresql://127.0.0.1/x",
            "ANSINH_PORT": "9000",
            "ANSINH_REGISTRY_BACKEND": "soap",
            "ANSINH_HTTP_READ_TIMEOUT": "2.5",
            "ANSINH_REGISTRY_MTLS": "yes",
            "ANSINH_PII_KEY": key,
        }
    )
    assert settings.port == 9000 and settings.http.read_timeout == 2.5
    assert settings.registry.backend == "soap" and settings.registry.mtls is True
    assert settings.security.pii_key == b"k" * 32


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"ANSINH_PORT": "eighty"}, "ANSINH_PORT must be an integer"),
        ({"ANSINH_REGISTRY_BACKEND": "ldap"}, "ANSINH_REGISTRY_BACKEND must be one of"),
        ({"ANSINH_PII_KEY": "c2hvcnQ="}, "ANSINH_PII_KEY must decode to 32 bytes"),
        ({"ANSINH_PII_KEY": "!!!"}, "ANSINH_PII_KEY must be base64"),
        ({"ANSINH_LOG_JSON": "maybe"}, "ANSINH_LOG_JSON must be true or false"),
        ({"ANSINH_ENV": "production"}, "production start needs ANSINH_SECRET_KEY"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], needle: str) -> None:
    with pytest.raises(SettingsError, match=needle):
        Settings.from_env(env)


def test_a_registry_signing_certificate_that_cannot_be_read_names_the_variable() -> None:
    from adapters.registry.factory import build_soap

    settings = Settings.from_env(
        {
            "ANSINH_REGISTRY_BACKEND": "soap",
            "ANSINH_REGISTRY_URL": "http://127.0.0.1:9/soap",
            "ANSINH_REGISTRY_WSSE_VERIFY_CERT": "/nonexistent/registry.crt",
        }
    )
    assert settings.registry.wsse_verify_cert == "/nonexistent/registry.crt"
    with pytest.raises(SettingsError, match="ANSINH_REGISTRY_WSSE_VERIFY_CERT: cannot read"):
        build_soap(settings)
