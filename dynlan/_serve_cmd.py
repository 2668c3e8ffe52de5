"""`dynlan serve` and `dynlan runtimes`: from command-line arguments to a running server."""

from __future__ import annotations

import argparse
import errno
import logging
import os
import signal
import socket
import ssl
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

import trio

from dynlan._cli import CliError
from dynlan.app import App, Site, discover_sites
from dynlan.app._reload import Reloader
from dynlan.config import Config, ConfigError, load_config
from dynlan.observability import RequestMetrics
from dynlan.observability._slow import SlowLog
from dynlan.observability._tracing import Tracing
from dynlan.observability._tracing import install as install_tracing
from dynlan.observability._worker import ObservedOperations
from dynlan.server import ListenError, Server, bind_socket
from dynlan.server._access import AccessLog
from dynlan.server._serve import without_missing_protocols
from dynlan.server._watchdog import Heartbeat, Inflight, Watchdog, blocked_limit

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
    if config.server.watchdog_grace <= 0:
        raise CliError(f"server.watchdog_grace: must be more than 0, got {config.server.watchdog_grace:g}")
    if config.server.grace_period < 0:
        raise CliError(f"server.grace_period: must be 0 or more, got {config.server.grace_period:g}")
    if config.server.max_connections < 1:
        raise CliError(f"server.max_connections: must be at least 1, got {config.server.max_connections}")
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
    if getattr(args, "admin", None):
        from dynlan.observability import admin_address

        try:
            admin_address(args.admin, config.admin.token, "--admin")
        except ConfigError as exc:
            raise CliError(str(exc)) from None
        config.admin.listen = args.admin
    if config.admin.listen and not config.server.control_socket:
        raise CliError("admin.listen needs server.control_socket: the supervisor asks the workers through it")
    for line in without_missing_protocols(config.http):
        if not getattr(args, "worker_process", False):  # said once, by the supervisor; workers decide alike
            log.warning(line)
    return config


def _hold_sighup(signum: int, frame: object) -> None:
    """SIGHUP before the server listens for it: a reload comes from the files read at start anyway."""


def serve_command(args: argparse.Namespace, argv: list[str]) -> int:
    # SIGHUP reloads; its default action would end the process while it starts. (A handler, not SIG_IGN,
    # which pages' child processes would inherit.)
    signal.signal(signal.SIGHUP, _hold_sighup)
    config = build_config(args)
    from dynlan.server._access import TIME_FORMAT

    for handler in logging.getLogger().handlers:
        # One timestamp format for the application log and the access log (docs/operations.md).
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", TIME_FORMAT))
    # aioquic logs every connection's handshake at INFO: keep the server log for requests.
    logging.getLogger("quic").setLevel(logging.WARNING)
    try:
        sites, default = discover_sites(Path(args.path), config, _runtime_names())
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    ssl_context = None
    if config.tls.enabled:
        from dynlan.server._tls import make_server_context

        try:
            # Made before any worker starts, so workers share one development certificate.
            ssl_context = make_server_context(config.tls, config.http.http2)
        except ConfigError as exc:
            raise CliError(str(exc)) from None
    if args.worker_process:
        return _serve_worker(args, config, sites, default, ssl_context)
    return _supervise(argv, config, sites, tls=ssl_context is not None)


def _supervise(argv: list[str], config: Config, sites: Mapping[str, Site], *, tls: bool) -> int:
    """Bind the listening sockets, then keep `[server] workers` worker processes serving on them."""
    from dynlan.server._control import control_dir
    from dynlan.server._workers import Slot, Supervisor

    server = config.server
    workers, host, port = server.workers, server.host, server.port
    http3 = tls and config.http.http3
    redirect_port = config.tls.redirect_port if tls else 0
    bound: list[socket.socket] = []
    slots: list[Slot] = []
    try:
        for index in range(workers):
            # One set of sockets per worker slot, kept here so that a replacement inherits the connections
            # waiting in their backlog; several slots share the port with SO_REUSEPORT. A lone worker's socket
            # does not set it, so that another server on the port is an error, not a silent neighbour.
            reuse = workers > 1
            tcp = bind_socket(host, port, reuse_port=reuse, backlog=server.backlog, listen=False)
            bound.append(tcp)
            # With --port 0 every other socket takes the port the first one got (HTTP/3 on the same number).
            port = tcp.getsockname()[1]
            group = [tcp]
            if http3:
                group.append(bind_socket(host, port, reuse_port=reuse, backlog=0, udp=True))
                bound.append(group[-1])
            if redirect_port:
                group.append(bind_socket(host, redirect_port, reuse_port=reuse, backlog=server.backlog,
                                         listen=False))
                bound.append(group[-1])
            heartbeat, fd = Heartbeat.create(f"dynlan-worker-{index}")
            slots.append(Slot(index, group, heartbeat, fd))
    except ListenError as exc:
        for sock in bound:
            sock.close()
        raise CliError(str(exc)) from None
    limit = blocked_limit(config, [site.config.limits for site in sites.values()])
    supervisor = Supervisor(argv, slots, server.grace_period, limit, server.watchdog_grace,
                            control_folder=control_dir(port) if server.control_socket else None)
    if config.admin.listen:
        from dynlan.observability import admin_address
        from dynlan.observability._admin import AdminServer

        admin_host, admin_port = admin_address(config.admin.listen, config.admin.token, "admin.listen")
        try:
            admin_socket = bind_socket(admin_host, admin_port, reuse_port=False, backlog=64)
        except ListenError as exc:
            for sock in bound:
                sock.close()
            raise CliError(f"admin listener: {exc}") from None
        bound.append(admin_socket)
        supervisor.admin = AdminServer(admin_socket, config.admin.token, supervisor, control_dir(port))
    # The workers' shared counters and sessions (dynlan.host._shared): one file for the instance's lifetime,
    # named to the workers (and their replacements) by the environment they inherit.
    from dynlan.host._shared import ENV, create_file, remove_file

    os.environ[ENV] = instance_store = create_file()
    try:
        return trio.run(supervisor.run)
    finally:
        for sock in bound:
            sock.close()
        remove_file(instance_store)


def _serve_worker(
    args: argparse.Namespace, config: Config, sites: dict[str, Site], default: Site, ssl_context: ssl.SSLContext | None,
) -> int:
    """Serve on the sockets the supervisor handed down, with the watchdog on."""
    try:
        fds = [int(fd) for fd in args.listen_fds.split(",")]
    except ValueError:
        raise CliError("--worker-process is started by the supervisor, with --listen-fds") from None
    if args.heartbeat_fd < 0:
        raise CliError("--worker-process is started by the supervisor, with --heartbeat-fd")
    inherited = [socket.socket(fileno=fd) for fd in fds]
    for sock in inherited:
        # Pages' child processes (php-cgi, sandboxes) must not hold the server's sockets.
        sock.set_inheritable(False)
    main, others = inherited[0], inherited[1:]
    udp = next((s for s in others if s.type == socket.SOCK_DGRAM), None)
    redirects = [s for s in others if s.type == socket.SOCK_STREAM]
    config.server.port = main.getsockname()[1]  # the port --port 0 got
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
    app = App(config, sites, default)
    if config.log.slow_fraction > 0:
        app.pipeline.slow = SlowLog(config.log.slow_fraction)
    tracing = Tracing.from_config(config.trace)
    install_tracing(tracing)
    try:
        app.prepare()
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    port = config.server.port

    def load_config() -> Config:
        # As at start: the config file, then the command line over it.
        try:
            reloaded = build_config(args)
        except CliError as exc:
            raise ConfigError(str(exc)) from None
        reloaded.server.port = port
        return reloaded

    def discover(reloaded: Config) -> tuple[dict[str, Site], Site]:
        return discover_sites(Path(args.path), reloaded, _runtime_names())

    reloader = Reloader(app, load_config, discover)
    operations = ObservedOperations(app, reloader.reload)
    access = AccessLog(enabled=config.server.access_log, fmt=config.log.access_format, path=config.log.access_file,
                       metrics=RequestMetrics() if config.admin.listen else None)
    server = Server(config, app, ssl_context=ssl_context, quic=quic, operations=operations, access=access)
    operations.attach(server.state, access)
    reloader.preparers.append(server.prepare_config)

    def inflight() -> Inflight:
        return app.host.inflight if app.host is not None else {}

    heartbeat = Heartbeat.attach(args.heartbeat_fd)
    watchdog = Watchdog(blocked_limit(config, [site.config.limits for site in sites.values()]), inflight,
                        shared=heartbeat, parent=heartbeat.supervisor or os.getppid(),
                        name=f"worker {args.worker_index}")
    watchdog.set_limits(watchdog.limit, config.server.grace_period)
    supervisor = heartbeat.supervisor or os.getppid()
    server.replaced_when_stopped = lambda: not heartbeat.stopping and os.getppid() == supervisor

    def swapped(new: Config) -> None:
        watchdog.set_limits(blocked_limit(new, [site.config.limits for site in app.sites.values()]),
                            new.server.grace_period)

    reloader.swapped.append(swapped)
    def ready() -> None:
        if args.banner:
            scheme = "https" if ssl_context is not None else "http"
            _banner(scheme, config.server.host, config.server.port, sites, default.name, config.server.workers)
            _banner_details(config, scheme, sites, default.name, app)
        watchdog.mark_serving()

    for sock in [main, *redirects]:
        _listen(sock, config.server.backlog)
    _tune_gc()
    try:
        trio.run(_run, server, app, reloader, main, watchdog, ready, redirects, udp)
    finally:
        if tracing is not None:
            tracing.shutdown()
    return 0


def _listen(sock: socket.socket, backlog: int) -> None:
    """Make a slot's socket listen: the first worker of the slot does; a replacement's call changes nothing (the
    backlog and the connections waiting in it stay), unless a worker before it stopped gracefully, which takes
    the socket out of listening: then it is bound to its address again first."""
    if not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
        address = sock.getsockname()
        try:
            sock.bind(address)
        except OSError as exc:
            # EINVAL: still bound (never listened yet). Anything else: the address went to someone else, and
            # listen() would pick a port at random.
            if exc.errno != errno.EINVAL:
                raise CliError(f"cannot listen on {address[0]}:{address[1]} again: {exc.strerror}") from None
    sock.listen(backlog)


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
    server: Server, app: App, reloader: Reloader, sock: socket.socket, watchdog: Watchdog,
    ready: Callable[[], None], redirects: list[socket.socket], udp: socket.socket | None,
) -> None:
    async with trio.open_nursery() as nursery:
        # The heartbeat runs as long as the loop does: runtimes starting and closing are watched too.
        await nursery.start(watchdog.run)
        if app.pipeline.slow is not None:
            nursery.start_soon(app.pipeline.slow.run)
        async with app.running(), reloader.running():
            await server.serve([sock], on_ready=ready, redirect_sockets=redirects, udp_socket=udp)
        nursery.cancel_scope.cancel()


def _banner(scheme: str, host: str, port: int, sites: Mapping[str, object], default: str, workers: int) -> None:
    shown = f"[{host}]" if ":" in host else host
    names = ", ".join(sites)
    print(f"dynlan serving {names} (default {default}) on {scheme}://{shown}:{port}/"
          + (f" with {workers} workers" if workers > 1 else ""), flush=True)


def _banner_details(config: Config, scheme: str, sites: Mapping[str, Site], default: str, app: App) -> None:
    """What the server serves, under the banner's first line: each site and the hosts it answers, a URL per
    protocol, the admin listener, dev mode, and each runtime with its version or why it is unavailable."""
    from dynlan.runtimes import registry

    host = config.server.host
    shown = f"[{host}]" if ":" in host else host
    if host in ("0.0.0.0", "::"):
        shown = "localhost"  # reachable there too; the address above is what it listens on
    base = f"{scheme}://{shown}:{config.server.port}/"
    lines: list[tuple[str, str]] = []
    for name, site in sites.items():
        hosts = "every host" if len(sites) == 1 else f"Host: {name}" + (", and any host no site names"
                                                                          if name == default else "")
        lines.append(("site", f"{name}  {hosts}  ({site.root})"))
    lines.append(("HTTP/1.1", base))
    if config.http.http2:
        lines.append(("HTTP/2", base + ("  (ALPN h2)" if scheme == "https" else "  (h2c: prior knowledge or Upgrade)")))
    if scheme == "https" and config.http.http3:
        lines.append(("HTTP/3", base + f"  (QUIC on UDP port {config.server.port})"))
    if config.admin.listen:
        lines.append(("admin", f"http://{config.admin.listen}/  (/metrics, /healthz, /readyz, /admin)"))
    lines.append(("dev mode", "on: error pages show the source and the request; pages reload when files change"
                  if config.dev else "off (--dev shows errors in detail and reloads pages on change)"))
    used = set(app.runtimes)
    for name, _suffixes, version, status in registry().describe():
        if status == "available":
            text = f"{name} {version}" + ("" if name in used or not app.runtimes else "  (no page of it yet)")
        else:
            text = f"{name}: {status}"
        lines.append(("runtime", text))
    width = max(len(label) for label, _ in lines)
    print("\n".join(f"  {label.ljust(width)}  {text}" for label, text in lines), flush=True)


def runtimes_command() -> int:
    from dynlan.runtimes import registry

    rows = [("RUNTIME", "SUFFIXES", "VERSION", "STATUS")]
    rows += [(name, " ".join(suffixes), version, status) for name, suffixes, version, status in registry().describe()]
    # Every column as wide as its widest cell; the last one (a reason, when unavailable) runs on.
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True)) + "  " + row[3])
    sys.stdout.flush()
    return 0
