"""Where media (ICE/UDP) sockets bind (issue 12): `digigami serve --host 127.0.0.1` still
bound a UDP socket per session on every interface. With `media_host` set, every host
candidate the server offers and every UDP socket it binds is on that address, and a peer on
this machine still connects; with None (every interface) there are others, when the
machine has another interface. Real aiortc peers in-process (tests/streaming/peers.py)."""

from __future__ import annotations

import ipaddress
import socket

import pytest
from aiohttp.test_utils import TestClient

from streaming.manager import SessionManager
from streaming.network import local_addresses
from tests.streaming.peers import Client, candidates, connect, serve
from webapi.app import MANAGER


def _server_sockets(manager: SessionManager) -> list[str]:
    """The addresses of every UDP socket the server's peer connections have bound."""
    bound = []
    for peer in manager.peers.values():
        for t in peer.pc.getTransceivers():
            ice = t.sender.transport.transport if t.sender.transport else None
            for protocol in ice._connection._protocols if ice is not None else []:
                sock = protocol.transport.get_extra_info("socket")
                assert sock.type == socket.SOCK_DGRAM
                bound.append(sock.getsockname()[0])
    return bound


def _loopback(address: str) -> bool:
    return ipaddress.ip_address(address.split("%")[0]).is_loopback


def test_with_a_media_host_every_candidate_and_socket_is_on_it() -> None:
    async def test(http: TestClient) -> None:
        client = Client()
        body = await connect(http, client)
        found = candidates(body["sdp"])
        assert found and all(addr == "127.0.0.1" for addr, _ in found), found
        bound = _server_sockets(http.server.app[MANAGER])
        assert bound and all(addr == "127.0.0.1" for addr in bound), bound
        # a peer on this machine still reaches it
        await client.wait_for(lambda: client.received > 10, 30, "avatar frames over loopback")
        await client.close()

    serve(test, manager=SessionManager(media_host="127.0.0.1"))


def test_without_a_media_host_every_interface_is_offered() -> None:
    if all(_loopback(a) for a in local_addresses()):
        pytest.skip("this machine has no interface but loopback")

    async def test(http: TestClient) -> None:
        client = Client()
        body = await connect(http, client)
        found = candidates(body["sdp"])
        assert any(not _loopback(addr) for addr, _ in found), found
        await client.close()

    serve(test, manager=SessionManager(media_host=None))


def test_a_media_host_that_is_not_ours_is_refused_at_once() -> None:
    with pytest.raises(ValueError, match="not an address of this machine"):
        SessionManager(media_host="203.0.113.7")
    with pytest.raises(ValueError, match="must be an IP address"):
        SessionManager(media_host="example.com")
