"""Connection strings: parse and describe PostgreSQL DSNs (host:port/db), and keep passwords
out of text (DSNs, broker URLs).

Shared by the Postgres registry, the Postgres online store and the stream brokers; psycopg is
imported only when a string is parsed.
"""

from __future__ import annotations

import re
from typing import Any

from pitstore.errors import ConfigError


def parse_dsn(dsn: str, key: str = "dsn") -> dict[str, Any]:
    """The parts of a libpq connection string or URL; ConfigError (without the DSN) if bad."""
    from psycopg import ProgrammingError
    from psycopg.conninfo import conninfo_to_dict

    try:
        return conninfo_to_dict(dsn)
    except ProgrammingError:
        # The driver's message may quote the string, password included: say less.
        raise ConfigError(
            "the PostgreSQL connection string is malformed; use a URL such as "
            "postgresql://user@host:5432/dbname or key=value pairs such as "
            "'host=... port=... dbname=...'",
            key=key,
        ) from None


def describe(parts: dict[str, Any]) -> str:
    """``host:port/dbname`` of a parsed DSN (libpq defaults where a part is not given)."""
    host = str(parts.get("host") or parts.get("hostaddr") or "localhost")
    port = str(parts.get("port") or "5432")
    dbname = str(parts.get("dbname") or parts.get("user") or "")
    return f"{host}:{port}/{dbname}"


def mask(message: str, parts: dict[str, Any]) -> str:
    """``message`` with the DSN's password, if any, replaced by ``***``."""
    password = parts.get("password")
    return message.replace(str(password), "***") if password else message


_USERINFO = re.compile(r"://[^@/\s,]*@")


def redact_url(url: str) -> str:
    """``url`` (or a comma-separated list of URLs) with any ``user:password@`` replaced by
    ``***@``: a broker URL may carry a password, or a token as its user (NATS)."""
    return _USERINFO.sub("://***@", url)
