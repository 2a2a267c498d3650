"""Every process the stack and the stream workers start listens on ECOM_HOST only.

The processes are each component's process tree (from its pid file: the postmaster and
its backends, the broker's, Connect's and the schema registry's JVMs, MinIO) and each
stream worker's. psutil
lists their listening TCP sockets and their bound UDP sockets; any address other than
the configured host fails the test.

One exception, narrow and by design of MinIO: its API server also listens on every
loopback address of the machine (``::1`` beside ``127.0.0.1``), which it adds itself for
its console (cmd/server-main.go, getServerListenAddrs). Loopback is reachable from this
machine only; it is allowed for MinIO's API port and nothing else.
"""

from __future__ import annotations

import ipaddress
import socket

import psutil

from common import process
from stack.components import ORDER
from stream_apps import workers
from stream_apps.configuration import StreamSettings

Socket = tuple[str, int, str]  # address, port, process name


def _listening(procs: list[psutil.Process]) -> list[Socket]:
    found = []
    for proc in procs:
        try:
            conns = proc.net_connections(kind="inet")
            name = proc.name()
        except psutil.NoSuchProcess:  # a backend that just ended
            continue
        for c in conns:
            bound_udp = c.type == socket.SOCK_DGRAM and not c.raddr
            if c.status == psutil.CONN_LISTEN or bound_udp:
                found.append((c.laddr.ip, c.laddr.port, name))
    return found


def _processes(stream: StreamSettings) -> dict[str, list[psutil.Process]]:
    s = stream.base
    trees = {}
    for comp in (cls(s) for cls in ORDER):
        pid = comp.pid()
        assert pid is not None, f"{comp.name} is not running"
        trees[comp.name] = process.tree(pid)
    for w in workers.status(stream):
        if w.pid is not None:
            trees[f"stream-{w.index}"] = process.tree(w.pid)
    return trees


def test_every_socket_listens_on_the_configured_host_only(stream: StreamSettings) -> None:
    s = stream.base
    host_ips = {info[4][0] for info in socket.getaddrinfo(s.host, None)}
    found = {name: _listening(procs) for name, procs in _processes(stream).items()}

    def allowed(name: str, ip: str, port: int) -> bool:
        if ip in host_ips:
            return True
        return name == "minio" and port == s.s3_port and ipaddress.ip_address(ip).is_loopback

    beyond = [
        f"{name} ({proc}) on {ip}:{port}"
        for name, sockets in found.items()
        for ip, port, proc in sockets
        if not allowed(name, ip, port)
    ]
    assert beyond == [], f"listening beyond {s.host}: {beyond}"

    # The walk found the right processes: each listens where the settings say.
    on_host = {(name, port) for name, sockets in found.items() for ip, port, _ in sockets
               if ip in host_ips}  # fmt: skip
    expected = {
        ("postgres", s.pg_port),
        ("kafka", s.kafka_port),
        ("kafka", s.kafka_controller_port),
        ("connect", s.connect_port),
        ("minio", s.s3_port),
        ("minio", s.s3_console_port),
        ("registry", s.registry_port),
        ("registry", s.registry_management_port),
        ("stream-0", stream.web_port),
    }
    assert expected <= on_host, f"missing: {expected - on_host}"
