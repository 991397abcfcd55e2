"""Request dependencies: the process's services and the caller's account."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from trainset.domain.accounts import Account, authenticate
from trainset.errors import Unauthorized
from trainset.services import Services

_bearer = HTTPBearer(auto_error=False, description="A trainset token: `Bearer ts_...`")


# Dependencies are `async def` on purpose: FastAPI runs plain `def` dependencies in a
# thread pool, which would cost two thread hand-offs per request for nothing.
async def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


async def bearer(
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """The bearer token as sent (checked against the database by the caller)."""
    if creds is None or creds.scheme.lower() != "bearer":
        raise Unauthorized("Send `Authorization: Bearer <token>`.")
    return creds.credentials


async def account(request: Request, token: Annotated[str, Depends(bearer)]) -> Account:
    svc: Services = request.app.state.services
    return await authenticate(svc.db, token)


Svc = Annotated[Services, Depends(services)]
Caller = Annotated[Account, Depends(account)]
# For the direct upload: the token is checked in the same transaction that starts it.
BearerToken = Annotated[str, Depends(bearer)]

# The query parameters of trainset's own signed URLs (uploads and downloads).
UrlExpires = Annotated[str, Query(max_length=16, description="Unix expiry, signed")]
UrlSignature = Annotated[str, Query(max_length=128, description="HMAC-SHA256, hex")]
