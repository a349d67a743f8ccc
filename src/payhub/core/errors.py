"""The error catalogue: every failure PayHub reports has a stable code listed here.

A code never changes meaning once published. Each entry carries the HTTP status, the
error type, whether retrying the same request may succeed, and messages in English and
Chinese. Messages are templates; their fields never hold card data or secrets.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class ErrorType(StrEnum):
    INVALID_REQUEST = "invalid_request"
    AUTHENTICATION = "authentication"
    PERMISSION = "permission"
    PAYMENT = "payment"
    CONFLICT = "conflict"
    RATE_LIMIT = "rate_limit"
    API = "api"


@dataclass(frozen=True, slots=True)
class ErrorSpec:
    code: str
    status: int
    type: ErrorType
    retryable: bool
    message_en: str
    message_zh: str


_T = ErrorType
_SPECS: tuple[ErrorSpec, ...] = (
    # Request shape
    ErrorSpec(
        "validation_error",
        400,
        _T.INVALID_REQUEST,
        False,
        "The request is invalid: {detail}",
        "请求参数无效:{detail}",
    ),
    ErrorSpec(
        "malformed_json",
        400,
        _T.INVALID_REQUEST,
        False,
        "The request body is not valid JSON.",
        "请求体不是合法的 JSON。",
    ),
    ErrorSpec(
        "invalid_id",
        400,
        _T.INVALID_REQUEST,
        False,
        "The value of {param} is not a valid id.",
        "{param} 不是合法的标识。",
    ),
    ErrorSpec(
        "payload_too_large",
        413,
        _T.INVALID_REQUEST,
        False,
        "The request body is larger than {limit} bytes.",
        "请求体超过 {limit} 字节。",
    ),
    ErrorSpec(
        "route_not_found",
        404,
        _T.INVALID_REQUEST,
        False,
        "No route matches {method} {path}.",
        "没有与 {method} {path} 匹配的接口。",
    ),
    ErrorSpec(
        "method_not_allowed",
        405,
        _T.INVALID_REQUEST,
        False,
        "{method} is not allowed on {path}.",
        "{path} 不支持 {method} 方法。",
    ),
    ErrorSpec(
        "batch_too_large",
        400,
        _T.INVALID_REQUEST,
        False,
        "A batch holds at most {limit} items.",
        "单个批次最多包含 {limit} 条。",
    ),
    # Money
    ErrorSpec(
        "amount_invalid",
        400,
        _T.INVALID_REQUEST,
        False,
        "Amounts are positive integers in minor units.",
        "金额必须是以最小货币单位表示的正整数。",
    ),
    ErrorSpec(
        "amount_too_large",
        400,
        _T.INVALID_REQUEST,
        False,
        "The amount exceeds the largest amount PayHub can hold (2^63-1 minor units).",
        "金额超过系统可表示的上限(2^63-1 个最小货币单位)。",
    ),
    ErrorSpec(
        "currency_invalid",
        400,
        _T.INVALID_REQUEST,
        False,
        "{currency} is not an ISO 4217 currency that carries money.",
        "{currency} 不是可用于资金的 ISO 4217 币种。",
    ),
    ErrorSpec(
        "currency_mismatch",
        400,
        _T.INVALID_REQUEST,
        False,
        "The currencies do not match: {detail}",
        "币种不一致:{detail}",
    ),
    # Authentication and permission
    ErrorSpec(
        "api_key_missing",
        401,
        _T.AUTHENTICATION,
        False,
        "No API key was given. Send 'Authorization: Bearer <key>'.",
        "未提供 API 密钥,请发送 'Authorization: Bearer <密钥>'。",
    ),
    ErrorSpec(
        "api_key_invalid",
        401,
        _T.AUTHENTICATION,
        False,
        "The API key is unknown, expired or revoked.",
        "API 密钥无效、已过期或已吊销。",
    ),
    ErrorSpec(
        "signature_missing",
        401,
        _T.AUTHENTICATION,
        False,
        "This API key signs its requests: send PayHub-Timestamp, PayHub-Nonce and PayHub-Signature.",
        "该 API 密钥须签名请求:请发送 PayHub-Timestamp、PayHub-Nonce 与 PayHub-Signature。",
    ),
    ErrorSpec(
        "signature_timestamp_skewed",
        401,
        _T.AUTHENTICATION,
        False,
        "PayHub-Timestamp must be Unix seconds within 5 minutes of the server's clock.",
        "PayHub-Timestamp 须为 Unix 秒数,且与服务器时间相差不超过 5 分钟。",
    ),
    ErrorSpec(
        "signature_nonce_reused",
        401,
        _T.AUTHENTICATION,
        False,
        "This nonce was already used with this key: a replayed request is refused.",
        "该随机数已被此密钥使用过:重放的请求被拒绝。",
    ),
    ErrorSpec(
        "signature_invalid",
        401,
        _T.AUTHENTICATION,
        False,
        "The signature does not match the request (method, path, timestamp, nonce and body).",
        "签名与请求(方法、路径、时间戳、随机数与请求体)不符。",
    ),
    ErrorSpec(
        "rate_limited",
        429,
        _T.RATE_LIMIT,
        True,
        "Too many {bucket} requests for this API key: retry after {retry_after} s.",
        "该 API 密钥的{bucket}请求过多:请在 {retry_after} 秒后重试。",
    ),
    ErrorSpec(
        "permission_denied",
        403,
        _T.PERMISSION,
        False,
        "This API key may not do this; it needs the {scope} scope.",
        "该 API 密钥无权执行此操作,需要 {scope} 权限。",
    ),
    # Idempotency
    ErrorSpec(
        "idempotency_key_invalid",
        400,
        _T.INVALID_REQUEST,
        False,
        "Idempotency keys are 1 to 255 printable ASCII characters.",
        "幂等键必须是 1 到 255 个可打印 ASCII 字符。",
    ),
    ErrorSpec(
        "idempotency_key_reused",
        409,
        _T.CONFLICT,
        False,
        "This idempotency key was already used with a different request.",
        "该幂等键已用于另一个不同的请求。",
    ),
    ErrorSpec(
        "idempotency_key_in_use",
        409,
        _T.CONFLICT,
        True,
        "A request with this idempotency key is still being processed; retry shortly.",
        "使用该幂等键的请求仍在处理中,请稍后重试。",
    ),
    # Ledger
    ErrorSpec(
        "account_not_found",
        404,
        _T.INVALID_REQUEST,
        False,
        "No such ledger account: {account}.",
        "账户不存在:{account}。",
    ),
    ErrorSpec(
        "account_code_taken",
        409,
        _T.CONFLICT,
        False,
        "A ledger account {account} in {currency} already exists.",
        "币种为 {currency} 的账户 {account} 已存在。",
    ),
    ErrorSpec(
        "account_code_invalid",
        400,
        _T.INVALID_REQUEST,
        False,
        "Account codes are segments of letters, digits, '_' or '-' joined by ':'.",
        "账户代码由字母、数字、'_' 或 '-' 组成的段以 ':' 连接。",
    ),
    ErrorSpec(
        "account_flags_invalid",
        400,
        _T.INVALID_REQUEST,
        False,
        "These account flags cannot be combined: {detail}",
        "账户标志不能这样组合:{detail}",
    ),
    ErrorSpec(
        "journal_not_found",
        404,
        _T.INVALID_REQUEST,
        False,
        "No such journal: {journal}.",
        "分录不存在:{journal}。",
    ),
    ErrorSpec(
        "journal_unbalanced",
        400,
        _T.INVALID_REQUEST,
        False,
        "Debits and credits differ in {currency}: a journal must balance in every currency.",
        "{currency} 的借方与贷方不相等:分录在每个币种上都必须平衡。",
    ),
    ErrorSpec(
        "journal_too_few_postings",
        400,
        _T.INVALID_REQUEST,
        False,
        "A journal needs at least two postings.",
        "一笔分录至少需要两条记账行。",
    ),
    ErrorSpec(
        "journal_conflict",
        409,
        _T.CONFLICT,
        False,
        "Journal {journal} already exists with different content.",
        "分录 {journal} 已存在且内容不同。",
    ),
    ErrorSpec(
        "journal_already_reversed",
        409,
        _T.CONFLICT,
        False,
        "Journal {journal} has already been reversed.",
        "分录 {journal} 已被冲正。",
    ),
    ErrorSpec(
        "journal_not_reversible",
        409,
        _T.CONFLICT,
        False,
        "Journal {journal} cannot be reversed: {detail}",
        "分录 {journal} 不能冲正:{detail}",
    ),
    ErrorSpec(
        "linked_journal_failed",
        409,
        _T.CONFLICT,
        False,
        "A journal linked with this one was rejected, so this one was not posted.",
        "与本分录关联的分录被拒绝,本分录未记账。",
    ),
    ErrorSpec(
        "insufficient_funds",
        402,
        _T.PAYMENT,
        False,
        "Account {account} does not have enough funds: its debits may not exceed its credits.",
        "账户 {account} 余额不足:借方不得超过贷方。",
    ),
    ErrorSpec(
        "exceeds_debits",
        402,
        _T.PAYMENT,
        False,
        "Account {account} may not be credited beyond its debits.",
        "账户 {account} 的贷方不得超过借方。",
    ),
    ErrorSpec(
        "hold_not_found",
        404,
        _T.INVALID_REQUEST,
        False,
        "No such hold: {hold}.",
        "预授权冻结不存在:{hold}。",
    ),
    ErrorSpec(
        "hold_already_resolved",
        409,
        _T.CONFLICT,
        False,
        "Hold {hold} is already {status}.",
        "冻结 {hold} 已处于 {status} 状态。",
    ),
    ErrorSpec(
        "hold_expired",
        409,
        _T.CONFLICT,
        False,
        "Hold {hold} expired at {expires_at}.",
        "冻结 {hold} 已于 {expires_at} 过期。",
    ),
    ErrorSpec(
        "hold_post_exceeds_pending",
        400,
        _T.INVALID_REQUEST,
        False,
        "Posting {account} exceeds what hold {hold} reserved for it.",
        "对账户 {account} 的入账超过冻结 {hold} 预留的金额。",
    ),
    # Parties
    ErrorSpec(
        "merchant_not_found",
        404,
        _T.INVALID_REQUEST,
        False,
        "No such merchant: {merchant}.",
        "商户不存在:{merchant}。",
    ),
    ErrorSpec(
        "merchant_suspended",
        403,
        _T.PERMISSION,
        False,
        "Merchant {merchant} is suspended.",
        "商户 {merchant} 已被暂停。",
    ),
    ErrorSpec(
        "customer_not_found",
        404,
        _T.INVALID_REQUEST,
        False,
        "No such customer: {customer}.",
        "客户不存在:{customer}。",
    ),
    ErrorSpec(
        "api_key_not_found",
        404,
        _T.INVALID_REQUEST,
        False,
        "No such API key: {key}.",
        "API 密钥不存在:{key}。",
    ),
    # Vault: cards and bank accounts. No message ever carries a card or account number, or
    # any part of one.
    ErrorSpec(
        "card_number_invalid",
        400,
        _T.INVALID_REQUEST,
        False,
        "The card number is not valid: check its digits.",
        "银行卡号无效,请核对卡号。",
    ),
    ErrorSpec(
        "card_bin_unknown",
        400,
        _T.INVALID_REQUEST,
        False,
        "Cards from this issuer are not supported.",
        "不支持该发卡行的银行卡。",
    ),
    ErrorSpec(
        "card_expired",
        402,
        _T.PAYMENT,
        False,
        "The card has expired.",
        "银行卡已过有效期。",
    ),
    ErrorSpec(
        "card_expiry_invalid",
        400,
        _T.INVALID_REQUEST,
        False,
        "The card's expiry date is not valid: the month is 1 to 12 and the year has four digits.",
        "银行卡有效期无效:月份应为 1 到 12,年份应为四位数字。",
    ),
    ErrorSpec(
        "payment_method_not_found",
        404,
        _T.INVALID_REQUEST,
        False,
        "No such payment method.",
        "支付方式不存在。",
    ),
    ErrorSpec(
        "bank_account_invalid",
        400,
        _T.INVALID_REQUEST,
        False,
        "The bank account is not valid: check {param}.",
        "银行账户无效,请检查 {param}。",
    ),
    # Vault: data keys and the master key. Messages name versions and settings, never key
    # material.
    ErrorSpec(
        "data_key_not_found",
        404,
        _T.INVALID_REQUEST,
        False,
        "No vault data key has version {version}.",
        "不存在版本号为 {version} 的数据密钥。",
    ),
    ErrorSpec(
        "data_key_in_use",
        409,
        _T.CONFLICT,
        False,
        "Data key version {version} still encrypts {count} stored numbers: re-encrypt them under the active key first.",
        "数据密钥版本 {version} 仍加密着 {count} 条存储的号码,请先将其重新加密到当前密钥。",
    ),
    ErrorSpec(
        "data_key_unexpected_state",
        409,
        _T.CONFLICT,
        False,
        "Data key version {version} is {state}; it cannot be {action}.",
        "数据密钥版本 {version} 当前状态为 {state},无法{action}。",
    ),
    ErrorSpec(
        "vault_master_key_unavailable",
        503,
        _T.API,
        True,
        "The card vault's master key is unavailable: {reason}.",
        "银行卡保险库的主密钥不可用:{reason}。",
    ),
    # Events and webhooks
    ErrorSpec(
        "event_not_found",
        404,
        _T.INVALID_REQUEST,
        False,
        "No such event: {event}.",
        "事件不存在:{event}。",
    ),
    ErrorSpec(
        "webhook_endpoint_not_found",
        404,
        _T.INVALID_REQUEST,
        False,
        "No such webhook endpoint: {endpoint}.",
        "Webhook 端点不存在:{endpoint}。",
    ),
    # Audit
    ErrorSpec(
        "audit_event_not_found",
        404,
        _T.INVALID_REQUEST,
        False,
        "No such audit event: {event}.",
        "审计事件不存在:{event}。",
    ),
    # Payments
    ErrorSpec(
        "payment_not_found",
        404,
        _T.INVALID_REQUEST,
        False,
        "No such payment: {payment}.",
        "支付不存在:{payment}。",
    ),
    ErrorSpec(
        "refund_not_found",
        404,
        _T.INVALID_REQUEST,
        False,
        "No such refund: {refund}.",
        "退款不存在:{refund}。",
    ),
    ErrorSpec(
        "amount_over_limit",
        400,
        _T.INVALID_REQUEST,
        False,
        "The amount is over the merchant's limit ({limit}).",
        "金额超过商户限额({limit})。",
    ),
    ErrorSpec(
        "payment_unexpected_state",
        409,
        _T.CONFLICT,
        False,
        "The payment is {status}; it cannot be {action}.",
        "支付当前状态为 {status},无法{action}。",
    ),
    ErrorSpec(
        "capture_exceeds_authorized",
        400,
        _T.INVALID_REQUEST,
        False,
        "The capture is more than the {capturable} still capturable.",
        "扣款金额超过剩余可扣款金额 {capturable}。",
    ),
    ErrorSpec(
        "refund_exceeds_captured",
        400,
        _T.INVALID_REQUEST,
        False,
        "The refund is more than the {refundable} still refundable.",
        "退款金额超过剩余可退金额 {refundable}。",
    ),
    ErrorSpec(
        "payment_operation_in_progress",
        409,
        _T.CONFLICT,
        True,
        "The payment is waiting for a bank channel's answer to an earlier {operation}; retry when it is settled.",
        "该支付正在等待银行渠道对先前{operation}请求的应答,请在结果确定后重试。",
    ),
    ErrorSpec(
        "routing_rules_not_found",
        404,
        _T.INVALID_REQUEST,
        False,
        "No routing rule set has version {version}.",
        "不存在版本号为 {version} 的路由规则。",
    ),
    # Fees
    ErrorSpec(
        "fee_plan_not_found",
        404,
        _T.INVALID_REQUEST,
        False,
        "No such fee plan: {plan}.",
        "费率方案不存在:{plan}。",
    ),
    ErrorSpec(
        "channel_not_found",
        404,
        _T.INVALID_REQUEST,
        False,
        "No card channel has the id {channel}.",
        "不存在标识为 {channel} 的银行卡渠道。",
    ),
    ErrorSpec(
        "fee_version_out_of_order",
        409,
        _T.CONFLICT,
        False,
        "A new version must take effect no earlier than now and than version {version} ({effective_from}).",
        "新版本的生效时间不得早于当前时间,也不得早于版本 {version}({effective_from})。",
    ),
    # Sanctions screening
    ErrorSpec(
        "sanctions_list_invalid",
        400,
        _T.INVALID_REQUEST,
        False,
        "The watch list cannot be loaded: {detail}. Nothing was changed.",
        "名单无法加载:{detail}。未做任何更改。",
    ),
    ErrorSpec(
        "sanctions_hit_not_found",
        404,
        _T.INVALID_REQUEST,
        False,
        "No such sanctions hit: {hit}.",
        "制裁名单命中记录不存在:{hit}。",
    ),
    ErrorSpec(
        "sanctions_hit_decided",
        409,
        _T.CONFLICT,
        False,
        "Sanctions hit {hit} has already been decided ({status}).",
        "制裁名单命中记录 {hit} 已处理({status})。",
    ),
    # Platform
    ErrorSpec(
        "concurrent_update",
        409,
        _T.CONFLICT,
        True,
        "The request collided with a concurrent update; retry it.",
        "请求与并发更新冲突,请重试。",
    ),
    ErrorSpec(
        "service_unavailable",
        503,
        _T.API,
        True,
        "PayHub cannot reach its database right now; retry shortly.",
        "系统暂时无法访问数据库,请稍后重试。",
    ),
    ErrorSpec(
        "internal_error",
        500,
        _T.API,
        True,
        "Something went wrong on our side; it has been logged.",
        "系统内部错误,已记录。",
    ),
    # Bank channels: card-network response codes map into these (payhub.channels.base); the
    # raw code stays on the attempt record.
    ErrorSpec(
        "card_declined",
        402,
        _T.PAYMENT,
        False,
        "The card was declined by its issuer.",
        "银行卡被发卡行拒绝。",
    ),
    ErrorSpec(
        "card_lost_or_stolen",
        402,
        _T.PAYMENT,
        False,
        "The card was declined: its issuer reports it lost or stolen.",
        "银行卡被拒绝:发卡行报告该卡已挂失或被盗。",
    ),
    ErrorSpec(
        "risk_declined",
        402,
        _T.PAYMENT,
        False,
        "The payment was declined by PayHub's risk checks.",
        "该支付未通过风险检查,已被拒绝。",
    ),
    ErrorSpec(
        "risk_rules_not_found",
        404,
        _T.INVALID_REQUEST,
        False,
        "No risk rule set has version {version}.",
        "不存在版本号为 {version} 的风险规则。",
    ),
    ErrorSpec(
        "risk_alert_not_found",
        404,
        _T.INVALID_REQUEST,
        False,
        "No such alert: {alert}",
        "预警不存在:{alert}",
    ),
    ErrorSpec(
        "risk_alert_taken",
        409,
        _T.CONFLICT,
        False,
        "Alert {alert} is already part of a case.",
        "预警 {alert} 已归入某个案件。",
    ),
    ErrorSpec(
        "risk_case_not_found",
        404,
        _T.INVALID_REQUEST,
        False,
        "No such case: {case}",
        "案件不存在:{case}",
    ),
    ErrorSpec(
        "risk_case_state",
        409,
        _T.CONFLICT,
        False,
        "Case {case} is {status}: it cannot be {action}.",
        "案件 {case} 当前为 {status},不能执行该操作({action})。",
    ),
    ErrorSpec(
        "risk_transaction_not_found",
        404,
        _T.INVALID_REQUEST,
        False,
        "No payment or refund has the id {transaction}.",
        "不存在标识为 {transaction} 的支付或退款。",
    ),
    ErrorSpec(
        "risk_report_not_found",
        404,
        _T.INVALID_REQUEST,
        False,
        "No such report: {report}",
        "报告不存在:{report}",
    ),
    ErrorSpec(
        "risk_report_filed",
        409,
        _T.CONFLICT,
        False,
        "Report {report} is already filed; a filed report does not change.",
        "报告 {report} 已报送,报送后不可更改。",
    ),
    ErrorSpec(
        "risk_report_day_not_over",
        409,
        _T.CONFLICT,
        True,
        "The day {day} is not over yet in China Standard Time; its report can be made from midnight Beijing time.",
        "{day} 在北京时间尚未结束,北京时间零点后方可生成该日报告。",
    ),
    # Reconciliation
    ErrorSpec(
        "reconciliation_channel_unknown",
        400,
        _T.INVALID_REQUEST,
        False,
        "No channel {channel} is configured; a statement can only be reconciled for a known channel.",
        "未配置渠道 {channel},只能对已知渠道的对账单进行对账。",
    ),
    ErrorSpec(
        "statement_malformed",
        400,
        _T.INVALID_REQUEST,
        False,
        "The statement is malformed at line {line}: {detail}",
        "对账单第 {line} 行格式错误:{detail}",
    ),
    ErrorSpec(
        "reconciliation_run_exists",
        409,
        _T.CONFLICT,
        False,
        "Channel {channel} was already reconciled for {date} (run {run}) from a different statement.",
        "渠道 {channel} 在 {date} 已依据另一份对账单完成对账(批次 {run})。",
    ),
    ErrorSpec(
        "reconciliation_run_not_found",
        404,
        _T.INVALID_REQUEST,
        False,
        "No such reconciliation run: {run}",
        "对账批次不存在:{run}",
    ),
    ErrorSpec(
        "reconciliation_break_not_found",
        404,
        _T.INVALID_REQUEST,
        False,
        "No such reconciliation break: {id}",
        "对账差错不存在:{id}",
    ),
    ErrorSpec(
        "reconciliation_break_resolved",
        409,
        _T.CONFLICT,
        False,
        "Break {id} is already resolved ({resolution}); a resolved break does not change.",
        "对账差错 {id} 已处理({resolution}),处理后不可更改。",
    ),
    ErrorSpec(
        "reconciliation_no_journal",
        409,
        _T.CONFLICT,
        False,
        "Break {id} has no correcting journal to post ({type}); resolve it with mark_explained.",
        "对账差错 {id}({type})没有可过账的调整分录,请以 mark_explained 处理。",
    ),
    ErrorSpec(
        "card_not_permitted",
        402,
        _T.PAYMENT,
        False,
        "The card's issuer does not permit this transaction on this card.",
        "发卡行不允许该卡进行此类交易。",
    ),
    ErrorSpec(
        "issuer_unavailable",
        402,
        _T.PAYMENT,
        True,
        "The card's issuer could not be reached; the payment may succeed later or through another channel.",
        "暂时无法连接发卡行,稍后重试或通过其他渠道可能成功。",
    ),
    ErrorSpec(
        "channel_error",
        502,
        _T.API,
        True,
        "The bank channel reported an error; the payment was not completed.",
        "银行渠道返回错误,支付未完成。",
    ),
    ErrorSpec(
        "channel_timeout",
        504,
        _T.API,
        True,
        "The bank channel did not answer in time; the outcome is being checked.",
        "银行渠道未及时响应,正在核实交易结果。",
    ),
    # Bank files (ISO 20022)
    ErrorSpec(
        "invalid_file",
        400,
        _T.INVALID_REQUEST,
        False,
        "The file is not a valid {message} file: {problem}",
        "文件不是有效的 {message} 文件:{problem}",
    ),
    # Settlement and merchant balances
    ErrorSpec(
        "settlement_setting_invalid",
        400,
        _T.INVALID_REQUEST,
        False,
        "The settlement setting {param} is invalid: {detail}",
        "结算设置 {param} 无效:{detail}",
    ),
    ErrorSpec(
        "calendar_unknown",
        400,
        _T.INVALID_REQUEST,
        False,
        "There is no business-day calendar for {country}.",
        "没有 {country} 的工作日日历。",
    ),
    ErrorSpec(
        "calendar_year_unknown",
        503,
        _T.API,
        True,
        "The {country} business-day calendar does not hold {year}: its holidays must be "
        "added to the calendar file before a day of {year} can be settled.",
        "{country} 工作日日历中没有 {year} 年的节假日安排:须先在日历文件中补充该年,"
        "才能结算 {year} 年的日期。",
    ),
    ErrorSpec(
        "settlement_not_found",
        404,
        _T.INVALID_REQUEST,
        False,
        "No such settlement: {settlement}.",
        "结算记录不存在:{settlement}。",
    ),
    # Payouts and split payouts
    ErrorSpec(
        "payee_not_found",
        404,
        _T.INVALID_REQUEST,
        False,
        "No such payee: {payee}.",
        "收款方不存在:{payee}。",
    ),
    ErrorSpec(
        "payee_exists",
        409,
        _T.CONFLICT,
        False,
        "This bank account is already a payee of the merchant: {payee}.",
        "该银行账户已是商户的收款方:{payee}。",
    ),
    ErrorSpec(
        "payee_not_verified",
        409,
        _T.CONFLICT,
        False,
        "Payee {payee} is not verified yet: it cannot receive payouts.",
        "收款方 {payee} 尚未验证,不能接收出款。",
    ),
    ErrorSpec(
        "payee_sanctions_hit",
        403,
        _T.PERMISSION,
        False,
        "The beneficiary of payee {payee} matches a sanctions list entry; compliance "
        "must clear it first.",
        "收款方 {payee} 的受益人命中制裁名单,需合规人员解除后方可出款。",
    ),
    ErrorSpec(
        "payee_verification_failed",
        402,
        _T.PAYMENT,
        False,
        "The bank account of payee {payee} could not be verified: {detail}",
        "收款方 {payee} 的银行账户验证失败:{detail}",
    ),
    ErrorSpec(
        "payout_not_found",
        404,
        _T.INVALID_REQUEST,
        False,
        "No such payout: {payout}.",
        "出款不存在:{payout}。",
    ),
    ErrorSpec(
        "payout_rail_unavailable",
        400,
        _T.INVALID_REQUEST,
        False,
        "No payout rail takes this payout: {detail}",
        "没有可用的出款通道:{detail}",
    ),
    ErrorSpec(
        "payout_rail_closed",
        409,
        _T.CONFLICT,
        True,
        "Rail {rail} is outside its business hours; try again when it opens ({opens}).",
        "通道 {rail} 不在营业时间内,请在开放后重试({opens})。",
    ),
    ErrorSpec(
        "payout_daily_limit_exceeded",
        402,
        _T.PAYMENT,
        False,
        "The payout would exceed the payee's daily limit of {limit} (used today: {used}).",
        "本次出款将超出收款方的日限额 {limit}(今日已用:{used})。",
    ),
    ErrorSpec(
        "payout_unexpected_state",
        409,
        _T.CONFLICT,
        False,
        "Payout {payout} is {status}: it cannot be {action}.",
        "出款 {payout} 处于 {status} 状态,不能{action}。",
    ),
    ErrorSpec(
        "payout_returned",
        402,
        _T.PAYMENT,
        False,
        "The beneficiary bank returned the payout.",
        "收款银行退回了该笔出款。",
    ),
    ErrorSpec(
        "split_batch_not_found",
        404,
        _T.INVALID_REQUEST,
        False,
        "No such split batch: {batch}.",
        "分账批次不存在:{batch}。",
    ),
    ErrorSpec(
        "split_not_group_leader",
        403,
        _T.PERMISSION,
        False,
        "Merchant {merchant} is not a group leader: register a payee with the role "
        "group_leader first.",
        "商户 {merchant} 不是团长:请先登记角色为 group_leader 的收款方。",
    ),
    ErrorSpec(
        "split_payment_invalid",
        400,
        _T.INVALID_REQUEST,
        False,
        "Payment {payment} cannot be split: {detail}",
        "支付 {payment} 不能分账:{detail}",
    ),
    ErrorSpec(
        "split_over_distribution",
        400,
        _T.INVALID_REQUEST,
        False,
        "The batch distributes {distributed} but only {net} was collected net.",
        "该批次分出 {distributed},但净收款仅 {net}。",
    ),
    ErrorSpec(
        "split_receiver_invalid",
        400,
        _T.INVALID_REQUEST,
        False,
        "Receiver {receiver} cannot take part: {detail}",
        "分账接收方 {receiver} 无效:{detail}",
    ),
    ErrorSpec(
        "split_receiver_cap_exceeded",
        400,
        _T.INVALID_REQUEST,
        False,
        "Receiver {receiver} would get {amount}, above its cap of {cap}.",
        "分账接收方 {receiver} 将分得 {amount},超过其上限 {cap}。",
    ),
    # Bank files of split batches (pain.001 out, pain.002 back)
    ErrorSpec(
        "payout_rejected",
        402,
        _T.PAYMENT,
        False,
        "The bank rejected the payout; its reason code is on the payout.",
        "银行拒绝了该笔出款;拒绝原因代码记录在出款上。",
    ),
    ErrorSpec(
        "split_batch_nothing_to_export",
        409,
        _T.CONFLICT,
        False,
        "Split batch {batch} has no payout awaiting the bank: every line is settled or has "
        "no payout yet.",
        "分账批次 {batch} 没有等待银行处理的出款:各行均已结清或尚无出款。",
    ),
    ErrorSpec(
        "bank_file_mismatch",
        400,
        _T.INVALID_REQUEST,
        False,
        "The status report does not answer a bank file of split batch {batch}: {detail}",
        "该状态报告不是对分账批次 {batch} 的银行文件的回复:{detail}",
    ),
    ErrorSpec(
        "bank_status_unknown_payout",
        400,
        _T.INVALID_REQUEST,
        False,
        "The status report names {payout}, which is not a payout of split batch {batch}.",
        "状态报告中的 {payout} 不是分账批次 {batch} 的出款。",
    ),
    ErrorSpec(
        "bank_status_conflict",
        409,
        _T.CONFLICT,
        False,
        "The status report says {status} for payout {payout}, which is already {current}.",
        "状态报告称出款 {payout} 为 {status},但该出款已是 {current}。",
    ),
)

CATALOGUE: dict[str, ErrorSpec] = {spec.code: spec for spec in _SPECS}


class _Fields(dict[str, Any]):
    """Leaves unknown template fields visible instead of raising KeyError."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


class PayHubError(Exception):
    """A failure with a catalogue code. Raise it anywhere; the API renders it."""

    def __init__(
        self,
        code: str,
        *,
        param: str | None = None,
        headers: dict[str, str] | None = None,
        **fields: Any,
    ) -> None:
        if code not in CATALOGUE:
            raise KeyError(f"error code {code!r} is not in the catalogue")
        self.spec = CATALOGUE[code]
        self.param = param
        # HTTP headers the answer carries (Retry-After on a 429).
        self.headers = headers or {}
        self.fields = fields
        super().__init__(f"{code}: {self.message('en')}")

    @property
    def code(self) -> str:
        return self.spec.code

    @property
    def status(self) -> int:
        return self.spec.status

    def message(self, language: str = "en") -> str:
        template = self.spec.message_zh if language == "zh" else self.spec.message_en
        return template.format_map(_Fields(param=self.param or "", **self.fields))

    def to_body(self, *, request_id: str | None, language: str = "en") -> dict[str, Any]:
        return {
            "error": {
                "code": self.spec.code,
                "type": self.spec.type.value,
                "message": self.message(language),
                "param": self.param,
                "retryable": self.spec.retryable,
                "request_id": request_id,
            }
        }


def language_from_header(accept_language: str | None) -> str:
    """'zh' when the client prefers Chinese (zh, zh-CN, zh-Hans…), else 'en'."""
    if not accept_language:
        return "en"
    best_lang, best_q = "en", -1.0
    for part in accept_language.split(","):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        lang = "zh" if tag.lower().startswith("zh") else "en"
        # q=0 means "not acceptable" (RFC 9110), never a preference.
        if q > 0 and q > best_q:
            best_lang, best_q = lang, q
    return best_lang
