"""The two deployment shapes (SPEC section 8) the behavioural suite runs on.

- `embedded`: SQLite in the data dir and local blob storage (the defaults).
- `scaled`: a fresh PostgreSQL database on 127.0.0.1:5432 and a fresh prefix in a
  SeaweedFS bucket (`weed mini` on loopback, started once per test session).

`Shape.env()` gives the extra environment for one new, isolated trainset instance:
each call is a new database and a new storage prefix, so instances never see each
other's data unless a test shares one env between processes on purpose.
`TRAINSET_TEST_SHAPES=embedded` (or `scaled`) narrows a local run to one shape.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from tests.seaweed import SeaweedS3
from tests.server import TrainsetServer

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
ALL = ("embedded", "scaled")


def selected() -> list[str]:
    wanted = os.environ.get("TRAINSET_TEST_SHAPES", ",".join(ALL))
    names = [s.strip() for s in wanted.split(",") if s.strip()]
    unknown = set(names) - set(ALL)
    if unknown:
        raise ValueError(f"TRAINSET_TEST_SHAPES: unknown shapes {sorted(unknown)}")
    return names


def create_database() -> str:
    name = f"trainset_t_{secrets.token_hex(5)}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name


def drop_database(name: str) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Shape:
    name: str
    s3: SeaweedS3 | None = None
    databases: list[str] = field(default_factory=list)

    @property
    def scaled(self) -> bool:
        return self.name == "scaled"

    def env(self) -> dict[str, str]:
        """Extra environment for one new instance of this shape."""
        if not self.scaled:
            return {}
        assert self.s3 is not None
        db = create_database()
        self.databases.append(db)
        env = self.s3.env()
        env["TRAINSET_DATABASE_URL"] = f"postgresql://postgres@127.0.0.1:5432/{db}"
        env["TRAINSET_STORAGE_URL"] = f"s3://{self.s3.bucket}/{db}"
        # Several processes of one instance must sign alike (API processes are stateless).
        env["TRAINSET_SIGNING_SECRET"] = "shared-" + db
        return env

    def server(self, **settings: str) -> TrainsetServer:
        """A new, isolated server of this shape, to use as a context manager.
        `settings` are TRAINSET_* names without the prefix: `server(workers="1")`."""
        env = self.env() | {f"TRAINSET_{k.upper()}": v for k, v in settings.items()}
        return TrainsetServer(env=env)

    def cleanup(self) -> None:
        for db in self.databases:
            drop_database(db)
        self.databases.clear()

    def __str__(self) -> str:
        return self.name


def _s3(env: dict[str, str]) -> tuple[Any, str, str]:
    import boto3

    bucket, _, prefix = env["TRAINSET_STORAGE_URL"][len("s3://") :].partition("/")
    client = boto3.client(
        "s3",
        endpoint_url=env["TRAINSET_S3_ENDPOINT_URL"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env.get("AWS_REGION", "us-east-1"),
    )
    return client, bucket, prefix


def _on_s3(env: dict[str, str]) -> bool:
    return env.get("TRAINSET_STORAGE_URL", "").startswith("s3://")


def stored_blob_names(env: dict[str, str], data_dir: str) -> list[str]:
    """Every stored object of one instance: object keys under its prefix (scaled:
    committed blobs `b/` and presigned uploads `u/`) or blob file paths (embedded)."""
    if _on_s3(env):
        s3, bucket, prefix = _s3(env)
        names: list[str] = []
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=prefix + "/"
        ):
            names += [o["Key"] for o in page.get("Contents", [])]
        return names
    root = Path(data_dir) / "blobs"
    return [str(p) for p in root.rglob("*") if p.is_file() and ".tmp" not in p.parts]


def blob_count(env: dict[str, str], data_dir: str) -> int:
    """Committed blobs only (presigned upload objects are not blobs)."""
    return sum(1 for n in stored_blob_names(env, data_dir) if "/u/" not in n)


def partial_writes(env: dict[str, str], data_dir: str) -> list[str]:
    """Writes in progress: temp files (embedded) or open multipart uploads (scaled)."""
    if _on_s3(env):
        s3, bucket, prefix = _s3(env)
        r = s3.list_multipart_uploads(Bucket=bucket, Prefix=prefix + "/")
        return [u["Key"] for u in r.get("Uploads", [])]
    return [str(p) for p in (Path(data_dir) / "blobs" / ".tmp").glob("*.part")]


def blob_hashes(env: dict[str, str], data_dir: str) -> dict[str, str]:
    """sha256 -> name of every committed blob (presigned upload objects excluded)."""
    import hashlib

    out: dict[str, str] = {}
    if _on_s3(env):
        s3, bucket, _ = _s3(env)
        for name in stored_blob_names(env, data_dir):
            if "/u/" not in name:
                try:
                    body = s3.get_object(Bucket=bucket, Key=name)["Body"].read()
                except s3.exceptions.NoSuchKey:
                    continue  # collected between the listing and the read
                out[hashlib.sha256(body).hexdigest()] = name
        return out
    for name in stored_blob_names(env, data_dir):
        out[hashlib.sha256(Path(name).read_bytes()).hexdigest()] = name
    return out
