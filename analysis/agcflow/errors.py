"""Exception types: each says what failed, where, and what would be valid.

Messages never show credentials: ``redact`` masks the userinfo of URLs
(``https://user:secret@host`` -> ``https://***@host``, also without the scheme) and token-like query parameters
(``?token=...``, ``&api_key=...``, ``X-Amz-Signature=...``); every agcflow error and every log
line the CLI writes goes through it.
"""

from __future__ import annotations

import re

_URL_USERINFO = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://)[^/\s@'\"<>]+@")
_BARE_USERINFO = re.compile(r"(?<![^\s'\"(=,\[])[^\s/@'\"<>:]+:[^\s/@'\"<>]+@")  # user:secret@host, scheme cut
_SECRET_QUERY = re.compile(
    r"([?&;][^=&\s'\"]*(?:token|key|secret|passw(?:or)?d|pwd|auth|sig(?:nature)?|credential)[^=&\s'\"]*=)[^&#\s'\"]+",
    re.IGNORECASE,
)
MASK = "***"


def redact(text: str) -> str:
    """``text`` with the credentials of any URL in it replaced by ``***``."""
    text = _URL_USERINFO.sub(rf"\g<1>{MASK}@", text)
    text = _BARE_USERINFO.sub(f"{MASK}@", text)
    return _SECRET_QUERY.sub(rf"\g<1>{MASK}", text)


class AgcflowError(Exception):
    """Base class of every error agcflow raises on purpose; its message is redacted."""

    def __str__(self) -> str:
        return redact(super().__str__())


class ConfigError(AgcflowError):
    """A configuration key or value is invalid."""


class InputFileError(AgcflowError):
    """An input file is missing, unreadable, or not what was expected."""


class BackendError(AgcflowError):
    """An unknown backend name, or a backend that cannot be used here."""


class ServiceError(AgcflowError):
    """A remote service (ServiceX, XRootD, HEPData) is unreachable or failed."""
