"""An incremental multipart/form-data reader for the direct upload route.

Bytes are parsed as they arrive and the `file` part's data is handed on chunk by
chunk: nothing is spooled to a temporary file and copied, and memory does not grow
with the file. Other (text) parts are read but bounded and ignored; a second `file`
part, a missing one, or a malformed body is a 400.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from trainset.errors import InvalidRequest

MAX_PARTS = 32
MAX_TEXT_PART = 64 * 1024


@dataclass(slots=True)
class FileStart:
    filename: str


@dataclass(slots=True)
class FileData:
    data: bytes


@dataclass(slots=True)
class FileEnd:
    pass


Event = FileStart | FileData | FileEnd


def _unquote_ext(value: str) -> str | None:
    """RFC 5987 `UTF-8''percent%20encoded` (filename*=); None if malformed."""
    charset, _, rest = value.partition("'")
    _lang, _, encoded = rest.partition("'")
    if charset.lower() != "utf-8":
        return None
    try:
        return unquote_to_bytes(encoded).decode("utf-8")
    except UnicodeDecodeError:
        return None


def disposition_params(raw: bytes) -> dict[str, str]:
    """Parameters of a Content-Disposition header, exactly as sent.

    Unlike python-multipart's parser this keeps the whole filename: it does not cut a
    Windows path down to its last component (a name with `\\` must be refused, not
    shortened). In a quoted value only `\\"` is an escape; other backslashes are kept.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequest("The file name is not valid UTF-8.") from None
    params: dict[str, str] = {}
    i = text.find(";")
    n = len(text)
    while 0 <= i < n:
        i += 1
        while i < n and text[i] in " \t":
            i += 1
        eq = text.find("=", i)
        if eq < 0:
            break
        key = text[i:eq].strip().lower()
        i = eq + 1
        if i < n and text[i] == '"':
            i += 1
            out = []
            while i < n and text[i] != '"':
                if text[i] == "\\" and i + 1 < n and text[i + 1] == '"':
                    i += 1
                out.append(text[i])
                i += 1
            value = "".join(out)
            i = text.find(";", i)
        else:
            end = text.find(";", i)
            value = text[i : end if end >= 0 else n].strip()
            i = end
        if key.endswith("*"):
            decoded = _unquote_ext(value)
            if decoded is None:
                raise InvalidRequest(f"The {key} parameter is malformed (expected UTF-8'').")
            value = decoded
        params.setdefault(key, value)
    return params


def boundary_of(content_type: str | None) -> bytes:
    if not content_type:
        raise InvalidRequest("Send the file as multipart/form-data with a field named `file`.")
    ctype, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary or len(boundary) > 200:
        raise InvalidRequest(
            "Send the file as multipart/form-data (with a boundary) in a field named `file`."
        )
    return boundary


class MultipartReader:
    """Feed body chunks with `feed()`; each call returns the events they completed."""

    def __init__(self, boundary: bytes):
        self._events: list[Event] = []
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._headers: dict[bytes, bytes] = {}
        self._in_file = False
        self._seen_file = False
        self._parts = 0
        self._text_bytes = 0
        self.finished = False
        self._parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._part_begin,
                "on_header_field": self._on_header_field,
                "on_header_value": self._on_header_value,
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
                "on_part_data": self._part_data,
                "on_part_end": self._part_end,
                "on_end": self._end,
            },
        )

    def _part_begin(self) -> None:
        self._parts += 1
        if self._parts > MAX_PARTS:
            raise InvalidRequest(f"Too many form fields (more than {MAX_PARTS}).")
        self._headers = {}
        self._in_file = False
        self._text_bytes = 0

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        self._headers[bytes(self._header_field).lower()] = bytes(self._header_value)
        self._header_field.clear()
        self._header_value.clear()

    def _headers_finished(self) -> None:
        disposition = self._headers.get(b"content-disposition")
        if disposition is None:
            raise InvalidRequest("A form part has no Content-Disposition header.")
        params = disposition_params(disposition)
        if params.get("name") != "file":
            return
        if self._seen_file:
            raise InvalidRequest("Send exactly one `file` field per upload request.")
        filename = params.get("filename*") or params.get("filename")
        if filename is None:
            raise InvalidRequest("The `file` field must be a file (it has no filename).")
        self._seen_file = True
        self._in_file = True
        self._events.append(FileStart(filename))

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file:
            self._events.append(FileData(data[start:end]))
        else:
            self._text_bytes += end - start
            if self._text_bytes > MAX_TEXT_PART:
                raise InvalidRequest("A non-file form field is too large.")

    def _part_end(self) -> None:
        if self._in_file:
            self._in_file = False
            self._events.append(FileEnd())

    def _end(self) -> None:
        self.finished = True

    def feed(self, chunk: bytes) -> list[Event]:
        try:
            self._parser.write(chunk)
        except MultipartParseError as e:
            raise InvalidRequest(f"The multipart body is malformed ({e}).") from None
        events, self._events = self._events, []
        return events

    def close(self) -> None:
        """The body ended: it must have been complete and must have held a file."""
        if not self.finished:
            raise InvalidRequest("The multipart body ended before its closing boundary.")
        if not self._seen_file:
            raise InvalidRequest("The upload has no `file` field.")


async def events(reader: MultipartReader, body: AsyncIterator[bytes]) -> AsyncIterator[Event]:
    async for chunk in body:
        for event in reader.feed(chunk):
            yield event
    reader.close()
