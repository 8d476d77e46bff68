"""`manage.py set_connection`: create or replace how an account (or one user) reaches a product."""

from __future__ import annotations

import json
import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from oauth.models import Account, User
from runtime.models import Connection

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
        secrets = {key: opts.get(key) or os.environ.get(env, "") for key, env in SECRET_ENV.items()}
        config: dict[str, Any] = {}
        if auth_type == Connection.AUTH_ALIBABA_AK:
            if not opts["access_key_id"] or not secrets["access_key_secret"]:
                raise CommandError("alibaba-ak needs --access-key-id and --access-key-secret")
            config["access_key_id"] = opts["access_key_id"]
        elif auth_type == Connection.AUTH_API_KEY:
            if not secrets["api_key"]:
                raise CommandError("api-key needs --api-key")
            config.update(name=opts["api_key_name"], prefix=opts["api_key_prefix"])
            config["in"] = opts["api_key_in"]
        elif auth_type == Connection.AUTH_BEARER and not secrets["token"]:
            raise CommandError("bearer needs --token")
        elif auth_type == Connection.AUTH_BASIC:
            config["username"] = opts["username"]
        elif auth_type == Connection.AUTH_OAUTH2_CC:
            if not opts["token_url"] or not opts["client_id"] or not secrets["client_secret"]:
                raise CommandError("oauth2-client-credentials needs --token-url, --client-id and --client-secret")
            config.update(
                token_url=opts["token_url"],
                client_id=opts["client_id"],
                scope=opts["scope"],
                client_auth=opts["client_auth"],
            )
        connection, created = Connection.objects.get_or_create(account=account, user=user, product=opts["product"])
        connection.base_url = opts["base_url"]
        connection.region_endpoints = regions
        connection.default_region = opts["default_region"]
        connection.auth_type = auth_type
        connection.auth_config = config
        connection.set_secrets({k: v for k, v in secrets.items() if v})
        connection.connect_timeout = opts["connect_timeout"]
        connection.read_timeout = opts["read_timeout"]
        connection.save()
        self.stdout.write(
            json.dumps({"id": connection.pk, "created": created, "product": connection.product, "auth": auth_type})
        )
