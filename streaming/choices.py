"""What a preview can be asked to show, for the preview page's choices: the rig's states
and each one's animations, and the sprite labels of each choice the preview takes."""

from __future__ import annotations

from typing import Any

from engine.assets import AvatarBundle

# the preview request's field -> the sprite library's category
PREVIEW_SPRITES = {"outfit": "outfit", "accessory": "accessories", "body": "body"}
PREVIEW_SIZES = (256, 384, 512, 768, 1024)  # what the page offers; any even 64..1024 works
PREVIEW_FPS = (15, 24, 30, 60)  # likewise, any whole number 1..60


def preview_choices(bundle: AvatarBundle) -> dict[str, Any]:
    """`{"animations": [{"state", "variants"}], "outfit": {"labels", "default"}, ...,
    "sizes", "fps"}` for the bundled rig."""
    machine = bundle.machine
    out: dict[str, Any] = {
        "animations": [
            {"state": name, "variants": [clip.name for clip, _ in machine.states[name].variants]}
            for name in sorted(machine.states)
        ],
        "sizes": list(PREVIEW_SIZES),
        "fps": list(PREVIEW_FPS),
        "defaults": {"animation": "idle", "size": 384, "fps": 30},
    }
    sprites = bundle.sprites
    for field, category in PREVIEW_SPRITES.items():
        labels = list(sprites.categories.get(category, ())) if sprites else []
        default = sprites.defaults.get(category) if sprites else None
        out[field] = {"labels": labels, "default": default if default in labels else None}
    return out
