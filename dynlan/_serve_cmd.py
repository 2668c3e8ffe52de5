"""`dynlan serve` and `dynlan runtimes`: from command-line arguments to a running server."""

from __future__ import annotations

import argparse
import logging
import socket
import sys
from collections.abc import Callable, Mapping

import trio

from dynlan._cli import CliError
from dynlan.app import App, discover_sites
from dynlan.config import Config, ConfigError, load_config
from dynlan.server import ListenError, Server, bind_socket

log = logging.getLogger("dynlan")


def _runtime_names() -> frozenset[str]:
    from dynlan.runtimes import registry

    return frozenset(registry().names())


def build_config(args: argparse.Namespace) -> Config:
    try:
        config = load_config(args.config, _runtime_names())
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    if args.host is not None:
        config.server.host = args.host
    if args.port is not None:
        if not 0 <= args.port <= 65535:
            raise CliError(f"--port {args.port}: must be between 0 and 65535")
        config.server.port = args.port
    if args.workers is not None:
        if args.workers < 1:
            raise CliError(f"--workers {args.workers}: must be at least 1")
        config.server.workers = args.workers
    if args.dev:
        config.dev = True
    if args.no_access_log:
        config.server.access_log = False
    if args.tls == "self-signed":
        config.tls.self_signed = True
    if args.tls_cert is not None:
        config.tls.cert = args.tls_cert
    if args.tls_key is not None:
        config.tls.key = args.tls_key
    if args.http3 is not None:
        config.http.http3 = args.http3
    if config.http.http3 and not config.tls.enabled:
        raise CliError("HTTP/3 needs TLS: add --tls self-signed or --tls-cert/--tls-key")
    if bool(config.tls.cert) != bool(config.tls.key):
        raise CliError("--tls-cert and --tls-key go together")
    return config


def serve_command(args: argparse.Namespace, argv: list[str]) -> int:
    from pathlib import Path

    config = build_config(args)
    # aioquic logs every connection's handshake at INFO: keep the server log for requests.
    logging.getLogger("quic").setLevel(logging.WARNING)
    try:
        sites, default = discover_sites(Path(args.path), config, _runtime_names())
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    workers = config.server.workers
    host, port = config.server.host, config.server.port
    ssl_context = None
    if config.tls.enabled:
        from dynlan.server._tls import make_server_context

        try:
            # Made before any worker starts, so workers share one development certificate.
            ssl_context = make_server_context(config.tls, config.http.http2)
        except ConfigError as exc:
            raise CliError(str(exc)) from None
    scheme = "https" if ssl_context is not None else "http"
    if workers > 1 and not args.worker_process:
        from dynlan.server._workers import Supervisor

        # Fail fast, with a clear message, when the port is taken.
        try:
            probe = bind_socket(host, port, reuse_port=True, backlog=1, listen=False)
        except ListenError as exc:
            raise CliError(str(exc)) from None
        probe.close()
        supervisor = Supervisor(argv, workers, config.server.grace_period)
        return trio.run(supervisor.run, lambda: _banner(scheme, host, port, sites, default.name, workers))
    # The QUIC endpoint is made in the process that serves (each worker), not in the supervisor.
    quic = None
    if ssl_context is not None and config.http.http3:
        from dynlan.http._h3proto import QuicRouter, QuicSettings, make_configuration
        from dynlan.server._tls import certificate_files

        http = config.http
        settings = QuicSettings(http.qpack_max_table_capacity, http.qpack_blocked_streams, http.h3_idle_timeout,
                                http.h2_max_concurrent_streams)
        quic = QuicRouter(make_configuration(*certificate_files(config.tls), settings), settings,
                          retry=http.h3_retry, max_connections=config.server.max_connections)
    try:
        sock = bind_socket(host, port, reuse_port=args.worker_process, backlog=config.server.backlog)
        redirects = []
        udp = bind_socket(host, port, reuse_port=args.worker_process, backlog=0, udp=True) if quic else None
        if ssl_context is not None and config.tls.redirect_port:
            redirects.append(bind_socket(host, config.tls.redirect_port, reuse_port=args.worker_process,
                                         backlog=config.server.backlog))
    except ListenError as exc:
        raise CliError(str(exc)) from None
    app = App(config, sites, default)
    try:
        app.prepare()
    except ConfigError as exc:
        sock.close()
        raise CliError(str(exc)) from None
    server = Server(config, app, ssl_context=ssl_context, quic=quic)
    bound_port = sock.getsockname()[1]

    def ready() -> None:
        if not args.worker_process:
            _banner(scheme, host, bound_port, sites, default.name, 1)

    _tune_gc()
    trio.run(_run, server, app, sock, ready, redirects, udp)
    return 0


def _tune_gc() -> None:
    """Move start-up objects out of the collector's sight and collect less often.

    Every request allocates many short-lived objects; with the default gen-0
    threshold (700) the cyclic collector runs hundreds of times a second and
    its full passes over everything imported at start-up show up as latency.
    """
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


async def _run(
    server: Server, app: App, sock: socket.socket, ready: Callable[[], None], redirects: list[socket.socket],
    udp: socket.socket | None,
) -> None:
    async with app.running():
        await server.serve([sock], on_ready=ready, redirect_sockets=redirects, udp_socket=udp)


def _banner(scheme: str, host: str, port: int, sites: Mapping[str, object], default: str, workers: int) -> None:
    shown = f"[{host}]" if ":" in host else host
    names = ", ".join(sites)
    print(f"dynlan serving {names} (default {default}) on {scheme}://{shown}:{port}/"
          + (f" with {workers} workers" if workers > 1 else ""), flush=True)


def runtimes_command() -> int:
    from dynlan.runtimes import registry

    rows = registry().describe()
    width = max((len(r[0]) for r in rows), default=4)
    for name, suffixes, version, status in rows:
        print(f"{name:<{width}}  {' '.join(suffixes):<10}  {version:<14}  {status}")
    sys.stdout.flush()
    return 0
