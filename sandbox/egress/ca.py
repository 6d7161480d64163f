"""Sandpit's own certificate authority, for the egress proxy's TLS termination.

Made at first start in the state folder: the key (0600) never leaves the host and never
enters a container; the certificate is what sandboxes trust, and nothing else does.
Leaf certificates are minted per host name on demand, all with one key of their own,
and their server contexts are kept in a bounded cache (least recently used out).
Minting runs in the CA's own thread, never on the server's event loop: building a
context (signing, then loading the chain, which ssl reads from files only) takes about
1.5 ms of CPU, and a tunnel flood minted one per CONNECT. A thread, not a process: the
context has to be made in this process anyway, signing is 0.07 ms of it, and OpenSSL lets
go of the GIL while it loads the chain.
"""

import asyncio
import datetime
import ipaddress
import ssl
import tempfile
import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from sandbox.files import write_private

CA_NAME = "Sandpit egress CA"
CA_VALID_DAYS = 3650
LEAF_VALID_DAYS = 7
# Clocks inside and outside may disagree a little.
BACKDATE = datetime.timedelta(hours=1)
MAX_CACHED_CONTEXTS = 512


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


class CertificateAuthority:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.cert_path = folder / "ca.crt"
        self._key_path = folder / "ca.key"
        self._lock = threading.Lock()
        self._contexts: OrderedDict[str, ssl.SSLContext] = OrderedDict()
        # One mint at a time, however many runs ask: their tunnels wait, the loop does not.
        self._minter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="egress-ca")
        self._minting: dict[str, Future[ssl.SSLContext]] = {}
        self.leaves_minted = 0
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not (self.cert_path.exists() and self._key_path.exists()):
            self._create()
        self._key = serialization.load_pem_private_key(self._key_path.read_bytes(), None)
        self.certificate = x509.load_pem_x509_certificate(self.cert_path.read_bytes())
        # One key for every leaf, made per process: it never touches the disk but for the
        # moment a context loads it (ssl loads keys from files only).
        self._leaf_key = ec.generate_private_key(ec.SECP256R1())

    @property
    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def _create(self) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME)])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(now + datetime.timedelta(days=CA_VALID_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        write_private(self._key_path, _pem_key(key))
        self.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self.cert_path.chmod(0o644)

    def _mint(self, host: str) -> bytes:
        """A leaf certificate for `host`, PEM, signed by the CA."""
        try:
            subject_alt: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
        except ValueError:
            subject_alt = x509.DNSName(host)
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host[:64])]))
            .issuer_name(self.certificate.subject)
            .public_key(self._leaf_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(now + datetime.timedelta(days=LEAF_VALID_DAYS))
            .add_extension(x509.SubjectAlternativeName([subject_alt]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    self.certificate.public_key()  # type: ignore[arg-type]
                ),
                critical=False,
            )
            .sign(self._key, hashes.SHA256())  # type: ignore[arg-type]
        )
        return cert.public_bytes(serialization.Encoding.PEM)

    async def server_context(self, host: str) -> ssl.SSLContext:
        """A TLS server context that presents a certificate for `host`: the cached one, or
        one minted in the CA's thread (once, however many tunnels ask for it at once)."""
        with self._lock:
            context = self._contexts.get(host)
            if context is not None:
                self._contexts.move_to_end(host)
                return context
            minting = self._minting.get(host)
            if minting is None:
                minting = self._minting[host] = self._minter.submit(self._new_context, host)
        return await asyncio.wrap_future(minting)

    def _new_context(self, host: str) -> ssl.SSLContext:
        try:
            chain = self._mint(host) + self.certificate_pem + _pem_key(self._leaf_key)
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            # ssl loads chains and keys from files only: a 0600 temporary file, gone at once.
            with tempfile.NamedTemporaryFile(dir=self.folder, suffix=".pem") as chain_file:
                chain_file.write(chain)
                chain_file.flush()
                context.load_cert_chain(chain_file.name)
            context.set_alpn_protocols(["http/1.1"])
            with self._lock:
                self.leaves_minted += 1
                self._contexts[host] = context
                while len(self._contexts) > MAX_CACHED_CONTEXTS:
                    self._contexts.popitem(last=False)
            return context
        finally:
            with self._lock:
                self._minting.pop(host, None)
