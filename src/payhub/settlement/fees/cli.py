"""`payhub fees …`: fee plans, channel cost schedules, quotes, a payment's fees, the
margin report and the channel cost report (from the database or the routing benchmark)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from payhub.audit import service as audit
from payhub.clikit import console, in_transaction, refuse, when
from payhub.core.clock import parse_rfc3339
from payhub.core.errors import PayHubError
from payhub.settlement.fees import costs, margins, service
from payhub.settlement.fees.costs import CostLine
from payhub.settlement.fees.schemas import PlanOut

fees_app = typer.Typer(help="Fees: plans, channel costs, margins.", no_args_is_help=True)
plans_app = typer.Typer(help="Fee plans and their versions.", no_args_is_help=True)
costs_app = typer.Typer(help="Channel cost schedules.", no_args_is_help=True)
fees_app.add_typer(plans_app, name="plans")
fees_app.add_typer(costs_app, name="costs")

FileArg = Annotated[Path, typer.Argument(help="A JSON file.")]
When = Annotated[str | None, typer.Option(help="RFC 3339 (default: now).")]


def _json_file(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise refuse(
            PayHubError("validation_error", param="file", detail=f"not a readable JSON file: {exc}")
        ) from None
    if not isinstance(data, dict):
        raise refuse(PayHubError("validation_error", param="file", detail="a JSON object"))
    return data


def _moment(text: str | None, param: str) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_rfc3339(text)
    except ValueError as exc:
        raise refuse(PayHubError("validation_error", param=param, detail=str(exc))) from None


def _print_plan(view: service.PlanView) -> None:
    out = PlanOut.of(view)
    flag = " (default)" if out.default else ""
    console.print(
        f"Fee plan {out.id} {escape(out.name)}{flag}: version {out.in_force_version} in force"
    )
    table = Table()
    for column in ("version", "effective from", "currency", "refunds", "rules"):
        table.add_column(column)
    for v in out.versions:
        table.add_row(
            str(v["version"]),
            v["effective_from"] or "",
            v["currency"],
            v["refund_policy"],
            escape(json.dumps(v["rules"], ensure_ascii=False)),
        )
    console.print(table)


@plans_app.command("create")
def plans_create(
    file: FileArg,
    default: Annotated[bool, typer.Option(help="The plan of merchants that have none.")] = False,
) -> None:
    """A plan from JSON: name, currency, rules, channel_classes, refund_policy,
    effective_from, note."""
    data = _json_file(file)
    effective = data.get("effective_from")

    async def go(session: AsyncSession) -> service.PlanView:
        return await service.create_plan(
            session,
            name=str(data.get("name", "")),
            currency=str(data.get("currency", "CNY")),
            rules=data.get("rules"),
            channel_classes=data.get("channel_classes"),
            refund_policy=data.get("refund_policy", "proportional"),
            default=default or bool(data.get("default", False)),
            effective_from=_moment(effective, "effective_from") if effective else None,
            note=data.get("note"),
            created_by=audit.cli_actor().name,
        )

    _print_plan(in_transaction(go))


@plans_app.command("version")
def plans_version(plan: Annotated[str, typer.Argument(help="fpl_…")], file: FileArg) -> None:
    """The plan's next version from JSON (currency, rules, …, effective_from)."""
    data = _json_file(file)
    effective = data.get("effective_from")

    async def go(session: AsyncSession) -> service.PlanView:
        return await service.add_plan_version(
            session,
            plan,
            currency=str(data.get("currency", "CNY")),
            rules=data.get("rules"),
            channel_classes=data.get("channel_classes"),
            refund_policy=data.get("refund_policy", "proportional"),
            effective_from=_moment(effective, "effective_from") if effective else None,
            note=data.get("note"),
            created_by=audit.cli_actor().name,
        )

    _print_plan(in_transaction(go))


@plans_app.command("list")
def plans_list() -> None:
    """Every plan, newest first."""
    plans, _ = in_transaction(lambda s: service.list_plans(s, limit=100, starting_after=None))
    table = Table(title="Fee plans")
    for column in ("id", "name", "default", "in force", "versions", "created"):
        table.add_column(column)
    for p in plans:
        table.add_row(
            p.id,
            escape(p.name),
            "yes" if p.is_default else "",
            str(p.in_force.version) if p.in_force else "",
            str(len(p.versions)),
            when(p.created_at),
        )
    console.print(table)


@plans_app.command("show")
def plans_show(plan: Annotated[str, typer.Argument(help="fpl_…")]) -> None:
    _print_plan(in_transaction(lambda s: service.get_plan(s, plan)))


@plans_app.command("default")
def plans_default(plan: Annotated[str, typer.Argument(help="fpl_…")]) -> None:
    """Make a plan the default of merchants that have none."""
    _print_plan(in_transaction(lambda s: service.make_default(s, plan)))


@fees_app.command("assign")
def assign(
    merchant: Annotated[str, typer.Argument(help="mer_…")],
    plan: Annotated[str | None, typer.Argument(help="fpl_…; omit for the default plan.")] = None,
) -> None:
    """Point a merchant to a fee plan (audited)."""
    view = in_transaction(lambda s: service.assign_plan(s, merchant, plan))
    console.print(f"Merchant {view.id} is on fee plan {view.fee_plan_id or 'default'}.")


def _price_text(price: dict[str, Any]) -> str:
    cap = price.get("cap")
    return f"{price['bps']} bps + {price['fixed']}, min {price['minimum']}" + (
        f", cap {cap}" if cap is not None else ""
    )


@costs_app.command("list")
def costs_list() -> None:
    """Every card channel's schedule in force now."""
    views = in_transaction(service.schedules_in_force)
    table = Table(title="Channel cost schedules in force")
    for column in ("channel", "version", "debit", "credit", "refund returns fee"):
        table.add_column(column)
    for v in views:
        table.add_row(
            v.channel_id,
            str(v.version) if v.version is not None else "list prices",
            _price_text(v.terms.debit.to_data()),
            _price_text(v.terms.credit.to_data()),
            "yes" if v.terms.refund_returns_fee else "no",
        )
    console.print(table)


@costs_app.command("set")
def costs_set(file: FileArg) -> None:
    """A channel's next schedule version from JSON: channel, currency, debit, credit,
    refund_returns_fee, effective_from, note."""
    data = _json_file(file)
    effective = data.get("effective_from")

    async def go(session: AsyncSession) -> service.CostVersionView:
        return await service.add_cost_version(
            session,
            str(data.get("channel", "")),
            currency=str(data.get("currency", "CNY")),
            debit=data.get("debit"),
            credit=data.get("credit"),
            refund_returns_fee=data.get("refund_returns_fee", False),
            effective_from=_moment(effective, "effective_from") if effective else None,
            note=data.get("note"),
            created_by=audit.cli_actor().name,
        )

    view = in_transaction(go)
    console.print(
        f"Channel {view.channel_id} cost schedule version {view.version} from "
        f"{when(view.effective_from)}."
    )


@fees_app.command("quote")
def quote(
    merchant: Annotated[str, typer.Argument(help="mer_…")],
    amount: Annotated[int, typer.Argument(help="Minor units.")],
    channel: Annotated[str, typer.Option(help="The channel that would take it.")],
    card_type: Annotated[str, typer.Option(help="debit or credit.")] = "debit",
    scene: Annotated[str, typer.Option()] = "local_services",
    currency: Annotated[str, typer.Option()] = "CNY",
) -> None:
    """What a payment captured now would be charged and cost."""
    q = in_transaction(
        lambda s: service.quote(
            s,
            merchant_id=merchant,
            amount=amount,
            currency=currency,
            card_type=card_type,
            channel_id=channel,
            scene=scene,
        )
    )
    plan = q.plan.plan_id or "built-in"
    console.print(
        f"Merchant fee {q.merchant_fee}, channel cost {q.channel_cost}, margin {q.margin} "
        f"{q.currency} (plan {plan} v{q.plan.version}, class {q.channel_class})"
    )


@fees_app.command("payment")
def payment(payment_id: Annotated[str, typer.Argument(help="pay_…")]) -> None:
    """What a payment was charged, what its channel cost, and the margin."""
    fees = in_transaction(lambda s: margins.payment_fees(s, payment_id, merchant_id=None))
    if fees is None:
        console.print(f"Payment {payment_id} has captured nothing: no fees.")
        return
    console.print(
        f"Payment {fees.payment_id}: captured {fees.captured}, refunded {fees.refunded} "
        f"{fees.currency}; merchant fee {fees.merchant_fee} (returned "
        f"{fees.merchant_fee_refunded}); channel {fees.channel_id} cost {fees.channel_cost} "
        f"(returned {fees.channel_cost_refunded}); margin {fees.margin}"
    )


@fees_app.command("report")
def report(
    group_by: Annotated[str, typer.Option(help="merchant, channel, card_type, …")] = "merchant",
    start: Annotated[str | None, typer.Option("--from", help="RFC 3339.")] = None,
    end: Annotated[str | None, typer.Option("--to", help="RFC 3339.")] = None,
) -> None:
    """Merchant fees, channel costs and margin over a period (payments first captured in it)."""
    lines = in_transaction(
        lambda s: margins.margin_report(
            s, group_by=group_by, start=_moment(start, "from"), end=_moment(end, "to")
        )
    )
    table = Table(title=f"Fee margin by {group_by}")
    for column in (group_by, "currency", "payments", "captured", "merchant fees",
                   "channel costs", "margin", "margin bps"):  # fmt: skip
        table.add_column(column)
    for x in lines:
        table.add_row(
            x.key, x.currency, str(x.payments), str(x.captured - x.refunded),
            str(x.merchant_fees), str(x.channel_costs), str(x.margin),
            "" if x.margin_bps is None else f"{x.margin_bps:.2f}",
        )  # fmt: skip
    console.print(table)


def _cost_row(table: Table, line: CostLine) -> None:
    saving = line.saving_vs_static_pct
    table.add_row(
        line.key, line.currency, str(line.payments), str(line.captured),
        f"{line.actual} ({line.bps(line.actual)} bps)",
        f"{line.list_price} ({line.bps(line.list_price)} bps)",
        f"{line.static_route} ({line.bps(line.static_route)} bps)",
        "" if saving is None else f"{saving:.2f}%",
    )  # fmt: skip


@fees_app.command("channel-costs")
def channel_costs(
    start: Annotated[str | None, typer.Option("--from", help="RFC 3339.")] = None,
    end: Annotated[str | None, typer.Option("--to", help="RFC 3339.")] = None,
    bench: Annotated[
        Path | None,
        typer.Option(help="A folder of routing benchmark results (routing-*.json) instead."),
    ] = None,
) -> None:
    """Channel fees paid against list prices and the static route: over the database's
    payments of a period, or over the routing benchmark's recorded scenarios."""
    if bench is not None:
        _bench_savings(bench)
        return
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("Reading fee records", total=None)

        def read(done: int) -> None:
            progress.update(task, description=f"Read {done} fee records")

        found = in_transaction(
            lambda s: costs.channel_cost_report(
                s, start=_moment(start, "from"), end=_moment(end, "to"), progress=read
            )
        )
    table = Table(title="Channel costs: actual vs list prices vs static route")
    for column in ("channel", "currency", "payments", "captured", "actual", "list prices",
                   "static route", "saving vs static"):  # fmt: skip
        table.add_column(column)
    for line in [*found.by_channel, *found.totals]:
        _cost_row(table, line)
    console.print(table)


def _bench_savings(folder: Path) -> None:
    files = costs.bench_result_files(folder)
    if not files:
        raise refuse(
            PayHubError("validation_error", param="bench", detail="no routing-*.json files there")
        )
    savings = costs.bench_savings(files)
    table = Table(title="Channel fees per approved volume: static route vs PayHub routing")
    for column in ("scenario", "payments", "seeds", "static bps", "payhub bps", "saving",
                   "static success", "payhub success"):  # fmt: skip
        table.add_column(column)
    for s in savings:
        table.add_row(
            s.scenario, str(s.payments), str(s.seeds), f"{s.static_fee_bps:.2f}",
            f"{s.payhub_fee_bps:.2f}", f"{s.saving_pct:.1f}%",
            f"{s.static_success_rate:.2%}", f"{s.payhub_success_rate:.2%}",
        )  # fmt: skip
    console.print(table)
    reached = sum(1 for s in savings if s.saving_pct >= 15.0)
    mean = sum(s.saving_pct for s in savings) / len(savings) if savings else 0.0
    console.print(
        f"Mean saving {mean:.1f}% over {len(savings)} scenario(s); {reached} reach the 15% target."
    )
