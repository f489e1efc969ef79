"""``rnnkit serve RUN_DIR [RUN_DIR ...]``: the RNN lab in the browser (:mod:`rnnkit.serve`).

Checks every run directory and loads each model once before it listens; binds 127.0.0.1 unless
``--host`` says otherwise (and then says who can reach it). ``--port 0`` takes a free port; the
address is printed either way.
"""
from __future__ import annotations

import argparse
import sys

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def register(commands, train_commands) -> None:
    from .flags import add, add_inference_flags
    from .main import command

    parser = command(
        commands, "serve", help="the RNN lab in the browser: watch a trained model write, see its gates and gradients",
        description="Starts a local web page over the runs given: language models (rnnkit demo, rnnkit train lm) "
                    "write as you watch, every character coloured by a chosen unit of a chosen gate, with the "
                    "gradient flow through the text; translation runs show their attention, taggers their tags, "
                    "classifiers their class probabilities as you type, memory-task runs their gradient by lag. "
                    "Needs the lab extra: pip install 'rnnkit[lab]'.")
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run directories to show")
    add(parser, "host", "127.0.0.1")
    add(parser, "port", 8000)
    add_inference_flags(parser)
    parser.set_defaults(func=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    from .errors import CommandError
    from .task import resolve_device

    try:
        import uvicorn

        from ..serve import create_app, open_runs
    except ImportError as err:
        raise CommandError(f"serve: needs {err.name}: pip install 'rnnkit[lab]'") from None
    device = resolve_device(args.device)
    listener = _listen(args.host, args.port)                  # a taken port is refused before any model loads
    try:
        runs = open_runs(args.run_dirs, device)
    except BaseException:
        listener.close()
        raise
    loopback = args.host in LOOPBACK
    app = create_app(runs, allowed_hosts=LOOPBACK if loopback else None)
    host, port = listener.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    for run in runs:
        print(f"  {run.id}: {run.view.title} ({run.path})")
    print(f"rnnkit lab: http://{shown}:{port}/ (Ctrl-C stops it)", flush=True)
    if not loopback:
        print(f"rnnkit: warning: listening on {args.host}, not on this machine only: anyone who can reach port {port} "
              "here can use the lab and its models", file=sys.stderr, flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                                          timeout_graceful_shutdown=2))
    server.run(sockets=[listener])
    if server.should_exit:          # uvicorn caught Ctrl-C (or SIGTERM) and shut down: exit as every command does
        raise KeyboardInterrupt     # on Ctrl-C (130), whether or not its re-raised signal reached us in time
    return 0


def _listen(host: str, port: int):
    """A socket bound to ``host:port`` (CommandError naming the flag when it cannot be)."""
    import socket

    from .errors import CommandError

    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        listener.listen(128)
    except OSError as err:
        listener.close()
        flag = "--host" if isinstance(err, socket.gaierror) else "--port"
        raise CommandError(f"{flag}: cannot listen on {host}:{port} ({err.strerror})") from None
    return listener
