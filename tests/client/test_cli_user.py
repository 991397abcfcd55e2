"""`trainset ls | status | rm` over the SDK, as a user runs them (a real subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests import media
from tests.client.proxy import Proxy
from tests.server import TrainsetServer, free_port
from trainset.client import Client

TRAINSET = str(Path(sys.executable).parent / "trainset")


def cli(
    srv: TrainsetServer | None,
    *args: str,
    url: str | None = None,
    config: Path | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    extra = env
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRAINSET_")}
    # Never the developer's own config file.
    env["TRAINSET_CONFIG"] = str(config or "/nonexistent/trainset-config.toml")
    if srv is not None:
        env |= {"TRAINSET_URL": srv.base_url, "TRAINSET_TOKEN": srv.token}
    if url is not None:
        env |= {"TRAINSET_URL": url, "TRAINSET_TOKEN": "x"}
    return subprocess.run(
        [TRAINSET, *args],
        env=env | (extra or {}),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def test_ls_status_rm(server: TrainsetServer) -> None:
    c = Client(server.base_url, server.token)
    good = c.create_dataset()
    c.upload(good.id, media.jpeg(300, 300), filename="a.jpg")
    c.upload(good.id, media.caption(), filename="a.txt")
    bad = c.create_dataset()
    c.upload(bad.id, media.jpeg(300, 300), filename="lonely.jpg")
    c.wait(good.id, poll=0.05)
    c.wait(bad.id, poll=0.05)

    listing = cli(server, "ls", "--json")
    assert listing.returncode == 0, listing.stderr
    names = {d["name"]: d["status"] for d in json.loads(listing.stdout)}
    assert names[good.name] == "READY" and names[bad.name] == "FAILED"
    plain = cli(server, "ls", "--status", "FAILED").stdout
    assert bad.name in plain and good.name not in plain

    ok = cli(server, "status", good.name)
    assert ok.returncode == 0 and "READY" in ok.stdout and "2 files" in ok.stdout
    failed = cli(server, "status", bad.name)
    assert failed.returncode == 1
    assert "lonely.jpg" in failed.stdout and "has no caption file lonely.txt" in failed.stdout
    as_json = json.loads(cli(server, "status", bad.id, "--json").stdout)
    assert as_json["failures"][0]["code"] == "missing_caption"

    refused = cli(server, "rm", good.name)  # no --yes and no terminal to confirm on
    assert refused.returncode == 2 and "--yes" in refused.stderr
    gone = cli(server, "rm", good.name, "--yes")
    assert gone.returncode == 0, gone.stderr
    missing = cli(server, "status", good.name)
    assert missing.returncode == 2 and "No dataset" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_network_failure_exits_3() -> None:
    r = cli(None, "ls", url=f"http://127.0.0.1:{free_port()}")
    assert r.returncode == 3 and "could not reach trainset" in r.stderr
    assert "Traceback" not in r.stderr


def test_login_keeps_url_and_token_for_later_commands(
    server: TrainsetServer, tmp_path: Path
) -> None:
    config = tmp_path / "cfg" / "config.toml"
    wrong = cli(None, "login", "--url", server.base_url, "--token", "ts_wrong", config=config)
    assert wrong.returncode == 3 and not config.exists()  # refused: nothing kept
    ok = cli(None, "login", "--url", server.base_url, "--token", server.token, config=config)
    assert ok.returncode == 0, ok.stderr
    assert config.stat().st_mode & 0o777 == 0o600
    # No flags, no environment: the file answers.
    listing = cli(None, "ls", "--json", config=config)
    assert listing.returncode == 0, listing.stderr
    # The environment (and flags) come before the file.
    env_first = cli(None, "ls", url=f"http://127.0.0.1:{free_port()}", config=config)
    assert env_first.returncode == 3
    flag_first = cli(None, "ls", "--token", "ts_wrong", config=config)
    assert flag_first.returncode == 3 and "token" in flag_first.stderr.lower()


def test_a_broken_config_file_is_named(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("url = [unterminated")
    r = cli(None, "ls", config=config)
    assert r.returncode == 2 and str(config) in r.stderr


def test_config_token_goes_only_to_the_config_url(server: TrainsetServer, tmp_path: Path) -> None:
    """Another URL by flag or TRAINSET_URL gets no token from the config file: a proxy in
    front of the real server stands for "another server" and records what it is sent."""
    config = tmp_path / "config.toml"
    config.write_text(f'url = "{server.base_url}/"\ntoken = "{server.token}"\n')
    with Proxy(server.base_url) as other:
        by_env = cli(None, "ls", config=config, env={"TRAINSET_URL": other.url})
        by_flag = cli(None, "ls", "--url", other.url + "/", config=config)
        assert other.seen, "the commands did reach the other server"
        assert not [h for _, _, h in other.seen if server.token in str(h)]
    assert by_env.returncode == 3 and by_flag.returncode == 3  # 401 without a token
    # The config file's own URL, however spelt (trailing slash or not), gets the token.
    same = cli(None, "ls", "--url", server.base_url, config=config)
    assert same.returncode == 0, same.stderr
    assert cli(None, "ls", config=config).returncode == 0
    # A token given for the other URL is of course sent.
    with Proxy(server.base_url) as other:
        given = cli(None, "ls", "--url", other.url, "--token", server.token, config=config)
        assert given.returncode == 0, given.stderr


def test_a_config_value_of_the_wrong_type_is_named(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('url = 1\ntoken = "t"\n')
    r = cli(None, "ls", config=config)
    assert r.returncode == 2 and str(config) in r.stderr and "url must be a string" in r.stderr
    assert "Traceback" not in r.stderr


def test_status_wait_that_times_out_while_uploading_exits_3(server: TrainsetServer) -> None:
    c = Client(server.base_url, server.token)
    ds = c.create_dataset()
    c.upload_urls(ds.id, {"a.jpg": 1000})  # an outstanding signed URL: UPLOADING
    r = cli(server, "status", ds.name, "--wait", "--timeout", "0.3")
    assert r.returncode == 3, r.stderr
    assert "UPLOADING" in r.stdout and "still UPLOADING" in r.stderr
    c.delete_dataset(ds.id)
