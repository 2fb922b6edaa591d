"""`cecot-rag serve` in a terminal: options, console logging, startup progress, then uvicorn.

The CLI prints its first line before importing this module (which imports the server and its
libraries); every later line, up to `ready after N s`, counts from the moment the process started.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from cecot_rag.assistant import Assistant
from cecot_rag.errors import EXIT_OK, UsageError
from cecot_rag.server.app import LOOPBACK_HOSTS, create_app, parse_credentials
from cecot_rag.server.login import read_credentials_file
from cecot_rag.server.service import ChatService
from cecot_rag.settings import Settings

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
_IMPORTED = time.monotonic()  # where /proc cannot tell the process's start, the nearest moment known


def seconds_since_start() -> float:
    """How long this process has run: from its start time in /proc (Linux), the imports included."""
    try:
        with open("/proc/self/stat", encoding="ascii") as stat:
            fields = stat.read().rpartition(")")[2].split()
        with open("/proc/uptime", encoding="ascii") as uptime:
            now = float(uptime.read().split()[0])
    except OSError:
        return time.monotonic() - _IMPORTED
    started = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22 of stat: start, in ticks since boot
    return max(0.0, now - started)


@dataclass(frozen=True)
class ServeOptions:
    """Where `cecot-rag serve` listens, USER:PASSWORD or a file holding it (None: the auth setting,
    if any), how much the server logs (`warning`: no access log; `info` adds one line per request),
    and which reverse proxies' X-Forwarded-For is trusted (None: the setting; by default none)."""

    host: str = "127.0.0.1"
    port: int = 7860
    auth: str | None = None
    auth_file: Path | None = None
    log_level: str = "warning"
    forwarded_allow_ips: str | None = None


class _ConsoleFormatter(logging.Formatter):
    """Startup progress as plain `cecot-rag: ...` lines; warnings and errors say what and where."""

    def format(self, record: logging.LogRecord) -> str:
        message = super().format(record)
        if record.name.startswith("cecot_rag") and record.levelno == logging.INFO:
            return f"cecot-rag: {message}"
        return f"{record.levelname} {record.name}: {message}"


def setup_logging(level: str) -> None:
    """The given level for every library (uvicorn's access log included); INFO at least for ours,
    whose INFO lines are the few progress messages of startup (model export, ingestion)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_ConsoleFormatter("%(message)s"))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    logging.getLogger("cecot_rag").setLevel(min(logging.INFO, logging.getLevelName(level.upper())))
    # httpx logs every request at INFO, our own readiness probe included.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLevelName(level.upper())))


def _say(text: str) -> None:
    print(f"cecot-rag: {text}", file=sys.stderr, flush=True)


def _probe_url(host: str, port: int) -> str:
    """Where this machine reaches the server: a wildcard address is probed on loopback."""
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def report_startup(service: ChatService, options: ServeOptions, credentials: tuple[str, str] | None) -> None:
    """Say what startup is doing, then one `ready: URL` line once the page itself answers.

    Runs in a thread beside uvicorn: loading the model here first (the ONNX export on a machine's
    first start) lets the line before it say why the wait is long; the startup ingestion, started by
    the app, says whether the index was empty, finds the model loaded and logs its counts.
    """
    import httpx

    settings = service.settings
    _say(f"index {settings.index_dir}, documents {settings.documents_dir}")
    _say("loading the embedding model (a machine's first start also exports it to ONNX, once)")
    backend = service.assistant.embedder.active_backend
    _say(f"embedding model ready ({backend}) after {seconds_since_start():.0f} s")
    if settings.generator != "extractive":
        from cecot_rag.answer.generated import warm_up

        _say(f"loading the language model for {settings.generator!r} answers (CECOT_RAG_GENERATOR)")
        _say(warm_up(service.assistant.answerer, settings.generator))
    readiness = service.readiness
    while not readiness.ready.wait(0.2):
        if readiness.error:
            _say(f"the index could not be prepared ({readiness.error}); /healthz says so")
            return
    url = _probe_url(options.host, options.port)
    with httpx.Client(auth=credentials, timeout=10) as client:
        while True:
            try:
                if client.get(url).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
    shown = f"http://{options.host}:{options.port}/"
    _say(f"ready after {seconds_since_start():.0f} s: {shown} (API schema at {shown}openapi.json)")


def serve(options: ServeOptions) -> int:
    """The `serve` subcommand: claim the index, start the server, ingest an empty index meanwhile."""
    import uvicorn

    settings = Settings()
    try:
        raw_auth = options.auth or (
            read_credentials_file(options.auth_file) if options.auth_file else settings.auth
        )
        credentials = parse_credentials(raw_auth) if raw_auth else None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if options.log_level not in LOG_LEVELS:
        raise UsageError(f"--log-level must be one of {', '.join(LOG_LEVELS)}")
    assistant = Assistant(settings)
    assistant.claim_writer("cecot-rag serve")  # IndexBusy: the CLI says who holds the index, exit 1
    if credentials is None and options.host not in LOOPBACK_HOSTS:
        print(
            f"cecot-rag: warning: serving on {options.host} without --auth; anyone who can reach it "
            "can read, add and delete documents",
            file=sys.stderr,
        )
    setup_logging(options.log_level)
    loopback = options.host in LOOPBACK_HOSTS
    app = create_app(
        settings,
        assistant=assistant,
        auth=credentials,
        trusted_hosts=list(LOOPBACK_HOSTS) if loopback else None,
    )
    reporter = threading.Thread(
        target=report_startup,
        args=(app.state.service, options, credentials),
        name="cecot-rag-startup-report",
        daemon=True,
    )
    reporter.start()
    # uvicorn trusts X-Forwarded-For from 127.0.0.1 unless told otherwise, and a forged header would
    # then pick the address login backoff counts against: only the proxies the operator names.
    proxies = options.forwarded_allow_ips or settings.forwarded_allow_ips
    try:
        uvicorn.run(
            app,
            host=options.host,
            port=options.port,
            log_level=options.log_level,
            log_config=None,  # keep the handler set up above instead of uvicorn's own
            timeout_graceful_shutdown=5,
            proxy_headers=bool(proxies),
            forwarded_allow_ips=proxies or None,
        )
    finally:
        assistant.release_writer()
    return EXIT_OK
