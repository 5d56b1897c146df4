"""Loading registry WSDLs with zeep, offline and hardened.

Real X-Road WSDLs import schemas by public URL (``http://x-road.eu/xsd/xroad.xsd``,
``http://www.w3.org/2001/xml.xsd`` …). ``CatalogTransport`` answers those from local copies (an
XML-catalog in miniature) and refuses everything else: no network fetch except the configured
WSDL URL itself, no local file outside the catalog and the WSDL's own directory. zeep runs with
``forbid_dtd``, ``forbid_entities`` and ``forbid_external``; a catalog URL reaches zeep already
rewritten to its local path, so ``forbid_external`` stays on. zeep's transport logs whole
envelopes at DEBUG: the methods that would are overridden here, and never called anyway.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlparse

import requests
import zeep
from lxml import etree
from zeep.exceptions import Error as ZeepError
from zeep.exceptions import ExternalReferenceForbidden

from adapters.http import read_limited
from adapters.registry import errors, xmlsafe
from gateway.errors import GatewayError

SCHEMAS = Path(__file__).with_name("schemas")
# Pinned copies (X-Road: MIT, nordic-institute/X-Road; xml.xsd: W3C) — see schemas/SOURCES.md
DEFAULT_CATALOG: dict[str, Path] = {
    "http://x-road.eu/xsd/xroad.xsd": SCHEMAS / "xroad.xsd",
    "http://x-road.eu/xsd/identifiers.xsd": SCHEMAS / "identifiers.xsd",
    "http://www.w3.org/2001/xml.xsd": SCHEMAS / "xml.xsd",
}
LOCATION_ATTRIBUTES = ("schemaLocation", "location")
MAX_SCHEMA_BYTES = 5 * 1024 * 1024


def zeep_settings() -> zeep.Settings:
    return zeep.Settings(
        strict=True,
        forbid_dtd=True,
        forbid_entities=True,
        forbid_external=True,
        xml_huge_tree=False,
        # zeep "upgrades" a file:// import to https:// when base and import share an empty
        # netloc (two local files); TLS policy is ours anyway (adapters.http)
        force_https=False,
    )


class CatalogTransport(zeep.Transport):
    def __init__(
        self,
        session: requests.Session,
        *,
        catalog: Mapping[str, Path] | None = None,
        allowed_urls: Iterable[str] = (),
        timeout: tuple[float, float] = (3.05, 30.0),
        max_bytes: int = MAX_SCHEMA_BYTES,
    ) -> None:
        super().__init__(session=session, timeout=timeout[1], operation_timeout=timeout[1])
        self.catalog = {url: path.resolve() for url, path in (catalog or DEFAULT_CATALOG).items()}
        self.allowed_urls = set(allowed_urls)
        self.allowed_dirs = {p.parent for p in self.catalog.values()}
        self.timeouts = timeout
        self.max_bytes = max_bytes
        self.loaded: list[str] = []  # what was read, for tests and diagnostics
        self.mapped: set[str] = set()  # public schema URLs answered from the catalog

    def allow_directory(self, directory: Path) -> None:
        self.allowed_dirs.add(directory.resolve())

    def load(self, url: str) -> bytes:
        if not url:
            raise errors.wsdl_refused("an empty location")
        content, base = self._read(url)
        self.loaded.append(url)
        return self._rewrite(content, base)

    def _read(self, url: str) -> tuple[bytes, str]:
        if url in self.catalog:
            return self.catalog[url].read_bytes(), str(self.catalog[url])
        scheme = urlparse(url).scheme
        if scheme in ("http", "https"):
            if url not in self.allowed_urls:
                raise errors.wsdl_refused(f"{url} is not in the schema catalog (network forbidden)")
            return self._fetch(url), url
        path = Path(urlparse(url).path if scheme == "file" else os.path.expanduser(url)).resolve()
        if not any(path.is_relative_to(d) for d in self.allowed_dirs):
            raise errors.wsdl_refused(f"{path.name} is outside the allowed schema directories")
        if path.stat().st_size > self.max_bytes:
            raise errors.wsdl_refused(f"{path.name} is larger than {self.max_bytes} bytes")
        return path.read_bytes(), str(path)

    def _fetch(self, url: str) -> bytes:
        try:
            response = self.session.get(url, timeout=self.timeouts, stream=True)
        except requests.RequestException as exc:
            raise errors.unavailable(
                f"WSDL {url} could not be fetched ({type(exc).__name__})"
            ) from exc
        with response:
            if response.status_code >= 400:
                raise errors.wsdl_refused(f"{url} answered HTTP {response.status_code}")
            return read_limited(response, self.max_bytes, errors.SYSTEM)

    def _rewrite(self, content: bytes, base: str) -> bytes:
        """Point imports of catalog URLs at the local copies (hardened parse first)."""
        try:
            root = xmlsafe.parse(content)
        except GatewayError as exc:
            raise errors.wsdl_refused(f"{Path(base).name}: {exc.message}") from None
        changed = False
        for elem in root.iter():
            for attr in LOCATION_ATTRIBUTES:
                value = elem.get(attr)
                if value is None:
                    continue
                target = urljoin(base, value) if "://" in base else value
                if target in self.catalog:
                    elem.set(attr, self.catalog[target].as_uri())
                    self.mapped.add(target)
                    changed = True
        return etree.tostring(root, xml_declaration=True, encoding="utf-8") if changed else content

    # zeep's own post/get log whole envelopes at DEBUG (personal data): never used, never logging
    def post(self, address: str, message: Any, headers: Any) -> Any:
        return self.session.post(address, data=message, headers=headers, timeout=self.timeouts)

    def post_xml(self, address: str, envelope: Any, headers: Any) -> Any:
        return self.post(address, etree.tostring(envelope), headers)


def load_client(
    wsdl: str,
    transport: CatalogTransport,
    *,
    wsse: Any = None,
) -> zeep.Client:
    """A zeep client for a WSDL URL or local path; any failure is ``registry.wsdl_refused``."""
    if "://" not in wsdl or wsdl.startswith("file://"):
        transport.allow_directory(
            Path(urlparse(wsdl).path if wsdl.startswith("file://") else wsdl).parent
        )
    else:
        transport.allowed_urls.add(wsdl)
    try:
        return zeep.Client(wsdl, transport=transport, settings=zeep_settings(), wsse=wsse)
    except GatewayError:
        raise
    except ExternalReferenceForbidden as exc:
        raise errors.wsdl_refused(
            f"it imports {exc.url}, which is not in the schema catalog (the network is never "
            "used for imports; add a local copy with ANSINH_REGISTRY_SCHEMA_CATALOG)"
        ) from None
    except (ZeepError, etree.XMLSyntaxError, OSError, ValueError, KeyError, IndexError) as exc:
        reason = f"{type(exc).__name__}: {str(exc)[:200]}"
        raise errors.wsdl_refused(reason) from None
