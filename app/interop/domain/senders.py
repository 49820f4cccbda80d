"""Which network addresses an HL7 sender may connect from (MLLP has no credentials)."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence


def address_allowed(peer: str | None, allowed: Sequence[str]) -> bool:
    """True when ``peer`` (an IP address) is inside one of ``allowed`` (addresses or CIDR
    networks, e.g. ``10.20.0.0/16``). An empty list allows nobody: each monitor is registered
    with the addresses it may connect from (issue 10 point 1)."""
    if peer is None:
        return False
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    for entry in allowed:
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False
