"""Talk to the page's Gradio queue by hand, as an attacker's script would, and small HTTP helpers.

gradio_client always uploads a file before sending it; the probes in the security tests need to
send a `FileData` whose path was never uploaded, so they speak the queue protocol directly.
"""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path
from typing import Any

import httpx

TIMEOUT = 300


def fn_index(base_url: str, api_name: str, headers: dict[str, str] | None = None) -> int:
    """The queue's number for the event with this API name, from the page's /config."""
    config = httpx.get(f"{base_url}/config", headers=headers, timeout=60).json()
    for dependency in config["dependencies"]:
        if dependency.get("api_name") == api_name:
            return int(dependency["id"])
    raise LookupError(f"no event named {api_name!r} in /config")


def queue_call(
    base_url: str, api_name: str, data: list[Any], headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """Join the queue with raw data and return the final message (`process_completed` or an error)."""
    session = secrets.token_hex(6)
    payload = {
        "data": data,
        "fn_index": fn_index(base_url, api_name, headers),
        "session_hash": session,
        "event_data": None,
        "trigger_id": None,
    }
    # json.dumps writes a lone surrogate as an escape; httpx's own encoder refuses to send one.
    joined = httpx.post(
        f"{base_url}/gradio_api/queue/join",
        content=json.dumps(payload),
        headers={"Content-Type": "application/json", **(headers or {})},
        timeout=60,
    )
    if joined.status_code != 200:
        return {"msg": "join_refused", "status": joined.status_code, "text": joined.text}
    url = f"{base_url}/gradio_api/queue/data?session_hash={session}"
    with httpx.stream("GET", url, headers=headers, timeout=TIMEOUT) as stream:
        for line in stream.iter_lines():
            if not line.startswith("data:"):
                continue
            message = json.loads(line[5:])
            if message.get("msg") in ("process_completed", "unexpected_error"):
                return message
    return {"msg": "stream_ended"}


def file_data(path: Path | str) -> dict[str, Any]:
    """A Gradio FileData payload naming a path on the server."""
    return {"path": str(path), "orig_name": Path(path).name, "meta": {"_type": "gradio.FileData"}}


def gradio_upload(base_url: str, name: str, content: bytes, headers: dict[str, str] | None = None) -> str:
    """Upload through Gradio's own /upload route, as the page does; returns the server-side path."""
    response = httpx.post(
        f"{base_url}/gradio_api/upload", files={"files": (name, content)}, headers=headers, timeout=120
    )
    response.raise_for_status()
    return str(response.json()[0])


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def reply_text(content: object) -> str:
    """The chat message as plain text: text parts joined, the page's Markdown escapes undone."""
    parts = content if isinstance(content, list) else [content]
    text = " ".join(str(p.get("text", "")) if isinstance(p, dict) else str(p) for p in parts)
    return re.sub(r"\\(.)", r"\1", text)
