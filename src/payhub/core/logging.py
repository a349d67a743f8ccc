"""Structured JSON logs, one object per line, with the request id of the current request.

The formatter itself scrubs what must never be written, so a careless log line cannot leak
it (`scrub`): card numbers (13–19 digits passing the Luhn check: first six and last four
kept), other long digit runs such as bank-account numbers (12–30 digits: last four kept),
resident identity card numbers, security codes written next to their name, API keys,
webhook secrets and bearer tokens, and any field whose name says it holds a secret.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from contextvars import ContextVar
from typing import Any

from stdnum import luhn

from payhub.core import clock

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

# Runs of digit groups joined by single spaces or dashes: "4111 1111 1111 1111 12/30".
_DIGIT_RUN = re.compile(r"\d+(?:[ -]\d+)*")
_GROUP = re.compile(r"\d+")
_RESERVED = set(vars(logging.makeLogRecord({}))) | {"color_message"}


def mask_card_numbers(text: str) -> str:
    """Mask every card number in `text`: any 13-19 digits spanning whole digit groups of a
    run that pass the Luhn check keep their first six and last four digits only. Looking
    at every span of groups, not just the whole run, catches a card written next to other
    numbers ("4111111111111111 12/30"); masking an order number by accident is the price."""
    out: list[str] = []
    last = 0
    for run in _DIGIT_RUN.finditer(text):
        groups = [
            (m.start() + run.start(), m.end() + run.start()) for m in _GROUP.finditer(run.group())
        ]
        masked_upto = -1
        for i, (start, _) in enumerate(groups):
            if start < masked_upto:
                continue
            for j in range(len(groups) - 1, i - 1, -1):
                end = groups[j][1]
                digits = "".join(text[a:b] for a, b in groups[i : j + 1])
                if 13 <= len(digits) <= 19 and luhn.is_valid(digits):
                    out.append(text[last:start])
                    out.append(digits[:6] + "*" * (len(digits) - 10) + digits[-4:])
                    last = masked_upto = end
                    break
    out.append(text[last:])
    return "".join(out)


# Account-like numbers: a run of 12-30 digits standing alone (cards are masked first, so
# what is left of them holds asterisks and no longer matches).
_LONG_DIGITS = re.compile(r"(?<![\d*])\d{12,30}(?![\d*])")
# A resident identity card number ending in the check character X (all-digit ones are
# long digit runs already).
_ID_CARD_X = re.compile(r"(?<![\dA-Za-z])\d{17}[Xx](?![\dA-Za-z])")
# A security code written after its name: "cvv=123", "CVV2: 4567", "\"cvc\": \"123\"".
_SECURITY_CODE = re.compile(r"(?i)(\b(?:cvv2?|cvc2?|cvn|security[ _-]?code)\b\W{1,8})\d{3,4}(?!\d)")
_SECRETS = re.compile(r"\b(sk_op_|sk_mer_|whsec_|ssk_)[A-Za-z0-9_-]{8,}")
_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{8,}")
# Fields that hold secrets by name, whatever their value looks like: a name made of these
# words ("webhook_secret", "cvv") or holding one of the phrases ("card_number").
_SECRET_WORDS = frozenset(
    {"password", "passwd", "secret", "authorization", "pepper", "cvv", "cvc", "cvn", "pin", "pan"}
)
_SECRET_PHRASES = ("api_key", "master_key", "security_code", "card_number", "account_number",
                   "id_number", "access_token", "refresh_token")  # fmt: skip
REDACTED = "[redacted]"


def _keep_last_four(match: re.Match[str]) -> str:
    digits = match.group(0)
    return "*" * (len(digits) - 4) + digits[-4:]


def scrub(text: str) -> str:
    """`text` with every pattern above masked."""
    text = mask_card_numbers(text)
    text = _ID_CARD_X.sub(lambda m: "*" * 14 + m.group(0)[-4:], text)
    text = _LONG_DIGITS.sub(_keep_last_four, text)
    text = _SECURITY_CODE.sub(lambda m: m.group(1) + "***", text)
    text = _SECRETS.sub(lambda m: m.group(1) + "…", text)
    return _BEARER.sub(lambda m: m.group(1) + "…", text)


def _names_a_secret(name: str) -> bool:
    lowered = name.lower().replace("-", "_")
    if any(phrase in lowered for phrase in _SECRET_PHRASES):
        return True
    return any(word in _SECRET_WORDS for word in lowered.split("_"))


def scrub_fields(value: Any, name: str = "") -> Any:
    """A structured value with every field named like a secret replaced."""
    if name and _names_a_secret(name):
        return REDACTED
    if isinstance(value, dict):
        return {k: scrub_fields(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub_fields(v) for v in value]
    return value


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": clock.to_rfc3339(clock.now()),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = scrub_fields(value, key)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return scrub(json.dumps(entry, default=str, ensure_ascii=False))


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's own access log would duplicate ours, and in plain text.
    logging.getLogger("uvicorn.access").handlers[:] = []
    logging.getLogger("uvicorn.access").propagate = False
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
