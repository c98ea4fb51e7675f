"""A marketplace upload from checked zip to stored listing files: the manifest's listing
fields, the type's content (validators.py: the engine's own loaders), the files on disk
(atomically) and the previews rendered by the engine (previews.py).

Package format (docs/MARKETPLACE.md): `manifest.json` =
    {"type": one of listings.TYPES, "name", "description", "tags": [...],
     "price_cents": int, "currency": "usd"|"digi", "compatibility": ["digi"],
     "content": {...the type's content, file names relative to the zip...}}
plus the files `content` names, and nothing else ("unused file" otherwise).

On disk, per listing: `<root>/<id>/files/...` (what `content` names as `files/<name>`),
`<root>/<id>/package.zip` (the upload as sent: what buyers download), and the previews
(`thumb.png`, `preview.png`, `preview.webm`; `thumb.png` is written last, so its presence
means the previews are ready).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from webapi.errors import Invalid
from webapi.market.listings import (
    TYPES,
    check_compatibility,
    check_currency,
    check_description,
    check_name,
    check_price,
    check_tags,
    check_type,
    is_listing_id,
)
from webapi.market.packages import Package, shown
from webapi.market.validators import CHECKS, FILES

MANIFEST_KEYS = ("type", "name", "description", "tags", "price_cents", "currency",
                 "compatibility", "content")  # fmt: skip
REQUIRED = ("type", "name", "price_cents", "currency", "content")
PACKAGE = "package.zip"
THUMB, PREVIEW, CLIP = "thumb.png", "preview.png", "preview.webm"
_ID = re.compile(r"m[0-9a-f]{20}")
RIGGED = ("outfit", "accessory", "animation", "avatar")  # content names a rig

__all__ = [
    "TYPES",
    "check_manifest",
    "listing_dir",
    "remove_listing_files",
    "render_previews",
    "store_listing_files",
    "validate",
]


def check_manifest(manifest: dict[str, Any]) -> dict[str, Any]:
    """The listing fields of a manifest, checked by the listings' own field checks (the same
    ones an edit goes through); Invalid naming the field. `content` is the type's (validate)."""
    if not isinstance(manifest, dict):
        raise Invalid("manifest.json must be a JSON object")
    for key in manifest:
        if key not in MANIFEST_KEYS:
            raise Invalid(
                f"manifest.json: unknown key {shown(str(key), 40)} "
                f"(expected {', '.join(MANIFEST_KEYS)})",
                field=str(key)[:40],
            )
    for key in REQUIRED:
        if key not in manifest:
            raise Invalid(f"manifest.json: missing required field {key}", field=key)
    return {
        "type": check_type(manifest["type"]),
        "name": check_name(manifest["name"]),
        "description": check_description(manifest.get("description")),
        "tags": check_tags(manifest.get("tags")),
        "price_cents": check_price(manifest["price_cents"]),
        "currency": check_currency(manifest["currency"]),
        "compatibility": check_compatibility(manifest.get("compatibility")),
    }


def validate(pkg: Package) -> tuple[dict[str, Any], dict[str, Any]]:
    """(checked manifest, content) of a package; Invalid/TooLarge naming the field, the file
    or the JSON path at fault. Fills `pkg.stored` with the bytes to store (our own
    re-encodings). Blocking (decodes pictures, loads the rig once)."""
    manifest = check_manifest(pkg.manifest)
    kind = manifest["type"]
    out: dict[str, bytes] = {}
    content = CHECKS[kind](pkg, pkg.manifest["content"], manifest["compatibility"], out)
    used = _referenced(pkg, kind, content)
    for name in sorted(pkg.files):
        if name not in used:
            raise Invalid(f"unused file {shown(name)}: the content does not name it")
    if kind in RIGGED and not manifest["compatibility"]:
        manifest["compatibility"] = [content["rig"]]
    pkg.stored.clear()
    pkg.stored.update(out)
    return manifest, content


def _referenced(pkg: Package, kind: str, content: dict[str, Any]) -> set[str]:
    """The package files the raw content names (clip files and pictures alike)."""
    raw = pkg.manifest["content"]
    names: set[str] = set()
    if kind in ("outfit", "accessory"):
        names = {p["picture"] for p in raw["parts"].values()}
    elif kind == "animation":
        names = set(raw["clips"].values())
    elif kind == "style_pack":
        names = {raw["file"]}
    elif kind == "background":  # a picture or a video (webapi/market/videos.py)
        names = {raw.get("picture"), raw.get("video")}
    elif kind == "effect":
        overlay = raw.get("overlay")
        names = set(overlay["frames"]) if isinstance(overlay, dict) else set()
    return {n for n in names if isinstance(n, str)}


def listing_dir(root: Path, listing_id: str) -> Path:
    """A listing's folder; the id is checked first so no path is ever built from junk."""
    if not (is_listing_id(listing_id) and _ID.fullmatch(listing_id)):  # "$" lets "\n" by
        raise Invalid(f"not a listing id: {shown(str(listing_id), 40)}")
    return Path(root) / listing_id


def store_listing_files(root: Path, listing_id: str, pkg: Package, content: dict[str, Any]) -> int:
    """Writes `<root>/<listing_id>/` (files/..., package.zip) all at once: everything goes to
    a temporary folder beside it, then one rename; on any failure nothing is left. Returns
    the bytes stored. `pkg` must have been through `validate` (its `stored` bytes)."""
    final = listing_dir(root, listing_id)
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():
        raise FileExistsError(f"listing {listing_id} already has files")
    tmp = Path(tempfile.mkdtemp(prefix=f".{listing_id}-", dir=final.parent))
    try:
        total = 0
        for name, data in pkg.stored.items():
            if not name.startswith(FILES):  # validators name every stored file so
                raise ValueError(f"stored name outside files/: {name}")
            path = tmp / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            total += len(data)
        (tmp / FILES).mkdir(exist_ok=True)
        (tmp / PACKAGE).write_bytes(pkg.data)
        total += len(pkg.data)
        _fsync_dir(tmp)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return total


def _fsync_dir(path: Path) -> None:
    for p in path.rglob("*"):
        if p.is_file():
            with open(p, "rb") as f:
                os.fsync(f.fileno())


def remove_listing_files(root: Path, listing_id: str) -> None:
    """Removes a listing's folder (renamed away first, so no half-removed folder is served)."""
    final = listing_dir(root, listing_id)
    if not final.exists():
        return
    trash = Path(tempfile.mkdtemp(prefix=f".{listing_id}-removed-", dir=final.parent))
    with contextlib.suppress(FileNotFoundError):  # removed meanwhile by another call
        os.replace(final, trash / listing_id)
    shutil.rmtree(trash, ignore_errors=True)


def render_previews(root: Path, listing_id: str, type: str, content: dict[str, Any]) -> None:
    """thumb.png (256x256), preview.png (512x512) and, for outfits, accessories and
    animations, preview.webm: Digi wearing / playing / in front of / with the item, rendered
    by the engine. BLOCKING (a few seconds of GL and VP9): run it in an executor."""
    from webapi.market.previews import render

    render(listing_dir(root, listing_id), type, content)
