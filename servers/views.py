"""Console views for MCP servers.

Every view finds servers through `_get_server_for_user` (another account's server is a 404, as if
it did not exist) and asks `_authorize` (a server's resource for the console's one access helper,
`oauth.views.console_authorize`) for the management API action it corresponds to, so the console
grants exactly what the user's policies grant through the API (403 otherwise).
"""

from __future__ import annotations

import contextlib
import json
import logging
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.staticfiles.views import serve as serve_static
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from oauth import access
from oauth.audit import console_write
from oauth.views import console_allowed, console_authorize
from servers.client_config import Transport, client_config, client_configs
from servers.errors import ApiError
from servers.forms import DeleteServerForm, ServerForm
from servers.models import McpServer
from servers.schemas import CreateApiMcpServerBody, UpdateApiMcpServerBody
from servers.selectors import (
    server_get_for_user,
    server_to_dict,
    server_urls,
    server_warnings,
    servers_for_account,
)
from servers.services import server_create, server_delete, server_update

logger = logging.getLogger(__name__)

PAGE_SIZE = 20

# The four URLs of a server (keys of `urls` in the server model) and the transport each speaks.
ENDPOINTS: dict[str, tuple[str, Transport]] = {
    "mcp": ("Streamable HTTP, public", "streamable-http"),
    "sse": ("SSE, public", "sse"),
    "vpcMcp": ("Streamable HTTP, internal", "streamable-http"),
    "vpcSse": ("SSE, internal", "sse"),
}


# Access ---------------------------------------------------------------------------------------


def _resource(request: HttpRequest, server_id: str, resource: str) -> str:
    return resource or access.server_resource(getattr(request.user, "account_id", "") or "", server_id)


def _allowed(request: HttpRequest, operation: str, server_id: str = "*", *, resource: str = "") -> bool:
    """Whether the user's policies allow `operation` on a server (to show or hide a button)."""
    return console_allowed(request, operation, _resource(request, server_id, resource))


def _authorize(request: HttpRequest, operation: str, server_id: str = "*", *, resource: str = "") -> None:
    """403 with the decision's message (the one the management API answers) unless the policies allow it."""
    console_authorize(request, operation, _resource(request, server_id, resource))


def _get_server_for_user(request: HttpRequest, server_id: str, operation: str) -> McpServer:
    """The user's own account's server, authorised for `operation`; 404 for anybody else's."""
    try:
        server = server_get_for_user(user=request.user, server_id=server_id)  # type: ignore[arg-type]
    except ApiError:
        raise Http404("MCP server not found") from None
    _authorize(request, operation, server.id)
    return server


def _compiled_tools(server: McpServer) -> tuple[list[dict[str, Any]] | None, str]:
    """The tools exactly as `tools/list` returns them, or None and the reason when unavailable."""
    try:
        from servers.snapshot import compiled_for_server  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return None, "Tool compilation is not available in this installation yet."
    try:
        compiled: Any = compiled_for_server(server)
        if getattr(compiled, "tools_json", None):
            tools = json.loads(compiled.tools_json)["tools"]  # the very bytes tools/list answers with
        else:
            tools = [dict(tool) for tool in compiled.tools]
    except Exception:  # the preview must never break the page; the error is logged with its cause
        logger.exception("tools preview failed for server %s", server.id)
        return None, "The tools could not be compiled; the server log has the details."
    return tools, ""


def static_file(request: HttpRequest, path: str) -> HttpResponse:
    """The console's static files, served by the application itself (also with DEBUG off).

    They are two small files, so they are answered in one piece: under ASGI a streamed file
    response would be iterated synchronously anyway.
    """
    response = serve_static(request, path, insecure=True)
    if isinstance(response, StreamingHttpResponse):
        content = b"".join(response.streaming_content)  # type: ignore[arg-type]
        whole = HttpResponse(content, status=response.status_code)
        for header, value in response.headers.items():
            whole[header] = value
        whole["Content-Length"] = str(len(content))
        whole["Cache-Control"] = "public, max-age=300"
        # Close the file, not the response: closing a response sends `request_finished`, which
        # would end this request's database connection while the request is still being answered.
        file = getattr(response, "file_to_stream", None)
        if file is not None:
            file.close()
        return whole
    return response


# Views ----------------------------------------------------------------------------------------


@login_required
def server_list(request: HttpRequest) -> HttpResponse:
    _authorize(request, "ListApiMcpServers")
    user: Any = request.user
    query = request.GET.get("q", "").strip()
    servers = servers_for_account(str(user.account_id)).order_by("-created_at", "-id")
    if query:  # the API's `keyword`: fuzzy name or exact id
        servers = servers.filter(Q(name__icontains=query) | Q(id=query))
    page = Paginator(servers, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "servers/list.html",
        {"page": page, "query": query, "can_create": _allowed(request, "CreateApiMcpServer")},
    )


@login_required
@require_http_methods(["GET", "POST"])
def server_create_view(request: HttpRequest) -> HttpResponse:
    _authorize(request, "CreateApiMcpServer")
    user: Any = request.user
    form = ServerForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        assert isinstance(form.body, CreateApiMcpServerBody)
        try:
            with console_write(request, "openapiexplorer:CreateApiMcpServer") as write:
                server = server_create(account=user.account, user=user, body=form.body)
                write.server_id = server.id
        except ApiError as exc:
            form.add_api_error(exc)
        else:
            messages.success(request, f"Created MCP server “{server.name}”.")
            return redirect("server-detail", server_id=server.id)
    return render(request, "servers/form.html", {"form": form, "creating": True})


@login_required
def server_detail(request: HttpRequest, server_id: str) -> HttpResponse:
    server = _get_server_for_user(request, server_id, "GetApiMcpServer")
    data = server_to_dict(server)
    urls = data.get("urls") or {}
    endpoint = request.GET.get("endpoint", "mcp")
    if endpoint not in ENDPOINTS or not urls.get(endpoint):
        endpoint = "mcp"
    tools, tools_unavailable = _compiled_tools(server)
    policy = data.get("requiredRAMPolicy") or ""
    with contextlib.suppress(ValueError):  # shown as stored when it is not JSON
        policy = json.dumps(json.loads(policy), indent=2)
    context = {
        "server": server,
        "data": data,
        "endpoints": [(key, label, urls.get(key, "")) for key, (label, _) in ENDPOINTS.items()],
        "endpoint": endpoint,
        "endpoint_label": ENDPOINTS[endpoint][0],
        "configs": client_configs(name=server.name, url=urls.get(endpoint, ""), transport=ENDPOINTS[endpoint][1])
        if urls.get(endpoint)
        else [],
        "api_infos": data.get("apiInfos") or [],
        "warnings": server_warnings(server),
        "tools": tools,
        "tools_json": json.dumps({"tools": tools}, indent=2, ensure_ascii=False) if tools is not None else "",
        "tools_unavailable": tools_unavailable,
        "required_policy": policy,
        "can_update": _allowed(request, "UpdateApiMcpServer", server.id),
        "can_delete": _allowed(request, "DeleteApiMcpServer", server.id),
    }
    return render(request, "servers/detail.html", context)


@login_required
def server_client_config_download(request: HttpRequest, server_id: str, client: str) -> HttpResponse:
    server = _get_server_for_user(request, server_id, "GetApiMcpServer")
    urls = server_urls(server)
    endpoint = request.GET.get("endpoint", "mcp")
    if endpoint not in ENDPOINTS or not urls.get(endpoint):
        raise Http404("Unknown endpoint")
    config = client_config(key=client, name=server.name, url=urls[endpoint], transport=ENDPOINTS[endpoint][1])
    if config is None:
        raise Http404("Unknown client")
    filename = config.filename or f"{server.name}-{config.key}.sh"
    content_type = "application/json" if config.language == "json" else "text/plain"
    response = HttpResponse(config.content, content_type=f"{content_type}; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
@require_http_methods(["GET", "POST"])
def server_edit(request: HttpRequest, server_id: str) -> HttpResponse:
    server = _get_server_for_user(request, server_id, "UpdateApiMcpServer")
    initial = ServerForm.initial_from_server(server_to_dict(server))
    form = ServerForm(request.POST or None, initial=initial, editing=True)
    if request.method == "POST" and form.is_valid():
        assert isinstance(form.body, UpdateApiMcpServerBody)
        try:
            with console_write(request, "openapiexplorer:UpdateApiMcpServer", server_id=server.id):
                server_update(server=server, body=form.body)
        except ApiError as exc:
            form.add_api_error(exc)
        else:
            messages.success(request, f"Saved MCP server “{server.name}”.")
            return redirect("server-detail", server_id=server.id)
    return render(request, "servers/form.html", {"form": form, "creating": False, "server": server})


@login_required
@require_http_methods(["GET", "POST"])
def server_delete_view(request: HttpRequest, server_id: str) -> HttpResponse:
    server = _get_server_for_user(request, server_id, "DeleteApiMcpServer")
    form = DeleteServerForm(request.POST or None, server_name=server.name)
    if request.method == "POST" and form.is_valid():
        try:
            with console_write(request, "openapiexplorer:DeleteApiMcpServer", server_id=server.id):
                server_delete(server=server)
        except ApiError as exc:
            form.add_error(None, f"{exc.message} ({exc.code})")
        else:
            messages.success(request, f"Deleted MCP server “{form.server_name}”.")
            return redirect("server-list")
    return render(request, "servers/delete.html", {"form": form, "server": server})
