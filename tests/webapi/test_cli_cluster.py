"""The command line of cluster mode and ICE servers (issue 19): `--ice-server` URLs are
STUN/TURN only, each refusal naming what is wrong; `worker` and `serve --ray` options are
checked before anything starts; the single-box server never imports Ray; a server without
live sessions of its own answers VTube Studio plugins 501 with the reason."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from webapi import vts
from webapi.app import CLUSTER_VTS
from webapi.cli import ice_servers_for, ice_url_arg, main

ROOT = Path(__file__).resolve().parents[2]


def _servers(*args: str, user: str | None = None, password: str | None = None) -> list:
    return ice_servers_for([ice_url_arg(a) for a in args], user, password)


def test_ice_server_urls_accepted() -> None:
    stun, turn = _servers("stun:stun.example.org", "turn:alice:s3cret@10.0.0.5:3478")
    assert stun.urls == "stun:stun.example.org" and stun.username is None
    assert (turn.urls, turn.username, turn.credential) == ("turn:10.0.0.5:3478", "alice", "s3cret")
    (tcp,) = _servers("turn:turn.example.org:443?transport=tcp", user="bob", password="pw")
    assert (tcp.urls, tcp.username, tcp.credential) == (
        "turn:turn.example.org:443?transport=tcp",
        "bob",
        "pw",
    )
    (tls,) = _servers("turns:[2001:db8::1]:5349", user="bob", password="pw")
    assert tls.urls == "turns:[2001:db8::1]:5349"
    assert _servers() == []  # none by default


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("http://stun.example.org", "is not a STUN or TURN server"),
        ("stun.example.org:3478", "is not a STUN or TURN server"),
        ("stuns:stun.example.org", "is not a STUN or TURN server"),
        ("stun:", "malformed ICE server URL"),
        ("stun:bad host", "malformed ICE server URL"),
        ("turn:example.org:3478/path", "malformed ICE server URL"),
        ("turn:example.org?transport=sctp", "malformed ICE server URL"),
        ("stun:example.org:70000", "the port must be 1 to 65535"),
        ("stun:user:pw@example.org", "a STUN server takes no login"),
        ("stun:example.org?transport=udp", "a STUN server takes no ?transport="),
        ("turns:example.org?transport=udp", "TCP only"),
        ("turn:alice@example.org", "a TURN login is USER:PASSWORD@"),
        ("turn:" + "a" * 600, "at most 512 characters"),
    ],
)
def test_ice_server_urls_refused(url: str, error: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=re.escape(error)):
        ice_url_arg(url)


@pytest.mark.parametrize(
    ("urls", "user", "password", "error"),
    [
        (["turn:example.org"], None, None, "needs a login"),
        (["stun:a.example.org", "stun:b.example.org"], None, None, "at most one STUN"),
        (["turn:u:p@a.example.org", "turns:b.example.org"], "u", "p", "at most one TURN"),
        (["turn:example.org"], "u", None, "go together"),
        (["stun:example.org"], "u", "p", "a TURN server's login"),
        (["turn:example.org"], "u" * 300, "p", "--ice-username must be 1 to 256"),
    ],
)
def test_ice_server_sets_refused(
    urls: list[str], user: str | None, password: str | None, error: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(error)):
        _servers(*urls, user=user, password=password)


def test_bad_options_are_one_line_before_anything_starts(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["serve", "--ice-server", "http://example.org"])
    assert exit_.value.code == 2
    assert "is not a STUN or TURN server" in capsys.readouterr().err
    assert main(["serve", "--ice-server", "turn:example.org"]) == 2
    assert "needs a login" in capsys.readouterr().err
    assert main(["serve", "--gen-replicas", "1:2"]) == 2
    assert "give --ray ADDRESS too" in capsys.readouterr().err
    for slots in ("0", "257", "two", "-1"):
        with pytest.raises(SystemExit):
            main(["worker", "--ray", "127.0.0.1:6379", "--slots", slots])
        assert "--slots must be a whole number from 1 to 256" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["worker", "--slots", "2"])  # the cluster is not optional for a worker
    assert "--ray" in capsys.readouterr().err
    args = ["worker", "--ray", "127.0.0.1:1", "--slots", "2", "--drain-timeout", "-5"]
    assert main(args) == 2
    assert "--drain-timeout must be 0 to 86400 seconds" in capsys.readouterr().err


def test_the_single_box_server_never_imports_ray(tmp_path: Path) -> None:
    code = f"""
import sys
from webapi import cli, server
from webapi.app import create_app
app = create_app(db={str(tmp_path / "db.sqlite")!r}, avatar_root={str(tmp_path / "avatars")!r})
try:
    cli.main(["serve", "--help"])
except SystemExit:
    pass
print("RAY" if "ray" in sys.modules else "NO RAY", [m for m in sys.modules if "cluster" in m])
"""
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "NO RAY []"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_vts_unavailable_answers_501_on_both_ports() -> None:
    port = _free_port()

    async def main_() -> None:
        app = web.Application()
        vts.setup_unavailable(app, CLUSTER_VTS, port=port)
        async with TestClient(TestServer(app)) as http:
            r = await http.get("/api/vts")
            assert r.status == 501 and (await r.json())["error"] == CLUSTER_VTS
            async with aiohttp.ClientSession() as client:
                async with client.get(f"http://127.0.0.1:{port}/anything") as side:
                    assert side.status == 501
                    assert "single-box server" in json.loads(await side.text())["error"]
                with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                    await client.ws_connect(f"ws://127.0.0.1:{port}/")
                assert refused.value.status == 501

    asyncio.run(asyncio.wait_for(main_(), 60))


def test_a_front_says_its_connect_timeout_is_unused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    import webapi.cli

    def no_cluster(address: str) -> None:  # the note comes before the cluster is joined
        raise ValueError(f"cannot join the Ray cluster at {address}: none here")

    monkeypatch.setattr(webapi.cli, "joined", no_cluster)
    assert main(["serve", "--ray", "127.0.0.1:1", "--connect-timeout", "5"]) == 2
    err = capsys.readouterr().err
    assert "--connect-timeout on a front is unused" in err and "cannot join" in err
    assert main(["serve", "--ray", "127.0.0.1:1"]) == 2  # the default: nothing to say
    assert "--connect-timeout" not in capsys.readouterr().err
