"""One typed settings object, read once from `TRAINSET_*` environment variables and `.env`.

Nothing else in trainset reads the environment: `load_settings()` is called by the
CLI at startup and the result is passed down. A bad value stops startup with a
message naming the variable.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DIRECT_UPLOAD_LIMIT = 150_000_000


def _no_trailing_slash(v: str | None) -> str | None:
    return v.rstrip("/") if v else v


class Settings(BaseSettings):
    """trainset's configuration (SPEC section 8). Field `x` is `TRAINSET_X`."""

    model_config = SettingsConfigDict(
        env_prefix="TRAINSET_", env_file=".env", extra="ignore", frozen=True
    )

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    data_dir: Path = Path("data")
    public_url: Annotated[str | None, AfterValidator(_no_trailing_slash)] = None
    database_url: str | None = None
    storage_url: str | None = None
    s3_endpoint_url: str | None = None
    bootstrap_token: str | None = Field(None, min_length=16)
    # In-process content-check concurrency; 0 = none (separate `trainset worker`s).
    workers: int = Field(default_factory=lambda: min(os.cpu_count() or 1, 8), ge=0, le=64)
    # Secret for local signed URLs. Generated and kept in the data dir when unset, so
    # URLs survive restarts; set it explicitly when several API processes share a store.
    signing_secret: str | None = Field(None, min_length=16)
    signed_url_ttl_seconds: int = Field(1800, ge=1, le=7 * 24 * 3600)
    signed_upload_limit: int = Field(5 * 1024**3, ge=1)
    direct_upload_limit: int = Field(DIRECT_UPLOAD_LIMIT, ge=1)
    max_files_per_dataset: int = Field(100_000, ge=1)
    # How long a direct upload may go without a byte before it is cut off (slow clients).
    read_timeout_seconds: float = Field(60.0, gt=0)
    # Replaced and deleted blobs are kept this long (longer than any download URL).
    gc_grace_seconds: int = Field(3600, ge=0)
    # A streaming upload's lease, renewed as its bytes arrive. If its process dies,
    # another process's sweeper gives the upload up this long after the last renewal.
    upload_lease_seconds: int = Field(120, ge=2, le=3600)
    # A content check's job lease; its worker renews it while checking. A killed
    # worker's jobs are taken over by another worker this long after its last renewal.
    check_lease_seconds: int = Field(60, ge=2, le=3600)
    # Per-account quotas; 0 = no limit.
    quota_datasets: int = Field(0, ge=0)
    quota_files: int = Field(0, ge=0)
    quota_bytes: int = Field(0, ge=0)
    # Requests per second per bearer token (or per client address without one), with
    # bursts of twice that, in each API process; 0 = no limit.
    rate_limit: float = Field(0.0, ge=0)
    # Uploads streaming through one API process at once; more get a 503 at once.
    max_concurrent_uploads: int = Field(256, ge=0)
    log_level: str = "info"

    @field_validator("database_url", "storage_url")
    @classmethod
    def _known_scheme(cls, v: str | None) -> str | None:
        if v is None:
            return v
        ok = ("sqlite", "postgresql", "postgres", "file://", "s3://")
        if not v.startswith(ok):
            raise ValueError(f"unsupported URL {v!r}")
        return v

    @property
    def resolved_database_url(self) -> str:
        url = self.database_url or f"sqlite:///{self.data_dir.resolve() / 'trainset.db'}"
        if url.startswith("postgres://"):
            url = "postgresql://" + url[len("postgres://") :]
        return url

    @property
    def resolved_storage_url(self) -> str:
        return self.storage_url or f"file://{self.data_dir.resolve() / 'blobs'}"

    @property
    def base_url(self) -> str:
        """Where clients reach this server (the base of local signed URLs)."""
        if self.public_url:
            return self.public_url
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.port}"

    def signing_key(self) -> bytes:
        """The HMAC key for local signed URLs: configured, or kept in the data dir."""
        if self.signing_secret:
            return self.signing_secret.encode()
        path = self.data_dir / "signing.key"
        try:
            return path.read_bytes()
        except FileNotFoundError:
            pass
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_hex(32).encode()
        tmp = path.with_name(f"signing.key.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)  # atomic, and never replaces a key another process made
        except FileExistsError:
            key = path.read_bytes()
        finally:
            tmp.unlink()
        return key


class ConfigError(Exception):
    """Startup configuration is invalid; the message names the variable."""


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as e:
        lines = []
        for err in e.errors():
            name = "TRAINSET_" + "_".join(str(p) for p in err["loc"]).upper()
            lines.append(f"{name}: {err['msg']}")
        raise ConfigError("invalid configuration: " + "; ".join(lines)) from None
