"""`manage.py set_connection`: create or replace how an account (or one user) reaches a product.

The options are translated for `oauth.services.connection_set`, which validates them; its
errors name the option at fault.
"""

from __future__ import annotations

import json
import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from oauth.models import Account, Connection, User
from oauth.schemas import AUTH_SPECS, CONFIG_WIRE, SECRET_WIRE
from oauth.services import connection_set
from servers.errors import ApiError

AUTH_CHOICES = {
    "none": Connection.AUTH_NONE,
    "alibaba-ak": Connection.AUTH_ALIBABA_AK,
    "api-key": Connection.AUTH_API_KEY,
    "bearer": Connection.AUTH_BEARER,
    "basic": Connection.AUTH_BASIC,
    "oauth2-client-credentials": Connection.AUTH_OAUTH2_CC,
}
# Secrets may come from the environment instead of the command line (kept out of shell history).
SECRET_ENV = {
    "access_key_secret": "MCP_CONN_ACCESS_KEY_SECRET",
    "security_token": "MCP_CONN_SECURITY_TOKEN",
    "api_key": "MCP_CONN_API_KEY",
    "token": "MCP_CONN_TOKEN",
    "password": "MCP_CONN_PASSWORD",
    "client_secret": "MCP_CONN_CLIENT_SECRET",
}
# Non-secret settings (`Connection.auth_config` keys) → option names.
CONFIG_OPTIONS = {
    "access_key_id": "access_key_id",
    "name": "api_key_name",
    "in": "api_key_in",
    "prefix": "api_key_prefix",
    "username": "username",
    "token_url": "token_url",
    "client_id": "client_id",
    "scope": "scope",
    "client_auth": "client_auth",
}
# The option behind each field a validation error names.
FLAGS = {
    "product": "--product",
    "authType": "--auth",
    "baseUrl": "--base-url",
    "regionEndpoints": "--region-endpoint",
    "defaultRegion": "--default-region",
    "connectTimeout": "--connect-timeout",
    "readTimeout": "--read-timeout",
    **{f"authConfig.{CONFIG_WIRE[key]}": "--" + option.replace("_", "-") for key, option in CONFIG_OPTIONS.items()},
    **{f"secrets.{wire}": "--" + key.replace("_", "-") for key, wire in SECRET_WIRE.items()},
}


class Command(BaseCommand):
    help = "Create or replace a connection (endpoints + encrypted credentials) for a product."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--account", required=True, help="account id")
        parser.add_argument("--user", default="", help="username: a connection for this user only")
        parser.add_argument("--product", required=True, help="product code, e.g. Ecs or GitHub")
        parser.add_argument("--auth", choices=sorted(AUTH_CHOICES), default="none")
        parser.add_argument("--base-url", default="", help="overrides every endpoint of the product")
        parser.add_argument("--region-endpoint", action="append", default=[], metavar="REGION=URL", help="repeatable")
        parser.add_argument("--default-region", default="")
        parser.add_argument("--access-key-id", default="")
        parser.add_argument("--access-key-secret", default="")
        parser.add_argument("--security-token", default="")
        parser.add_argument("--api-key", default="")
        parser.add_argument("--api-key-name", default="X-Api-Key", help="header or query parameter name")
        parser.add_argument("--api-key-in", choices=["header", "query"], default="header")
        parser.add_argument("--api-key-prefix", default="", help='e.g. "Token " before the key')
        parser.add_argument("--token", default="", help="bearer token")
        parser.add_argument("--username", default="")
        parser.add_argument("--password", default="")
        parser.add_argument("--token-url", default="")
        parser.add_argument("--client-id", default="")
        parser.add_argument("--client-secret", default="")
        parser.add_argument("--scope", default="")
        parser.add_argument("--client-auth", choices=["basic", "post"], default="basic")
        parser.add_argument("--connect-timeout", type=float, default=None)
        parser.add_argument("--read-timeout", type=float, default=None)

    def handle(self, *args: Any, **opts: Any) -> None:
        account = Account.objects.filter(id=opts["account"]).first()
        if account is None:
            raise CommandError(f"account {opts['account']!r} does not exist")
        user = None
        if opts["user"]:
            user = User.objects.filter(username=opts["user"], account=account).first()
            if user is None:
                raise CommandError(f"user {opts['user']!r} does not exist in account {account.id}")
        regions: dict[str, str] = {}
        for item in opts["region_endpoint"]:
            region, sep, url = item.partition("=")
            if not sep or not region or not url:
                raise CommandError(f"--region-endpoint must be REGION=URL, got {item!r}")
            regions[region] = url
        auth_type = AUTH_CHOICES[opts["auth"]]
        spec = AUTH_SPECS[auth_type]
        # Only the secrets of this auth type: MCP_CONN_* variables of other types may be set too.
        secrets = {
            key: opts.get(key) or os.environ.get(env, "") for key, env in SECRET_ENV.items() if key in spec.secrets
        }
        config = {key: opts[option] for key, option in CONFIG_OPTIONS.items() if key in spec.config}
        try:
            connection, created = connection_set(
                account=account,
                user=user,
                product=opts["product"],
                auth_type=auth_type,
                base_url=opts["base_url"],
                region_endpoints=regions,
                default_region=opts["default_region"],
                config=config,
                secrets=secrets,
                connect_timeout=opts["connect_timeout"],
                read_timeout=opts["read_timeout"],
            )
        except ApiError as exc:
            flag = FLAGS.get(exc.field or "", "")
            raise CommandError(f"{flag + ': ' if flag else ''}{exc.message} ({exc.code})") from None
        self.stdout.write(
            json.dumps({"id": connection.pk, "created": created, "product": connection.product, "auth": auth_type})
        )
