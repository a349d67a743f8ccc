"""Serving the API with several worker processes, each on a listening socket of its own.

With one listening socket shared by every worker, a burst of new connections goes to
whichever worker wakes first, and it takes them all: keep-alive clients that connect
together can leave one worker doing everything while the others idle. Here each worker
binds its own socket to the same address with `SO_REUSEPORT`, and the kernel spreads new
connections over them evenly.

The supervisor (this process) starts the workers, restarts one that dies (after a pause
that grows if it keeps dying), and stops them all on SIGINT or SIGTERM. A worker that dies
before it ever served (a broken configuration, an address in use) stops everything.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import signal
import socket
import threading
import time
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event as EventType
from typing import Any

log = logging.getLogger(__name__)

APP = "payhub.api.app:app_factory"
# A worker that dies this soon after starting is restarted only after a pause.
QUICK_DEATH_S = 5.0
MAX_PAUSE_S = 30.0


def reuse_port_supported() -> bool:
    return hasattr(socket, "SO_REUSEPORT")


def _listening_socket(host: str, port: int, backlog: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    return sock


def _worker(host: str, port: int, serving: EventType, options: dict[str, Any]) -> None:
    """One worker process: its own socket, its own event loop, the whole app."""
    import uvicorn

    config = uvicorn.Config(APP, factory=True, host=host, port=port, **options)
    server = uvicorn.Server(config)
    sock = _listening_socket(host, port, config.backlog)

    def announce() -> None:
        # Tell the supervisor once the server took its first request off the socket.
        while not server.started and not server.should_exit:
            time.sleep(0.05)
        if server.started:
            serving.set()

    threading.Thread(target=announce, daemon=True).start()
    server.run(sockets=[sock])


class _Slot:
    """One worker position: the process filling it now and how it has been going."""

    def __init__(self) -> None:
        self.process: BaseProcess | None = None
        self.serving: EventType | None = None
        self.started_at = 0.0
        self.pause = 1.0
        self.restart_at = 0.0


def serve_workers(host: str, port: int, workers: int, **options: Any) -> int:
    """Run `workers` worker processes until SIGINT/SIGTERM; the exit status to use."""
    context = mp.get_context("spawn")
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("stopping the workers", extra={"signal": signal.Signals(signum).name})
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, on_signal)

    slots = [_Slot() for _ in range(workers)]

    def start(slot: _Slot) -> None:
        slot.serving = context.Event()
        slot.process = context.Process(
            target=_worker, args=(host, port, slot.serving, options), daemon=False
        )
        slot.process.start()
        slot.started_at = time.monotonic()
        log.info("worker started", extra={"pid": slot.process.pid})

    for slot in slots:
        start(slot)
    status = 0
    while not stop.wait(0.5):
        now = time.monotonic()
        for slot in slots:
            process = slot.process
            if process is not None and process.is_alive():
                continue
            if process is not None:
                served = slot.serving is not None and slot.serving.is_set()
                log.error("worker exited", extra={"pid": process.pid, "exitcode": process.exitcode})
                if not served:
                    # It never served: the next one would fail the same way.
                    status = 3
                    stop.set()
                    break
                quick = now - slot.started_at < QUICK_DEATH_S
                slot.pause = min(slot.pause * 2, MAX_PAUSE_S) if quick else 1.0
                slot.restart_at = now + slot.pause
                slot.process = None
            if now >= slot.restart_at:
                start(slot)
    for slot in slots:
        if slot.process is not None and slot.process.is_alive():
            slot.process.terminate()
    for slot in slots:
        if slot.process is not None:
            slot.process.join(timeout=30)
            if slot.process.is_alive():
                slot.process.kill()
                slot.process.join()
    return status
