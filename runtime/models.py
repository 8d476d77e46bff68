"""What the MCP runtime stores: the audit trail of tool calls (and of management operations).

The runtime writes audit events through its audit writer (`runtime/audit.py`, via `runtime/data.py`);
the console and the management API read them as ordinary Django models. Connections (an account's
credentials for upstream products) belong to `oauth.models.Connection`.
"""

from __future__ import annotations

from django.db import models


class AuditEvent(models.Model):
    """One tool call (or management operation): who, what, outcome, and the upstream request."""

    KIND_TOOL_CALL = "tool_call"
    KIND_MANAGEMENT = "management"
    KIND_SIGNIN = "signin"  # a failed or throttled sign-in (oauth.signin)

    event_id = models.CharField(max_length=40, unique=True)
    kind = models.CharField(max_length=16, default=KIND_TOOL_CALL)
    time = models.DateTimeField(db_index=True)
    account_id = models.CharField(max_length=20, db_index=True)
    target_account_id = models.CharField(max_length=20, blank=True)
    user_id = models.BigIntegerField(null=True, blank=True)
    username = models.CharField(max_length=150, blank=True)
    client_id = models.CharField(max_length=200, blank=True)
    server_id = models.CharField(max_length=32, blank=True, db_index=True)
    tool = models.CharField(max_length=200, blank=True)
    action = models.CharField(max_length=200, blank=True)
    arguments = models.JSONField(default=dict, blank=True)
    outcome = models.CharField(max_length=16)  # success | error | denied | invalid
    error_code = models.CharField(max_length=200, blank=True)
    error_message = models.TextField(blank=True)
    latency_ms = models.PositiveIntegerField(default=0)
    source_ip = models.CharField(max_length=64, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    upstream_request_id = models.CharField(max_length=200, blank=True)
    upstream = models.JSONField(default=dict, blank=True, help_text="method, url, status, duration_ms")

    class Meta:
        indexes = [models.Index(fields=["account_id", "time"]), models.Index(fields=["user_id", "time"])]

    def __str__(self) -> str:
        return f"{self.time:%Y-%m-%d %H:%M:%S} {self.tool} {self.outcome}"
