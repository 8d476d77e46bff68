"""Console forms for identity and credentials: AccessKeys and connections."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, cast

from django import forms

from oauth.models import Connection
from oauth.schemas import CONFIG_WIRE, SECRET_WIRE


class AccessKeyForm(forms.Form):
    description = forms.CharField(
        max_length=256,
        required=False,
        help_text="What the key is for (a script, a Terraform pipeline…), so you know which one to revoke later.",
    )


# Connections ------------------------------------------------------------------------------------

# Form field → `Connection.auth_config` key, and the secret fields (named as the model's keys).
CONFIG_FIELDS = {
    "access_key_id": "access_key_id",
    "api_key_name": "name",
    "api_key_in": "in",
    "api_key_prefix": "prefix",
    "username": "username",
    "token_url": "token_url",
    "client_id": "client_id",
    "oauth_scope": "scope",
    "client_auth": "client_auth",
}
SECRET_FIELDS = ("access_key_secret", "security_token", "api_key", "token", "password", "client_secret")
# The fields each auth type shows, in order.
AUTH_FIELDS = {
    Connection.AUTH_NONE: (),
    Connection.AUTH_ALIBABA_AK: ("access_key_id", "access_key_secret", "security_token"),
    Connection.AUTH_API_KEY: ("api_key", "api_key_name", "api_key_in", "api_key_prefix"),
    Connection.AUTH_BEARER: ("token",),
    Connection.AUTH_BASIC: ("username", "password"),
    Connection.AUTH_OAUTH2_CC: ("token_url", "client_id", "client_secret", "oauth_scope", "client_auth"),
}
# Wire names in `ApiError.field` (oauth.services) → form fields.
_FIELD_BY_WIRE = {
    "product": "product",
    "userName": "user",
    "authType": "auth_type",
    "baseUrl": "base_url",
    "regionEndpoints": "region_endpoints",
    "defaultRegion": "default_region",
    "connectTimeout": "connect_timeout",
    "readTimeout": "read_timeout",
    **{f"authConfig.{CONFIG_WIRE[key]}": name for name, key in CONFIG_FIELDS.items()},
    **{f"secrets.{SECRET_WIRE[key]}": key for key in SECRET_FIELDS},
}


def _secret_field(label: str, required_note: str = "") -> forms.CharField:
    # Never rendered with a value; `new-password` keeps browsers from filling in the console login.
    return forms.CharField(
        label=label,
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=required_note,
    )


def parse_region_endpoints(text: str) -> dict[str, str]:
    """One `region=URL` per line (blank lines and `#` comments ignored)."""
    endpoints: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        region, sep, url = line.partition("=")
        if not sep or not region.strip() or not url.strip():
            raise forms.ValidationError(
                "Line %(n)s: expected “region=URL”, e.g. “cn-hangzhou=https://ecs.cn-hangzhou.aliyuncs.com”.",
                params={"n": number},
                code="region_line",
            )
        if region.strip() in endpoints:
            raise forms.ValidationError(
                "Line %(n)s: region %(r)s appears twice.", params={"n": number, "r": region.strip()}, code="dup"
            )
        endpoints[region.strip()] = url.strip()
    return endpoints


class ConnectionForm(forms.Form):
    """Create or edit a connection. Every auth type's fields are present; only the chosen type's are sent.

    Secret inputs are never filled in: on edit, an empty one keeps the stored secret.
    """

    product = forms.CharField(
        max_length=64,
        help_text="The product code, as in the catalog (Ecs, GitHub…); compared case-insensitively.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    user = forms.ChoiceField(
        label="Used by", required=False, help_text="A user's own connection wins over the account's."
    )
    auth_type = forms.ChoiceField(label="Authentication", choices=Connection.AUTH_TYPES, initial=Connection.AUTH_NONE)
    base_url = forms.CharField(
        label="Base URL",
        required=False,
        max_length=500,
        help_text="Overrides every endpoint of the product, e.g. https://api.example.com/v1. "
        "Empty: the catalog's endpoints.",
    )
    region_endpoints = forms.CharField(
        label="Region endpoints",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "class": "mono", "spellcheck": "false"}),
        help_text="One per line: region=URL. A call's region picks its endpoint here before the base URL.",
    )
    default_region = forms.CharField(
        label="Default region", required=False, max_length=64, help_text="The region of calls that name none."
    )
    access_key_id = forms.CharField(label="AccessKey ID", required=False, max_length=128)
    access_key_secret = _secret_field("AccessKey secret")
    security_token = _secret_field("STS security token", "Optional; only for temporary (STS) credentials.")
    api_key = _secret_field("API key")
    api_key_name = forms.CharField(
        label="Header or query parameter", required=False, initial="X-Api-Key", max_length=128
    )
    api_key_in = forms.ChoiceField(
        label="Sent in", required=False, choices=[("header", "a header"), ("query", "the query string")]
    )
    api_key_prefix = forms.CharField(
        label="Prefix", required=False, strip=False, max_length=64, help_text="Put before the key, e.g. “Token ”."
    )
    token = _secret_field("Bearer token")
    username = forms.CharField(label="User name", required=False, max_length=256)
    password = _secret_field("Password", "Optional.")
    token_url = forms.CharField(label="Token URL", required=False, max_length=500)
    client_id = forms.CharField(label="Client ID", required=False, max_length=256)
    client_secret = _secret_field("Client secret")
    oauth_scope = forms.CharField(label="Scope", required=False, max_length=1000, help_text="Optional.")
    client_auth = forms.ChoiceField(
        label="Client authentication",
        required=False,
        choices=[("basic", "HTTP basic (client_secret_basic)"), ("post", "In the form body (client_secret_post)")],
    )
    connect_timeout = forms.FloatField(
        label="Connect timeout (seconds)", required=False, help_text="Empty: the server's default."
    )
    read_timeout = forms.FloatField(
        label="Read timeout (seconds)", required=False, help_text="Empty: the server's default."
    )

    def __init__(
        self,
        *args: Any,
        usernames: list[str],
        editing: bool = False,
        secrets_set: Collection[str] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.editing = editing
        user_field = cast(forms.ChoiceField, self.fields["user"])
        user_field.choices = [("", "Everyone in the account")] + [(name, f"Only {name}") for name in usernames]
        if editing:
            for name in ("product", "user"):
                self.fields[name].disabled = True
            self.fields["product"].help_text = "The product and who uses the connection cannot be changed."
            self.fields["user"].help_text = ""
            for name in SECRET_FIELDS:
                stored = "Stored; leave empty to keep it." if name in secrets_set else "Not set."
                self.fields[name].help_text = f"{stored} {self.fields[name].help_text}".strip()

    @classmethod
    def initial_from_connection(cls, connection: Connection) -> dict[str, Any]:
        """Form values of a stored connection: everything but its secrets."""
        config = connection.auth_config or {}
        initial: dict[str, Any] = {
            "product": connection.product,
            "user": connection.user.username if connection.user else "",
            "auth_type": connection.auth_type,
            "base_url": connection.base_url,
            "region_endpoints": "\n".join(f"{r}={u}" for r, u in (connection.region_endpoints or {}).items()),
            "default_region": connection.default_region,
            "connect_timeout": connection.connect_timeout,
            "read_timeout": connection.read_timeout,
        }
        for name, key in CONFIG_FIELDS.items():
            if config.get(key):
                initial[name] = config[key]
        return initial

    def clean_region_endpoints(self) -> dict[str, str]:
        return parse_region_endpoints(self.cleaned_data.get("region_endpoints", ""))

    def auth_groups(self) -> list[tuple[str, str, list[forms.BoundField]]]:
        """(auth type, label, its bound fields) for the template's fieldsets."""
        return [(value, str(label), [self[f] for f in AUTH_FIELDS[value]]) for value, label in Connection.AUTH_TYPES]

    def service_kwargs(self) -> dict[str, Any]:
        """`oauth.services.connection_set` arguments, with only the chosen auth type's settings."""
        data = self.cleaned_data
        shown = AUTH_FIELDS.get(data["auth_type"], ())
        return {
            "auth_type": data["auth_type"],
            "base_url": data["base_url"],
            "region_endpoints": data["region_endpoints"],
            "default_region": data["default_region"].strip(),
            "config": {key: data[name] for name, key in CONFIG_FIELDS.items() if name in shown},
            "secrets": {name: data[name] for name in SECRET_FIELDS if name in shown},
            "connect_timeout": data["connect_timeout"],
            "read_timeout": data["read_timeout"],
        }

    def add_api_error(self, code: str, message: str, wire_field: str | None = None) -> None:
        """Put a service error on the field it names, or on the form when it names none shown here."""
        name = _FIELD_BY_WIRE.get(wire_field or "")
        if name is not None and not self.fields[name].disabled:
            self.add_error(name, f"{message} ({code})")
        else:
            self.add_error(None, f"{message} ({code})")
