"""JSON logs: one object per line, the request id, and card numbers masked."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from payhub.core.clock import FrozenClock, use_clock
from payhub.core.logging import JsonFormatter, configure_logging, request_id_var


def luhn_valid(digits: str) -> bool:
    """An independent Luhn check, so the tests do not trust the code under test."""
    total = 0
    for position, ch in enumerate(reversed(digits)):
        d = int(ch)
        if position % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def with_check_digit(body: str) -> str:
    for digit in "0123456789":
        if luhn_valid(body + digit):
            return body + digit
    raise AssertionError("unreachable")


VISA = "4111111111111111"
UNIONPAY_19 = with_check_digit("622202123456789012")  # a 19-digit UnionPay-style number
AMEX_15 = with_check_digit("37828224631000")
ORDER_NUMBER = "2026112500001235"  # 16 digits, but not a card number

assert luhn_valid(VISA)
assert len(UNIONPAY_19) == 19
assert not luhn_valid(ORDER_NUMBER)


class Capture:
    def __init__(self) -> None:
        self.stream = io.StringIO()
        self.logger = logging.getLogger("payhub.tests.logging")
        self.handler = logging.StreamHandler(self.stream)
        self.handler.setFormatter(JsonFormatter())

    def lines(self) -> list[str]:
        return self.stream.getvalue().splitlines()

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines()]


@pytest.fixture
def capture() -> Iterator[Capture]:
    cap = Capture()
    cap.logger.addHandler(cap.handler)
    cap.logger.setLevel(logging.DEBUG)
    cap.logger.propagate = False
    try:
        yield cap
    finally:
        cap.logger.removeHandler(cap.handler)
        cap.logger.propagate = True


def test_one_json_object_per_line(capture: Capture) -> None:
    with use_clock(FrozenClock(datetime(2026, 11, 25, 8, 30, 0, 250000, tzinfo=UTC))):
        capture.logger.info("payment %s captured", "pay_1")
        capture.logger.warning("second\nline")
    lines = capture.lines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first == {
        "ts": "2026-11-25T08:30:00.250000Z",
        "level": "info",
        "logger": "payhub.tests.logging",
        "msg": "payment pay_1 captured",
    }
    assert second["level"] == "warning"
    assert second["msg"] == "second\nline"


def test_ts_is_utc_with_z(capture: Capture) -> None:
    capture.logger.error("now")
    (entry,) = capture.records()
    assert entry["ts"].endswith("Z")
    logged = datetime.fromisoformat(entry["ts"][:-1]).replace(tzinfo=UTC)
    assert abs((datetime.now(UTC) - logged).total_seconds()) < 60
    assert entry["level"] == "error"


def test_request_id_is_included_when_set(capture: Capture) -> None:
    capture.logger.info("before")
    token = request_id_var.set("req_01JD8Z3V6W7X8Y9Z0A1B2C3D4E")
    try:
        capture.logger.info("during")
    finally:
        request_id_var.reset(token)
    capture.logger.info("after")
    before, during, after = capture.records()
    assert "request_id" not in before
    assert during["request_id"] == "req_01JD8Z3V6W7X8Y9Z0A1B2C3D4E"
    assert "request_id" not in after


def test_extra_fields_are_included(capture: Capture) -> None:
    capture.logger.info("request", extra={"method": "GET", "status": 200, "duration_ms": 1.5})
    (entry,) = capture.records()
    assert entry["method"] == "GET"
    assert entry["status"] == 200
    assert entry["duration_ms"] == 1.5
    # Standard LogRecord attributes are not dumped.
    assert "lineno" not in entry
    assert "args" not in entry


def test_exceptions_are_included(capture: Capture) -> None:
    try:
        raise ValueError("broken")
    except ValueError:
        capture.logger.exception("job failed")
    (entry,) = capture.records()
    assert entry["msg"] == "job failed"
    assert "ValueError: broken" in entry["exc"]
    assert "Traceback" in entry["exc"]


def test_chinese_text_is_kept_readable(capture: Capture) -> None:
    capture.logger.info("余额不足")
    assert "余额不足" in capture.lines()[0]
    assert capture.records()[0]["msg"] == "余额不足"


@pytest.mark.parametrize(
    ("written", "masked"),
    [
        (VISA, "411111******1111"),
        ("4111 1111 1111 1111", "411111******1111"),
        ("4111-1111-1111-1111", "411111******1111"),
        (UNIONPAY_19, UNIONPAY_19[:6] + "*********" + UNIONPAY_19[-4:]),
        (AMEX_15, AMEX_15[:6] + "*****" + AMEX_15[-4:]),
    ],
)
def test_card_numbers_are_masked(capture: Capture, written: str, masked: str) -> None:
    capture.logger.info("card %s declined", written)
    line = capture.lines()[0]
    entry = json.loads(line)
    assert entry["msg"] == f"card {masked} declined"
    digits = written.replace(" ", "").replace("-", "")
    assert digits not in line
    assert digits[6:-4] not in line


def test_card_numbers_in_extra_fields_and_exceptions_are_masked(capture: Capture) -> None:
    try:
        raise RuntimeError(f"gateway refused {UNIONPAY_19}")
    except RuntimeError:
        capture.logger.exception("charge failed", extra={"pan": VISA})
    line = capture.lines()[0]
    entry = json.loads(line)
    assert entry["pan"] == "[redacted]"  # named like a card number: never written at all
    assert f"gateway refused {UNIONPAY_19[:6]}*********{UNIONPAY_19[-4:]}" in entry["exc"]
    assert VISA not in line
    assert UNIONPAY_19 not in line


@pytest.mark.parametrize(
    "text",
    [
        "order 2026-1125-0000-1235 shipped",  # grouped digits that are not a card
        "call 13800138000",  # 11 digits: too short for an account number
        "amount 1999 CNY at 2026-11-25T08:30:00Z",
        "payment pay_01M97DC3WE0MD7H9ACKEA220F5 and card token card_01M97DC3WE0MD7H9ACKE",
    ],
)
def test_other_digit_runs_are_left_alone(capture: Capture, text: str) -> None:
    capture.logger.info("ref %s", text)
    assert capture.records()[0]["msg"] == f"ref {text}"


@pytest.mark.parametrize(
    ("written", "shown"),
    [
        (ORDER_NUMBER, "************1235"),  # account-like: masked, whatever it is
        ("123456789012", "********9012"),  # 12 digits: the shortest account number
        ("6222021234567890123456", "******************3456"),  # a 22-digit account
        ("41111111111111111111", "****************1111"),  # 20 digits: no card, an account
    ],
)
def test_long_digit_runs_such_as_account_numbers_keep_only_their_last_four(
    capture: Capture, written: str, shown: str
) -> None:
    capture.logger.info("paying out to %s", written)
    line = capture.lines()[0]
    assert written not in line and f"paying out to {shown}" in line


def test_identity_card_numbers_are_masked(capture: Capture) -> None:
    for number in ("11010519491231002X", "110105194912310025"):
        capture.logger.info("KYC %s", number)
    lines = capture.lines()
    assert "11010519491231002X" not in lines[0] and "**************002X" in lines[0]
    assert "110105194912310025" not in lines[1] and "0025" in lines[1]


@pytest.mark.parametrize(
    "written",
    ["cvv=123", "CVV2: 4567", '"cvc": "123"', "security code 987", "cvn 0123"],
)
def test_security_codes_next_to_their_name_are_masked(capture: Capture, written: str) -> None:
    capture.logger.info("confirm with %s", written)
    msg = capture.records()[0]["msg"]
    assert "***" in msg
    assert not any(code in msg for code in ("123", "4567", "987", "0123"))


def test_keys_secrets_and_bearer_tokens_are_masked(capture: Capture) -> None:
    capture.logger.info(
        "called with Authorization: Bearer abcDEF1234567890xyz, key sk_mer_Zx9ab_cdEFgh-ijk, "
        "webhook secret whsec_Q2w3e4r5t6y7u8i9, signing secret ssk_Pq8-rs7Tu6vw5Xy4"
    )
    msg = capture.records()[0]["msg"]
    for secret in (
        "abcDEF1234567890xyz",
        "Zx9ab_cdEFgh-ijk",
        "Q2w3e4r5t6y7u8i9",
        "Pq8-rs7Tu6vw5Xy4",
    ):
        assert secret not in msg
    assert "sk_mer_…" in msg and "whsec_…" in msg and "ssk_…" in msg and "Bearer …" in msg


def test_fields_named_like_secrets_are_redacted_whatever_they_hold(capture: Capture) -> None:
    capture.logger.info(
        "endpoint made",
        extra={
            "webhook_secret": "plain words",
            "request": {"headers": {"Authorization": "x"}, "card_number": "n/a", "amount": 5},
            "pin": 1234,
            "spin": 3,
            "token": "card_01M97DC3WE0MD7H9ACKE",
        },
    )
    entry = capture.records()[0]
    assert entry["webhook_secret"] == "[redacted]" and entry["pin"] == "[redacted]"
    assert entry["request"]["headers"]["Authorization"] == "[redacted]"
    assert entry["request"]["card_number"] == "[redacted]"
    assert entry["request"]["amount"] == 5 and entry["spin"] == 3
    assert entry["token"] == "card_01M97DC3WE0MD7H9ACKE"  # a vault token is no secret


@pytest.mark.parametrize(
    "template",
    ["card {} 12/30", "paid {} 35 CNY", "order 7 {}"],
)
def test_card_number_next_to_other_digits_is_masked(capture: Capture, template: str) -> None:
    capture.logger.info(template.format(VISA))
    assert VISA not in capture.lines()[0]


def test_configure_logging_writes_json_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    try:
        configure_logging("warning")
        assert root.level == logging.WARNING
        logging.getLogger("payhub.tests.configured").info("hidden")
        logging.getLogger("payhub.tests.configured").warning("shown %s", VISA)
        err = capsys.readouterr().err
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["msg"] == "shown 411111******1111"
    assert entry["level"] == "warning"
    assert entry["logger"] == "payhub.tests.configured"
