"""Console views for MCP servers."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from servers.models import McpServer


@login_required
def server_list(request: HttpRequest) -> HttpResponse:
    servers = McpServer.objects.filter(account_id=request.user.account_id).order_by("-created_at")
    return render(request, "servers/list.html", {"servers": servers})
