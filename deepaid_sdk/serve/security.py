"""Safe defaults: loopback bind, a bearer token, limits on a request's size."""

from __future__ import annotations

import hmac
import ipaddress
import pathlib

import attrs

LOOPBACK_NAMES = ("localhost",)


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def read_token(path: str | pathlib.Path) -> str:
    """The token in ``path`` (whitespace stripped); a ValueError for an empty or missing file."""
    p = pathlib.Path(path)
    if not p.is_file():
        raise ValueError(f"token-file: no such file {str(p)!r}")
    token = p.read_text(encoding="utf-8").strip()
    if len(token) < 16:
        raise ValueError(f"token-file: {str(p)!r} holds a token of {len(token)} characters; use at least 16")
    return token


def check_bind(host: str, token: str | None, insecure: bool) -> None:
    """A non-loopback ``host`` needs a token, or ``insecure`` to say it is meant."""
    if not is_loopback(host) and token is None and not insecure:
        raise ValueError(
            f"host: {host!r} is not a loopback address and no --token-file is given: anyone who reaches it "
            "could use the detector; pass --token-file FILE, or --insecure if that is meant"
        )


@attrs.frozen
class Limits:
    max_body_bytes: int = 1 << 20
    max_alerts: int = 256
    timeout_s: float = 30.0
    token: str | None = None

    def authorized(self, header: str | None) -> bool:
        if self.token is None:
            return True
        scheme, _, given = (header or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), self.token.encode())
