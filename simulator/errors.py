"""Infobip's error bodies (docs/infobip.md, "Error bodies") and the exception handlers raise."""

from __future__ import annotations

from typing import Any, Literal

LEGACY_IDS: dict[int, str] = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    416: "REQUESTED_RANGE_NOT_SATISFIABLE",
    429: "TOO_MANY_REQUESTS",
    500: "GENERAL_ERROR",
}


class ApiError(Exception):
    """An error response. ``shape`` picks the body: the ccaas ``StatusResponse`` or legacy."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        shape: Literal["status", "legacy"] = "status",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.shape = shape
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        if self.shape == "status":
            return status_body(self.message)
        return legacy_body(self.status, self.message)


def status_body(message: str) -> dict[str, Any]:
    return {"status": "ERROR", "message": message}


def legacy_body(status: int, text: str) -> dict[str, Any]:
    message_id = LEGACY_IDS.get(status, "GENERAL_ERROR")
    return {"requestError": {"serviceException": {"messageId": message_id, "text": text}}}


def not_found(recording_id: str) -> ApiError:
    return ApiError(404, f"Recording file {recording_id} not found!")
