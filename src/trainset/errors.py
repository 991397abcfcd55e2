"""The domain error tree. No HTTP here: `api/errors.py` maps each class to a status.

TrainsetError                       code, message, details
├── InvalidRequest                  invalid_request
│   ├── InvalidFilename             invalid_filename
│   ├── InvalidName                 invalid_name
│   ├── TooManyFiles                too_many_files
│   └── ClientDisconnected          client_disconnected
├── Unauthorized                    unauthorized
├── SignedUrlError                  (403 on a signed-URL PUT)
│   ├── SignatureInvalid            signature_invalid
│   ├── UrlExpired                  url_expired
│   ├── UrlSuperseded               url_superseded
│   ├── SizeMismatch                size_mismatch
│   └── ContentTypeMismatch         content_type_mismatch
├── NotFound                        not_found
│   ├── DatasetNotFound             dataset_not_found
│   └── FileNotFound                file_not_found
├── Conflict
│   ├── DatasetNameTaken            dataset_name_taken
│   └── DatasetNotReady             dataset_not_ready
├── FileTooLarge                    file_too_large
├── UnsupportedFileType             unsupported_file_type
├── InvalidFileContent              invalid_file_content
├── RangeNotSatisfiable             range_not_satisfiable
├── RequestTimeout                  request_timeout
├── QuotaExceeded                   quota_exceeded
├── RateLimited                     rate_limited
├── Overloaded                      overloaded
├── StorageUnavailable              storage_unavailable
└── InsufficientStorage             insufficient_storage
"""

from __future__ import annotations

from typing import Any, ClassVar


class TrainsetError(Exception):
    code: ClassVar[str] = "internal_error"

    def __init__(self, message: str, *, details: Any = None, retry_after: int | None = None):
        super().__init__(message)
        self.message = message
        self.details = details
        self.retry_after = retry_after


class InvalidRequest(TrainsetError):
    code = "invalid_request"


class InvalidFilename(InvalidRequest):
    code = "invalid_filename"


class InvalidName(InvalidRequest):
    code = "invalid_name"


class TooManyFiles(InvalidRequest):
    code = "too_many_files"


class ClientDisconnected(InvalidRequest):
    code = "client_disconnected"


class Unauthorized(TrainsetError):
    code = "unauthorized"


class SignedUrlError(TrainsetError):
    code = "signature_invalid"


class SignatureInvalid(SignedUrlError):
    code = "signature_invalid"


class UrlExpired(SignedUrlError):
    code = "url_expired"


class UrlSuperseded(SignedUrlError):
    code = "url_superseded"


class SizeMismatch(SignedUrlError):
    code = "size_mismatch"


class ContentTypeMismatch(SignedUrlError):
    code = "content_type_mismatch"


class NotFound(TrainsetError):
    code = "not_found"


class DatasetNotFound(NotFound):
    code = "dataset_not_found"


class FileNotFound(NotFound):
    code = "file_not_found"


class Conflict(TrainsetError):
    code = "conflict"


class DatasetNameTaken(Conflict):
    code = "dataset_name_taken"


class DatasetNotReady(Conflict):
    code = "dataset_not_ready"


class FileTooLarge(TrainsetError):
    code = "file_too_large"


class UnsupportedFileType(TrainsetError):
    code = "unsupported_file_type"


class InvalidFileContent(TrainsetError):
    code = "invalid_file_content"


class RangeNotSatisfiable(TrainsetError):
    code = "range_not_satisfiable"


class RequestTimeout(TrainsetError):
    code = "request_timeout"


class QuotaExceeded(TrainsetError):
    code = "quota_exceeded"


class RateLimited(TrainsetError):
    code = "rate_limited"


class Overloaded(TrainsetError):
    code = "overloaded"


class StorageUnavailable(TrainsetError):
    code = "storage_unavailable"


class InsufficientStorage(TrainsetError):
    code = "insufficient_storage"
