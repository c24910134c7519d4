"""What one HTTP request may make the app's server do, checked before Gradio handles it, and logs that stay small.

Why: Gradio 6.31 takes up to 1,000 files in one upload request, downloads any `path` that is a public URL (with no
size limit), and prints a traceback holding the whole client-supplied path (5 MB if the client sends 5 MB) for every
path it refuses. `RequestLimits`, an ASGI middleware, refuses those requests first, each with a clear message and
one short log line. `FloodFilter` keeps a flood of identical server errors ("Too many open files") to one line a
few seconds. Used by space/app.py; plain ASGI and logging, no Gradio import.
"""

from __future__ import annotations

import json
import logging
import os
import time

log = logging.getLogger(__name__)

MAX_FILES_PER_REQUEST = 4  # a browser or gradio_client sends one image per upload; the sketchpad 3 files at most
FORM_FIELDS = 4  # besides files, Gradio's component_server requests (the sketchpad's blobs) carry 4 form fields
# A call carries file paths, never file contents (those go through /upload): a /predict_batch call of 256 files is
# 256 FileData entries of about 200-600 bytes (upload path, original name, size, MIME type).
MAX_JSON_BYTES = 256 * 1024
LOGGED_CHARS = 100  # client-supplied text is cut to this in the log


def shorten(text, limit: int = LOGGED_CHARS) -> str:
    """`text` as a repr cut to `limit` characters, saying how long it was: client data never fills the log."""
    text = str(text)
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text):,} characters)"


class Refused(Exception):
    """A request over a limit: HTTP status and a message for the client."""

    def __init__(self, status: int, message: str, logged: str | None = None):
        super().__init__(message)
        self.status, self.message, self.logged = status, message, logged or message


class RequestLimits:
    """ASGI middleware: bounded POST bodies, few files per upload, no URL or outside-upload `path` in calls.

    - multipart POSTs (uploads): a Content-Length of at most `max_files` x `max_file_size` and at most `max_files`
      files, counted while the body streams through; past that the body is cut off with an invalid part, so that
      Gradio's parser fails and deletes the files it had written;
    - other POSTs (calls, queue joins): a JSON body of at most MAX_JSON_BYTES in which every `path` is a file in
      `upload_dir` (Gradio refuses the others too, but with a traceback) and none is a URL (Gradio would fetch it);
    - every response says `X-Content-Type-Options: nosniff` (uploaded files are served back to browsers);
    - a streamed response that fails once started is ended cleanly (the client keeps what was sent).
    """

    def __init__(self, app, upload_dir: str, max_file_size: int, max_files: int = MAX_FILES_PER_REQUEST):
        self.app = app
        self.upload_dir = os.path.realpath(upload_dir)
        self.max_file_size, self.max_files = max_file_size, max_files

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        send = _with_nosniff(send)
        if scope["method"] != "POST":
            return await self._ending_cleanly(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            if headers.get("content-type", "").startswith("multipart/form-data"):
                return await self._multipart(scope, receive, send, headers)
            body = await self._json_body(receive, headers)
        except Refused as refused:
            return await self._refuse(scope, send, refused)
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _ending_cleanly(self, scope, receive, send):
        """An error after a streamed response began (Gradio's result stream for an unknown event id raises 404 after
        sending its error event) ends the response properly, with one log line, instead of dropping the connection."""
        started = False

        async def tracked(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as error:
            if not started:
                raise
            log.warning("ended %s %s early: %s", scope["method"], shorten(scope["path"], 60),
                        shorten(f"{type(error).__name__}: {error}"))
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _json_body(self, receive, headers) -> bytes:
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_JSON_BYTES:
            raise Refused(413, f"The request body is too large ({int(declared):,} bytes; at most {MAX_JSON_BYTES:,}). "
                               "Upload files with POST /gradio_api/upload and pass their paths.")
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > MAX_JSON_BYTES:
                raise Refused(413, f"The request body is too large (over {MAX_JSON_BYTES:,} bytes). Upload files "
                                   "with POST /gradio_api/upload and pass their paths.")
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        if "json" in headers.get("content-type", "") or body[:1] in (b"{", b"["):
            try:
                data = json.loads(body)
            except ValueError:
                return body  # not JSON after all: Gradio answers it as it does
            for path in _paths(data):
                self._check_path(path)
        return body

    def _check_path(self, path: str) -> None:
        if "://" in path or path.startswith("data:"):
            raise Refused(400, "Send the image itself (POST /gradio_api/upload, then pass the path it returns), not "
                               "a URL: this app downloads nothing.", f"a URL as a file path: {shorten(path)}")
        real = os.path.realpath(path)
        if os.path.commonpath([real, self.upload_dir]) != self.upload_dir:
            raise Refused(400, "The file path is not a file uploaded to this app. Upload the image with POST "
                               "/gradio_api/upload and pass the path it returns.",
                          f"a file path outside the uploads: {shorten(path)}")

    async def _multipart(self, scope, receive, send, headers):
        limit = self.max_files * self.max_file_size + 64 * 1024  # plus the parts' headers
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise Refused(413, f"The upload is too large ({int(declared):,} bytes; at most {self.max_files} files "
                               f"of {self.max_file_size:,} bytes each per request).")
        boundary = _boundary(headers["content-type"])
        if boundary is None:
            return await self.app(scope, receive, send)  # Gradio answers a malformed upload with its own 400
        parts = self.max_files + (0 if scope["path"].endswith("/upload") else FORM_FIELDS)
        counter = _PartCounter(boundary, parts, limit)  # the size again: a chunked body declares none

        async def counted():
            message = await receive()
            if message["type"] == "http.request" and not counter.over:
                body = counter.feed(message.get("body", b""))
                if counter.over:  # cut the body off with a broken part: Gradio's parser fails and deletes its files
                    return {"type": "http.request", "body": body, "more_body": False}
            return message

        too_many = Refused(413, f"Too many files in one upload request (at most {self.max_files}); send them "
                                "one request at a time.")
        too_large = Refused(413, f"The upload is too large (over {limit:,} bytes: at most {self.max_files} files "
                                 f"of {self.max_file_size:,} bytes each per request).")
        replaced = False

        async def answer(message):
            nonlocal replaced
            if not counter.over:
                return await send(message)
            if message["type"] == "http.response.start" and not replaced:
                replaced = True
                await self._refuse(scope, send, too_large if counter.too_large else too_many)

        await self.app(scope, counted, answer)
        if counter.over and not replaced:
            await self._refuse(scope, send, too_large if counter.too_large else too_many)

    @staticmethod
    async def _refuse(scope, send, refused: Refused):
        client = (scope.get("client") or ("?",))[0]
        log.warning("refused %s %s from %s: %s", scope["method"], shorten(scope["path"], 60), client, refused.logged)
        body = json.dumps({"error": refused.message, "detail": refused.message}).encode()
        await send({"type": "http.response.start", "status": refused.status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class _PartCounter:
    """Counts multipart parts in a streamed body; once over the limit, ends the body with an invalid part header."""

    def __init__(self, boundary: bytes, max_parts: int, max_bytes: int):
        self.delimiter = b"\r\n--" + boundary
        self.max_parts, self.max_bytes = max_parts, max_bytes
        self.seen = self.size = 0
        self.tail = b"\r\n"  # the body's first boundary has no CRLF before it
        self.over = self.too_large = False

    def feed(self, chunk: bytes) -> bytes:
        self.size += len(chunk)
        if self.size > self.max_bytes:
            self.over = self.too_large = True
            return self.delimiter + b"\r\n\x00\r\n\r\n"
        data = self.tail + chunk
        start = 0
        while (found := data.find(self.delimiter, start)) >= 0:
            self.seen += 1  # delimiter k opens part k; the (max+2)-th means more than max parts
            if self.seen >= self.max_parts + 2:
                self.over = True
                cut = found - len(self.tail)  # where the delimiter starts in this chunk
                return chunk[:max(cut, 0)] + self.delimiter + b"\r\n\x00\r\n\r\n"  # a header python_multipart refuses
            start = found + len(self.delimiter)
        self.tail = data[-(len(self.delimiter) - 1):]
        return chunk


def _boundary(content_type: str) -> bytes | None:
    for param in content_type.split(";")[1:]:
        name, _, value = param.strip().partition("=")
        if name.lower() == "boundary" and value:
            return value.strip('"').encode("latin-1")
    return None


def _paths(data):
    """Every string under a "path" key (Gradio's FileData) anywhere in a JSON value."""
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get("path"), str):
                yield item["path"]
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _with_nosniff(send):
    async def wrapped(message):
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), (b"x-content-type-options", b"nosniff")]}
        await send(message)
    return wrapped


class FloodFilter(logging.Filter):
    """Let the same message through at most once per `interval` seconds, without its traceback after the first.

    Why: when connections exhaust the file descriptors, asyncio logs "socket.accept() out of system resource" with
    a traceback for every accept attempt (4 MB/s here); one line every few seconds says as much.
    """

    def __init__(self, interval: float = 10.0):
        super().__init__()
        self.interval = interval
        self.last: dict[str, float] = {}
        self.dropped: dict[str, int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = f"{record.name}:{record.msg}"
        now = time.monotonic()
        if now - self.last.get(key, -self.interval) < self.interval:
            self.dropped[key] = self.dropped.get(key, 0) + 1
            return False
        if self.dropped.pop(key, 0) or key in self.last:
            record.exc_info = record.exc_text = None
            record.stack_info = None
        self.last[key] = now
        return True


class _SnapshotSet(set):
    """A set that is iterated through a copy, so that it may grow while it is walked."""

    def __iter__(self):
        return iter(set.copy(self))


def keep_cache_sweep_alive(demo) -> None:
    """Let Gradio's delete_cache sweep survive uploads that arrive while it runs.

    Why: Gradio 6.31's sweep walks its live sets of created files; a file added meanwhile (an upload, a cached
    output) raises "Set changed size during iteration" and ends the sweep task for good, so nothing is deleted
    again (measured: 342 of 343 files uploaded by 8 clients were still there long after their age). Call before
    launch(); the sets become ones that are walked through a copy.
    """
    demo.upload_file_set = _SnapshotSet(demo.upload_file_set)
    sets, owned = [demo.upload_file_set], set()
    for block in demo.blocks.values():
        if isinstance(getattr(block, "temp_files", None), set):
            owned.add(id(block.temp_files))
            block.temp_files = _SnapshotSet(block.temp_files)
            sets.append(block.temp_files)
    sets += [s for s in demo.temp_file_sets[1:] if id(s) not in owned]  # any other set: kept as it is
    demo.temp_file_sets = sets
