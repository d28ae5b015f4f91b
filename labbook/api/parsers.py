"""The API's JSON parser, with a nesting limit.

Python's json module recurses once per nesting level: a body of 50 000 ``[`` raised RecursionError
(a 500). A scan over the brackets outside strings (one regex pass, no recursion) refuses bodies
nested deeper than ``settings.API_JSON_MAX_DEPTH`` with a 400 before they are decoded.
"""

from __future__ import annotations

import io
import re

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import ParseError

# a JSON string (skipped whole, escapes included) or a bracket
_STRING_OR_BRACKET = re.compile(r'"(?:[^"\\]|\\.)*"?|[\[\]{}]', re.DOTALL)


def json_depth_exceeds(text: str, limit: int) -> bool:
    """Whether ``text`` opens more than ``limit`` arrays/objects inside one another."""
    if text.count("[") + text.count("{") <= limit:
        return False
    depth = 0
    for m in _STRING_OR_BRACKET.finditer(text):
        c = m.group()
        if c in "[{":
            depth += 1
            if depth > limit:
                return True
        elif c in "]}":
            depth -= 1
    return False


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        body = stream.read() if stream is not None else b""
        try:
            text = body.decode(encoding)
        except UnicodeDecodeError:
            raise ParseError(f"JSON parse error - the body is not {encoding}") from None
        limit = settings.API_JSON_MAX_DEPTH
        if json_depth_exceeds(text, limit):
            raise ParseError(f"JSON parse error - nested deeper than {limit} levels")
        try:
            return super().parse(io.BytesIO(body), media_type, parser_context)
        except RecursionError:  # a belt to the braces above
            raise ParseError(f"JSON parse error - nested deeper than {limit} levels") from None
