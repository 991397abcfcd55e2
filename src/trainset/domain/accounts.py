"""Accounts and bearer tokens (SPEC section 7). Tokens are shown once, stored as sha256."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

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


async def authenticate(db: Database, token: str) -> Account:
    if not token or len(token) > 512:
        raise Unauthorized("Missing or malformed bearer token.")
    async with db.read() as conn:
        row = (
            await conn.execute(
                select(accounts.c.id, accounts.c.name)
                .join(tokens, tokens.c.account_id == accounts.c.id)
                .where(tokens.c.token_hash == hash_token(token), tokens.c.revoked_at.is_(None))
            )
        ).first()
    if row is None:
        raise Unauthorized("The bearer token is unknown or revoked.")
    return Account(row.id, row.name)


async def _insert_token(
    conn: AsyncConnection, account_id: str, token: str, label: str | None
) -> str:
    token_id = str(uuid.uuid4())
    await conn.execute(
        tokens.insert().values(
            id=token_id,
            account_id=account_id,
            token_hash=hash_token(token),
            prefix=token[:8],
            label=label,
            created_at=now(),
        )
    )
    return token_id


async def create_account(db: Database, name: str, token: str | None = None) -> tuple[Account, str]:
    """Create an account with one token; returns the account and the token (shown once)."""
    name = name.strip()
    if not name or len(name) > 128:
        raise InvalidRequest("An account name must be 1-128 characters.")
    token = token or new_token()
    account = Account(str(uuid.uuid4()), name)
    try:
        async with db.write() as conn:
            await conn.execute(accounts.insert().values(id=account.id, name=name, created_at=now()))
            await _insert_token(conn, account.id, token, "initial")
    except IntegrityError:
        raise Conflict(f"An account named {name!r} already exists.") from None
    return account, token


async def create_token(db: Database, account_name: str, label: str | None = None) -> str:
    token = new_token()
    async with db.write() as conn:
        account_id = (
            await conn.execute(select(accounts.c.id).where(accounts.c.name == account_name))
        ).scalar()
        if account_id is None:
            raise NotFound(f"No account named {account_name!r}.")
        await _insert_token(conn, account_id, token, label)
    return token


async def revoke_token(db: Database, token_or_prefix: str) -> int:
    """Revoke a token given in full, or every live token with that 8-character prefix."""
    async with db.write() as conn:
        if len(token_or_prefix) > 8:
            cond = tokens.c.token_hash == hash_token(token_or_prefix)
        else:
            cond = tokens.c.prefix == token_or_prefix
        result = await conn.execute(
            update(tokens).where(cond, tokens.c.revoked_at.is_(None)).values(revoked_at=now())
        )
    n: int = result.rowcount
    if n == 0:
        raise NotFound("No live token matches.")
    return n


async def bootstrap(db: Database, token: str | None) -> str | None:
    """On an instance with no accounts, create `default` and return its token (else None)."""
    async with db.read() as conn:
        count = (await conn.execute(select(func.count()).select_from(accounts))).scalar_one()
    if count:
        return None
    try:
        _, tok = await create_account(db, "default", token)
    except Conflict:
        return None  # another process bootstrapped first
    return tok
