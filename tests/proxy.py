"""deploy/nginx.conf, the file the README shows, run by a real nginx in front of the page, with TLS.

The test changes only what its "change" lines say an installation changes (ports, certificate) plus the
upstream port, each an exact string that must occur once, so a test passes only with the file as shipped.
nginx runs in the foreground as this user, with its own temporary folders; the certificate comes from a
throwaway CA (trustme). Without nginx the tests are skipped, except under CI=true: .ci/run installs it.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import serialization

DEPLOY = Path(__file__).parent.parent / "deploy" / "nginx.conf"


@dataclass
class Proxy:
    url: str  # https://127.0.0.1:<port>
    plain_url: str  # http://127.0.0.1:<port>, which sends browsers to HTTPS
    ca: trustme.CA
    spki: str  # base64 SHA-256 of the certificate's public key: what Chromium is told to trust

    def verify(self):
        """An SSL context that trusts this proxy's certificate, for httpx."""
        import ssl

        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        return context


def nginx_program() -> str:
    found = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail(
                "nginx not found under CI=true: .ci/run installs it (apt-get install nginx-light); run it, "
                "or install nginx",
                pytrace=False,
            )
        pytest.skip("nginx not installed: apt-get install nginx-light (under CI=true this fails)")
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def site_config(upstream_port: int, tls_port: int, plain_port: int, certificate: Path, key: Path) -> str:
    """deploy/nginx.conf as an installation would change it: each replaced line must be there exactly once."""
    text = DEPLOY.read_text()
    changes = {
        "listen 443 ssl;": f"listen 127.0.0.1:{tls_port} ssl;",
        "listen 80;": f"listen 127.0.0.1:{plain_port};",
        "/etc/letsencrypt/live/reports.example.no/fullchain.pem;": f"{certificate};",
        "/etc/letsencrypt/live/reports.example.no/privkey.pem;": f"{key};",
        "proxy_pass http://127.0.0.1:8080;": f"proxy_pass http://127.0.0.1:{upstream_port};",
    }
    for old, new in changes.items():
        assert text.count(old) == 1, f"deploy/nginx.conf no longer has {old!r} exactly once"
        text = text.replace(old, new)
    return text


def run_nginx(folder: Path, upstream_port: int):
    """Yields a Proxy in front of 127.0.0.1:upstream_port; nginx is stopped afterwards."""
    program = nginx_program()
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    certificate, key = folder / "chain.pem", folder / "key.pem"
    server.private_key_and_cert_chain_pem.write_to_path(str(key))
    certificate.write_bytes(b"".join(blob.bytes() for blob in server.cert_chain_pems))
    tls_port, plain_port = free_port(), free_port()
    (folder / "report-export.conf").write_text(site_config(upstream_port, tls_port, plain_port, certificate, key))
    for temp in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (folder / temp).mkdir()
    main = folder / "nginx.conf"
    main.write_text(f"""
daemon off;
master_process off;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log {folder}/access.log;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    include {folder}/report-export.conf;
}}
""")
    checked = subprocess.run(
        [program, "-t", "-p", str(folder), "-e", str(folder / "error.log"), "-c", str(main)],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stderr
    process = subprocess.Popen([program, "-p", str(folder), "-e", str(folder / "error.log"), "-c", str(main)])
    try:
        wait_for_port(tls_port, process, folder)
        cert = x509.load_pem_x509_certificate(server.cert_chain_pems[0].bytes())
        public_key = cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        spki = base64.b64encode(hashlib.sha256(public_key).digest()).decode()
        yield Proxy(f"https://127.0.0.1:{tls_port}", f"http://127.0.0.1:{plain_port}", ca, spki)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_for_port(port: int, process: subprocess.Popen, folder: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"nginx ended: {(folder / 'error.log').read_text()}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise AssertionError(f"nginx does not listen on {port}: {(folder / 'error.log').read_text()}")
