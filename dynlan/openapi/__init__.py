"""OpenAPI 3.1 descriptions of sites: file routes and the annotation block at the top of each page."""

from __future__ import annotations

from dynlan.openapi._annotations import AnnotationError, Annotations, comment_block, parse
from dynlan.openapi._document import OPENAPI_VERSION, document, openapi_path, read_annotations

__all__ = ["OPENAPI_VERSION", "AnnotationError", "Annotations", "comment_block", "document", "openapi_path", "parse",
           "read_annotations"]
