"""Bearer tokens: ``Authorization: Bearer <token>``, looked up by its sha256 digest in the
state store; 401 without a known token, 403 when its scope is below the route's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from orecart.access import ApiToken, Scope
from orecart.service.served import Served

_bearer = HTTPBearer(auto_error=False, description="A token of `orecart token create`.")


def served_of(request: Request) -> Served:
    served: Served = request.app.state.served
    return served


def require(needed: Scope) -> Callable[..., ApiToken]:
    """A dependency admitting only tokens whose scope allows ``needed``."""

    def check(request: Request,
              credentials: Annotated[HTTPAuthorizationCredentials | None,
                                     Depends(_bearer)]) -> ApiToken:
        if credentials is None:
            raise HTTPException(401, "a bearer token is needed (orecart token create)",
                                headers={"WWW-Authenticate": "Bearer"})
        token = served_of(request).token(credentials.credentials)
        if token is None:
            raise HTTPException(401, "the bearer token is not known (revoked?)",
                                headers={"WWW-Authenticate": "Bearer"})
        if not token.scope.allows(needed):
            raise HTTPException(403, f"token {token.name!r} has scope {token.scope}; "
                                f"this needs {needed}")
        return token

    return check


READ = Depends(require(Scope.READ))
OPERATE = Depends(require(Scope.OPERATE))
