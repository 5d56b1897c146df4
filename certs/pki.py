"""Generate the development PKI with ``cryptography`` (``ansinh certs init``).

Layout of the output directory::

    ca.crt ca.key                 dev certificate authority (EC P-256, 2 years)
    server.crt server.key         TLS server for localhost / 127.0.0.1 (mutual TLS peers)
    client.crt client.key         TLS client certificate of the gateway
    signing/<kid>.key|.pub        Ed25519 keys for message signatures and QR tokens
    signing/keys.json             published public keys by key id (what peers verify with)
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_KEY_IDS = (
    "ansinh-dev-1",
    "ansinh-qr-1",
    "registry-sim-1",
    "bank-sim-1",
    "postoffice-sim-1",
)


@dataclass(frozen=True)
class PkiReport:
    directory: str
    created: list[str]
    kept: list[str]


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ansinh-gateway (development)"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _write(path: Path, data: bytes, private: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _key_pem(key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool,
    server: bool = False,
    client: bool = False,
    days: int = 730,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    usages = []
    if server:
        usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    if client:
        usages.append(ExtendedKeyUsageOID.CLIENT_AUTH)
    if usages:
        builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def init(
    directory: Path, *, force: bool = False, key_ids: tuple[str, ...] = DEFAULT_KEY_IDS
) -> PkiReport:
    """Create whatever is missing (everything with ``force``); never overwrite silently."""
    created: list[str] = []
    kept: list[str] = []
    ca_cert_path, ca_key_path = directory / "ca.crt", directory / "ca.key"
    if force or not ca_cert_path.exists():
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_cert = _cert("ansinh dev CA", ca_key, _name("ansinh dev CA"), ca_key, ca=True)
        _write(ca_key_path, _key_pem(ca_key), True)
        _write(ca_cert_path, ca_cert.public_bytes(serialization.Encoding.PEM), False)
        created.append("ca")
        force = True  # leaf certificates must be re-issued under the new CA
    else:
        kept.append("ca")
        ca_key = serialization.load_pem_private_key(ca_key_path.read_bytes(), None)  # type: ignore[assignment]
        ca_cert = x509.load_pem_x509_certificate(ca_cert_path.read_bytes())
    for leaf, server, client in (("server", True, False), ("client", False, True)):
        if not force and (directory / f"{leaf}.crt").exists():
            kept.append(leaf)
            continue
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _cert(
            f"ansinh {leaf}" if client else "localhost",
            key,
            ca_cert.subject,
            ca_key,
            ca=False,
            server=server,
            client=client,
            days=365,
        )
        _write(directory / f"{leaf}.key", _key_pem(key), True)
        _write(directory / f"{leaf}.crt", cert.public_bytes(serialization.Encoding.PEM), False)
        created.append(leaf)
    for kid in key_ids:
        if not force and (directory / "signing" / f"{kid}.key").exists():
            kept.append(kid)
            continue
        new_signing_key(directory, kid)
        created.append(kid)
    publish_keys(directory)
    return PkiReport(str(directory), created, kept)


def new_signing_key(directory: Path, kid: str) -> Path:
    """Generate one Ed25519 key; rotating means adding a key with a new id (old ids stay)."""
    key = ed25519.Ed25519PrivateKey.generate()
    path = directory / "signing" / f"{kid}.key"
    _write(path, _key_pem(key), True)
    _write(
        directory / "signing" / f"{kid}.pub",
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        False,
    )
    return path


def publish_keys(directory: Path) -> dict[str, dict[str, str]]:
    """signing/keys.json: every public key by id, as peers and offline verifiers need them."""
    keys = {}
    for pub in sorted((directory / "signing").glob("*.pub")):
        key = serialization.load_pem_public_key(pub.read_bytes())
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        keys[pub.stem] = {"alg": "ed25519", "public_key": base64.b64encode(raw).decode()}
    _write(directory / "signing" / "keys.json", json.dumps(keys, indent=2).encode(), False)
    return keys
