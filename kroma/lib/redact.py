"""Mask secrets in text that leaves the process: log lines, tracebacks, Django's error reports.

The plaintexts of project secrets are not known here (they live encrypted in the database), so
what is masked is what a secret looks like: provider keys (`sk-…`), Kroma API tokens
(`kroma_<prefix>_…`, the prefix kept so a token can still be recognised), Authorization headers
and bearer tokens, and the password in a URL (`scheme://user:PASSWORD@host`, a DATABASE_URL).
`redact` is idempotent, so text masked twice reads the same. No Django here: kroma.lib.errors
masks every user-facing message with it; Django's error reports use kroma.error_reports.
"""

from __future__ import annotations

import logging
import re

MASK = "[redacted]"

_PROVIDER_KEY = re.compile(r"\bsk-[A-Za-z0-9_\-]{8,}")
_KROMA_TOKEN = re.compile(r"\b(kroma_[0-9a-f]{8}_)[A-Za-z0-9_\-]+")
_MASKED = r"(?!\[redacted\]|sk-…|kroma_(?:[0-9a-f]{8}_)?…)"  # already masked: leave it
_AUTH_HEADER = re.compile(
    r"((?:proxy-)?authorization['\"]?\s*[:=]\s*['\"]?)"
    rf"(?:(bearer|basic|token|digest)\s+)?+{_MASKED}[^\s'\",}}]+",
    re.IGNORECASE,
)
_BEARER = re.compile(rf"\b(bearer\s+){_MASKED}[A-Za-z0-9._~+/=\-]+", re.IGNORECASE)
_URL_PASSWORD = re.compile(r"([a-z][a-z0-9+.\-]*://[^:/@\s]*:)(?!\[redacted\])[^@\s/]+(@)")


def _mask_key(match: re.Match[str]) -> str:
    value = match.group(0)
    return f"sk-…{value[-4:]}"


def _mask_header(match: re.Match[str]) -> str:
    scheme = match.group(2)
    return f"{match.group(1)}{scheme + ' ' if scheme else ''}{MASK}"


def redact(text: str) -> str:
    """`text` with every secret-looking value masked."""
    if not text:
        return text
    text = _PROVIDER_KEY.sub(_mask_key, text)
    text = _KROMA_TOKEN.sub(r"\1…", text)
    text = _AUTH_HEADER.sub(_mask_header, text)
    text = _BEARER.sub(rf"\1{MASK}", text)
    return _URL_PASSWORD.sub(rf"\1{MASK}\2", text)


class RedactingFilter(logging.Filter):
    """A handler filter that masks a record's message, traceback and stack in place.

    It rewrites the record itself, so every handler after it (and pytest's caplog) gets the
    masked text too. It never drops a record.
    """

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
