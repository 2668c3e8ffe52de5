"""Jinja2 templates for pages of every language, and as pages of their own (docs/templates.md)."""

from __future__ import annotations

from dynlan.templates._engine import ESCAPED_NOT, MAX_DEPTH, MAX_SOURCE, TemplateError, Templates
from dynlan.templates._page import (
    TEMPLATES,
    deadline_of,
    plain,
    render_for,
    request_values,
    values_of,
)

__all__ = [
    "ESCAPED_NOT",
    "MAX_DEPTH",
    "MAX_SOURCE",
    "TEMPLATES",
    "TemplateError",
    "Templates",
    "deadline_of",
    "plain",
    "render_for",
    "request_values",
    "values_of",
]
