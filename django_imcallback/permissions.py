"""Who may call: DRF permission classes for the IP allowlist, Basic auth and the secret
path, and the client address behind trusted proxies they share.

The view runs ``IMCALLBACK["PERMISSION_CLASSES"]`` in order. A check refuses by raising
``CallerRefused`` (its status, message and headers are answered) or, as any DRF
permission may, by returning ``False`` (answered 403).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from django.http import HttpRequest
from rest_framework import exceptions
from rest_framework.permissions import BasePermission

from .conf import IPNetwork, imcallback_settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@lru_cache(maxsize=1024)
def parse_ip(value: str) -> IPAddress | None:
    """Parse ``1.2.3.4``, ``1.2.3.4:5678``, ``::1``, ``[::1]`` or ``[::1]:5678``.

    IPv4-mapped IPv6 addresses (``::ffff:1.2.3.4``) come back as IPv4. Cached: an OpenIM
    deployment calls from a handful of addresses, and parsing one costs more than a
    small callback's validation.
    """
    value = value.strip()
    if value.startswith("["):
        value = value[1 : value.find("]")] if "]" in value else ""
    elif value.count(":") == 1:
        value = value.partition(":")[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def _in_any(address: IPAddress, networks: Iterable[IPNetwork]) -> bool:
    return any(address in network for network in networks)


def client_ip(
    request: HttpRequest, trusted_proxies: tuple[IPNetwork, ...] = ()
) -> IPAddress | None:
    """The caller's address: REMOTE_ADDR, or the right-most untrusted X-Forwarded-For hop.

    ``X-Forwarded-For`` is only read when the direct peer is a trusted proxy, and only
    walked back through hops that are themselves trusted proxies; anything a client
    wrote further left is never believed.
    """
    remote = parse_ip(request.META.get("REMOTE_ADDR", ""))
    if remote is None or not trusted_proxies or not _in_any(remote, trusted_proxies):
        return remote
    client = remote
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    for hop in reversed([part for part in forwarded.split(",") if part.strip()]):
        address = parse_ip(hop)
        if address is None:
            break  # Garbage: nothing left of it can be believed.
        client = address
        if not _in_any(address, trusted_proxies):
            break
    return client


def basic_auth_matches(header: str, credentials: Iterable[tuple[str, str]]) -> bool:
    """Check an ``Authorization: Basic`` header against every credential in constant time."""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return False
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    username, separator, password = decoded.partition(b":")
    if not separator:
        return False
    matched = False
    for expected_user, expected_password in credentials:
        # Compare every credential fully, so timing does not tell which part differed.
        user_ok = hmac.compare_digest(username, expected_user.encode())
        password_ok = hmac.compare_digest(password, expected_password.encode())
        matched |= user_ok & password_ok
    return matched


def caller_address(request: Any) -> IPAddress | None:
    """The client address of ``request`` (behind ``TRUSTED_PROXIES``), computed once."""
    request = getattr(request, "_request", request)  # the HttpRequest behind DRF's Request
    if not hasattr(request, "imcallback_address"):
        request.imcallback_address = client_ip(request, imcallback_settings.trusted_proxies)
    address: IPAddress | None = request.imcallback_address
    return address


class CallerRefused(exceptions.APIException):
    """A caller check refused the request; the view answers it in OpenIM's JSON."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status_code, self.headers = status, headers or {}


class AllowedIPs(BasePermission):
    """``IMCALLBACK["ALLOWED_IPS"]``: the caller's address must be in one of the networks.
    An address that cannot be parsed is in none of them."""

    def has_permission(self, request: Any, view: Any) -> bool:
        allowed = imcallback_settings.allowed_ips
        address = caller_address(request)
        if allowed and (address is None or not _in_any(address, allowed)):
            raise CallerRefused(403, "This address may not call the callback endpoint.")
        return True


class BasicAuth(BasePermission):
    """``IMCALLBACK["BASIC_AUTH"]``: HTTP Basic credentials, compared in constant time."""

    def has_permission(self, request: Any, view: Any) -> bool:
        credentials = imcallback_settings.basic_auth
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if credentials and not basic_auth_matches(
            header, ((c.username, c.password) for c in credentials)
        ):
            challenge = {"WWW-Authenticate": 'Basic realm="imcallback", charset="UTF-8"'}
            # Said apart: no credentials is a url without user:password@, wrong ones a
            # password that differs from BASIC_AUTH (or a scan).
            if not header:
                raise CallerRefused(401, "Authentication required: no credentials.", challenge)
            if header.partition(" ")[0].lower() != "basic":
                raise CallerRefused(401, "Authentication required: not Basic auth.", challenge)
            raise CallerRefused(401, "Authentication failed: wrong credentials.", challenge)
        return True


class SecretPath(BasePermission):
    """``IMCALLBACK["SECRET_PATH"]``: the first path segment must be the secret; without
    one, a path with an extra segment is unknown."""

    def has_permission(self, request: Any, view: Any) -> bool:
        secret = imcallback_settings.secret_path
        token = view.kwargs.get("token")
        if secret and not hmac.compare_digest((token or "").encode(), secret.encode()):
            raise CallerRefused(403, "Unknown callback path.")
        if token is not None and not secret:
            raise CallerRefused(404, "Unknown callback path.")
        return True
