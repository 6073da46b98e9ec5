"""API errors: every failure answers JSON ``{"error": {"code", "message"}}`` (contract 5)."""

from __future__ import annotations


class ApiError(Exception):
    """An error the client can act on; ``status`` is the HTTP status, ``code`` a stable name."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> dict:
        """The JSON body of this error."""
        return {"error": {"code": self.code, "message": self.message}}


def invalid_image(message: str) -> ApiError:
    """400: the bytes are not a decodable image."""
    return ApiError(400, "invalid_image", message)


def too_large(message: str) -> ApiError:
    """413: the body or the image dimensions exceed the limits."""
    return ApiError(413, "payload_too_large", message)


def unsupported(message: str, code: str = "unsupported_media_type") -> ApiError:
    """415: a content type or image format the service does not accept."""
    return ApiError(415, code, message)
