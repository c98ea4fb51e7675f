#!/usr/bin/env python3
"""Builds the thumbnails of Digi's own marketplace items (the ones `webapi/market/seed.py`
lists on first start), so a fresh server's market shows each item's own picture at once
instead of rendering 31 previews on its first visitor's request.

    .venv/bin/python content/build/market_thumbs.py

Writes content/market/<listing id>.png (the 256x256 thumbnail `webapi/market/previews.py`
renders: the same engine, the same pose). The server serves one of these while a built-in
item's own previews are not rendered yet (webapi/handlers/market_catalog.py); its preview
picture and clip are still rendered on demand. Run it again when a built-in item or Digi's
art changes (tests/market/test_seed.py checks every built-in item has one).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from webapi.market import previews, seed  # noqa: E402

OUT = ROOT / "content" / "market"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    items = seed.builtin_items()
    with tempfile.TemporaryDirectory() as tmp:
        for item in items:
            folder = Path(tmp) / item["id"]
            previews.render(folder, item["type"], item["content"])
            shutil.copyfile(folder / "thumb.png", OUT / f"{item['id']}.png")
            print(f"{item['id']}  {item['key']}")
    known = {f"{item['id']}.png" for item in items}
    for stale in OUT.glob("*.png"):
        if stale.name not in known:
            stale.unlink()
    print(f"{len(items)} thumbnails in {OUT}")


if __name__ == "__main__":
    main()
