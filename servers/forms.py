"""Console forms for MCP servers.

The forms translate between HTML fields and the management API's camelCase JSON and validate it
with the API's own schema (`servers.schemas`), so every error of a submission is shown at once, each
on the field it names (`ApiError.field`). The services' catalog checks come back the same way.
"""

from __future__ import annotations

import json
from typing import Any

import pydantic
from django import forms

from servers import json_input
from servers.errors import ApiError
from servers.schemas import CreateApiMcpServerBody, UpdateApiMcpServerBody, api_errors
from servers.server_validation import check_apis
from servers.system_tools import SYSTEM_TOOLS

# `QueryTerraformTaskStatus` is added by the service when a server has an async Terraform tool.
_AUTOMATIC_SYSTEM_TOOLS = {"QueryTerraformTaskStatus"}
SYSTEM_TOOL_CHOICES = [
    (t.name, f"{t.name}: {t.description}") for t in SYSTEM_TOOLS if t.name not in _AUTOMATIC_SYSTEM_TOOLS
]

# Wire names (ApiError.field) of the parameters this form edits, and the form field for each.
_FIELD_BY_WIRE = {
    "name": "name",
    "description": "description",
    "language": "language",
    "apis": "apis",
    "instructions": "instructions",
    "systemTools": "system_tools",
    "prompts": "prompts",
    "publicAccess": "public_access",
}

_PROMPTS_EXAMPLE = (
    '[{"name": "summary", "description": "…", "content": "Summarise {{topic}}", '
    '"arguments": [{"name": "topic", "required": true}]}]'
)


def parse_apis(text: str) -> list[dict[str, Any]]:
    """Parse one `product apiVersion selector [selector…]` per line (commas also separate selectors)."""
    apis: list[dict[str, Any]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].replace(",", " ").strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) < 3:
            raise forms.ValidationError(
                "Line %(n)s: expected “product apiVersion selector…”, e.g. “Ecs 2014-05-26 Describe*”.",
                params={"n": number},
                code="apis_line",
            )
        apis.append({"product": parts[0], "apiVersion": parts[1], "selectors": parts[2:]})
    return apis


def format_apis(apis: list[dict[str, Any]]) -> str:
    return "\n".join(
        " ".join([str(a.get("product", "")), str(a.get("apiVersion", "")), *map(str, a.get("selectors") or [])])
        for a in apis
    )


class ServerForm(forms.Form):
    """Create or edit the basic settings of an MCP server (name is fixed once created)."""

    name = forms.CharField(
        max_length=64,
        help_text="3–64 characters: lowercase letters, digits, “-” and “_”; not starting with a digit. "
        "Part of the server's URL; cannot be changed later.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    language = forms.ChoiceField(
        choices=[("EN_US", "English"), ("ZH_CN", "Chinese")],
        initial="EN_US",
        help_text="Language of the generated tool descriptions.",
    )
    apis = forms.CharField(
        label="APIs",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "class": "mono", "spellcheck": "false"}),
        help_text="One line per product version: “product apiVersion selector…”. Selectors are case-sensitive "
        "globs on API names (* and ?). We recommend at most 30 APIs per server.",
    )
    instructions = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Returned to clients in the initialize answer: how the model should use this server.",
    )
    system_tools = forms.MultipleChoiceField(
        label="System tools",
        required=False,
        choices=SYSTEM_TOOL_CHOICES,
        widget=forms.CheckboxSelectMultiple(attrs={"class": "choices"}),
    )
    prompts = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "class": "mono", "spellcheck": "false"}),
        help_text="JSON list of prompts, e.g. " + _PROMPTS_EXAMPLE,
    )
    public_access = forms.ChoiceField(
        label="Public access",
        choices=[
            ("follow", "Follow the account setting"),
            ("on", "On: the public URL accepts clients"),
            ("off", "Off: internal URL only"),
        ],
        initial="follow",
    )

    def __init__(self, *args: Any, editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.editing = editing
        if editing:
            self.fields["name"].disabled = True
            self.fields["name"].help_text = "The name is part of the server's URL and cannot be changed."

    @classmethod
    def initial_from_server(cls, server: dict[str, Any]) -> dict[str, Any]:
        """Form values from the management API's model of a server (GetApiMcpServer)."""
        return {
            "name": server.get("name", ""),
            "description": server.get("description", ""),
            "language": server.get("language", "EN_US"),
            "apis": format_apis(server.get("apis") or []),
            "instructions": server.get("instructions", ""),
            "system_tools": list(server.get("systemTools") or []),
            "prompts": json.dumps(server["prompts"], indent=2, ensure_ascii=False) if server.get("prompts") else "",
            "public_access": server.get("publicAccess", "follow"),
        }

    def clean_apis(self) -> list[dict[str, Any]]:
        return parse_apis(self.cleaned_data.get("apis", ""))

    def clean_prompts(self) -> list[Any]:
        raw = self.cleaned_data.get("prompts", "").strip()
        if not raw:
            return []
        try:
            value = json_input.loads(raw, field="prompts")
        except json_input.JsonInputError as exc:
            raise forms.ValidationError(
                "Not valid JSON: %(problem)s", params={"problem": exc.message}, code="json"
            ) from None
        if not isinstance(value, list):
            raise forms.ValidationError("Prompts must be a JSON list of prompt objects.", code="json_list")
        return value

    def clean(self) -> dict[str, Any] | None:
        """Validate the body with the management API's schema; each error goes on its field."""
        cleaned = super().clean()
        self.body: CreateApiMcpServerBody | UpdateApiMcpServerBody | None = None
        if self.errors:  # a field that could not even be read (e.g. prompts that are not JSON)
            return cleaned
        model = UpdateApiMcpServerBody if self.editing else CreateApiMcpServerBody
        try:
            self.body = model.model_validate(self.to_api_data())
        except pydantic.ValidationError as exc:
            for error in api_errors(exc.errors(include_url=False)):
                self.add_api_error(error)
            if "apis" not in self.errors:
                # The services' catalog step would only run on the next submit: check the APIs
                # against the catalog now (the same function), so every error shows at once.
                self._check_apis(cleaned_apis=self.cleaned_data.get("apis") or [])
        return cleaned

    def _check_apis(self, *, cleaned_apis: list[dict[str, Any]]) -> None:
        from servers.selectors import CatalogView
        from servers.services import field_limits

        try:
            check_apis(cleaned_apis, CatalogView(), field_limits())
        except ApiError as error:
            self.add_api_error(error)

    def to_api_data(self) -> dict[str, Any]:
        """The management API body for the fields this form manages (others stay unchanged on update)."""
        data = self.cleaned_data
        body: dict[str, Any] = {
            "description": data["description"],
            "language": data["language"],
            "apis": data["apis"],
            "instructions": data["instructions"],
            "systemTools": list(data["system_tools"]),
            "prompts": data["prompts"],
            "publicAccess": data["public_access"],
        }
        if not self.editing:
            body["name"] = data["name"]
        return body

    def add_api_error(self, error: ApiError) -> None:
        """Put an error on the field it names, or on the form when it names none of this form's fields."""
        field = _FIELD_BY_WIRE.get(error.field or "")
        if field is not None and not (field == "name" and self.editing):
            self.add_error(field, f"{error.message} ({error.code})")
        else:
            self.add_error(None, f"{error.message} ({error.code})")


class DeleteServerForm(forms.Form):
    """Deleting asks for the server's name, so a stray click cannot remove a server in use."""

    confirm_name = forms.CharField(label="Type the server's name to confirm", max_length=64)

    def __init__(self, *args: Any, server_name: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.server_name = server_name
        self.fields["confirm_name"].widget.attrs.update({"autocomplete": "off", "placeholder": server_name})

    def clean_confirm_name(self) -> str:
        value: str = self.cleaned_data["confirm_name"].strip()
        if value != self.server_name:
            raise forms.ValidationError("The name does not match “%(name)s”.", params={"name": self.server_name})
        return value
