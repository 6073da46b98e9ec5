"""Read the image out of a request, in memory, with the size limit enforced before decoding.

Starlette's form parser spools uploads over 1 MB to a temporary file; images must never touch the
disk, so multipart bodies are parsed here with python-multipart's streaming parser into memory.
"""

from __future__ import annotations

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from serving.decode import ACCEPTED_TYPES
from serving.errors import ApiError, too_large, unsupported

IMAGE_FIELD = "image"


def content_type(request: Request) -> str:
    """The request's media type, lower-case, without parameters."""
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def check_content_type(mime: str) -> None:
    """415 unless the body is multipart/form-data or one of the accepted image types."""
    if mime != "multipart/form-data" and mime not in ACCEPTED_TYPES:
        shown = mime or "none"
        raise unsupported(
            f"Content-Type {shown!r} is not accepted; send multipart/form-data with a field "
            f"'{IMAGE_FIELD}', or raw bytes as {', '.join(ACCEPTED_TYPES)}"
        )


async def read_limited_body(request: Request, max_bytes: int) -> bytes:
    """Read the body, refusing it (413) as soon as it is known to exceed ``max_bytes``."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > max_bytes:
                raise too_large(f"request body is {int(declared):,} bytes; the limit is {max_bytes:,}")
        except ValueError as exc:
            raise ApiError(400, "bad_request", f"invalid Content-Length header {declared!r}") from exc
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise too_large(f"request body exceeds the limit of {max_bytes:,} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def image_from_multipart(body: bytes, content_type_header: str) -> bytes:
    """Return the bytes of the form field ``image`` of a multipart/form-data body."""
    _, params = parse_options_header(content_type_header)
    boundary = params.get(b"boundary")
    if not boundary:
        raise ApiError(400, "bad_request", "multipart/form-data body without a boundary parameter")
    parts: list[dict] = []
    header_field: list[bytes] = []
    header_value: list[bytes] = []

    def on_part_begin() -> None:
        parts.append({"headers": {}, "data": []})

    def on_header_end() -> None:
        parts[-1]["headers"][b"".join(header_field).lower()] = b"".join(header_value)
        header_field.clear()
        header_value.clear()

    callbacks = {
        "on_part_begin": on_part_begin,
        "on_part_data": lambda data, start, end: parts[-1]["data"].append(data[start:end]),
        "on_header_field": lambda data, start, end: header_field.append(data[start:end]),
        "on_header_value": lambda data, start, end: header_value.append(data[start:end]),
        "on_header_end": on_header_end,
    }
    try:
        parser = MultipartParser(boundary, callbacks)
        parser.write(body)
        parser.finalize()
    except Exception as exc:  # the parser raises several error types for malformed bodies
        raise ApiError(400, "bad_request", f"malformed multipart/form-data body: {exc}") from exc
    for part in parts:
        _, disposition = parse_options_header(part["headers"].get(b"content-disposition", b""))
        if disposition.get(b"name") == IMAGE_FIELD.encode():
            return b"".join(part["data"])
    raise ApiError(400, "missing_image", f"multipart/form-data body has no field named '{IMAGE_FIELD}'")
