"""Exceptions raised by the SDK, rebuilt from the server's `error.code`.

Each also subclasses the builtin it most resembles, so callers can write
`except LookupError` without knowing trainset's names:

    TrainsetError                     any error answer (status, code, message, details)
    ├── InvalidRequest (ValueError)   invalid_request, invalid_filename, invalid_name, ...
    │   ├── InvalidFilename
    │   └── InvalidName
    ├── Unauthorized (PermissionError)
    ├── SignedUrlError (PermissionError)  signature_invalid, url_expired, size_mismatch, ...
    ├── NotFound (LookupError)
    │   ├── DatasetNotFound
    │   └── FileNotFound
    ├── Conflict
    │   ├── DatasetNameTaken
    │   └── DatasetNotReady
    ├── FileTooLarge (ValueError)
    ├── UnsupportedFileType (ValueError)
    ├── InvalidFileContent (ValueError)
    ├── RetryableError                rate_limited, overloaded, storage_unavailable (retried)
    ├── ServerError                   5xx without a known code
    ├── IntegrityError                downloaded bytes do not match their sha256
    └── TransportError (ConnectionError)  the server could not be reached
"""

from __future__ import annotations

from typing import Any


class TrainsetError(Exception):
    def __init__(
        self,
        message: str,
        *,
        status: int = 0,
        code: str = "",
        details: Any = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.details = details
        self.request_id = request_id
        self.retry_after = retry_after

    def __str__(self) -> str:
        return f"{self.message} ({self.code}, HTTP {self.status})" if self.code else self.message


class InvalidRequest(TrainsetError, ValueError):
    pass


class InvalidFilename(InvalidRequest):
    pass


class InvalidName(InvalidRequest):
    pass


class Unauthorized(TrainsetError, PermissionError):
    pass


class SignedUrlError(TrainsetError, PermissionError):
    pass


class NotFound(TrainsetError, LookupError):
    pass


class DatasetNotFound(NotFound):
    pass


class FileNotFound(NotFound):
    pass


class Conflict(TrainsetError):
    pass


class DatasetNameTaken(Conflict):
    pass


class DatasetNotReady(Conflict):
    pass


class FileTooLarge(TrainsetError, ValueError):
    pass


class UnsupportedFileType(TrainsetError, ValueError):
    pass


class InvalidFileContent(TrainsetError, ValueError):
    pass


class Stopped(TrainsetError):
    """A transfer given up because the caller's `stop` event was set (e.g. Ctrl-C)."""


class RetryableError(TrainsetError):
    """The server asked to try again later (429/503); idempotent calls retry these."""


class ServerError(TrainsetError):
    pass


class IntegrityError(TrainsetError):
    """Bytes did not match their sha256: a download against what the server promised,
    or an upload against what the server stored."""


class TransportError(TrainsetError, ConnectionError):
    """The request did not get an answer (refused, reset, timed out)."""


BY_CODE: dict[str, type[TrainsetError]] = {
    "invalid_request": InvalidRequest,
    "invalid_filename": InvalidFilename,
    "invalid_name": InvalidName,
    "too_many_files": InvalidRequest,
    "request_too_large": InvalidRequest,
    "unauthorized": Unauthorized,
    "signature_invalid": SignedUrlError,
    "url_expired": SignedUrlError,
    "url_superseded": SignedUrlError,
    "size_mismatch": SignedUrlError,
    "content_type_mismatch": SignedUrlError,
    "not_found": NotFound,
    "dataset_not_found": DatasetNotFound,
    "file_not_found": FileNotFound,
    "dataset_name_taken": DatasetNameTaken,
    "dataset_not_ready": DatasetNotReady,
    "file_too_large": FileTooLarge,
    "unsupported_file_type": UnsupportedFileType,
    "invalid_file_content": InvalidFileContent,
    "rate_limited": RetryableError,
    "overloaded": RetryableError,
    "storage_unavailable": RetryableError,
}
_BY_STATUS: dict[int, type[TrainsetError]] = {
    400: InvalidRequest,
    401: Unauthorized,
    403: SignedUrlError,
    404: NotFound,
    409: Conflict,
    413: FileTooLarge,
    415: UnsupportedFileType,
    422: InvalidFileContent,
    429: RetryableError,
    503: RetryableError,
}


def from_response(
    status: int, body: Any, request_id: str | None, retry_after: str | None
) -> TrainsetError:
    """The exception for an error answer (SPEC section 2 body, or anything else)."""
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict) and isinstance(err.get("code"), str):
        code, message, details = err["code"], str(err.get("message", "")), err.get("details")
    else:
        code, message, details = "", f"HTTP {status}", None
    cls = (
        BY_CODE.get(code)
        or _BY_STATUS.get(status)
        or (ServerError if status >= 500 else TrainsetError)
    )
    try:
        wait = float(retry_after) if retry_after else None
    except ValueError:
        wait = None
    return cls(
        message or f"HTTP {status}", status=status, code=code, details=details,
        request_id=request_id, retry_after=wait,
    )  # fmt: skip
