"""Bearer tokens (coordinator API tokens, calendar feed tokens): made, stored and checked
one way.

A token has 256 random bits (``secrets.token_urlsafe(32)``) and only its SHA-256 is
stored, so a copy of the database opens nothing and a lost token cannot be shown again
(rotating issues a new one). With that much entropy a plain hash (no salt, no slow KDF) is
enough against guessing, and it keeps the lookup an index hit on the stored hash: timing
that lookup tells an attacker nothing about a token they do not hold. ``matches`` is for
checking a token against one hash already in hand, where the comparison itself must not
leak how much of it agreed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

TOKEN_BYTES = 32  # 256 bits; at least 128 are needed


def new_token(prefix: str = "") -> str:
    """A fresh token (URL-safe), after ``prefix`` (which lets scanners recognise a leak)."""
    return prefix + secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    """What is stored for ``token``: its SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def matches(token: str, stored_hash: str | None) -> bool:
    """Whether ``token`` is the one ``stored_hash`` was made from (constant time)."""
    if not stored_hash:
        return False
    return hmac.compare_digest(hash_token(token), stored_hash)
