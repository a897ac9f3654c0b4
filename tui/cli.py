"""The `kiosk` console script. Every subcommand accepts ``--db URL``; ``KIOSK_HOME`` moves the
data directory. Errors are one clear sentence and a non-zero exit, never a traceback."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from services.i18n import LANGUAGES


class CliError(Exception):
    """One sentence for the operator; exit code 2."""


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", metavar="URL", default=argparse.SUPPRESS,
                        help="database URL (else KIOSK_DATABASE_URL)")

    parser = argparse.ArgumentParser(
        prog="kiosk", parents=[common],
        description="Kundenkiosk — customer self-service terminal",
    )
    parser.add_argument("--lang", choices=LANGUAGES, help="language of the app (de or en)")
    parser.add_argument("--kiosk", action="store_true", help="kiosk mode (walk-in terminal)")
    parser.add_argument("--idle-timeout", type=int, metavar="SECONDS",
                        help="seconds without input until the session is wiped")
    sub = parser.add_subparsers(dest="command")

    dbp = sub.add_parser("db", parents=[common], help="database schema")
    dbsub = dbp.add_subparsers(dest="db_command", required=True)
    dbsub.add_parser("upgrade", parents=[common], help="create or migrate the schema")
    dbsub.add_parser("status", parents=[common], help="show the schema revision")

    imp = sub.add_parser("import", parents=[common], help="load back-office records (JSON Lines)")
    imp.add_argument("file", metavar="FILE|-", help="JSON Lines, .jsonl.gz, or - for stdin")
    imp.add_argument("--dry-run", action="store_true", help="check the whole file, write nothing")
    imp.add_argument("--quiet", action="store_true", help="no progress and no summary")

    demo = sub.add_parser("demo", parents=[common], help="load the demo data set")
    demo.add_argument("--show", action="store_true", help="print what a newcomer needs")
    demo.add_argument("--quiet", action="store_true", help="load without printing")

    out = sub.add_parser("outbox", parents=[common], help="print the mail outbox")
    out.add_argument("--json", action="store_true", help="as a JSON array")
    out.add_argument("--pending", action="store_true", help="only mails not sent yet")

    mail = sub.add_parser("mail", parents=[common], help="mail delivery")
    mailsub = mail.add_subparsers(dest="mail_command", required=True)
    deliver = mailsub.add_parser("deliver", parents=[common], help="send pending mails by SMTP")
    deliver.add_argument("--loop", action="store_true", help="keep running (delivery worker)")
    deliver.add_argument("--interval", type=float, default=10.0)

    agent = sub.add_parser("agent", parents=[common], help="service-desk agent accounts")
    agentsub = agent.add_subparsers(dest="agent_command", required=True)
    create = agentsub.add_parser("create", parents=[common], help="create an agent account")
    create.add_argument("name")
    create.add_argument("--role", choices=("agent", "supervisor"), default="agent")
    create.add_argument("--password-stdin", action="store_true", required=True)
    agentsub.add_parser("reset-2fa", parents=[common], help="reset an agent's second factor "
                        "(they enrol again at the next login)").add_argument("name")

    house = sub.add_parser("housekeeping", parents=[common],
                           help="apply the retention settings now (prints what was removed)")
    house.add_argument("--dry-run", action="store_true", help="only count, change nothing")

    serve = sub.add_parser("serve", parents=[common], help="serve the app to browsers")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on")
    serve.add_argument("--public-url", default=None,
                       help="URL browsers use, e.g. behind a reverse proxy (else http://HOST:PORT)")
    serve.add_argument("--kiosk", action="store_true", help="kiosk mode in every browser session")
    serve.add_argument("--lang", choices=LANGUAGES, default=argparse.SUPPRESS,
                       help="start language of every browser session")
    serve.add_argument("--idle-timeout", type=int, metavar="SECONDS", default=argparse.SUPPRESS,
                       help="seconds without input until a browser session is wiped")
    _ops_parsers(sub, common)
    return parser


def _ops_parsers(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """`kiosk status` and `kiosk metrics` (#17)."""
    status = sub.add_parser("status", parents=[common], help="is the installation ready?")
    status.add_argument("--json", action="store_true", help="as one JSON object")
    metrics = sub.add_parser("metrics", parents=[common],
                             help="serve /metrics, /readyz, /healthz of the installation")
    metrics.add_argument("--host", default="127.0.0.1", help="address to listen on")
    metrics.add_argument("--port", type=int, default=9464, help="port to listen on")


def _backend(args: argparse.Namespace, *, upgrade: bool = True):  # type: ignore[no-untyped-def]
    from services.backend import Backend
    from services.config import load_settings

    backend = Backend(load_settings(database_url=getattr(args, "db", None)))
    if upgrade:
        backend.ensure_schema()
    return backend


def _cmd_db(args: argparse.Namespace) -> int:
    from db.migrate import current_revision, head_revision

    backend = _backend(args, upgrade=args.db_command == "upgrade")
    if args.db_command == "status":
        print(f"schema {current_revision(backend.engine) or 'empty'} (head {head_revision()})")
    else:
        print(f"schema up to date ({head_revision()})")
    return 0


def _cmd_import(args: argparse.Namespace) -> int:
    if args.file != "-" and not Path(args.file).is_file():
        raise CliError(f"The file {args.file} does not exist or cannot be read.")
    from tui.import_command import run

    return run(_backend(args), args.file, dry_run=args.dry_run, quiet=args.quiet)


def _cmd_demo(args: argparse.Namespace) -> int:
    from services.demo import SHOW_TEXT, load_demo

    if args.show:
        print(SHOW_TEXT)
        return 0
    report = load_demo(_backend(args))
    if not args.quiet:
        print(report.summary())
        print("kiosk demo --show prints the numbers, codes, keys and passwords to try.")
    return 0


def _cmd_outbox(args: argparse.Namespace) -> int:
    from services.mail import as_json, outbox

    backend = _backend(args)
    with backend.transaction() as session:
        mails = [as_json(m) for m in outbox(session, pending_only=args.pending)]
    if args.json:
        print(json.dumps(mails, ensure_ascii=False, indent=2))
    else:
        for mail in mails:
            why = f"  ({mail['error']})" if mail["state"] == "failed" else ""
            print(f"{mail['created_at']}  {mail['state']:7}  {mail['to']}  {mail['subject']}{why}")
            # the template's parameters (the code a customer would receive, the link)
            params = ", ".join(f"{k}={v}" for k, v in sorted((mail["params"] or {}).items()))
            if params:
                print(f"    {mail['template']}: {params}")
    return 0


def _cmd_mail(args: argparse.Namespace) -> int:
    import time

    from services.errors import StorageUnavailable
    from services.i18n import translate
    from services.mail import deliver_pending

    backend = _backend(args)
    if not backend.settings.smtp_url:
        raise CliError("KIOSK_SMTP_URL is not set; mails stay in the outbox.")
    while True:
        try:
            sent, failed = deliver_pending(backend)
        except StorageUnavailable as exc:
            if not args.loop:
                raise
            # the worker outlives a database restart: say so once per round and retry
            print(f"kiosk: {translate('en', exc.message, **exc.params)} Retrying.",
                  file=sys.stderr, flush=True)
            time.sleep(args.interval)
            continue
        except Exception as exc:  # noqa: BLE001 - the worker never dies of one round
            if not args.loop:
                raise
            print(f"kiosk: {_unexpected(exc)} Retrying.", file=sys.stderr, flush=True)
            time.sleep(args.interval)
            continue
        if sent or failed or not args.loop:
            print(f"{sent} sent, {failed} to retry", flush=True)
        if not args.loop:
            return 0 if not failed else 1
        time.sleep(args.interval)


def _cmd_agent(args: argparse.Namespace) -> int:
    from services.agents import create_agent

    if args.agent_command == "reset-2fa":  # #15: the first supervisor who lost their phone
        from services.second_factor import reset_by_operator

        reset_by_operator(_backend(args), args.name)
        print(f"second factor of {args.name} reset: they set it up again at the next login")
        return 0
    password = sys.stdin.readline().rstrip("\n")
    if not password:
        raise CliError("No password on standard input.")
    agent = create_agent(_backend(args), args.name, args.role, password)
    print(f"agent {agent.name} ({agent.role}) created")
    return 0


def _cmd_housekeeping(args: argparse.Namespace) -> int:
    from services.housekeeping import run

    failed: list[str] = []
    done = run(_backend(args), dry_run=args.dry_run, failed=failed)
    verb = "would remove" if args.dry_run else "removed"
    for kind, count in done.items():
        print(f"{kind}: {count}" + (" (failed)" if kind in failed else ""))
    print(f"housekeeping {verb} {sum(done.values())} item(s)"
          + (f"; failed: {', '.join(failed)}" if failed else ""), flush=True)
    return 1 if failed else 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from tui.serve import ServeOptions, serve

    if not 0 < args.port < 65536:
        raise CliError(f"The port {args.port} is not between 1 and 65535.")
    serve(ServeOptions(
        host=args.host, port=args.port, public_url=args.public_url,
        database_url=getattr(args, "db", None), kiosk_mode=args.kiosk,
        language=args.lang, idle_timeout=args.idle_timeout,
    ))
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    from services.metrics import status_report, status_text

    backend = _backend(args, upgrade=False)
    try:
        report = status_report(backend)
    finally:
        backend.dispose()
    print(json.dumps(report, ensure_ascii=False, indent=2) if args.json else status_text(report))
    return 0 if report["ready"] else 1


def _cmd_metrics(args: argparse.Namespace) -> int:
    from aiohttp import web

    from services.logs import configure
    from services.metrics import Exporter
    from tui.health import metrics_app

    if not 0 < args.port < 65536:
        raise CliError(f"The port {args.port} is not between 1 and 65535.")
    backend = _backend(args, upgrade=False)
    settings = backend.settings
    configure(settings.log_format, settings.log_file, terminal_id=settings.terminal_id)
    print(f"kiosk: serving the installation's metrics on http://{args.host}:{args.port}/metrics",
          file=sys.stderr, flush=True)
    web.run_app(metrics_app(Exporter(backend), settings.ready_timeout), host=args.host,
                port=args.port, print=lambda *_: None, access_log=None)
    return 0


def _cmd_tui(args: argparse.Namespace) -> int:
    from tui.app import KioskApp

    # The app opens the database itself after its first frame (fast start); a database
    # that cannot be used ends it with one sentence and exit code 2.
    app = KioskApp(
        database_url=getattr(args, "db", None),
        language=args.lang,
        kiosk_mode=args.kiosk,
        idle_timeout=args.idle_timeout,
    )
    app.run()
    return app.return_code or 0


COMMANDS = {
    "db": _cmd_db, "import": _cmd_import, "demo": _cmd_demo, "outbox": _cmd_outbox,
    "mail": _cmd_mail, "agent": _cmd_agent, "serve": _cmd_serve, None: _cmd_tui,
    "status": _cmd_status, "metrics": _cmd_metrics,
    "housekeeping": _cmd_housekeeping,
}


def main(argv: Sequence[str] | None = None) -> int:
    from db.errors import DatabaseConfigError
    from services.crypto import SecretKeyError
    from services.errors import DomainError

    args = _parser().parse_args(argv)
    _logs_from_environment(args.command)
    try:
        return COMMANDS[args.command](args)
    except CliError as exc:
        print(f"kiosk: {exc}", file=sys.stderr)
    except (DatabaseConfigError, SecretKeyError) as exc:
        print(f"kiosk: {exc}", file=sys.stderr)
    except DomainError as exc:
        print(f"kiosk: {exc}", file=sys.stderr)
    except PermissionError as exc:
        print(f"kiosk: no permission to write {exc.filename}.", file=sys.stderr)
    except OSError as exc:
        print(f"kiosk: {exc.strerror or exc} ({getattr(exc, 'filename', '') or ''}).",
              file=sys.stderr)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - the net under every command: one sentence
        print(f"kiosk: {_unexpected(exc)}", file=sys.stderr)
    return 2


def _logs_from_environment(command: str | None) -> None:
    """``KIOSK_LOG_FORMAT`` / ``KIOSK_LOG_FILE`` (``services.logs``) when one is set (the
    TUI's screen is the terminal; commands keep their output); `serve` and `metrics` always
    configure their own."""
    import os

    fmt, file = os.environ.get("KIOSK_LOG_FORMAT"), os.environ.get("KIOSK_LOG_FILE")
    if command in ("serve", "metrics") or not (fmt or file):
        return
    if command is None and not file and sys.stderr.isatty():
        return  # the app's screen is this terminal: lines on it would garble it
    from services.logs import configure
    from services.shell_settings import shell_settings

    configure(fmt or "text", Path(file) if file else None,
              terminal_id=shell_settings().terminal_id)


def _unexpected(exc: Exception) -> str:
    """One sentence for an error no command expected (a damaged database file among them),
    never its values."""
    sqlalchemy_exc = sys.modules.get("sqlalchemy.exc")
    if sqlalchemy_exc is not None and isinstance(exc, sqlalchemy_exc.DatabaseError):
        from services.backend import storage_error

        return str(storage_error(exc))
    return f"an unexpected error ({type(exc).__name__}) stopped the command."


if __name__ == "__main__":
    sys.exit(main())
