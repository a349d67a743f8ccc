"""`payhub sim …`: the bank-network simulator as a process of its own."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.panel import Panel

from payhub.clikit import console, errors
from payhub.core.config import DEV_CHANNELS_SECRET, get_settings

sim_app = typer.Typer(help="The bank-network simulator.", no_args_is_help=True)


@sim_app.callback()
def _sim() -> None:
    """The bank-network simulator."""


@sim_app.command("serve")
def serve(
    scenario: Annotated[
        str | None,
        typer.Option(
            help="A shipped scenario's name or a scenario file (default: PAYHUB_SIM_SCENARIO)."
        ),
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8090,
    secret: Annotated[
        str | None,
        typer.Option(
            help="Shared secret that signs every request (default: PAYHUB_CHANNELS_SECRET)."
        ),
    ] = None,
    time_scale: Annotated[
        float,
        typer.Option(
            min=0.0,
            help="Multiplies every answer's latency (0: answer at once). Undelivered answers "
            "are held past the channel's timeout whatever the scale.",
        ),
    ] = 1.0,
) -> None:
    """Serve one simulated bank network over HTTP for `PAYHUB_CHANNELS_URL`."""
    import uvicorn

    from payhub.channels.sim.scenario import ScenarioError
    from payhub.channels.sim.server import create_app, scenario_named
    from payhub.core.logging import configure_logging

    settings = get_settings()
    try:
        world = scenario_named(scenario or settings.sim_scenario)
    except ScenarioError as exc:
        errors.print(f"[red]scenario_invalid[/]: {escape(str(exc))}")
        raise typer.Exit(2) from None
    key = secret if secret is not None else settings.channels_secret.get_secret_value()
    if not key:
        errors.print("[red]secret_missing[/]: the shared secret must not be empty")
        raise typer.Exit(2)
    app = create_app(world, secret=key, time_scale=time_scale)
    channel_ids = app.state.network.channel_ids
    lines = [
        f"Listening on [bold cyan]http://{escape(host)}:{port}[/]",
        f"Scenario: {escape(world.name)} (seed {world.seed}), time scale {time_scale:g}",
        f"Channels: {escape(', '.join(channel_ids))}",
        "Point PayHub at it with PAYHUB_CHANNELS_URL and the same PAYHUB_CHANNELS_SECRET.",
    ]
    console.print(Panel("\n".join(lines), title="Bank-network simulator", expand=False))
    if key == DEV_CHANNELS_SECRET:
        console.print(
            "[yellow]warning:[/] the shared secret is the development default: anyone who "
            "can reach this port can move simulated money."
        )
    configure_logging(settings.log_level)
    uvicorn.run(app, host=host, port=port, log_config=None, access_log=False)
