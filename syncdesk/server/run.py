"""Starting a server: check everything that can be checked, take the data folder, then uvicorn.

One uvicorn process with one event loop (the dispatcher must be alone on its queue); the analyses
run in the worker processes, so one loop is enough to answer many clients.
"""

from __future__ import annotations

import ipaddress
import sys
from typing import Optional

from .app import create_app
from .config import ServerConfig

LOOPBACK_NAMES = ("localhost",)


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(config: ServerConfig, host: str, port: int, ssl_certfile: Optional[str] = None,
          ssl_keyfile: Optional[str] = None, access_log: bool = True) -> None:
    """Serve until SIGINT or SIGTERM; running jobs are then cancelled and queued for the next start
    (by the app's lifespan; the ``finally`` here covers a server that never got that far)."""
    import uvicorn

    app = create_app(config)
    manager = app.state.manager
    manager.start()  # here, not in the lifespan, so that a held data folder is one clear line
    try:
        scheme = "https" if ssl_certfile else "http"
        shown = f"[{host}]" if ":" in host else host
        print(f"syncdesk serve: {scheme}://{shown}:{port}/ (API docs at /docs); {config.workers} worker(s); "
              f"roots: {', '.join(f'{root.name}={root.path}' for root in config.roots) or 'none (uploads only)'}",
              file=sys.stderr, flush=True)
        if not is_loopback(host) and not ssl_certfile:
            print("syncdesk serve: warning: listening beyond this machine over plain HTTP: the token crosses the "
                  "network in clear; put a TLS proxy in front or pass --ssl-certfile/--ssl-keyfile",
                  file=sys.stderr, flush=True)
        server = uvicorn.Server(uvicorn.Config(
            app, host=host, port=port, log_level="info", access_log=access_log, lifespan="on",
            ssl_certfile=ssl_certfile, ssl_keyfile=ssl_keyfile, timeout_graceful_shutdown=10,
            server_header=False))
        server.run()
    finally:
        manager.stop()
