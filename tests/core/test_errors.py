"""The error catalogue and how an error is rendered."""

from __future__ import annotations

import json
import re
import string
from http import HTTPStatus

import pytest

from payhub.core.errors import CATALOGUE, ErrorType, PayHubError, language_from_header

CODES = sorted(CATALOGUE)


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_catalogue_is_keyed_by_code() -> None:
    assert len(CATALOGUE) >= 30
    for code, spec in CATALOGUE.items():
        assert spec.code == code
        assert re.fullmatch(r"[a-z][a-z0-9_]*", code), code


@pytest.mark.parametrize("code", CODES)
def test_every_entry_is_complete(code: str) -> None:
    spec = CATALOGUE[code]
    assert spec.message_en.strip()
    assert spec.message_zh.strip()
    # The Chinese message is really Chinese, the English one really English.
    assert re.search(r"[\u4e00-\u9fff]", spec.message_zh), spec.message_zh
    assert not re.search(r"[\u4e00-\u9fff]", spec.message_en), spec.message_en
    assert isinstance(spec.type, ErrorType)
    assert 400 <= spec.status <= 599
    assert HTTPStatus(spec.status).phrase  # a registered status, not just a number
    assert isinstance(spec.retryable, bool)
    # Both languages fill in the same fields.
    assert _fields(spec.message_en) == _fields(spec.message_zh)


@pytest.mark.parametrize(
    ("code", "status", "type_", "retryable"),
    [
        ("validation_error", 400, "invalid_request", False),
        ("api_key_missing", 401, "authentication", False),
        ("permission_denied", 403, "permission", False),
        ("account_not_found", 404, "invalid_request", False),
        ("journal_conflict", 409, "conflict", False),
        ("insufficient_funds", 402, "payment", False),
        ("concurrent_update", 409, "conflict", True),
        ("service_unavailable", 503, "api", True),
        ("internal_error", 500, "api", True),
        ("payload_too_large", 413, "invalid_request", False),
        ("invalid_file", 400, "invalid_request", False),
    ],
)
def test_published_codes_keep_their_meaning(
    code: str, status: int, type_: str, retryable: bool
) -> None:
    spec = CATALOGUE[code]
    assert (spec.status, spec.type.value, spec.retryable) == (status, type_, retryable)


def test_types_by_status() -> None:
    for spec in CATALOGUE.values():
        if spec.status == 401:
            assert spec.type is ErrorType.AUTHENTICATION
        if spec.status == 403:
            assert spec.type is ErrorType.PERMISSION
        if spec.status >= 500:
            assert spec.type is ErrorType.API
            assert spec.retryable


def test_error_renders_the_json_shape() -> None:
    error = PayHubError("insufficient_funds", param="postings[0]", account="merchant:m1:available")
    body = error.to_body(request_id="req_123")
    assert body == {
        "error": {
            "code": "insufficient_funds",
            "type": "payment",
            "message": "Account merchant:m1:available does not have enough funds: "
            "its debits may not exceed its credits.",
            "param": "postings[0]",
            "retryable": False,
            "request_id": "req_123",
        }
    }
    # It is JSON as it stands.
    assert json.loads(json.dumps(body)) == body
    assert error.code == "insufficient_funds"
    assert error.status == 402
    assert str(error) == "insufficient_funds: " + body["error"]["message"]


def test_error_renders_in_chinese() -> None:
    error = PayHubError("insufficient_funds", account="merchant:m1:available")
    body = error.to_body(request_id=None, language="zh")
    assert body["error"]["message"] == "账户 merchant:m1:available 余额不足:借方不得超过贷方。"
    assert body["error"]["param"] is None
    assert body["error"]["request_id"] is None
    assert body["error"]["code"] == "insufficient_funds"


def test_param_fills_the_param_field_of_the_message() -> None:
    error = PayHubError("invalid_id", param="starting_after")
    assert error.message() == "The value of starting_after is not a valid id."
    assert error.message("zh") == "starting_after 不是合法的标识。"


def test_missing_fields_stay_visible() -> None:
    error = PayHubError("journal_unbalanced")
    assert error.message() == (
        "Debits and credits differ in {currency}: a journal must balance in every currency."
    )


def test_unknown_code_raises_key_error() -> None:
    with pytest.raises(KeyError, match="not_a_code"):
        PayHubError("not_a_code")


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("zh-CN", "zh"),
        ("zh", "zh"),
        ("ZH-tw", "zh"),
        ("zh-Hans;q=0.9,en;q=0.8", "zh"),
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh"),
        ("en;q=0.5, zh-CN;q=0.8", "zh"),
        ("en-US,zh;q=0.1", "en"),
        ("en-US", "en"),
        ("fr-FR", "en"),
        ("en,zh", "en"),
        ("*", "en"),
        ("zh-CN;q=abc,en;q=0.5", "en"),
        ("", "en"),
        (None, "en"),
    ],
)
def test_language_from_header(header: str | None, language: str) -> None:
    assert language_from_header(header) == language


def test_language_q_zero_means_not_acceptable() -> None:
    assert language_from_header("zh;q=0") == "en"
