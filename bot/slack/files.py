"""Files shared with the bot: metadata from ``files.info``, content from the file's
``url_private`` with the bot token (needs the ``files:read`` scope).

The size is checked before anything is downloaded, recordings (audio, video) are
refused without downloading, and the download stops one byte past the limit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)

DOWNLOAD_TIMEOUT_SECONDS = 30.0
RECORDING_TYPES = ("audio/", "video/")


class SharedFileError(Exception):
    """A shared file that cannot be used; ``name`` says which."""

    def __init__(self, name: str, detail: str = "") -> None:
        super().__init__(detail or name)
        self.name = name


class FileTooLargeError(SharedFileError):
    def __init__(self, name: str, size: int, limit: int) -> None:
        super().__init__(name, f"{name} is {size} bytes, over the {limit} byte limit")
        self.size = size
        self.limit = limit


class RecordingFileError(SharedFileError):
    def __init__(self, name: str, mimetype: str) -> None:
        super().__init__(name, f"{name} is a recording ({mimetype})")
        self.mimetype = mimetype


class FileDownloadError(SharedFileError):
    """Slack would not give the file (no access, a login page instead of the file, …)."""


@dataclass(frozen=True)
class SharedFile:
    id: str
    name: str
    mimetype: str
    size: int
    content: bytes


def file_name(info: dict[str, Any]) -> str:
    return str(info.get("name") or info.get("title") or info.get("id") or "the file")


async def file_info(client: AsyncWebClient, file_id: str) -> dict[str, Any]:
    """``files.info`` for ``file_id`` (raises :class:`FileDownloadError`)."""
    try:
        response = await client.files_info(file=file_id)
    except SlackApiError as exc:
        raise FileDownloadError(file_id, str(exc.response.get("error"))) from exc
    info = response.get("file")
    if not isinstance(info, dict):
        raise FileDownloadError(file_id, "files.info returned no file")
    return info


async def download_shared_file(
    client: AsyncWebClient, file_id: str, *, max_bytes: int
) -> SharedFile:
    """The file's bytes, or a :class:`SharedFileError` that says why not."""
    info = await file_info(client, file_id)
    name = file_name(info)
    mimetype = str(info.get("mimetype") or "")
    size = int(info.get("size") or 0)
    if mimetype.startswith(RECORDING_TYPES):
        raise RecordingFileError(name, mimetype)
    if size > max_bytes:
        raise FileTooLargeError(name, size, max_bytes)
    url = info.get("url_private_download") or info.get("url_private")
    if not url:
        raise FileDownloadError(name, "the file has no private URL (an external or deleted file)")
    headers = {"Authorization": f"Bearer {client.token}"} if client.token else {}
    timeout = aiohttp.ClientTimeout(total=DOWNLOAD_TIMEOUT_SECONDS)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as http,
            http.get(str(url), headers=headers) as response,
        ):
            if response.status != 200:
                raise FileDownloadError(name, f"HTTP {response.status}")
            if response.content_type == "text/html" and not name.lower().endswith(
                (".html", ".htm")
            ):
                # Slack answers a download without files:read with its login page
                raise FileDownloadError(name, "Slack sent a web page instead of the file")
            chunks: list[bytes] = []
            received = 0
            async for chunk in response.content.iter_chunked(64 * 1024):
                received += len(chunk)
                if received > max_bytes:
                    raise FileTooLargeError(name, received, max_bytes)
                chunks.append(chunk)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise FileDownloadError(name, type(exc).__name__) from exc
    content = b"".join(chunks)
    return SharedFile(id=file_id, name=name, mimetype=mimetype, size=len(content), content=content)
