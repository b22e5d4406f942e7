"""A JSON request body, checked and parsed: `parse(request, Model)` -> the pydantic model, or the usual 422.

Before the model sees the body, two checks that the Edge Function makes too (supabase/functions/evaluate-prescription/
contract.ts), so both services give the same answer:
- nesting: at most MAX_JSON_DEPTH levels of objects and arrays (the body itself is level 1), checked on the raw
  bytes before any parser recurses (10,000 levels crashed the Edge Function's JSON.stringify);
- numbers: NaN, Infinity and numbers beyond a double's range (1e400, a 400-digit integer) are refused. JSON has no
  NaN or Infinity, and JavaScript reads 1e400 as Infinity, so what one service accepted the other could not.
Lone UTF-16 surrogates (`"\\ud800"`) are refused by the JSON parser itself (pydantic's, and the Edge Function's check).
Try it: .venv/bin/pytest tests/service/test_service_limits.py -k "depth or finite"
"""

from __future__ import annotations

import json
import math
import re
from typing import TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from amr_grpo.service.errors import ApiError

MAX_JSON_DEPTH = 64  # objects and arrays nested in one body; a request needs 4, a batch 6
M = TypeVar("M", bound=BaseModel)

_ESCAPES = re.compile(rb"\\\\|\\\"")  # an escaped backslash or quote inside a JSON string
_STRINGS = re.compile(rb'"[^"]*"')  # a JSON string, once its escaped quotes are gone
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_DOUBLE_DIGITS = 309  # 10**309 > the largest double (1.8e308): a longer integer cannot be one
_DIGITS_AS_0 = bytes.maketrans(b"123456789E", b"000000000e")  # every digit -> 0, E -> e; other bytes unchanged
_LONG_INT = b"0" * _DOUBLE_DIGITS


def too_deep(raw: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the JSON text nests objects/arrays deeper than `limit`. Linear, at C speed but for the final walk
    over the brackets: no regex here can backtrack (escapes go first, so a string is then `"[^"]*"`)."""
    if raw.count(b"[") + raw.count(b"{") <= limit:  # the common case: too few brackets to nest that deep
        return False
    structure = _STRINGS.sub(b"", _ESCAPES.sub(b"", raw)).translate(None, _NOT_BRACKETS)
    depth = 0
    for byte in structure:  # only the brackets outside strings are left
        depth += 1 if byte in b"[{" else -1
        if depth > limit:
            return True
    return False


class _NotFinite(ValueError):
    pass


def _no_constant(token: str) -> float:
    raise _NotFinite(token)


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _NotFinite(text)
    return value


def _double_int(text: str) -> int:
    if len(text.lstrip("-")) >= _DOUBLE_DIGITS and math.isinf(float(text)):  # float(str) gives inf, never raises
        raise _NotFinite(text)
    return int(text)


def _maybe_non_finite(raw: bytes) -> bool:
    """NaN / Infinity tokens, an exponent of 3+ digits, a 309+ digit integer: the only ways to write a number a JSON
    parser may turn into a non-finite double. Substring searches over the bytes with their digits all made 0 (about
    2 us for a typical request; a regex with the same alternatives took 40). Text in strings can match too: the
    exact check then decides."""
    if b"NaN" in raw or b"Infinity" in raw:
        return True
    shape = raw.translate(_DIGITS_AS_0)
    return b"e000" in shape or b"e+000" in shape or _LONG_INT in shape


def has_non_finite(raw: bytes) -> bool:
    """Whether the JSON text holds NaN, +-Infinity or a number beyond a double's range."""
    if not _maybe_non_finite(raw):
        return False
    try:
        json.loads(raw, parse_constant=_no_constant, parse_float=_finite_float, parse_int=_double_int)
    except _NotFinite:
        return True
    except ValueError:  # not JSON (or not UTF-8): the model's parser says so, as for any other body
        return False
    return False


def check_body(raw: bytes) -> None:
    """422 naming the body when it nests too deep or carries a number no JSON service can read the same way."""
    if too_deep(raw):
        raise ApiError(
            422,
            "validation_error",
            f"the request body nests objects and arrays deeper than {MAX_JSON_DEPTH} levels",
            field="body",
        )
    if has_non_finite(raw):
        raise ApiError(
            422,
            "validation_error",
            "the request body is not valid JSON (NaN, Infinity and numbers beyond about 1.8e308 are not JSON numbers "
            "every service can read)",
            field="body",
        )


async def parse(request: Request, model: type[M]) -> M:
    """The body as `model`: the checks above, then pydantic from the raw bytes in one pass; errors -> the usual 422."""
    raw = await request.body()
    check_body(raw)
    try:
        return model.model_validate_json(raw)
    except ValidationError as e:
        raise RequestValidationError([{**err, "loc": ("body", *err["loc"])} for err in e.errors()]) from None
