"""`manage.py export_audit`: audit events as JSON lines (SPEC §6.6), oldest first.

    manage.py export_audit --account <id> --since 2026-01-01 --until 2026-02-01 --outcome denied > jan.jsonl

Filters combine (all must match): `--account` (events of the account, or run in it through an
assumed role), `--user` (user name), `--kind` (tool_call, management, console, access, signin),
`--outcome` (success, error, denied, invalid), `--server` (server id), `--since` (inclusive) and
`--until` (exclusive) as ISO-8601 dates or times (UTC unless an offset is given). `--output FILE`
writes to a file instead of standard output. Arguments are exported as stored: already redacted.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from oauth.audit import events_for_export, iter_export


def _when(value: str | None, option: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise CommandError(
            f"{option}: {value!r} is not an ISO-8601 date or time (such as 2026-01-31T12:00:00Z)"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = "Export audit events as JSON lines, oldest first, with optional filters."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--account", default="", help="Account id")
        parser.add_argument("--user", default="", help="User name")
        parser.add_argument(
            "--kind", default="", choices=["", "tool_call", "management", "console", "access", "signin"]
        )
        parser.add_argument("--outcome", default="", choices=["", "success", "error", "denied", "invalid"])
        parser.add_argument("--server", default="", help="MCP server id")
        parser.add_argument("--since", default=None, help="ISO-8601 date or time, inclusive")
        parser.add_argument("--until", default=None, help="ISO-8601 date or time, exclusive")
        parser.add_argument("--output", default="", help="File to write (default: standard output)")

    def handle(self, *args: Any, **options: Any) -> None:
        qs = events_for_export(
            account_id=options["account"],
            username=options["user"],
            kind=options["kind"],
            outcome=options["outcome"],
            server_id=options["server"],
            since=_when(options["since"], "--since"),
            until=_when(options["until"], "--until"),
        )
        out = open(options["output"], "w", encoding="utf-8") if options["output"] else None  # noqa: SIM115
        stream = out or self.stdout
        count = 0
        try:
            for record in iter_export(qs):
                stream.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
                count += 1
        finally:
            if out is not None:
                out.close()
        print(f"exported {count} events", file=sys.stderr)
