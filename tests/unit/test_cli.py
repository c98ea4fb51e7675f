"""The `digigami` command: the demo runs, and bad input is one clear line with exit code 2."""

from __future__ import annotations

import pytest

from webapi.cli import main


def test_demo_plays_the_bundled_avatar(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--seconds", "5"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("rig digi:")
    assert "state: body=walk" in out and "ms per tick" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["demo", "--rig", "nope"], "rigs/nope/rig.json: file not found"),
        (["render", "--state", "moonwalk"], 'unknown state "moonwalk" for rig "digi"'),
        (
            ["render", "--state", "dance", "--variant", "dance_99"],
            'state "dance" has no variant "dance_99"',
        ),
    ],
)
def test_bad_input_is_one_clear_error(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("digigami: error: ") and message in err and "Traceback" not in err


def _serve_args(monkeypatch: pytest.MonkeyPatch, argv: list[str]) -> dict:
    """What `digigami serve ARGV` hands to run_server (which is not run)."""
    import webapi.server

    seen: dict = {}

    def fake(host, port, rig, max_sessions, max_previews, **options) -> None:
        seen.update(host=host, port=port, max_sessions=max_sessions, **options)

    monkeypatch.setattr(webapi.server, "run_server", fake)
    assert main(["serve", *argv]) == 0
    return seen


def test_serve_defaults_keep_media_on_the_http_address(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _serve_args(monkeypatch, [])
    assert seen["host"] == "127.0.0.1" and seen["port"] == 8080
    assert seen["media_host"] == "127.0.0.1"  # loopback HTTP: loopback media sockets
    assert seen["max_viewers"] == 8 and list(seen["allow_origins"]) == []


@pytest.mark.parametrize(
    ("argv", "media_host"),
    [
        (["--host", "0.0.0.0"], None),  # every interface
        (["--host", "::"], None),
        (["--host", "192.168.1.5"], "192.168.1.5"),
        (["--host", "0.0.0.0", "--media-host", "10.0.0.2"], "10.0.0.2"),
        (["--media-host", "0.0.0.0"], None),
        (["--host", "localhost"], "127.0.0.1"),
    ],
)
def test_serve_media_host(
    monkeypatch: pytest.MonkeyPatch, argv: list[str], media_host: str | None
) -> None:
    assert _serve_args(monkeypatch, argv)["media_host"] == media_host


def test_serve_security_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _serve_args(
        monkeypatch,
        [
            "--max-viewers", "2",
            "--allow-origin", "https://Studio.Example:443/",
            "--allow-origin", "http://localhost:3000",
            "--header-timeout", "5",
        ],
    )  # fmt: skip
    assert seen["max_viewers"] == 2 and seen["header_timeout"] == 5.0
    assert list(seen["allow_origins"]) == ["https://studio.example", "http://localhost:3000"]


@pytest.mark.parametrize("origin", ["studio.example", "https://studio.example/path", "ftp://x"])
def test_a_bad_allowed_origin_is_one_clear_error(
    origin: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["serve", "--allow-origin", origin])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "--allow-origin" in err and "origin" in err and "Traceback" not in err


def test_a_media_host_not_on_this_machine_is_one_clear_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["serve", "--media-host", "192.0.2.77", "--port", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("digigami: error: ") and "192.0.2.77" in err and "Traceback" not in err


def test_serve_generation_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _serve_args(
        monkeypatch,
        [
            "--max-generations", "1",
            "--generation-queue", "10",
            "--guest-avatars", "5",
            "--guest-avatar-days", "0.5",
        ],
    )  # fmt: skip
    limits = seen["generation"]
    assert (limits.max_running, limits.max_queued) == (1, 10)
    assert limits.guest_quota.avatars == 5 and limits.guest_max_age_s == 43200.0


def test_a_generation_limit_below_one_is_one_clear_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["serve", "--generation-queue", "0", "--port", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("digigami: error: ") and "max_queued" in err and "Traceback" not in err
