"""Result and error types of the importers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class CatalogImportError(ValueError):
    """The source cannot be imported at all (unreadable, unknown format, refused URL…).

    `code` is stable (for the API and the console); the message says what to fix.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class ProblemLog:
    """Collects what could not be represented faithfully, per operation ("" = the document)."""

    items: list[dict[str, str]] = field(default_factory=list)
    api: str = ""

    def add(self, where: str, message: str, *, api: str | None = None) -> None:
        entry = {"api": self.api if api is None else api, "where": where, "message": message}
        if entry not in self.items:
            self.items.append(entry)


@dataclass
class ImportResult:
    """A normalised document (the Alibaba metadata shape) and what the import noticed."""

    document: dict[str, Any]
    source_format: str  # "alibaba", "openapi-3.0", "openapi-3.1" or "swagger-2.0"
    problems: list[dict[str, str]]

    @property
    def product(self) -> str:
        return str(self.document["info"]["product"])

    @property
    def version(self) -> str:
        return str(self.document["info"]["version"])

    @property
    def api_count(self) -> int:
        return len(self.document["apis"])
