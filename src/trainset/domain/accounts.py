"""Accounts and bearer tokens (SPEC section 7). Tokens are shown once, stored as sha256."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, func, select, update
from sqlalchemy.exc import IntegrityError

from trainset.db.engine import Database
from trainset.db.tables import accounts, tokens
from trainset.domain.clock import now
from trainset.errors import Conflict, InvalidRequest, NotFound, Unauthorized

TOKEN_PREFIX = "ts_"  # noqa: S105 - a public prefix, not a secret


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    name: str


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


_LOOKUP = (
    select(accounts.c.id, accounts.c.name)
    .join(tokens, tokens.c.account_id == accounts.c.id)
    .where(tokens.c.token_hash == bindparam("h"), tokens.c.revoked_at.is_(None))
)


def _lookup(conn: Connection, token_hash: str) -> Account | None:
    row = conn.execute(_LOOKUP, {"h": token_hash}).first()
    return Account(row.id, row.name) if row else None


def check_token(conn: Connection, token: str) -> Account:
    """The token's account, within a caller's transaction; else Unauthorized."""
    if not token or len(token) > 512:
        raise Unauthorized("Missing or malformed bearer token.")
    account = _lookup(conn, hash_token(token))
    if account is None:
        raise Unauthorized("The bearer token is unknown or revoked.")
    return account


async def authenticate(db: Database, token: str) -> Account:
    return await db.read(check_token, token)


def _insert_token(conn: Connection, account_id: str, token: str, label: str | None) -> None:
    conn.execute(
        tokens.insert().values(
            id=str(uuid.uuid4()),
            account_id=account_id,
            token_hash=hash_token(token),
            prefix=token[:8],
            label=label,
            created_at=now(),
        )
    )


def _create_account(conn: Connection, account: Account, token: str) -> None:
    conn.execute(accounts.insert().values(id=account.id, name=account.name, created_at=now()))
    _insert_token(conn, account.id, token, "initial")


async def create_account(db: Database, name: str, token: str | None = None) -> tuple[Account, str]:
    """Create an account with one token; returns the account and the token (shown once)."""
    name = name.strip()
    if not name or len(name) > 128:
        raise InvalidRequest("An account name must be 1-128 characters.")
    token = token or new_token()
    account = Account(str(uuid.uuid4()), name)
    try:
        await db.write(_create_account, account, token)
    except IntegrityError:
        raise Conflict(f"An account named {name!r} already exists.") from None
    return account, token


def _create_token(conn: Connection, account_name: str, token: str, label: str | None) -> None:
    account_id = conn.execute(select(accounts.c.id).where(accounts.c.name == account_name)).scalar()
    if account_id is None:
        raise NotFound(f"No account named {account_name!r}.")
    _insert_token(conn, account_id, token, label)


async def create_token(db: Database, account_name: str, label: str | None = None) -> str:
    token = new_token()
    await db.write(_create_token, account_name, token, label)
    return token


def _revoke(conn: Connection, token_or_prefix: str) -> int:
    if len(token_or_prefix) > 8:
        cond = tokens.c.token_hash == hash_token(token_or_prefix)
    else:
        cond = tokens.c.prefix == token_or_prefix
    result = conn.execute(
        update(tokens).where(cond, tokens.c.revoked_at.is_(None)).values(revoked_at=now())
    )
    return int(result.rowcount)


async def revoke_token(db: Database, token_or_prefix: str) -> int:
    """Revoke a token given in full, or every live token with that 8-character prefix."""
    n = await db.write(_revoke, token_or_prefix)
    if n == 0:
        raise NotFound("No live token matches.")
    return n


def _count_accounts(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(accounts)).scalar_one())


async def bootstrap(db: Database, token: str | None) -> str | None:
    """On an instance with no accounts, create `default` and return its token (else None)."""
    if await db.read(_count_accounts):
        return None
    try:
        _, tok = await create_account(db, "default", token)
    except Conflict:
        return None  # another process bootstrapped first
    return tok
