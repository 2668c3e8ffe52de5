"""Errors that carry the HTTP status they should produce (one place turns them into responses)."""

from __future__ import annotations

from http import HTTPStatus
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dynlan.host._devreport import DevReport


class HttpError(Exception):
    """A request that must be answered with `status` (and, for protocol errors, a closed connection)."""

    def __init__(self, status: int, message: str = "", *, close: bool = False,
                 detail: str | DevReport | None = None) -> None:
        self.status = status
        self.message = message or HTTPStatus(status).phrase
        self.close = close
        self.detail = detail
        """What `--dev` shows on the error page: a failed page's report, or the host's own traceback."""
        super().__init__(f"{status} {self.message}")


class ProtocolError(HttpError):
    """The peer broke the protocol; after answering, the connection is closed."""

    def __init__(self, status: int, message: str = "") -> None:
        super().__init__(status, message, close=True)
