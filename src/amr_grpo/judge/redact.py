"""Secrets never leave through error text: scrub() masks API keys and bearer tokens in any message.

Every judge that reads a key registers it (`register_secret`); scrub() replaces each registered key, any
`Bearer <token>`, `Authorization: <value>`, `api_key=<value>` and the password of a `scheme://user:pass@host` URL with
`[redacted]`. JudgeError scrubs its own message when it is made, so whatever carries it on (ledger notes, logs, CLI
lines, output JSONL, the service's error bodies) carries the masked text. Some OpenAI-compatible proxies echo the
request's Authorization header in their error bodies: this is the one place that keeps it from going further.
Try it: python -c "from amr_grpo.judge.redact import scrub; print(scrub('echo: Authorization: Bearer gsk_abc123'))"
"""

from __future__ import annotations

import re

MASK = "[redacted]"
MIN_SECRET_CHARS = 8  # a shorter "key" (a local server's placeholder) would mask ordinary words
_SECRETS: set[str] = set()
_VALUE = r"[^\s\"',;&}\]]+"  # a header or parameter value: up to a quote, comma, brace or space
_PATTERNS = (
    re.compile(r"(?i)(\bbearer\s+)" + _VALUE),
    re.compile(r"(?i)(\b(?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?)(?!bearer\s)" + _VALUE),
    re.compile(r"(?i)(\b(?:x-)?api[_-]?key[\"']?\s*[:=]\s*[\"']?)" + _VALUE),
    re.compile(r"(://[^/\s:@]+:)[^/\s@]+(@)"),  # https://user:password@host
)


def register_secret(value: str | None) -> None:
    """Mask `value` wherever scrub() sees it from now on (keys shorter than MIN_SECRET_CHARS are not secrets)."""
    if value and len(value) >= MIN_SECRET_CHARS:
        _SECRETS.add(value)


def scrub(text: object) -> str:
    """`text` as a string with every registered key and every token-like pattern masked."""
    out = str(text)
    for secret in sorted(_SECRETS, key=len, reverse=True):  # the longest first: a key containing another
        if secret in out:
            out = out.replace(secret, MASK)
    for pattern in _PATTERNS:
        out = pattern.sub(lambda m: m.group(1) + MASK + (m.group(2) if m.lastindex and m.lastindex > 1 else ""), out)
    return out
