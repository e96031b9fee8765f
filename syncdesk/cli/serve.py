"""``syncdesk serve``: the engine over HTTP (contract.md, "Server"); the analysis options are the
server's defaults. The web framework is imported only when the command runs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .analyze import add_analysis_options, options_from
from .argtypes import number_between


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "serve", help="serve the engine over HTTP: an API for pipelines and a page in the browser",
        description=("Serve analyses, fixes and batches over HTTP (OpenAPI at /openapi.json, docs at /docs, a page "
                     "at /). Every /v1 route but /v1/health needs the token: generated into the data folder and "
                     "printed once on first start, or read from --token-file. Only files below a --root are read "
                     "(or uploaded ones); jobs survive a restart."),
    )
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=number_between(int, 1, 65535, "a port number"), default=8765,
                        help="port (default 8765)")
    parser.add_argument("--root", type=Path, action="append", default=[], metavar="DIR",
                        help="a folder whose files (and sub-folders) requests may name; repeat for more")
    parser.add_argument("--token-file", type=Path, metavar="FILE",
                        help="read the access token from FILE (default: generated into the data folder)")
    parser.add_argument("--max-upload-mb", type=number_between(int, 1, 1024 * 1024, "a whole number of MB"),
                        default=4096, metavar="MB", help="largest upload accepted (default 4096)")
    parser.add_argument("--workers", type=number_between(int, 1, 256, "a whole number"), metavar="N",
                        help="analysis processes, each loading the model once (default: half the cores)")
    parser.add_argument("--keep-hours", type=number_between(float, 0, 100_000, "hours"), default=72.0,
                        metavar="H", help="remove finished jobs and their files after H hours (0: keep; default 72)")
    parser.add_argument("--ssl-certfile", metavar="PEM", help="serve HTTPS with this certificate")
    parser.add_argument("--ssl-keyfile", metavar="PEM", help="the certificate's private key")
    parser.add_argument("--quiet", action="store_true", help="no line per request")
    add_analysis_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..core import data_dir, locate, validate_options
    from ..server.config import ServerConfig, default_workers, server_home
    from ..server.run import serve
    from ..server.security import make_roots, server_token

    if bool(args.ssl_certfile) != bool(args.ssl_keyfile):
        print("syncdesk serve: error: --ssl-certfile and --ssl-keyfile go together (see syncdesk serve --help)",
              file=sys.stderr)
        return 2
    options = options_from(args)
    validate_options(options)
    locate("syncnet", options.weights)  # missing weights: said now, not by every job
    roots = make_roots(args.root)
    data = data_dir()
    token, where, created = server_token(server_home(data), args.token_file)
    if created:
        print(f"syncdesk serve: a new access token was generated (shown this once; it is kept in {where}):\n{token}",
              flush=True)
    else:
        print(f"syncdesk serve: the access token is in {where}", file=sys.stderr, flush=True)
    config = ServerConfig(roots=roots, options=options, token=token, data=data,
                          workers=args.workers or default_workers(),
                          max_upload_bytes=args.max_upload_mb * 1024 * 1024, keep_hours=args.keep_hours)
    try:
        serve(config, args.host, args.port, args.ssl_certfile, args.ssl_keyfile, access_log=not args.quiet)
    except SystemExit as exc:  # uvicorn's own exit (a port in use: it said so on stderr)
        return int(exc.code or 0) if isinstance(exc.code, int) else 1
    return 0
