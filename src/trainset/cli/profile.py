"""The CLI's optional config file: where `--url` and `--token` come from when neither
the flags nor TRAINSET_URL / TRAINSET_TOKEN give them.

`$TRAINSET_CONFIG`, else `$XDG_CONFIG_HOME/trainset/config.toml` (else
`~/.config/trainset/config.toml`):

    url = "https://trainset.example.com"
    token = "ts_..."

`trainset login` writes it (mode 0600, atomically) after checking the token works.
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path


def path() -> Path:
    if explicit := os.environ.get("TRAINSET_CONFIG"):
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "trainset" / "config.toml"


def load() -> dict[str, str]:
    """The file's url and token ({} when there is no file). A file that is not valid
    TOML is an error naming it, not silently ignored."""
    p = path()
    try:
        data = tomllib.loads(p.read_text("utf-8"))
    except FileNotFoundError:
        return {}
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{p} is not valid TOML: {e}") from None
    for k in ("url", "token"):
        if k in data and not isinstance(data[k], str):
            raise ValueError(f"{p}: {k} must be a string (in quotes), not {data[k]!r}")
    return {k: v for k, v in data.items() if k in ("url", "token")}


def save(url: str, token: str) -> Path:
    p = path()
    p.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # JSON string escapes are valid TOML basic-string escapes for these values.
    text = f"url = {json.dumps(url)}\ntoken = {json.dumps(token)}\n"
    tmp = p.with_name(f".{p.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, p)
    return p
