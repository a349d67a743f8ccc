"""`payhub payments …`: operators create, confirm, capture, cancel and refund payments and
read their money trail, through the same services and flows as the API.

Confirm, capture, cancel and refund call a bank channel between transactions
(`payhub.payments.orchestrator`). When the channel's answer is still unknown the command
says so; `payhub payments resolve` (or the worker) settles it later. The CVV is read at a
hidden prompt (or from standard input) and goes only to the channel.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Annotated, TypeVar

import typer
from rich.markup import escape
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.channels.sim.scenario import ScenarioError
from payhub.clikit import console, errors, in_transaction, read_secret, refuse, run_db, when
from payhub.core.clock import parse_rfc3339
from payhub.core.config import get_settings
from payhub.core.errors import PayHubError
from payhub.core.money import Money
from payhub.db.session import Database
from payhub.ledger.domain import Side
from payhub.ledger.service import JournalView
from payhub.merchants import service as merchants
from payhub.payments import channels, orchestrator, reports, service
from payhub.payments.rows import AttemptRow, PaymentRow, RefundRow
from payhub.payments.service import Step

T = TypeVar("T")

payments_app = typer.Typer(help="Payments and refunds.", no_args_is_help=True)

# The API's limits on free text (the columns are no wider).
MAX_DESCRIPTION = 500
MAX_REASON = 200


class CaptureMethod(StrEnum):
    AUTOMATIC = "automatic"
    MANUAL = "manual"


class Scene(StrEnum):
    FOOD_DELIVERY = "food_delivery"
    GROUP_BUY = "group_buy"
    LOCAL_SERVICES = "local_services"
    CROSS_BORDER = "cross_border"


class Status(StrEnum):
    REQUIRES_CONFIRMATION = "requires_confirmation"
    PROCESSING = "processing"
    REQUIRES_CAPTURE = "requires_capture"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


def _money(amount: int | None, currency: str) -> str:
    return Money(amount, currency).format() if amount is not None else ""


def _columns(table: Table, *names: str) -> None:
    # Ids fold onto a second line rather than lose characters to an ellipsis.
    for name in names:
        money = name in ("amount", "captured", "refunded", "debit", "credit")
        table.add_column(name, overflow="fold", justify="right" if money else "left")


def _too_long(value: str | None, limit: int, param: str) -> None:
    if value is not None and len(value) > limit:
        raise refuse(
            PayHubError("validation_error", param=param, detail=f"at most {limit} characters")
        )


# --------------------------------------------------------------------------------- running


def _in_process_note() -> None:
    if not get_settings().channels_url:
        errors.print(
            "[yellow]note:[/] the bank channels are this command's own in-process simulator, "
            "which knows nothing of what other processes sent; set PAYHUB_CHANNELS_URL to a "
            "`payhub sim serve` shared by every process."
        )


def _flow(work: Callable[[Database], Awaitable[T]]) -> T:
    """Run a flow that calls bank channels. The channels are loaded first, so a channel
    server that cannot be reached stops the command before anything is committed."""
    # Imported here: httpx costs every `payhub` command a noticeable start-up time.
    from payhub.channels.http import ChannelServerError

    try:
        channels.get_channels()
    except (ChannelServerError, ScenarioError) as exc:
        errors.print(f"[red]cannot load the bank channels[/]: {escape(str(exc))}")
        raise typer.Exit(2) from None
    refused: list[str] = []

    async def tracked(db: Database) -> T:
        try:
            return await work(db)
        except PayHubError as error:
            refused.append(error.code)
            raise

    try:
        return run_db(tracked)
    except typer.Exit:
        # A channel that has no record of the authorisation answers with an error.
        if refused == ["channel_error"]:
            _in_process_note()
        raise


# -------------------------------------------------------------------------------- printing


def _print_payment(row: PaymentRow) -> None:
    route = (row.decision or {}).get("route") or {}
    failure = f"{row.failure_code}: {row.failure_message or ''}" if row.failure_code else ""
    table = Table(show_header=False, title=f"payment {row.id}")
    for key, value in [
        ("status", row.status),
        ("merchant", row.merchant_id),
        ("customer", row.customer_id or ""),
        ("card", row.payment_method),
        ("amount", _money(row.amount, row.currency)),
        ("capturable", _money(row.amount_capturable, row.currency)),
        ("captured", _money(row.amount_captured, row.currency)),
        ("refunded", _money(row.amount_refunded, row.currency)),
        ("capture method", row.capture_method),
        ("scene", row.scene),
        ("description", row.description or ""),
        ("channel", row.channel_id or ""),
        ("route", f"{route.get('rule')}: {' → '.join(route.get('order', []))}" if route else ""),
        ("pending attempt", row.in_flight_attempt_id or ""),
        ("failure", failure),
        ("authorized at", when(row.authorized_at)),
        ("expires at", when(row.expires_at)),
        ("created at", when(row.created_at)),
    ]:
        table.add_row(key, escape(value))
    console.print(table)


def _print_outcome(step: Step) -> None:
    """The payment, then one line: where it stands, or that the channel's answer is awaited."""
    row = step.payment
    _print_payment(row)
    if not step.settled:
        console.print(
            f"[yellow]Pending[/]: the bank channel's answer to attempt {row.in_flight_attempt_id} "
            "is not known yet; `payhub payments resolve` (or the worker) settles it."
        )
    elif row.status == "failed":
        console.print(f"Payment {row.id}: [red]failed[/] ({row.failure_code})")
    else:
        console.print(f"Payment {row.id}: {row.status}")


def _refunds_table(rows: list[RefundRow], title: str) -> Table:
    table = Table(title=title)
    _columns(table, "id", "payment", "status", "amount", "reason", "failure", "created at")
    for r in rows:
        table.add_row(
            r.id,
            r.payment_id,
            r.status,
            _money(r.amount, r.currency),
            escape(r.reason or ""),
            r.failure_code or "",
            when(r.created_at),
        )
    return table


def _print_refund(row: RefundRow) -> None:
    table = Table(show_header=False, title=f"refund {row.id}")
    for key, value in [
        ("status", row.status),
        ("payment", row.payment_id),
        ("merchant", row.merchant_id),
        ("amount", _money(row.amount, row.currency)),
        ("reason", row.reason or ""),
        ("failure", row.failure_code or ""),
        ("created at", when(row.created_at)),
    ]:
        table.add_row(key, escape(value))
    console.print(table)


def _attempts_table(rows: list[AttemptRow], currency: str) -> Table:
    table = Table(title="Attempts at bank channels")
    _columns(table, "id", "kind", "channel", "status", "amount", "code", "message", "latency")
    for a in rows:
        table.add_row(
            a.id,
            a.kind,
            a.channel_id,
            a.status,
            _money(a.amount, currency),
            a.catalogue_code or a.raw_code or "",
            escape(a.raw_message or ""),
            f"{a.latency_ms} ms",
        )
    return table


def _journals_table(views: list[JournalView]) -> Table:
    table = Table(title="Ledger journals")
    _columns(table, "journal", "account", "debit", "credit")
    for view in views:
        for p in view.postings:
            amount = _money(p.amount, p.currency)
            table.add_row(
                view.id,
                p.account_code,
                amount if p.side is Side.DEBIT else "",
                amount if p.side is Side.CREDIT else "",
            )
    return table


# -------------------------------------------------------------------------------- commands


@payments_app.command("create")
def create(
    merchant_id: str,
    amount: Annotated[int, typer.Option(help="Minor units (fen for CNY: 1999 is 19.99).")],
    card: Annotated[str, typer.Option(help="The merchant's card token (card_…).")],
    currency: Annotated[
        str | None, typer.Option(help="ISO 4217; default: the merchant's currency.")
    ] = None,
    customer: Annotated[str | None, typer.Option(help="The merchant's customer.")] = None,
    capture: Annotated[CaptureMethod, typer.Option(help="When to capture.")] = (
        CaptureMethod.AUTOMATIC
    ),
    scene: Annotated[Scene, typer.Option(help="The business scene.")] = Scene.LOCAL_SERVICES,
    description: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Create a payment (requires_confirmation); `confirm` sends it to a channel."""
    _too_long(description, MAX_DESCRIPTION, "description")

    async def work(session: AsyncSession) -> PaymentRow:
        chosen = currency
        if chosen is None:
            chosen = (await merchants.get_merchant(session, merchant_id)).currency
        return await service.create_payment(
            session,
            merchant_id=merchant_id,
            amount=amount,
            currency=chosen,
            payment_method=card,
            customer_id=customer,
            capture_method=capture.value,
            scene=scene.value,
            description=description,
        )

    row = in_transaction(work)
    _print_payment(row)
    console.print(f"Payment {row.id}: {row.status}")


@payments_app.command("list")
def list_(
    merchant: Annotated[str | None, typer.Option(help="One merchant's payments.")] = None,
    status: Annotated[Status | None, typer.Option()] = None,
    scene: Annotated[Scene | None, typer.Option()] = None,
    customer: Annotated[str | None, typer.Option()] = None,
    limit: Annotated[int, typer.Option(min=1, max=100)] = 20,
) -> None:
    """Payments, newest first."""
    filters = service.PaymentFilter(
        merchant_id=merchant,
        status=status.value if status is not None else None,
        customer_id=customer,
        scene=scene.value if scene is not None else None,
    )
    rows, more = in_transaction(
        lambda s: service.list_payments(s, filters, limit=limit, starting_after=None)
    )
    table = Table(title="Payments")
    _columns(
        table, "id", "merchant", "status", "amount", "captured", "refunded", "scene", "created at"
    )
    for r in rows:
        table.add_row(
            r.id,
            r.merchant_id,
            r.status,
            _money(r.amount, r.currency),
            _money(r.amount_captured, r.currency),
            _money(r.amount_refunded, r.currency),
            r.scene,
            when(r.created_at),
        )
    console.print(table)
    if more:
        console.print("More payments follow: raise --limit (at most 100) or narrow the filters.")


@payments_app.command("show")
def show(payment_id: str) -> None:
    """A payment and its money trail: attempts at channels, refunds and ledger journals."""

    async def work(
        session: AsyncSession,
    ) -> tuple[PaymentRow, list[AttemptRow], list[RefundRow], list[JournalView]]:
        row = await service.get_payment(session, payment_id, merchant_id=None)
        attempts = await service.list_attempts(session, row.id, merchant_id=None)
        refunds, _ = await service.list_refunds(
            session, merchant_id=None, payment_id=row.id, limit=100, starting_after=None
        )
        journals = await service.list_journals(session, row.id, merchant_id=None)
        return row, attempts, refunds, journals

    row, attempts, refunds, journals = in_transaction(work)
    _print_payment(row)
    console.print(_attempts_table(attempts, row.currency))
    if refunds:
        console.print(_refunds_table(refunds, "Refunds"))
    console.print(_journals_table(journals))


@payments_app.command("confirm")
def confirm(
    payment_id: str,
    no_cvv: Annotated[bool, typer.Option(help="Send no security code (no prompt).")] = False,
) -> None:
    """Send a payment to its routed channel for authorisation. The CVV is asked for at a
    hidden prompt (Enter for none) or read from standard input."""
    cvv = None if no_cvv else read_secret("CVV (Enter for none)", optional=True) or None
    _print_outcome(_flow(lambda db: orchestrator.confirm_payment(db, payment_id, None, cvv)))


@payments_app.command("capture")
def capture(
    payment_id: str,
    amount: Annotated[
        int | None, typer.Option(help="Minor units; default: all that is capturable.")
    ] = None,
) -> None:
    """Capture all or part of an authorised payment."""
    _print_outcome(_flow(lambda db: orchestrator.capture_payment(db, payment_id, None, amount)))


@payments_app.command("cancel")
def cancel(payment_id: str) -> None:
    """Cancel a payment before anything was captured (the authorisation is voided)."""
    _print_outcome(_flow(lambda db: orchestrator.cancel_payment(db, payment_id, None)))


@payments_app.command("refund")
def refund(
    payment_id: str,
    amount: Annotated[
        int | None, typer.Option(help="Minor units; default: all that is refundable.")
    ] = None,
    reason: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Refund all or part of what was captured."""
    _too_long(reason, MAX_REASON, "reason")
    step = _flow(
        lambda db: orchestrator.refund_payment(
            db, payment_id=payment_id, merchant_id=None, amount=amount, reason=reason
        )
    )
    made = step.refund
    assert made is not None  # the flow always answers with the refund
    _print_refund(made)
    if made.status == "pending":
        console.print(
            f"[yellow]Pending[/]: the bank channel's answer to refund {made.id} is not known "
            "yet; `payhub payments resolve` (or the worker) settles it."
        )
    elif made.status == "failed":
        console.print(f"Refund {made.id}: [red]failed[/] ({made.failure_code})")
        if made.failure_code == "channel_error":
            _in_process_note()
    else:
        console.print(f"Refund {made.id}: {made.status}")


@payments_app.command("refunds")
def refunds(
    payment: Annotated[str | None, typer.Option(help="One payment's refunds.")] = None,
    merchant: Annotated[str | None, typer.Option(help="One merchant's refunds.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100)] = 20,
) -> None:
    """Refunds, newest first."""
    rows, _ = in_transaction(
        lambda s: service.list_refunds(
            s, merchant_id=merchant, payment_id=payment, limit=limit, starting_after=None
        )
    )
    console.print(_refunds_table(rows, "Refunds"))


@payments_app.command("resolve")
def resolve(limit: Annotated[int, typer.Option(min=1, max=1000)] = 100) -> None:
    """Ask the channels once what became of requests whose answer never came, and apply it."""
    _in_process_note()
    settled = _flow(lambda db: orchestrator.resolve_in_flight(db, limit=limit))
    console.print(f"Settled {settled} payment request(s) whose bank answer was unknown.")


@payments_app.command("expire")
def expire(limit: Annotated[int, typer.Option(min=1, max=1000)] = 100) -> None:
    """Release once the authorisations that lapsed before they were captured."""
    _in_process_note()
    released = _flow(lambda db: orchestrator.expire_authorizations(db, limit=limit))
    console.print(f"Released {released} expired authorisation(s).")


class GroupBy(StrEnum):
    SCENE = "scene"
    CHANNEL = "channel"
    STATUS = "status"


@payments_app.command("report")
def report(
    group_by: Annotated[GroupBy, typer.Option(help="What to group by.")] = GroupBy.SCENE,
    merchant: Annotated[str | None, typer.Option(help="One merchant's payments.")] = None,
    since: Annotated[str | None, typer.Option(help="From this RFC 3339 time (inclusive).")] = None,
    until: Annotated[str | None, typer.Option(help="Up to this RFC 3339 time.")] = None,
) -> None:
    """Payments, authorisation rate and amounts per scene, channel or status."""
    try:
        start = parse_rfc3339(since) if since is not None else None
        end = parse_rfc3339(until) if until is not None else None
    except ValueError:
        raise refuse(
            PayHubError("validation_error", param="since", detail="RFC 3339 with a zone")
        ) from None
    rows = in_transaction(
        lambda s: reports.payment_summary(
            s,
            group_by=group_by.value,
            merchant_id=merchant,
            created_from=start,
            created_to=end,
        )
    )
    table = Table(title=f"Payments by {group_by.value}")
    _columns(
        table, group_by.value, "payments", "confirmed", "authorised", "rate", "captured", "refunded"
    )
    for r in rows:
        rate = f"{r.authorisation_rate:.1%}" if r.authorisation_rate is not None else "-"
        table.add_row(
            r.key or "(none)",
            str(r.payments),
            str(r.confirmed),
            str(r.authorised),
            rate,
            _money(r.captured, r.currency),
            _money(r.refunded, r.currency),
        )
    console.print(table)
