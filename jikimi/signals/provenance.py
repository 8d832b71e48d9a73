"""Provenance hints: traces a generator or editor leaves in a file's metadata.

A C2PA manifest names the tool that made or changed a picture; Stable Diffusion front-ends
write their generation parameters into PNG text chunks (AUTOMATIC1111 `parameters`, ComfyUI
`prompt` and `workflow`); EXIF `Software` names the last program that saved a photo. These
are hints for the reviewer, never verdicts: metadata is easy to strip and to forge.
Only headers are read here (no pixels are decoded).
"""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

GENERATOR_TEXT_KEYS = {
    "parameters": "Stable Diffusion parameters (PNG text)",
    "prompt": "ComfyUI prompt (PNG text)",
    "workflow": "ComfyUI workflow (PNG text)",
    "Dream": "InvokeAI parameters (PNG text)",
    "sd-metadata": "InvokeAI metadata (PNG text)",
}
EXIF_SOFTWARE = 0x0131
MAX_HINT_CHARS = 300  # enough to recognise a tool; a full workflow JSON can be megabytes


def provenance_hints(path: Path, mime_type: str) -> dict:
    """`{"hints": [one line each], ...details}`; empty hints when the file says nothing."""
    found: dict = {"hints": []}
    _c2pa(path, mime_type, found)
    if mime_type.startswith("image/"):
        _image_metadata(path, found)
    return found


def _c2pa(path: Path, mime_type: str, found: dict) -> None:
    import c2pa

    if mime_type not in c2pa.Reader.get_supported_mime_types():
        return
    try:
        with open(path, "rb") as stream:
            manifest_store = json.loads(c2pa.Reader(mime_type, stream).json())
    except Exception:  # no manifest (the usual case) or one the SDK cannot read
        return
    active = manifest_store.get("manifests", {}).get(manifest_store.get("active_manifest"), {})
    generator = active.get("claim_generator") or _generator_name(active) or "unknown tool"
    found["c2pa"] = {"claim_generator": _short(str(generator)), "title": _short(str(active.get("title", "")))}
    found["hints"].append(f"C2PA manifest made by {found['c2pa']['claim_generator']}")


def _generator_name(manifest: dict) -> str | None:
    info = manifest.get("claim_generator_info") or []
    return " ".join(str(part.get("name", "")) for part in info if isinstance(part, dict)) or None


def _image_metadata(path: Path, found: dict) -> None:
    try:
        with Image.open(path) as image:
            text = {key: value for key, value in image.info.items() if isinstance(value, str)}
            software = image.getexif().get(EXIF_SOFTWARE)
    except Exception:  # unreadable headers: the image decoder reports the error itself
        return
    generator = {key: _short(value) for key, value in text.items() if key in GENERATOR_TEXT_KEYS}
    if generator:
        found["generator_text"] = generator
        found["hints"] += [GENERATOR_TEXT_KEYS[key] for key in generator]
    if isinstance(software, str) and software.strip():
        found["exif_software"] = _short(software.strip())
        found["hints"].append(f"EXIF Software: {found['exif_software']}")


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_HINT_CHARS else text[: MAX_HINT_CHARS - 1] + "…"
