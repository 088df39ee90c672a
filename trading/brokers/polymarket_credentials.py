"""Polymarket credentials: the signing key and the L2 API key set, read only from the environment.

Every secret is held as ``SecretStr``: ``repr``/``str`` never show it, and no error message echoes it.
Failure contract: ``PolymarketCredentials.from_env`` raises ValueError when only part of the API key set
is given (naming the missing variables, never their values) or when POLYMARKET_SIGNATURE_TYPE is not an
integer; nothing set at all is valid (a read-only adapter).
"""
from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, SecretStr

ENV_PRIVATE_KEY = "POLYMARKET_PRIVATE_KEY"
ENV_API_KEY = "POLYMARKET_API_KEY"
ENV_API_SECRET = ("POLYMARKET_API_SECRET", "POLYMARKET_SECRET")
ENV_API_PASSPHRASE = ("POLYMARKET_API_PASSPHRASE", "POLYMARKET_PASSPHRASE")
ENV_FUNDER = "POLYMARKET_FUNDER"
ENV_SIGNATURE_TYPE = "POLYMARKET_SIGNATURE_TYPE"


class PolymarketCredentials(BaseModel):
    """Signing key and L2 API credentials. ``repr``/``str`` never show a secret."""
    model_config = ConfigDict(frozen=True)

    private_key: SecretStr | None = None
    api_key: SecretStr | None = None
    api_secret: SecretStr | None = None
    api_passphrase: SecretStr | None = None
    funder: str | None = None             # the (proxy) wallet holding funds and shares: public
    signature_type: int | None = None     # 0 EOA, 1 POLY_PROXY, 2 GNOSIS_SAFE (library default: EOA)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> PolymarketCredentials:
        env = os.environ if env is None else env

        def first(*names: str) -> str | None:
            return next((env[n].strip() for n in names if env.get(n, "").strip()), None)

        key = first(ENV_API_KEY)
        secret = first(*ENV_API_SECRET)
        passphrase = first(*ENV_API_PASSPHRASE)
        given = [key is not None, secret is not None, passphrase is not None]
        if any(given) and not all(given):
            missing = [n for n, ok in zip((ENV_API_KEY, ENV_API_SECRET[0], ENV_API_PASSPHRASE[0]), given,
                                          strict=True) if not ok]
            raise ValueError(f"incomplete Polymarket API credentials: set {', '.join(missing)} "
                             "(or none of the three to derive them from the private key)")
        sig = first(ENV_SIGNATURE_TYPE)
        return cls(private_key=_secret(first(ENV_PRIVATE_KEY)), api_key=_secret(key),
                   api_secret=_secret(secret), api_passphrase=_secret(passphrase), funder=first(ENV_FUNDER),
                   signature_type=int(sig) if sig is not None else None)

    @property
    def has_api_creds(self) -> bool:
        return self.api_key is not None and self.api_secret is not None and self.api_passphrase is not None


def _secret(v: str | None) -> SecretStr | None:
    return SecretStr(v) if v else None
