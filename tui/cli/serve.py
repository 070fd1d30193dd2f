"""`minigpt studio --serve`: the studio in a browser tab through textual-serve, each tab its own
studio process in this folder. It binds to this machine only unless told otherwise."""

from __future__ import annotations

import argparse
import ipaddress
import shlex
import socket
import sys

from tui.cli.args import UsageError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


def is_local(host: str) -> bool:
    """True for a host only this machine can reach: localhost or a loopback address."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def studio_command(args: argparse.Namespace) -> str:
    """The shell line each browser tab's studio runs: this studio's own flags, this Python."""
    argv = [sys.executable, "-m", "tui.cli", "studio", "--preset", args.preset]
    for flag, value in (
        ("--checkpoint", args.checkpoint),
        ("--data", args.data),
        ("--threads", args.threads),
        ("--watch", args.watch),
        ("--weights", args.weights),
    ):
        if value is not None:
            argv += [flag, str(value)]
    return shlex.join(argv)


def public_url(host: str, port: int) -> str:
    """The address a browser opens; an address that means "every interface" is no address to
    open, so this machine's name stands in for it."""
    shown = host
    try:
        if ipaddress.ip_address(host).is_unspecified:
            shown = socket.getfqdn()
    except ValueError:
        pass
    if ":" in shown:  # an IPv6 address goes in brackets in a URL
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


def serve_studio(args: argparse.Namespace) -> int:
    if args.screenshot is not None:
        raise UsageError("--screenshot draws into a file; it cannot be served: drop --serve")
    host = args.host or DEFAULT_HOST
    if not is_local(host) and not args.allow_remote:
        raise UsageError(
            f"--host {host} lets other machines open the studio, and anyone who reaches it can "
            "train, load and delete runs here; add --allow-remote if that is what you want"
        )
    try:
        from textual_serve.server import Server
    except ImportError:
        raise UsageError(
            "--serve needs the textual-serve package: pip install textual-serve"
        ) from None
    url = public_url(host, args.port)
    server = Server(studio_command(args), host=host, port=args.port, public_url=url)
    server.title = "MiniGPT Studio"
    if is_local(host):
        print(f"serving the studio on {url} (this machine only; --host to change)", flush=True)
    else:
        print(
            f"warning: serving the studio on {url} to every machine that can reach {host}: "
            "anyone who opens it can train, load and delete runs in this folder",
            flush=True,
        )
    try:
        server.serve()
    except OSError as error:  # the address: taken, or not one of this machine's
        raise UsageError(
            f"cannot serve on {host}:{args.port}: {error.strerror or error}; choose another "
            "--port or --host"
        ) from None
    return 0
