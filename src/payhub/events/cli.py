"""`payhub webhooks …` and `payhub events …`: operators manage webhook endpoints, read
events and their deliveries, and replay an event."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.clikit import console, in_transaction, refuse, when
from payhub.core.config import get_settings
from payhub.core.errors import PayHubError
from payhub.core.ids import is_id
from payhub.events import service
from payhub.events.service import DeliveryView, EndpointView
from payhub.merchants import service as merchants

webhooks_app = typer.Typer(help="Webhook endpoints and their deliveries.", no_args_is_help=True)
events_app = typer.Typer(help="Events (the outbox) and replays.", no_args_is_help=True)

MAX_DESCRIPTION = 500  # as the API allows


def _checked_id(value: str, prefix: str, param: str) -> str:
    if not is_id(value, prefix):
        raise refuse(PayHubError("invalid_id", param=param))
    return value


def _deliveries_table(views: list[DeliveryView], title: str) -> Table:
    table = Table(title=title)
    for column in ("id", "endpoint", "event", "status", "attempts", "last status", "next try"):
        table.add_column(column, overflow="fold")
    for d in views:
        table.add_row(
            d.id,
            d.endpoint_id,
            d.event_id,
            d.status,
            str(d.attempts),
            str(d.last_status_code or escape(d.last_error or "")),
            when(d.next_attempt_at) if d.status == "pending" else "",
        )
    return table


@webhooks_app.command("create")
def webhooks_create(
    url: Annotated[str, typer.Option(help="Where deliveries are POSTed (http or https).")],
    event: Annotated[
        list[str] | None,
        typer.Option(help="An event type to receive (repeat the option); default: all ('*')."),
    ] = None,
    merchant: Annotated[
        str | None,
        typer.Option(help="Receive this merchant's events only; default: every event."),
    ] = None,
    description: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Create a webhook endpoint and print its signing secret once."""
    if merchant is not None:
        _checked_id(merchant, "mer", "merchant")
    if description is not None and len(description) > MAX_DESCRIPTION:
        raise refuse(
            PayHubError("validation_error", param="description", detail="at most 500 characters")
        )

    async def work(session: AsyncSession) -> EndpointView:
        if merchant is not None:
            await merchants.get_merchant(session, merchant)
        return await service.create_endpoint(
            session,
            merchant_id=merchant,
            url=url,
            events=event or ["*"],
            description=description,
        )

    view = in_transaction(work)
    owner = f"merchant {view.merchant_id}" if view.merchant_id else "every merchant"
    console.print(
        f"Webhook endpoint {view.id}: {escape(view.url)} ({owner}; "
        f"events: {escape(', '.join(view.events))})"
    )
    console.print(f"Signing secret: [bold yellow]{view.secret}[/] (shown once)")


@webhooks_app.command("list")
def webhooks_list(
    merchant: Annotated[str | None, typer.Option(help="One merchant's endpoints.")] = None,
) -> None:
    """Webhook endpoints, newest first (never their secrets)."""
    views = in_transaction(lambda s: service.list_endpoints(s, merchant_id=merchant))
    table = Table(title="Webhook endpoints")
    for column in ("id", "merchant", "url", "events", "enabled", "created at"):
        table.add_column(column, overflow="fold")
    for v in views:
        table.add_row(
            v.id,
            v.merchant_id or "(all)",
            escape(v.url),
            escape(", ".join(v.events)),
            "yes" if v.enabled else "no",
            when(v.created_at),
        )
    console.print(table)


@webhooks_app.command("roll-secret")
def webhooks_roll_secret(
    endpoint_id: str,
    overlap: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=30 * 86_400,
            help="Seconds deliveries are also signed with the old secret (0: it stops at "
            "once); default: the deployment's (24 hours unless set).",
        ),
    ] = None,
) -> None:
    """Give an endpoint a new signing secret and print it once; the old one keeps signing
    deliveries (as a second signature) for the overlap."""
    _checked_id(endpoint_id, "we", "endpoint_id")
    seconds = overlap if overlap is not None else get_settings().webhook_secret_overlap_hours * 3600
    view = in_transaction(
        lambda s: service.roll_secret(
            s, endpoint_id, merchant_id=None, overlap=timedelta(seconds=seconds)
        )
    )
    console.print(f"New signing secret of {view.id}: [bold yellow]{view.secret}[/] (shown once)")
    if view.previous_secret_expires_at is not None:
        console.print(
            f"Deliveries are signed with the old secret too until "
            f"{when(view.previous_secret_expires_at)}."
        )
    else:
        console.print("The old secret no longer signs deliveries.")


@webhooks_app.command("deliveries")
def webhooks_deliveries(
    endpoint_id: str, limit: Annotated[int, typer.Option(min=1, max=100)] = 20
) -> None:
    """An endpoint's deliveries, newest first."""
    _checked_id(endpoint_id, "we", "endpoint_id")
    views = in_transaction(
        lambda s: service.list_deliveries(s, endpoint_id, merchant_id=None, limit=limit)
    )
    console.print(_deliveries_table(views, f"Deliveries to {endpoint_id}"))


@events_app.command("list")
def events_list(
    type_: Annotated[str | None, typer.Option("--type", help="e.g. payment.succeeded")] = None,
    merchant: Annotated[str | None, typer.Option(help="One merchant's events.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100)] = 20,
) -> None:
    """Events, newest first."""
    views, _ = in_transaction(
        lambda s: service.list_events(s, merchant_id=merchant, limit=limit, type=type_)
    )
    table = Table(title="Events")
    for column in ("id", "type", "merchant", "object", "created at"):
        table.add_column(column, overflow="fold")
    for v in views:
        subject = v.data.get("object")
        table.add_row(
            v.id,
            v.type,
            v.merchant_id or "",
            str(subject.get("id", "")) if isinstance(subject, dict) else "",
            when(v.created_at),
        )
    console.print(table)


@events_app.command("show")
def events_show(event_id: str) -> None:
    """An event with its data, as endpoints receive it."""
    _checked_id(event_id, "evt", "event_id")
    view = in_transaction(lambda s: service.get_event(s, event_id, merchant_id=None))
    console.print(f"Event {view.id}: {view.type} ({when(view.created_at)})")
    console.print_json(json.dumps(view.data))


@events_app.command("redeliver")
def events_redeliver(event_id: str) -> None:
    """Deliver an event again to every endpoint subscribed to it now."""
    _checked_id(event_id, "evt", "event_id")
    made = in_transaction(lambda s: service.redeliver(s, event_id, merchant_id=None))
    console.print(_deliveries_table(made, f"New deliveries of {event_id}"))
    console.print(f"{len(made)} delivery(ies) queued; the worker sends them.")
