"""Request dependencies: the process's services and the caller's account."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from trainset.domain.accounts import Account, authenticate
from trainset.errors import Unauthorized
from trainset.services import Services

_bearer = HTTPBearer(auto_error=False, description="A trainset token: `Bearer ts_...`")


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


async def account(
    request: Request,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Account:
    if creds is None or creds.scheme.lower() != "bearer":
        raise Unauthorized("Send `Authorization: Bearer <token>`.")
    return await authenticate(services(request).db, creds.credentials)


Svc = Annotated[Services, Depends(services)]
Caller = Annotated[Account, Depends(account)]
