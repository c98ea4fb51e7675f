"""The `digigami` command: the demo runs, `serve` takes its flags and refuses a database it
cannot use, `backup` copies the database, and bad input is one clear line with exit code 2."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from webapi.cli import main
from webapi.store import Store, migrations, new_id, now_iso


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
            "--connect-timeout", "4",
        ],
    )  # fmt: skip
    assert seen["max_viewers"] == 2 and seen["header_timeout"] == 5.0
    assert seen["connect_within"] == 4.0
    assert list(seen["allow_origins"]) == ["https://studio.example", "http://localhost:3000"]


def test_the_connect_timeout_defaults_to_the_servers(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _serve_args(monkeypatch, [])["connect_within"] == 15.0


@pytest.mark.parametrize(
    ("flag", "value", "says"),
    [
        *[("--allow-origin", o, "origin") for o in ("studio.example", "https://studio.example/path", "ftp://x")],
        *[("--connect-timeout", v, v) for v in ("1", "121", "nan", "inf", "soon")],
    ],
)  # fmt: skip
def test_a_bad_serve_flag_is_one_clear_error(
    flag: str, value: str, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["serve", flag, value])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert flag in err and says in err and "Traceback" not in err


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


def test_serve_db_flag_and_its_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert _serve_args(monkeypatch, ["--db", str(tmp_path / "a.db")])["db"] == tmp_path / "a.db"
    monkeypatch.setenv("DIGIGAMI_DB", str(tmp_path / "env.db"))
    assert _serve_args(monkeypatch, [])["db"] == tmp_path / "env.db"


def _text_file(path: Path) -> Path:
    path.write_text("name,email\nada,ada@example.com\n")
    return path


def _newer_database(path: Path) -> Path:
    Store(path).open().close()
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO schema_version VALUES (?, 'from the future', '2099-01-01')",
            (migrations.latest() + 1,),
        )
    conn.close()
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (_text_file, "is not a usable SQLite database"),
        (_newer_database, "newer than this Digigami knows"),
    ],
    ids=["not-a-database", "newer-schema"],
)
def test_serve_refuses_a_database_it_cannot_use_in_one_line(
    make, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = make(tmp_path / "x.db")
    assert main(["serve", "--db", str(db), "--port", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("digigami: error: ") and message in err and str(db) in err, err
    assert "Traceback" not in err and err.count("\n") == 1


def test_backup_copies_the_database_and_says_what_it_wrote(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "live.db"
    store = Store(source).open()
    try:
        store.write_now(lambda db: db["users"].insert(_user("ada")))
        target = tmp_path / "copies" / "copy.db"
        assert main(["backup", str(target), "--db", str(source)]) == 0
    finally:
        store.close()
    out = capsys.readouterr().out
    assert out.startswith("digigami: backed up ") and str(target) in out and "bytes" in out
    conn = sqlite3.connect(target)
    try:
        assert conn.execute("SELECT username FROM users").fetchall() == [("ada",)]
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        conn.close()


def test_backup_uses_the_default_database(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DIGIGAMI_DB", str(tmp_path / "env.db"))
    Store(tmp_path / "env.db").open().close()
    assert main(["backup", str(tmp_path / "b.db")]) == 0
    assert str(tmp_path / "env.db") in capsys.readouterr().out
    assert (tmp_path / "b.db").stat().st_size > 0


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing", "no database at"),
        ("not-a-database", "is not a usable SQLite database"),
        ("target-under-a-file", "cannot write"),
    ],
)
def test_backup_errors_are_one_clear_line(
    case: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, target = tmp_path / "src.db", tmp_path / "copy.db"
    if case == "not-a-database":
        source.write_bytes(b"\x00garbage" * 512)
    elif case == "target-under-a-file":
        Store(source).open().close()
        (tmp_path / "plain").write_text("a file, not a folder")
        target = tmp_path / "plain" / "copy.db"
    assert main(["backup", str(target), "--db", str(source)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("digigami: error: ") and message in err, err
    assert "Traceback" not in err and err.count("\n") == 1
    assert not target.exists()


def _user(name: str) -> dict:
    return {
        "id": new_id(),
        "email": f"{name}@example.com",
        "email_key": f"{name}@example.com",
        "username": name,
        "username_key": name,
        "password_hash": "$argon2id$not-a-real-hash",
        "created_at": now_iso(),
    }
