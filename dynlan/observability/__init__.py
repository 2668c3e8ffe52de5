"""Observability: request metrics, the admin listener and its dashboard, health checks, slow pages and traces.

The supervisor's side (`AdminServer`, in `_admin.py`, with prometheus_client) is imported where it is used, so a
worker imports only what counts requests.
"""

from dynlan.observability._address import admin_address, is_loopback
from dynlan.observability._metrics import LABELS, NO_ROUTE, RequestMetrics

__all__ = ["LABELS", "NO_ROUTE", "RequestMetrics", "admin_address", "is_loopback"]
