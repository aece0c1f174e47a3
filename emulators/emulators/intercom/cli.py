"""`emulator intercom ...`: serve, seed and simulate."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from emulators.intercom.db import Database

USAGE = """emulator intercom [serve] --port PORT --data-dir DIR [options]
       emulator intercom seed --data-dir DIR --contacts N --conversations M [--seed S]
       emulator intercom simulate --data-dir DIR [--steps N] [--seed S]"""


def _serve_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="emulator intercom",
        usage=USAGE,
        description="Serve the Intercom emulator over HTTP on 127.0.0.1.",
    )
    p.add_argument("--port", type=int, required=True, help="TCP port on 127.0.0.1")
    p.add_argument("--data-dir", required=True, help="directory of the SQLite workspace")
    p.add_argument("--timezone", help="workspace timezone (default Europe/Berlin)")
    p.add_argument(
        "--rate-limit-per-minute",
        type=int,
        help="calls per minute per app (default 10000), enforced as ceil(N/6) per "
        "10 s window; X-RateLimit-Limit shows that window figure",
    )
    p.add_argument(
        "--access-token",
        action="append",
        default=[],
        help="accept this bearer token (repeatable; default emulator-token)",
    )
    p.add_argument(
        "--search-delay-seconds",
        type=float,
        help="how long new contacts stay invisible to search (default 0)",
    )
    p.add_argument("--webhook", help="subscribe this URL to webhook notifications")
    p.add_argument("--webhook-secret", help="client secret that signs notifications")
    p.add_argument(
        "--webhook-topics",
        default="",
        help="comma-separated topics (default: all contact and conversation topics)",
    )
    p.add_argument("--log-level", default="warning", help="uvicorn log level")
    return p


def serve(argv: list[str]) -> int:
    """``emulator intercom [serve]``: run the server until SIGTERM."""
    args = _serve_parser().parse_args(argv)
    if args.timezone:
        try:
            ZoneInfo(args.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            print(
                f"emulator intercom: unknown timezone {args.timezone!r}; use an IANA name "
                "such as Europe/Berlin.",
                file=sys.stderr,
            )
            return 2
    if args.webhook and not args.webhook_secret:
        print(
            "emulator intercom: --webhook needs --webhook-secret, which signs every "
            "notification; add it.",
            file=sys.stderr,
        )
        return 2
    import uvicorn

    from emulators.intercom.server import IntercomApp
    from emulators.intercom.webhooks import TOPICS

    db = Database(args.data_dir)
    db.update_settings(
        {
            "timezone": args.timezone,
            "rate_limit_per_minute": args.rate_limit_per_minute,
            "search_delay_seconds": args.search_delay_seconds,
        }
    )
    if args.access_token:
        tokens = db.get_meta("tokens", {"active": ["emulator-token"], "revoked": []})
        tokens["active"] = list(dict.fromkeys(args.access_token))
        tokens["revoked"] = [t for t in tokens["revoked"] if t not in tokens["active"]]
        db.set_meta("tokens", tokens)
    webhook = None
    if args.webhook:
        topics = [t for t in args.webhook_topics.split(",") if t] or [
            t for t in TOPICS if t != "ping"
        ]
        webhook = {"url": args.webhook, "topics": topics, "secret": args.webhook_secret}
    app = IntercomApp(db, webhook=webhook)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        log_level=args.log_level,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=3,
    )
    return 0


def seed(argv: list[str]) -> int:
    """``emulator intercom seed``: replace the workspace in a data dir with a generated one."""
    p = argparse.ArgumentParser(
        prog="emulator intercom seed", description="Replace the workspace with a generated one."
    )
    p.add_argument("--data-dir", required=True)
    p.add_argument("--contacts", type=int, required=True)
    p.add_argument("--conversations", type=int, required=True)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--companies", type=int, help="default: contacts / 25, at least 5")
    p.add_argument(
        "--big-conversations",
        type=int,
        help="conversations with more than 500 parts (default 2 when >= 10)",
    )
    args = p.parse_args(argv)
    from emulators.intercom.seed import seed_workspace

    counts = seed_workspace(
        Database(args.data_dir),
        args.contacts,
        args.conversations,
        args.seed,
        companies=args.companies,
        big_conversations=args.big_conversations,
    )
    print(json.dumps(counts))
    return 0


def simulate(argv: list[str]) -> int:
    """``emulator intercom simulate``: apply random activity to a data dir's workspace."""
    p = argparse.ArgumentParser(
        prog="emulator intercom simulate", description="Apply random activity to the workspace."
    )
    p.add_argument("--data-dir", required=True)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    from emulators.intercom.simulate import simulate as run
    from emulators.intercom.workspace import Workspace

    print(json.dumps(run(Workspace(Database(args.data_dir)), args.steps, args.seed)))
    return 0


def main(argv: list[str]) -> int:
    """Entry point used by `emulator intercom ...`."""
    if argv and argv[0] in {"-h", "--help"}:
        print(USAGE)
        _serve_parser().print_help()
        return 0
    if argv and argv[0] == "seed":
        return seed(argv[1:])
    if argv and argv[0] == "simulate":
        return simulate(argv[1:])
    if argv and argv[0] == "serve":
        argv = argv[1:]
    return serve(argv)
