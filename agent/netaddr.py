"""Which addresses stay on this machine (shared by the rig's client settings and the registry server)."""

from __future__ import annotations

import ipaddress


def is_loopback_host(host: str) -> bool:
    """True for 'localhost' and loopback IP literals (127.0.0.0/8, ::1); False for anything else.

    Other host names are not resolved: a name may point anywhere tomorrow, so it
    counts as reaching the network.
    """
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
