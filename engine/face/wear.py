"""A body rig wearing a generated face: rig JSON, atlas and bundle.

How a face mounts on a rig is data, `rigs/<id>/face.json` (schema 1, format in
rigs/README.md): the bone the head hangs on, the slot it is drawn after, where the chin
goes and how wide the face is in skeleton units, the rig's own slots the face replaces,
and the rig's skin colour and bare-skin slots, which are tinted to the face's skin tone.

The replaced slots keep their attachments, so clips, parameter bindings and the sprite
library resolve unchanged; their pictures become an empty atlas region. The body's clips,
state machine, sprite library and tracking bindings are loaded against the new rig as they
are for the bare one: the sprite library still dresses the body and adds accessories.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from engine.assets import RIGS, AvatarBundle, bundle_for, load_base_atlas
from engine.atlas import Atlas
from engine.face.pictures import (
    back_picture,
    face_picture,
    inner_mouth_picture,
    lid_colours,
    lid_picture,
    skin_tone,
)
from engine.face.rigging import FaceRig, FaceRigError, crop_quad, rig_face
from engine.kernels.layout import WA, WB, WC, WD
from engine.rig.errors import FormatError
from engine.rig.loader import load_rig, parse_rig, setup_world_transforms
from engine.rig.reader import Node, read_rig_file

SCHEMA_VERSION = 1
ART_SIZE = 512  # the face is textured from the art at this size
EMPTY = "face/empty"
SLOTS = ("face_back", "face_mouth", "face", "face_lid_r", "face_lid_l")  # back to front
PICTURE = {"face_lid_r": "face/face_lid", "face_lid_l": "face/face_lid"}  # shared pictures


class FaceArtError(ValueError):
    """Art that cannot be worn as a face; the message says why."""


class FaceMountError(FormatError):
    """A `face.json` file is invalid."""


@dataclass(frozen=True, slots=True)
class FaceArt:
    """A generated avatar as the engine needs it: `name` identifies it (the avatar id),
    `full` is (s, s, 3) RGB, `transparent` (s, s, 4) straight-alpha RGBA, `landmarks`
    (478, 2) pixels in `full`."""

    name: str
    full: np.ndarray
    transparent: np.ndarray
    landmarks: np.ndarray

    def at_size(self, size: int) -> FaceArt:
        s = self.full.shape[0]
        if self.full.shape != (s, s, 3) or self.transparent.shape != (s, s, 4):
            raise FaceArtError(
                f"expected square RGB and RGBA pictures of one size, got {self.full.shape} "
                f"and {self.transparent.shape}"
            )
        if s == size:
            return self
        full = np.asarray(Image.fromarray(self.full).resize((size, size), Image.Resampling.LANCZOS))
        tr = np.asarray(
            Image.fromarray(self.transparent).resize((size, size), Image.Resampling.LANCZOS)
        )
        return FaceArt(self.name, full, tr, np.asarray(self.landmarks, float) * (size / s))


@dataclass(frozen=True, slots=True)
class FaceMount:
    bone: str
    after: str
    chin: tuple[float, float]
    width: float
    replaces: tuple[str, ...]
    skin: tuple[float, float, float]
    skin_slots: tuple[str, ...]


def load_mount(path: Path, rig_id: str, rig_json: dict) -> FaceMount:
    root = read_rig_file(path, FaceMountError, SCHEMA_VERSION, rig_id, "face mount is")
    bones = {b["name"] for b in rig_json["bones"]}
    slots = {s["name"] for s in rig_json["slots"]}

    def known(node: Node, names: set[str], what: str) -> str:
        v = node.str_()
        if v not in names:
            raise node.fail(f'unknown {what} "{v}"')
        return v

    skin = root.get("skin")
    color = skin.get("color").vec(3)
    if not all(0 < c <= 255 for c in color):
        raise skin.get("color").fail("colour channels must be within 1..255")
    return FaceMount(
        bone=known(root.get("bone"), bones, "bone"),
        after=known(root.get("after"), slots, "slot"),
        chin=root.get("chin").vec(2),  # type: ignore[arg-type]
        width=root.get("width").num(lo=1.0),
        replaces=tuple(known(n, slots, "slot") for n in root.get("replaces").list()),
        skin=color,  # type: ignore[arg-type]
        skin_slots=tuple(known(n, slots, "slot") for n in skin.get("slots").list()),
    )


def wear_face(
    art: FaceArt, rig_id: str = "digi", animation_set: str | None = None, sprites: str = "base"
) -> AvatarBundle:
    """The rig `rig_id` wearing `art` as its head: a bundle the ordinary session and
    renderer run. Raises FaceArtError for art that cannot be rigged."""
    art = art.at_size(ART_SIZE)
    try:
        face = rig_face(art.landmarks, ART_SIZE)
    except FaceRigError as e:
        raise FaceArtError(str(e)) from None
    mount_file = RIGS / rig_id / "face.json"
    if not mount_file.exists():
        raise FaceArtError(f'rig "{rig_id}" cannot wear generated faces (it has no {mount_file.name})')
    base = _rig_json(rig_id)  # a fresh copy: _worn_rig edits it
    mount = load_mount(mount_file, rig_id, base)
    skin = skin_tone(art.full, art.landmarks)
    pictures = {
        "face/face_back": back_picture(art.transparent, art.landmarks, face),
        "face/face": face_picture(art.full, art.landmarks),
        "face/face_mouth": inner_mouth_picture(),
        "face/face_lid": lid_picture(*lid_colours(art.full, art.landmarks)),
        EMPTY: np.zeros((4, 4, 4), np.uint8),
    }
    face = replace(face, back=crop_quad(face.back, _shown(pictures["face/face_back"]), ART_SIZE))
    data = _worn_rig(rig_id, base, mount, face, skin)
    rig = parse_rig(data, f"{RIGS / rig_id / 'rig.json'} wearing face {art.name}")
    atlas = _atlas(load_base_atlas(rig_id), pictures)
    return bundle_for(rig, rig_id, animation_set, sprites, atlas=atlas, face=art.name)


@lru_cache(maxsize=4)
def _rig_text(rig_id: str) -> str:
    return (RIGS / rig_id / "rig.json").read_text(encoding="utf-8")


def _rig_json(rig_id: str) -> dict:
    return json.loads(_rig_text(rig_id))


def _worn_rig(rig_id: str, base: dict, mount: FaceMount, face: FaceRig, skin: np.ndarray) -> dict:
    data = base
    k = mount.width / face.width
    centre_x = (face.face.vertices[234, 0] + face.face.vertices[454, 0]) / 2
    chin = face.chin

    def place(p: np.ndarray) -> np.ndarray:
        out = np.empty_like(p)
        out[:, 0] = mount.chin[0] + (p[:, 0] - centre_x) * k
        out[:, 1] = mount.chin[1] - (p[:, 1] - chin[1]) * k
        return out

    # deform offsets live in the mount bone's frame: art pixels -> skeleton units -> bone
    world = _bone_world(rig_id, mount.bone)
    inv = np.linalg.inv(np.array([[world[0], world[1]], [world[2], world[3]]]))

    def offsets(d: np.ndarray) -> list:
        sk = np.stack([d[:, 0] * k, -d[:, 1] * k], axis=1)
        return np.round(sk @ inv.T, 4).tolist()

    at = next(i for i, s in enumerate(data["slots"]) if s["name"] == mount.after) + 1
    for j, name in enumerate(SLOTS):
        data["slots"].insert(at + j, {"name": name, "bone": mount.bone, "attachment": name})
    layers = dict(zip(SLOTS, (face.back, face.mouth, face.face, *face.lids), strict=True))
    for name, layer in layers.items():
        data["attachments"][name] = {
            name: {
                "type": "mesh",
                "path": PICTURE.get(name, f"face/{name}"),
                "vertices": np.round(place(layer.vertices), 4).tolist(),
                "uvs": np.round(layer.uvs, 6).tolist(),
                "triangles": layer.triangles.tolist(),
            }
        }
    for slot in mount.replaces:
        for att in data["attachments"].get(slot, {}).values():
            att["path"] = EMPTY
    tint = np.clip(skin.astype(float) / np.array(mount.skin), 0.0, 1.0)
    for s in data["slots"]:
        if s["name"] in mount.skin_slots:
            s["color"] = [round(float(c), 4) for c in tint] + [1.0]
    params = {p["id"]: p for p in data["parameters"]}
    for name, layer in layers.items():
        for pid, keys in layer.deforms.items():
            if pid not in params:
                raise FaceArtError(f'the rig has no parameter "{pid}" to drive the face with')
            params[pid].setdefault("bindings", []).append(
                {
                    "slot": name,
                    "attachment": name,
                    "property": "deform",
                    "keys": [[v, offsets(d)] for v, d in keys],
                }
            )
        for pid, alphas in layer.alpha.items():
            params[pid].setdefault("bindings", []).append(
                {"slot": name, "property": "alpha", "keys": [[v, a] for v, a in alphas]}
            )
    return data


@lru_cache(maxsize=16)
def _bone_world(rig_id: str, bone: str) -> tuple[float, float, float, float]:
    """The linear part (a, b, c, d) of a bone's setup world transform."""
    rig = load_rig(RIGS / rig_id / "rig.json")
    w = setup_world_transforms(rig)[rig.bone_index[bone]]
    return float(w[WA]), float(w[WB]), float(w[WC]), float(w[WD])


def _shown(rgba: np.ndarray, pad: int = 4) -> tuple[float, float, float, float]:
    """The box round a picture's visible pixels, padded, within the picture."""
    ys, xs = np.nonzero(rgba[..., 3] > 0)
    if len(xs) == 0:
        raise FaceArtError("nothing of the head is visible in the transparent picture")
    h, w = rgba.shape[:2]
    return (
        max(0, xs.min() - pad),
        max(0, ys.min() - pad),
        min(w, xs.max() + 1 + pad),
        min(h, ys.max() + 1 + pad),
    )


def _atlas(base: Atlas, pictures: dict[str, np.ndarray]) -> Atlas:
    s = max(p.shape[0] for p in pictures.values())
    h0, w0 = base.image.shape[:2]
    gap = 4  # keeps mipmaps of neighbouring pictures apart
    width = max(w0, sum(p.shape[1] + gap for p in pictures.values()))
    image = np.zeros((h0 + gap + s, width, 4), np.uint8)
    image[:h0, :w0] = base.image
    regions = dict(base.regions)
    x = 0
    for path, pic in pictures.items():
        h, w = pic.shape[:2]
        image[h0 + gap : h0 + gap + h, x : x + w] = pic
        regions[path] = (x, h0 + gap, w, h)
        x += w + gap
    return Atlas(image, regions)
