"""The app layer: sites, routing, static files and pages, error pages."""

from __future__ import annotations

from dynlan.app._app import App
from dynlan.app._sites import Site, discover_sites

__all__ = ["App", "Site", "discover_sites"]
