"""Management API answers in its own error format even where the framework answers first."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse

from servers.api.common import request_id


class ManagementMethodNotAllowed:
    """A wrong HTTP method on a management API path gets `{requestId, code, message}`, not plain text."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        if response.status_code != 405 or match is None or "mgmt" not in match.namespaces:
            return response
        allowed = response.get("Allow", "")
        rid = request_id(request)
        answer = JsonResponse(
            {
                "requestId": rid,
                "code": "UnsupportedHTTPMethod",
                "message": f"{request.method} is not supported on {request.path}; use {allowed}",
            },
            status=405,
        )
        answer["Allow"] = allowed
        answer["x-acs-request-id"] = rid
        return answer
