"""`payhub serve --workers N`: every worker listens on a socket of its own (SO_REUSEPORT),
so connections opened together spread over the workers; a worker that dies is replaced;
SIGTERM stops them all."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from payhub.api.serving import reuse_port_supported
from tests.processes import PAYHUB, free_port, fresh_database, payhub_env, run_payhub

pytestmark = pytest.mark.skipif(
    not reuse_port_supported() or not Path("/proc/net/tcp").exists(),
    reason="needs SO_REUSEPORT and /proc (Linux)",
)
STARTUP_TIMEOUT = 60.0


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        # The workers, not multiprocessing's resource tracker.
        if parent == pid and "resource_tracker" not in cmdline:
            found.append(int(entry.name))
    return sorted(found)


def _sockets_on(pid: int, port: int, state: str) -> int:
    """Sockets on local `port` in a TCP state ("01" established, "0A" listening) that
    process `pid` holds (read from /proc: no extra tools)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == state and fields[9] in inodes:
                count += 1
    return count


def _wait_healthy(base_url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        assert process.poll() is None, f"payhub serve exited with {process.returncode}"
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail("the workers did not answer in time")


def _wait_for(condition: object, timeout: float = STARTUP_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.1)
    pytest.fail("timed out")


@pytest.fixture
def database(tmp_path: Path) -> Iterator[str]:
    with fresh_database(tmp_path) as url:
        migrated = run_payhub("migrate", database_url=url, cwd=tmp_path)
        assert migrated.returncode == 0, migrated.stderr
        yield url


def test_workers_share_connections_and_are_replaced(database: str, tmp_path: Path) -> None:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [str(PAYHUB), "serve", "--port", str(port), "--workers", "2"],
        cwd=tmp_path,
        env=payhub_env(database, PAYHUB_DEMO_DATA="false"),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    clients: list[socket.socket] = []
    try:
        _wait_healthy(base_url, process)
        _wait_for(lambda: len(_children(process.pid)) == 2)
        workers = _children(process.pid)
        # Both workers listening before the burst (the second may still be starting).
        _wait_for(lambda: all(_sockets_on(w, port, "0A") == 1 for w in workers))
        for _ in range(32):
            sock = socket.create_connection(("127.0.0.1", port))
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            clients.append(sock)
        for sock in clients:
            assert sock.recv(4096).startswith(b"HTTP/1.1 200")
        held = [_sockets_on(w, port, "01") for w in workers]
        assert sum(held) == 32
        # An even spread by the kernel's hash: one worker with 4 or fewer of 32 happens
        # about once in 10^5 runs; one shared socket gave a burst to a single worker.
        assert min(held) >= 5, held

        os.kill(workers[0], signal.SIGKILL)
        _wait_for(
            lambda: workers[0] not in _children(process.pid) and len(_children(process.pid)) == 2
        )
        _wait_healthy(base_url, process)
        assert httpx.get(f"{base_url}/healthz", timeout=5).status_code == 200
    finally:
        for sock in clients:
            sock.close()
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
            log.close()
    assert code == 0, (tmp_path / "serve.log").read_text(errors="replace")
    assert _children(process.pid) == []
