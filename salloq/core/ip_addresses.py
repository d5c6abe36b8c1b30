"""An IP address as the API's schema states it: what JSON Schema's "ipv4" and "ipv6" formats take.

No surrounding spaces and no IPv6 zone ("fe80::1%eth0": a zone names an interface of the sender's
machine, meaningless anywhere else), so a value the schema refuses is refused here too.
"""

import ipaddress


def parse_ip(text: str) -> str:
    """The address in its compressed form. ValueError for anything that is not an address."""
    address = ipaddress.ip_address(text)
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id is not None:
        raise ValueError("an IPv6 zone is not part of an address")
    return str(address)
