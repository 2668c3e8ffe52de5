"""TLS set-up: the server's SSLContext, SNI certificate choice, and a development certificate.

TLS 1.2 and 1.3 only, with the standard library's modern cipher defaults
(forward secrecy, AEAD ciphers; no compression, no renegotiation). ALPN offers
`h2` (when HTTP/2 is on) and `http/1.1` (RFC 7301; RFC 9113 §3.2).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
from pathlib import Path

from dynlan.config import ConfigError, TlsConfig

# RFC 9113 §9.2.2: HTTP/2 over TLS 1.2 needs ephemeral key exchange and AEAD ciphers.
TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"


def _context(cert: str, key: str, alpn: list[str]) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(TLS12_CIPHERS)
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE | ssl.OP_NO_RENEGOTIATION
    ctx.set_alpn_protocols(alpn)
    for path in (cert, key):
        if not os.path.isfile(path):
            raise ConfigError(f"TLS: cannot read {path}")
    try:
        ctx.load_cert_chain(cert, key)
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(f"TLS: {cert} / {key} is not a usable certificate and key: {exc}") from None
    return ctx


def _matches(pattern: str, name: str) -> bool:
    if pattern.startswith("*."):
        head, _, rest = name.partition(".")
        return bool(head) and rest == pattern[2:]
    return pattern == name


def certificate_files(cfg: TlsConfig) -> tuple[str, str]:
    """The default certificate and key files (the development certificate is made if needed)."""
    if cfg.self_signed and not cfg.cert:
        return development_certificate()
    if not cfg.key:
        raise ConfigError("TLS: a certificate needs its key (--tls-key or [tls] key)")
    return cfg.cert, cfg.key


def make_server_context(cfg: TlsConfig, http2: bool) -> ssl.SSLContext:
    """The listening context; other certificates are switched in by SNI."""
    alpn = ["h2", "http/1.1"] if http2 else ["http/1.1"]
    cert, key = certificate_files(cfg)
    default = _context(cert, key, alpn)
    by_name: list[tuple[str, ssl.SSLContext]] = []
    for i, extra in enumerate(cfg.certificates):
        if not (extra.host and extra.cert and extra.key):
            raise ConfigError(f"tls.certificates[{i}]: host, cert and key are all needed")
        by_name.append((extra.host.lower(), _context(extra.cert, extra.key, alpn)))
    if by_name:
        def choose(sslobj: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
            if name:
                lowered = name.lower()
                for pattern, ctx in by_name:
                    if _matches(pattern, lowered):
                        sslobj.context = ctx
                        return

        default.sni_callback = choose
    return default


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "dynlan" / "tls"


def development_certificate(folder: Path | None = None) -> tuple[str, str]:
    """A self-signed certificate for localhost, 127.0.0.1 and ::1: made once, reused until near expiry."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder = folder or _cache_dir()
    cert_path, key_path = folder / "localhost.crt", folder / "localhost.key"
    now = datetime.datetime.now(datetime.UTC)
    if cert_path.exists() and key_path.exists():
        try:
            existing = x509.load_pem_x509_certificate(cert_path.read_bytes())
            if existing.not_valid_after_utc - now > datetime.timedelta(days=7):
                return str(cert_path), str(key_path)
        except ValueError:
            pass  # unreadable: make a new one
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "dynlan development certificate")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address("::1")),
        ]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    tmp_key = key_path.with_suffix(".tmp")
    fd = os.open(tmp_key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    os.replace(tmp_key, key_path)
    tmp_cert = cert_path.with_suffix(".tmp")
    tmp_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    os.replace(tmp_cert, cert_path)
    return str(cert_path), str(key_path)
