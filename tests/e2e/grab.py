"""Frames of the puppet page's avatar video, grabbed in the page at a steady pace, each with
what the page's last status said at that moment (the tests compare what the stream showed
with what the server said played)."""

from __future__ import annotations

from typing import Any

# `status` is a JS function (status) -> object, merged into each grab
_GRAB_JS = """
async ({ seconds, every }) => {
  const status = %s;
  const avatar = document.getElementById("avatar");
  const canvas = document.createElement("canvas");
  canvas.width = avatar.videoWidth;
  canvas.height = avatar.videoHeight;
  const ctx = canvas.getContext("2d");
  const grabs = [];
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) {
    ctx.drawImage(avatar, 0, 0);
    const more = status(window.digigami?.lastStatus || {});
    grabs.push({ png: canvas.toDataURL("image/png"), ...more });
    await new Promise((r) => setTimeout(r, every));
  }
  return grabs;
}
"""


def grab_avatar(page: Any, seconds: float, every_ms: int, status: str = "() => ({})") -> list[dict]:
    """[{png: data URL, ...status(lastStatus)}], one every `every_ms` for `seconds`."""
    return page.evaluate(_GRAB_JS % status, {"seconds": seconds, "every": every_ms})
