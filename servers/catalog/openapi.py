"""OpenAPI 3.0 / 3.1 and Swagger 2.0 → the normalised catalog shape (see `servers.catalog`).

One operation becomes one API. Parameters keep their location (`in`: path, query, header, cookie,
formData, body) and OpenAPI serialisation (`x-style`, `x-explode`, `x-allowReserved`,
`x-contentType`, Swagger `x-collectionFormat`); a request body becomes one `in: body` parameter
(named `body` for OpenAPI 3, its own name for Swagger) with `x-mediaType` (the media type the
runtime sends), `x-mediaTypes` (all offered) and `x-encoding`. Security requirements are
`x-security` per API; schemes are in `components.securitySchemes` (Swagger's are converted).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin, urlsplit

from servers.catalog.naming import (
    api_name_from_operation_id,
    assign_argument_names,
    check_product_code,
    check_version,
    clean_version,
    derived_api_name,
    product_code_from_title,
    unique,
)
from servers.catalog.schema import SchemaConverter, resolve_pointer
from servers.catalog.types import CatalogImportError, ImportResult, ProblemLog

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
OPERATION_TYPES = {
    "get": "get",
    "head": "get",
    "options": "get",
    "trace": "get",
    "post": "create",
    "put": "update",
    "patch": "update",
    "delete": "delete",
}
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
_SWAGGER_PARAM_SCHEMA_KEYS = (
    "type",
    "format",
    "items",
    "default",
    "maximum",
    "exclusiveMaximum",
    "minimum",
    "exclusiveMinimum",
    "maxLength",
    "minLength",
    "pattern",
    "maxItems",
    "minItems",
    "uniqueItems",
    "enum",
    "multipleOf",
    "x-nullable",
    "example",
)
_COLLECTION_STYLES = {
    "csv": ("form", False),
    "ssv": ("spaceDelimited", False),
    "pipes": ("pipeDelimited", False),
    "multi": ("form", True),
    "tsv": ("tsvDelimited", False),
}
_OAUTH_FLOWS = {
    "implicit": "implicit",
    "password": "password",
    "application": "clientCredentials",
    "accessCode": "authorizationCode",
}


def preferred_media_type(media_types: list[str]) -> str | None:
    """JSON first, then URL-encoded and multipart forms, then whatever comes first."""
    if not media_types:
        return None

    def rank(mt: str) -> int:
        base = mt.split(";")[0].strip().lower()
        if base == "application/json" or base.endswith("+json"):
            return 0
        if base == "application/x-www-form-urlencoded":
            return 1
        if base == "multipart/form-data":
            return 2
        return 3

    return sorted(media_types, key=rank)[0]


def is_json_media_type(media_type: str | None) -> bool:
    base = (media_type or "").split(";")[0].strip().lower()
    return base == "application/json" or base.endswith("+json")


class OpenApiImporter:
    def __init__(self, raw: dict[str, Any], *, source: str, product: str | None, version: str | None) -> None:
        self.raw = raw
        self.source = source
        self.swagger = str(raw.get("swagger", "")).startswith("2")
        self.problems = ProblemLog()
        self.converter = SchemaConverter(raw, swagger=self.swagger, problems=self.problems)
        info = raw.get("info")
        info = info if isinstance(info, dict) else {}
        self.title = str(info.get("title") or "")
        self.product = check_product_code(product or product_code_from_title(self.title))
        self.version = check_version(version or clean_version(info.get("version")))
        self.info = info

    @property
    def source_format(self) -> str:
        if self.swagger:
            return "swagger-2.0"
        return "openapi-3.1" if str(self.raw.get("openapi", "")).startswith("3.1") else "openapi-3.0"

    # Document ------------------------------------------------------------------------------

    def run(self) -> ImportResult:
        paths = self.raw.get("paths")
        if not isinstance(paths, dict):
            raise CatalogImportError("InvalidParam.Document", "The description has no `paths` object")
        schemas = self.converter.convert_components()
        apis: dict[str, dict[str, Any]] = {}
        pending: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = []
        for path, item in paths.items():
            if not isinstance(item, dict):
                continue
            item = self._deref_path_item(item, path)
            for method in METHODS:
                op = item.get(method)
                if isinstance(op, dict):
                    pending.append((path, method, item, op))
        names = self._names(pending)
        directories: dict[str, list[str]] = {}
        for (path, method, item, op), name in zip(pending, names, strict=True):
            self.problems.api = name
            apis[name] = self._operation(path, method, item, op)
            for tag in op.get("tags") or []:
                directories.setdefault(str(tag), []).append(name)
        self.problems.api = ""
        document: dict[str, Any] = {
            "version": "1.0",
            "info": {
                "style": "OpenAPI",
                "product": self.product,
                "version": self.version,
                "title": self.title,
                "description": str(self.info.get("description") or ""),
                "x-sourceFormat": self.source_format,
                "x-sourceVersion": str(self.raw.get("openapi") or self.raw.get("swagger")),
                "x-infoVersion": str(self.info.get("version") or ""),
                "x-schemaDialect": JSON_SCHEMA_DIALECT,
            },
            "directories": [{"title": t, "type": "directory", "children": c} for t, c in directories.items()],
            "apis": apis,
            "endpoints": [],
            "servers": self._servers(),
            "components": {"schemas": schemas, "securitySchemes": self._security_schemes()},
            "errorCodes": [],
        }
        if isinstance(self.raw.get("security"), list):
            document["security"] = self.raw["security"]
        if self.raw.get("webhooks"):
            self.problems.add("webhooks", "webhooks describe calls made by the API, not operations; not imported")
        return ImportResult(document=document, source_format=self.source_format, problems=self.problems.items)

    def _names(self, pending: list[tuple[str, str, dict[str, Any], dict[str, Any]]]) -> list[str]:
        """operationId-based names first (in document order), then derived names for the rest."""
        names: list[str | None] = [None] * len(pending)
        taken: set[str] = set()
        for i, (_, _, _, op) in enumerate(pending):
            op_id = op.get("operationId")
            if isinstance(op_id, str) and op_id.strip():
                names[i] = unique(api_name_from_operation_id(op_id), taken)
                taken.add(names[i] or "")
        for i, (path, method, _, _) in enumerate(pending):
            if names[i] is None:
                names[i] = unique(derived_api_name(method, path), taken)
                taken.add(names[i] or "")
        return [n or "" for n in names]

    def _deref_path_item(self, item: dict[str, Any], path: str) -> dict[str, Any]:
        ref = item.get("$ref")
        if not isinstance(ref, str):
            return item
        try:
            target = resolve_pointer(self.raw, ref) if ref.startswith("#") else None
        except (KeyError, IndexError, ValueError):
            target = None
        if not isinstance(target, dict):
            self.problems.add(f"paths.{path}", f"path item reference {ref!r} cannot be resolved; ignored", api="")
            return {k: v for k, v in item.items() if k != "$ref"}
        return {**target, **{k: v for k, v in item.items() if k != "$ref"}}

    def _deref(self, obj: Any, where: str) -> Any:
        seen = 0
        while isinstance(obj, dict) and isinstance(obj.get("$ref"), str) and seen < 20:
            ref = obj["$ref"]
            if not ref.startswith("#"):
                self.problems.add(where, f"external reference {ref!r} is not supported; ignored")
                return None
            try:
                obj = resolve_pointer(self.raw, ref)
            except (KeyError, IndexError, ValueError):
                self.problems.add(where, f"reference {ref!r} cannot be resolved; ignored")
                return None
            seen += 1
        return obj

    # Operations ----------------------------------------------------------------------------

    def _operation(self, path: str, method: str, item: dict[str, Any], op: dict[str, Any]) -> dict[str, Any]:
        where = f"{method.upper()} {path}"
        merged: dict[tuple[str, str], dict[str, Any]] = {}
        for source in (item.get("parameters") or [], op.get("parameters") or []):
            for raw_param in source:
                param = self._deref(raw_param, where)
                if not isinstance(param, dict) or "name" not in param or "in" not in param:
                    if param is not None:
                        self.problems.add(where, "a parameter without `name` or `in` is ignored")
                    continue
                merged[(str(param["name"]), str(param["in"]))] = param
        consumes = op.get("consumes") or self.raw.get("consumes") or []
        parameters = [self._parameter(p, where, consumes) for p in merged.values()]
        produces: list[str] = list(op.get("produces") or self.raw.get("produces") or [])
        api: dict[str, Any] = {
            "summary": str(op.get("summary") or ""),
            "description": str(op.get("description") or ""),
            "title": str(op.get("summary") or ""),
            "path": path,
            "methods": [method],
            "consumes": [],
            "produces": produces,
            "deprecated": bool(op.get("deprecated", False)),
            "parameters": parameters,
            "responses": {},
            "errorCodes": {},
            "systemTags": {"operationType": OPERATION_TYPES[method]},
            "x-operationId": op.get("operationId") or "",
        }
        if op.get("tags"):
            api["x-tags"] = list(op["tags"])
        if self.swagger:
            form = [p for p in parameters if p["in"] == "formData"]
            body = [p for p in parameters if p["in"] == "body"]
            if form:
                has_file = any((p["schema"].get("format") == "binary") for p in form)
                forms = [c for c in consumes if "form" in c.lower()]
                media = ("multipart/form-data" if has_file else None) or preferred_media_type(forms)
                media = media or "application/x-www-form-urlencoded"
                api["consumes"] = list(consumes) or [media]
                for p in form:
                    p["x-mediaType"] = media
            for p in body:
                media = preferred_media_type(list(consumes)) or "application/json"
                p["x-mediaType"] = media
                if is_json_media_type(media):
                    p["style"] = "json"
                api["consumes"] = list(consumes) or [media]
        else:
            body_param = self._request_body(op, where)
            if body_param is not None:
                parameters.append(body_param)
                api["consumes"] = body_param.pop("x-consumes")
        self._responses(op, api, where)
        assign_argument_names(parameters)
        security = op.get("security", self.raw.get("security"))
        if isinstance(security, list):
            api["x-security"] = security
        servers = op.get("servers") or item.get("servers")
        if servers and not self.swagger:
            api["x-servers"] = self._server_urls(servers, where)
        if op.get("callbacks"):
            self.problems.add(where, "callbacks describe calls made by the API; not represented as tools")
        return api

    def _parameter(self, param: dict[str, Any], where: str, consumes: list[str]) -> dict[str, Any]:
        location = str(param["in"])
        name = str(param["name"])
        pwhere = f"{where} parameter {name} ({location})"
        out: dict[str, Any] = {
            "name": name,
            "in": location,
            "required": bool(param.get("required")) or location == "path",
        }
        if location == "body":  # Swagger 2.0 only
            schema = self.converter.convert(param.get("schema") or {}, pwhere)
        elif self.swagger:
            raw_schema = {k: param[k] for k in _SWAGGER_PARAM_SCHEMA_KEYS if k in param}
            schema = self.converter.convert(raw_schema, pwhere)
            fmt = param.get("collectionFormat")
            if param.get("type") == "array":
                fmt = fmt or "csv"
                style, explode = _COLLECTION_STYLES.get(fmt, ("form", False))
                if location in ("path", "header") and fmt == "csv":
                    style = "simple"
                out["x-style"], out["x-explode"] = style, explode
                out["x-collectionFormat"] = fmt
            if param.get("allowEmptyValue"):
                out["x-allowEmptyValue"] = True
        else:
            if "content" in param and isinstance(param["content"], dict) and param["content"]:
                media, media_obj = next(iter(param["content"].items()))
                schema = self.converter.convert((media_obj or {}).get("schema") or {}, pwhere)
                out["x-contentType"] = media
            else:
                schema = self.converter.convert(param.get("schema") or {}, pwhere)
            default_style = "form" if location in ("query", "cookie") else "simple"
            style = param.get("style", default_style)
            out["x-style"] = style
            out["x-explode"] = bool(param.get("explode", style == "form"))
            for key in ("allowReserved", "allowEmptyValue"):
                if param.get(key):
                    out[f"x-{key}"] = True
        schema = dict(schema) if isinstance(schema, dict) else {}
        if param.get("description"):
            schema["description"] = str(param["description"])
        if param.get("deprecated"):
            schema["deprecated"] = True
        if "example" in param:
            schema["examples"] = [param["example"]]
        elif isinstance(param.get("examples"), dict):
            values = [self._deref(e, pwhere) for e in param["examples"].values()]
            values = [v.get("value") for v in values if isinstance(v, dict) and "value" in v]
            if values:
                schema["examples"] = values
        out["schema"] = schema
        return out

    def _request_body(self, op: dict[str, Any], where: str) -> dict[str, Any] | None:
        if "requestBody" not in op:
            return None
        body = self._deref(op["requestBody"], f"{where} requestBody")
        if not isinstance(body, dict):
            return None
        content = body.get("content")
        content = content if isinstance(content, dict) else {}
        media_types = list(content)
        media = preferred_media_type(media_types)
        if media is None:
            self.problems.add(where, "request body without content; ignored")
            return None
        media_obj = content.get(media) or {}
        if "schema" in media_obj:
            schema = self.converter.convert(media_obj["schema"], f"{where} requestBody {media}")
        else:
            schema = {} if is_json_media_type(media) else {"type": "string"}
        schema = dict(schema) if isinstance(schema, dict) else {}
        if body.get("description"):
            schema.setdefault("description", str(body["description"]))
        if "example" in media_obj and "examples" not in schema:
            schema["examples"] = [media_obj["example"]]
        param: dict[str, Any] = {
            "name": "body",
            "in": "body",
            "required": bool(body.get("required")),
            "schema": schema,
            "x-mediaType": media,
            "x-consumes": media_types,
        }
        if is_json_media_type(media):
            param["style"] = "json"
        if len(media_types) > 1:
            param["x-mediaTypes"] = media_types
        if isinstance(media_obj.get("encoding"), dict):
            param["x-encoding"] = media_obj["encoding"]
        return param

    def _responses(self, op: dict[str, Any], api: dict[str, Any], where: str) -> None:
        produces = api["produces"]
        for status, raw in (op.get("responses") or {}).items():
            resp = self._deref(raw, f"{where} response {status}")
            if not isinstance(resp, dict):
                continue
            entry: dict[str, Any] = {"description": str(resp.get("description") or "")}
            if self.swagger:
                if "schema" in resp:
                    entry["schema"] = self.converter.convert(resp["schema"], f"{where} response {status}")
            else:
                content = resp.get("content")
                content = content if isinstance(content, dict) else {}
                for mt in content:
                    if mt not in produces:
                        produces.append(mt)
                media = preferred_media_type(list(content))
                if media is not None and "schema" in (content.get(media) or {}):
                    entry["schema"] = self.converter.convert(content[media]["schema"], f"{where} response {status}")
                    entry["x-mediaType"] = media
            api["responses"][str(status)] = entry

    # Servers and security ------------------------------------------------------------------

    def _servers(self) -> list[str]:
        if self.swagger:
            host = self.raw.get("host")
            base_path = str(self.raw.get("basePath") or "")
            schemes = list(self.raw.get("schemes") or [])
            if not host:
                return self._relative([base_path or "/"], "basePath")
            schemes = sorted(schemes, key=lambda s: s != "https") or ["https"]
            return [f"{scheme}://{host}{base_path}".rstrip("/") for scheme in schemes]
        servers = self.raw.get("servers") or []
        if not servers:
            return self._relative(["/"], "servers")
        return self._server_urls(servers, "servers")

    def _server_urls(self, servers: list[Any], where: str) -> list[str]:
        urls = []
        for server in servers:
            if not isinstance(server, dict) or not isinstance(server.get("url"), str):
                continue
            url = server["url"]
            for var, spec in (server.get("variables") or {}).items():
                default = spec.get("default") if isinstance(spec, dict) else None
                if default is None:
                    self.problems.add(where, f"server variable {var!r} has no default")
                    continue
                url = url.replace("{" + var + "}", str(default))
            urls.append(url.rstrip("/") or url)
        return self._relative(urls, where)

    def _relative(self, urls: list[str], where: str) -> list[str]:
        out = []
        for url in urls:
            if urlsplit(url).scheme:
                out.append(url)
            elif self.source.startswith(("https://", "http://")):
                out.append(urljoin(self.source, url).rstrip("/"))
            else:
                self.problems.add(where, f"relative base URL {url!r}: a connection must supply the host", api="")
                out.append(url)
        return out

    def _security_schemes(self) -> dict[str, Any]:
        if not self.swagger:
            schemes = (self.raw.get("components") or {}).get("securitySchemes") or {}
            return {k: self._deref(v, f"securitySchemes.{k}") for k, v in schemes.items()}
        out: dict[str, Any] = {}
        for name, spec in (self.raw.get("securityDefinitions") or {}).items():
            kind = spec.get("type")
            if kind == "basic":
                out[name] = {"type": "http", "scheme": "basic"}
            elif kind == "apiKey":
                out[name] = {"type": "apiKey", "name": spec.get("name"), "in": spec.get("in")}
            elif kind == "oauth2":
                flow = {k: spec[k] for k in ("authorizationUrl", "tokenUrl") if k in spec}
                flow["scopes"] = spec.get("scopes") or {}
                out[name] = {"type": "oauth2", "flows": {_OAUTH_FLOWS.get(spec.get("flow", ""), "implicit"): flow}}
            else:
                self.problems.add(f"securityDefinitions.{name}", f"unknown security scheme type {kind!r}", api="")
                out[name] = dict(spec)
            if spec.get("description"):
                out[name]["description"] = spec["description"]
        return out


def import_openapi(
    raw: dict[str, Any], *, source: str = "", product: str | None = None, version: str | None = None
) -> ImportResult:
    """Normalise an OpenAPI 3.x or Swagger 2.0 document (already parsed)."""
    return OpenApiImporter(raw, source=source, product=product, version=version).run()
