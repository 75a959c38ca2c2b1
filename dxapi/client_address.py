"""The address of the client that made a request, for throttling and login lockouts.

The peer (``REMOTE_ADDR``) is the client unless it is one of the ``TRUSTED_PROXIES``
(setting, from the comma-separated environment variable of that name: addresses or CIDR
networks; none by default). Only then is ``X-Forwarded-For`` read, from the right: each
trusted proxy appended the address it received the request from, so the right-most address
that is not a trusted proxy is the client. What lies to the left of it was written by the
client itself and is never believed. One helper for the API's throttles
(``dxapi.throttling``) and for django-axes (``AXES_CLIENT_IP_CALLABLE``).
"""

import ipaddress
from collections.abc import Iterable
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

__all__ = ["client_address", "trusted_proxy_networks"]


@lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ImproperlyConfigured(
                f"TRUSTED_PROXIES: {entry!r} is not an IP address or CIDR network."
            ) from None
    return tuple(networks)


def trusted_proxy_networks() -> tuple[Network, ...]:
    """The ``TRUSTED_PROXIES`` setting, parsed (a list, or a comma-separated string)."""
    entries: str | Iterable[str] = getattr(settings, "TRUSTED_PROXIES", None) or ()
    if isinstance(entries, str):
        entries = entries.split(",")
    return _networks(tuple(entry for entry in entries if entry.strip()))


def _parse(value: str) -> Address | None:
    """An address as proxies write it (``1.2.3.4``, ``1.2.3.4:5678``, ``[::1]:80``, ``::1``),
    or ``None`` when it is not one."""
    value = value.strip()
    if value.startswith("["):  # [v6] or [v6]:port
        value = value[1 : value.find("]")] if "]" in value else value
    elif value.count(":") == 1:  # v4:port
        value = value.partition(":")[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _is_trusted(address: Address, networks: tuple[Network, ...]) -> bool:
    return any(address.version == network.version and address in network for network in networks)


def client_address(request) -> str | None:
    """The client's address (a normalised IP address string), or ``None`` when the peer's
    address is missing or not an IP address (no ``X-Forwarded-For`` is believed then).

    Works with a Django ``HttpRequest`` and a DRF ``Request`` alike.
    """
    meta = request.META
    peer = _parse(meta.get("REMOTE_ADDR") or "")
    if peer is None:
        return None
    networks = trusted_proxy_networks()
    if not networks or not _is_trusted(peer, networks):
        return str(peer)
    client = peer
    for hop in reversed((meta.get("HTTP_X_FORWARDED_FOR") or "").split(",")):
        address = _parse(hop)
        if address is None:
            # Written by a trusted proxy, so it should be an address; believe no further.
            break
        client = address
        if not _is_trusted(address, networks):
            break
    return str(client)
