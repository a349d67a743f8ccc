"""Structured JSON logs, one object per line, with the request id of the current request.

Card numbers (13-19 digit runs that pass the Luhn check) are masked by the formatter
itself, so a careless log line cannot leak one.
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
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return mask_card_numbers(json.dumps(entry, default=str, ensure_ascii=False))


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
