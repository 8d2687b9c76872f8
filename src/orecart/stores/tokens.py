"""The API tokens table: digests and scopes (``orecart.access``), never a token's value."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from orecart.access import ApiToken, Scope
from orecart.errors import NotFoundError, UsageError
from orecart.stores.schema import api_tokens


def add(connection: Connection, token: ApiToken, digest: str) -> None:
    taken = connection.execute(
        sa.select(api_tokens.c.name).where(api_tokens.c.name == token.name)).first()
    if taken is not None:
        raise UsageError(f"a token named {token.name!r} exists already: revoke it first or "
                         "choose another --name")
    connection.execute(sa.insert(api_tokens).values(
        name=token.name, digest=digest, scope=str(token.scope), created_at=token.created_at))


def listed(connection: Connection) -> list[ApiToken]:
    rows = connection.execute(sa.select(api_tokens).order_by(api_tokens.c.created_at))
    return [_token(row) for row in rows.mappings()]


def by_digest(connection: Connection, digest: str) -> ApiToken | None:
    query = sa.select(api_tokens).where(api_tokens.c.digest == digest)
    row = connection.execute(query).mappings().first()
    return _token(row) if row is not None else None


def revoke(connection: Connection, name: str) -> None:
    gone = connection.execute(sa.delete(api_tokens).where(api_tokens.c.name == name))
    if not gone.rowcount:
        raise NotFoundError(f"no API token is named {name!r}")


def _token(row: RowMapping) -> ApiToken:
    created: datetime = row["created_at"]
    return ApiToken(row["name"], Scope(row["scope"]), created)
