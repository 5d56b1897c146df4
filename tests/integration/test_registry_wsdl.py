"""Registry WSDLs: real X-Road WSDLs load offline (their public schema URLs answered from local
copies), a second registry WSDL works through a mapping file alone, and hostile or off-catalog
WSDLs are refused with a clear error — never fetched, never followed."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from adapters.http import build_session
from adapters.registry import errors, mapping
from adapters.registry.port import VerifyRequest
from adapters.registry.wsdl_loading import DEFAULT_CATALOG, CatalogTransport, load_client
from gateway.domain.dates import BirthDate
from gateway.errors import GatewayError
from tests.registry_support import (
    AN,
    CUONG,
    FAST_HTTP,
    FIXTURES,
    SHARED_FIXTURES,
    UNKNOWN_PID,
    make_simulator,
    running,
    soap_registry,
)

WSDL = SHARED_FIXTURES / "wsdl"
XSD = WSDL / "xroad__wsdlvalidator_testservice" / "xsd"
# the public URLs real X-Road WSDLs import, mapped to the copies in ../shared/fixtures
FIXTURE_CATALOG = {
    "http://x-road.eu/xsd/xroad.xsd": XSD / "xroad.xsd",
    "http://www.w3.org/2001/xml.xsd": XSD / "xml.xsd",
    "http://ws-i.org/profiles/basic/1.1/swaref.xsd": XSD / "swaref.xsd",
    "http://www.w3.org/2005/05/xmlmime": XSD / "xmlmime.xsd",
}
XROAD = "http://x-road.eu/xsd/xroad.xsd"
XML = "http://www.w3.org/2001/xml.xsd"
SWAREF = "http://ws-i.org/profiles/basic/1.1/swaref.xsd"
XMLMIME = "http://www.w3.org/2005/05/xmlmime"
# WSDL -> (operations, the public schema URLs it reaches that must come from local copies)
XROAD_WSDLS = {
    "xroad__doc/xroad6.wsdl": (["getRandom"], {XROAD}),
    "xroad__proxymonitor/monitoring.wsdl": (["getSecurityServerMetrics"], {XML}),
    "xroad__admin-service-tests/testservice.wsdl": (
        ["bodyMassIndex", "xroadGetRandom"],
        {XROAD, SWAREF, XMLMIME},
    ),
    "xroad__admin-service-tests/warning.wsdl": (
        ["bodyMassIndex", "xroadGetRandom"],
        {XROAD, SWAREF, XMLMIME},
    ),
    "xroad__wsdlvalidator_testservice/testservice.wsdl": (
        ["bodyMassIndex", "xroadGetRandom"],
        set(),  # imports the same schemas by relative path
    ),
}


def _transport(catalog: dict[str, Path] | None = None) -> CatalogTransport:
    return CatalogTransport(build_session(FAST_HTTP), catalog=catalog)


def _operations(client) -> list[str]:
    return sorted(
        op
        for service in client.wsdl.services.values()
        for port in service.ports.values()
        for op in port.binding._operations
    )


@pytest.mark.parametrize("name", sorted(XROAD_WSDLS))
def test_xroad_wsdls_load_offline_from_the_catalog(name: str) -> None:
    transport = _transport(FIXTURE_CATALOG)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        client = load_client(str(WSDL / name), transport)
    operations, remote = XROAD_WSDLS[name]
    assert _operations(client) == operations
    assert transport.mapped == remote  # every public schema URL answered from a local copy
    assert not [u for u in transport.loaded if u.startswith("http")]  # nothing fetched


def test_the_pinned_catalog_serves_xroad_without_the_fixtures() -> None:
    transport = _transport(DEFAULT_CATALOG)
    client = load_client(str(WSDL / "xroad__doc" / "xroad6.wsdl"), transport)
    assert _operations(client) == ["getRandom"]
    assert transport.mapped == {"http://x-road.eu/xsd/xroad.xsd"}
    assert all("adapters/registry/schemas" in u for u in transport.loaded[1:])


def test_an_import_outside_the_catalog_is_refused_not_fetched() -> None:
    legacy = WSDL / "xroad__admin-service-tests" / "valid.wsdl"  # X-Road v5: x-road.ee schema
    with pytest.raises(GatewayError) as caught:
        load_client(str(legacy), _transport(FIXTURE_CATALOG))
    assert caught.value.code == errors.WSDL_REFUSED
    assert "http://x-road.ee/xsd/x-road.xsd" in caught.value.message
    assert "not in the schema catalog" in caught.value.message


HOSTILE = {
    "xxe": '<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><d>&x;</d>',
    "billion_laughs": '<!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;'
    '&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><d>&c;</d>',
    "external_dtd": '<!DOCTYPE d SYSTEM "http://127.0.0.1:9/evil.dtd"><d/>',
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_wsdls_are_refused_with_a_clear_error(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "evil.wsdl"
    path.write_text('<?xml version="1.0"?>' + HOSTILE[kind])
    with pytest.raises(GatewayError) as caught:
        load_client(str(path), _transport())
    assert caught.value.code == errors.WSDL_REFUSED
    assert "DOCTYPE" in caught.value.message


def test_imports_of_local_files_outside_the_allowed_folders_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "wsdl" / "peek.wsdl"
    path.parent.mkdir()
    path.write_text(
        '<?xml version="1.0"?><wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/" '
        'xmlns:xsd="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:x"><wsdl:types>'
        '<xsd:schema targetNamespace="urn:x"><xsd:import namespace="urn:y" '
        'schemaLocation="/etc/hostname"/></xsd:schema></wsdl:types></wsdl:definitions>'
    )
    with pytest.raises(GatewayError) as caught:
        load_client(str(path), _transport())
    assert caught.value.code == errors.WSDL_REFUSED
    assert "outside the allowed schema directories" in caught.value.message


def test_an_oversized_wsdl_is_refused(tmp_path: Path, registry_certs: Path) -> None:
    big = tmp_path / "big.wsdl"
    big.write_bytes(b'<?xml version="1.0"?><d>' + b"<x/>" * 1_000_000 + b"</d>")  # 4 MB
    app = make_simulator(tmp_path, registry_certs, wsdl=big)
    with running(app) as sim:
        transport = CatalogTransport(build_session(FAST_HTTP), max_bytes=1024 * 1024)
        with pytest.raises(GatewayError) as caught:
            load_client(sim.wsdl_url, transport)
    assert caught.value.code == errors.OVERSIZED
    transport.session.close()


# -- a second registry, supported by a mapping file alone ----------------------------------------


def test_a_second_registry_wsdl_needs_only_a_mapping_file(
    tmp_path: Path, registry_certs: Path
) -> None:
    second = str(FIXTURES / "lgsp_dancu.toml")
    app = make_simulator(
        tmp_path, registry_certs, mapping_name=second, wsdl=FIXTURES / "lgsp_dancu.wsdl"
    )
    with running(app) as sim:
        registry = soap_registry(sim, mapping_name=second)
        assert registry.lookup(AN.pid) == AN
        assert registry.lookup(UNKNOWN_PID) is None
        assert registry.resolve_legacy("123456789") == AN.pid
        results = registry.verify(
            [
                VerifyRequest("a", AN.pid, "NGUYEN VAN AN", BirthDate(1950, 3, 4), "M"),
                VerifyRequest("c", CUONG.pid, "Trần Đức Cường", BirthDate(1940), "M"),
                VerifyRequest("x", "1234", "Ai"),
            ]
        )
        assert [(r.ref, r.found, r.error_code) for r in results] == [
            ("a", True, None),
            ("c", True, None),
            ("x", False, errors.MALFORMED_ID),
        ]
        assert results[1].vital_status == "deceased"
        assert registry.soap_ns.endswith("soap-envelope")  # SOAP 1.2, as the WSDL says
        with pytest.raises(GatewayError) as caught:
            registry.changes(None)  # this registry has no change feed
        assert caught.value.code == errors.UNSUPPORTED
    seen = app.requests[-1]
    assert seen["operation"] == "XacThucDanhSach"


def test_a_mapping_that_disagrees_with_the_wsdl_fails_at_start_naming_the_operation(
    tmp_path: Path, registry_certs: Path
) -> None:
    text = (
        (FIXTURES / "lgsp_dancu.toml")
        .read_text()
        .replace('request.pid = "SoDinhDanh"', 'request.pid = "SoCCCD"')
    )
    wrong = tmp_path / "wrong.toml"
    wrong.write_text(text)
    app = make_simulator(
        tmp_path, registry_certs, mapping_name=str(wrong), wsdl=FIXTURES / "lgsp_dancu.wsdl"
    )
    with running(app) as sim:
        registry = soap_registry(sim, mapping_name=str(wrong))
        with pytest.raises(mapping.MappingError, match=r"operations\.lookup"):
            registry.check()
