"""Security headers on every response (OWASP Secure Headers): no framing, no sniffing, strict CSP.

HSTS is sent only over HTTPS (it would lock a plain-HTTP loopback demo out otherwise). API
responses carry ``Cache-Control: no-store`` because they hold health data.
"""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network, ip_address
from typing import Any

from starlette.datastructures import MutableHeaders

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}
HSTS = "max-age=63072000; includeSubDomains"


class SecurityHeadersMiddleware:
    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = scope.get("scheme") == "https"
        api = str(scope.get("path", "")).startswith("/api/")

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    if name not in headers:
                        headers[name] = value
                if https:
                    headers["Strict-Transport-Security"] = HSTS
                if api and "Cache-Control" not in headers:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)


class ProxyHeadersMiddleware:
    """Believe ``X-Forwarded-For`` / ``X-Forwarded-Proto`` only from a trusted reverse proxy.

    ``KETACLINIC_TRUSTED_PROXIES`` lists the proxies (addresses or CIDR networks; empty by default, so
    no forwarded header is believed and any local process saying ``X-Forwarded-For`` is just its own
    address). When the peer is trusted, the client is the right-most address of ``X-Forwarded-For``
    that is not itself a trusted proxy (each proxy appends the address it saw; only the right end can
    be believed). Rate limits and login throttles count that address.
    """

    def __init__(self, app: Any, trusted: tuple[IPv4Network | IPv6Network, ...] = ()):
        self.app = app
        self.trusted = tuple(trusted)

    def is_trusted(self, host: str | None) -> bool:
        if not host or not self.trusted:
            return False
        try:
            address = ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.trusted)

    def client_of(self, peer: str, forwarded_for: str) -> str:
        client = peer
        for hop in reversed([part.strip() for part in forwarded_for.split(",")]):
            try:
                ip_address(hop)
            except ValueError:
                break  # garbage from beyond the last trusted proxy: keep the last address we could believe
            client = hop
            if not self.is_trusted(hop):
                break
        return client

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and self.trusted:
            peer = scope.get("client")
            if peer and self.is_trusted(peer[0]):
                headers = {name.lower(): value for name, value in scope.get("headers") or []}
                forwarded_for = headers.get(b"x-forwarded-for")
                proto = headers.get(b"x-forwarded-proto")
                if forwarded_for or proto:
                    scope = dict(scope)
                if forwarded_for:
                    scope["client"] = (self.client_of(peer[0], forwarded_for.decode("latin-1")), 0)
                if proto:
                    value = proto.decode("latin-1").split(",")[-1].strip().lower()
                    if value in ("http", "https"):
                        scope["scheme"] = value
        await self.app(scope, receive, send)
