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
    imp.add_argument("file", type=Path)

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
    return parser


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
    if not args.file.is_file():
        raise CliError(f"The file {args.file} does not exist or cannot be read.")
    from services.importer import import_file

    report = import_file(_backend(args), args.file)
    for line in report.errors:
        print(f"line {line.line}: {line.reason}", file=sys.stderr)
    if report.errors:
        print(f"{len(report.errors)} line(s) rejected; nothing was imported.", file=sys.stderr)
        return 1
    print(report.summary())
    return 0


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
            state = "sent" if mail["sent_at"] else "pending"
            print(f"{mail['created_at']}  {state:7}  {mail['to']}  {mail['subject']}")
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
        if sent or failed or not args.loop:
            print(f"{sent} sent, {failed} to retry", flush=True)
        if not args.loop:
            return 0 if not failed else 1
        time.sleep(args.interval)


def _cmd_agent(args: argparse.Namespace) -> int:
    from services.agents import create_agent

    password = sys.stdin.readline().rstrip("\n")
    if not password:
        raise CliError("No password on standard input.")
    agent = create_agent(_backend(args), args.name, args.role, password)
    print(f"agent {agent.name} ({agent.role}) created")
    return 0


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
}


def main(argv: Sequence[str] | None = None) -> int:
    from db.errors import DatabaseConfigError
    from services.crypto import SecretKeyError
    from services.errors import DomainError

    args = _parser().parse_args(argv)
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
    except Exception as exc:  # noqa: BLE001 - the promise: one sentence, never a traceback
        print(f"kiosk: the command failed unexpectedly ({type(exc).__name__}); "
              "please report this with the command you ran.", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
