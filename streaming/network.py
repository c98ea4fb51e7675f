"""Which interface our media (ICE/UDP) sockets bind to.

aiortc has no option for it: every RTCPeerConnection's ICE agent (aioice) binds one UDP
socket per address `aioice.ice.get_host_addresses` returns, i.e. every interface of the
machine (loopback excepted), even when the HTTP server listens on 127.0.0.1 only (issue 12).
So this module replaces that one function, once per process (`install`), with one that asks
a context variable: unset (None), it answers what aioice always did; set by `bound_to`
around a peer connection's set-up, it answers the configured address only. aioice gathers
inside `setLocalDescription`, in the task that called it or tasks it spawns, which copy the
caller's context, so the restriction holds per `SessionManager` (per call, really) and
never leaks into other peer connections of the process, tests' client peers included.
Re-check this when upgrading aioice: it must still look the function up at gather time.
"""

from __future__ import annotations

import contextlib
import contextvars
import ipaddress
from collections.abc import Callable, Iterator

import aioice.ice
import ifaddr

ANY = ("", "0.0.0.0", "::", "*")  # "every interface": the same as None

_host: contextvars.ContextVar[str | None] = contextvars.ContextVar("media_host", default=None)
_original: Callable[[bool, bool], list[str]] | None = None


def local_addresses() -> set[str]:
    """Every IP address of this machine's interfaces (loopback included)."""
    found: set[str] = set()
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            found.add(ip.ip if isinstance(ip.ip, str) else ip.ip[0])
    return found


def media_host(host: str | None) -> str | None:
    """The address media sockets bind to: None for every interface (also for "0.0.0.0",
    "::" and ""), "localhost" as 127.0.0.1, else an IP address of one of this machine's
    interfaces (a ValueError says what is wrong: a name or a foreign address would leave
    the server with no candidate at all, and every connection would fail later, silently)."""
    if host is None or host.strip() in ANY:
        return None
    host = host.strip()
    if host == "localhost":
        return "127.0.0.1"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"media host must be an IP address, not {host!r}") from None
    if not ip.is_loopback and str(ip) not in local_addresses():
        raise ValueError(f"media host {host} is not an address of this machine's interfaces")
    return str(ip)


def _host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    assert _original is not None
    host = _host.get()
    if host is None:
        return _original(use_ipv4, use_ipv6)
    version = ipaddress.ip_address(host).version
    # aioice leaves loopback out of its own list; asked for it explicitly, we give it
    return [host] if (use_ipv4 if version == 4 else use_ipv6) else []


def install() -> None:
    """Route aioice's host-address lookup through `_host_addresses` (once per process)."""
    global _original
    if _original is None:
        _original = aioice.ice.get_host_addresses
        aioice.ice.get_host_addresses = _host_addresses


@contextlib.contextmanager
def bound_to(host: str | None) -> Iterator[None]:
    """Peer connections whose candidates are gathered inside this block bind only `host`
    (None: every interface)."""
    install()
    token = _host.set(host)
    try:
        yield
    finally:
        _host.reset(token)
