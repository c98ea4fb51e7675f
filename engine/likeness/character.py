"""A character: the parts and colours the likeness assembles (engine/likeness/assemble.py),
chosen from a measurement (engine/likeness/measure.py) and kept as plain JSON beside a
generated avatar, so the user's overrides and a rebuild never need the photo again.

Choosing is a nearest match: every hairstyle in the part library (engine/likeness/hair.py)
is scored against the measured hair classes, each class weighted by how much it shows on the
character and by how sure the measurement is, so a confident "long" outweighs an unsure
"curly". Colours pass through as measured; a feature the photo did not show (no visible
hair under a hat, closed eyes) keeps Digi's own.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from engine.likeness.hair import CLASSES, HAIRSTYLES, HairClasses
from engine.likeness.measure_types import Measurement

SCHEMA = 1
_HEX = re.compile(r"^#[0-9a-f]{6}$")

# how much a mismatch of each class costs (ordinal classes count steps apart)
WEIGHTS = {"bald": 8.0, "length": 3.0, "fringe": 2.0, "texture": 2.0, "volume": 1.0, "parting": 0.5}
ORDINAL = ("length", "volume")
# hair span over face width -> volume class (engine/likeness/measure_silhouette.py measures it)
VOLUME_EDGES = (1.25, 1.6)
# the measurement's scalp -> the library's bald class
SCALP = {"hair": "none", "shaved": "shaved", "bald": "bald"}
FACIAL_HAIR = ("none", "stubble", "moustache", "beard")
FACE_SHAPES = ("oval", "round", "square", "heart")
BROW_THICKNESS = ("thin", "medium", "thick")
EYE_SHAPES = ("round", "almond", "narrow", "upturned")  # round: Digi's own
# a measured eye shape less sure than this keeps Digi's round eyes
EYE_SURE = 0.4
# measured brow thickness (brow height over the eye's width, engine/likeness/measure_face.py)
# -> class: below the first edge thin, above the second thick. Provisional: set from the two
# test photos (0.14 and 0.22, both medium-looking brows) and Digi's own; an unsure
# measurement keeps Digi's medium
BROW_EDGES = (0.09, 0.27)
BROW_SURE = 0.4
_COLOURS = (
    "skin", "hair", "hair_highlight", "iris", "brows", "facial_hair_colour", "glasses_colour",
    "hat_colour",
)  # fmt: skip
# fields left out of the JSON (and so the digest) while they hold their default: a character
# saved before the field existed keeps its digest, and with it its avatar's name
_OPTIONAL = {
    "facial_hair_colour": None, "glasses_colour": None, "brow_thickness": "medium",
    "eye_shape": "round", "hat": False, "hat_colour": None,
}  # fmt: skip


class CharacterError(ValueError):
    """A character that cannot be (a field named, with what is wrong)."""


@dataclass(frozen=True, slots=True)
class Character:
    """What a generated avatar's character wears. Colours are sRGB '#rrggbb' or None for
    Digi's own; `hairstyle` names a style of the part library."""

    hairstyle: str = "digi"
    skin: str | None = None
    hair: str | None = None
    hair_highlight: str | None = None
    iris: str | None = None
    brows: str | None = None
    glasses: bool = False
    facial_hair: str = "none"  # drawn from the face-part library (engine/likeness/face_parts.py)
    face_shape: str = "oval"
    # None: the hair colour (or Digi's); only drawn with facial hair
    facial_hair_colour: str | None = None
    brow_thickness: str = "medium"
    glasses_colour: str | None = None  # the frame's; None: Digi's
    eye_shape: str = "round"  # drawn from the face-part library; round: Digi's own
    hat: bool = False  # Digi's cap, worn over the hairstyle's hat-flattened top
    hat_colour: str | None = None  # the cap's; None: Digi's teal

    def __post_init__(self) -> None:
        if self.hairstyle not in HAIRSTYLES:
            known = ", ".join(sorted(HAIRSTYLES))
            raise CharacterError(f'hairstyle: no style "{self.hairstyle}" (known: {known})')
        for name in _COLOURS:
            value = getattr(self, name)
            if value is not None and not (isinstance(value, str) and _HEX.match(value)):
                raise CharacterError(f"{name}: a colour is '#rrggbb' (lower case), got {value!r}")
        if self.hair_highlight is not None and self.hair is None:
            raise CharacterError("hair_highlight: needs a hair colour too")
        if not isinstance(self.glasses, bool):
            raise CharacterError(f"glasses: true or false, got {self.glasses!r}")
        if not isinstance(self.hat, bool):
            raise CharacterError(f"hat: true or false, got {self.hat!r}")
        if self.facial_hair not in FACIAL_HAIR:
            raise CharacterError(
                f"facial_hair: one of {', '.join(FACIAL_HAIR)}, got {self.facial_hair!r}"
            )
        if self.brow_thickness not in BROW_THICKNESS:
            raise CharacterError(
                f"brow_thickness: one of {', '.join(BROW_THICKNESS)}, got {self.brow_thickness!r}"
            )
        if self.eye_shape not in EYE_SHAPES:
            raise CharacterError(
                f"eye_shape: one of {', '.join(EYE_SHAPES)}, got {self.eye_shape!r}"
            )
        if self.face_shape not in FACE_SHAPES:
            raise CharacterError(
                f"face_shape: one of {', '.join(FACE_SHAPES)}, got {self.face_shape!r}"
            )

    @property
    def digest(self) -> str:
        """A short stable name of everything the character wears."""
        text = json.dumps(self.to_json(), sort_keys=True)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for name, default in _OPTIONAL.items():
            if data[name] == default:
                del data[name]
        return {"schema": SCHEMA, **data}

    @classmethod
    def from_json(cls, data: Any) -> Character:
        if not isinstance(data, dict):
            raise CharacterError(f"a character is a JSON object, got {type(data).__name__}")
        if data.get("schema") != SCHEMA:
            raise CharacterError(f"schema: expected {SCHEMA}, got {data.get('schema')!r}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known - {"schema"})
        if unknown:
            raise CharacterError(
                f"unknown field {unknown[0]!r} (known: {', '.join(sorted(known))})"
            )
        return cls(**{k: v for k, v in data.items() if k != "schema"})

    def with_overrides(self, changes: dict[str, Any]) -> Character:
        """A copy with `changes` applied, checked like any character."""
        known = {f.name for f in fields(self)}
        for name in changes:
            if name not in known:
                raise CharacterError(f"unknown field {name!r} (known: {', '.join(sorted(known))})")
        return replace(self, **changes)


def hair_classes(m: Measurement) -> tuple[dict[str, str], dict[str, float]]:
    """The measured hair in the part library's class names, and each one's confidence."""
    volume = m.hair_volume.value
    v = "low" if volume < VOLUME_EDGES[0] else "medium" if volume < VOLUME_EDGES[1] else "high"
    values = {
        "bald": SCALP[m.scalp.value],
        "length": m.hair_length.value,
        "fringe": m.fringe.value,
        "texture": m.hair_texture.value,
        "volume": v,
        "parting": m.parting.value,
    }
    sure = {
        "bald": m.scalp.confidence,
        "length": m.hair_length.confidence,
        "fringe": m.fringe.confidence,
        "texture": m.hair_texture.confidence,
        "volume": m.hair_volume.confidence,
        "parting": m.parting.confidence,
    }
    return values, sure


def style_cost(style: HairClasses, want: dict[str, str], sure: dict[str, float]) -> float:
    """How far a style is from the wanted classes (0: every class matches)."""
    cost = 0.0
    for name, weight in WEIGHTS.items():
        have, wanted = getattr(style, name), want[name]
        if name in ORDINAL:
            steps = abs(CLASSES[name].index(have) - CLASSES[name].index(wanted))
        else:
            steps = float(have != wanted)
        # an unsure measurement still counts a little: ties go to the likelier style
        cost += weight * steps * (0.25 + 0.75 * sure[name])
    return cost


def choose_hairstyle(m: Measurement) -> str:
    want, sure = hair_classes(m)
    # a tie keeps the library's order, which is alphabetical: stable across runs
    return min(sorted(HAIRSTYLES), key=lambda n: style_cost(HAIRSTYLES[n], want, sure))


def character_from(m: Measurement) -> Character:
    """The character a measurement asks for."""

    def colour(feature: Any) -> str | None:
        value = feature.value
        return None if value is None else value.hex

    hair = colour(m.hair_colour)
    bald = m.scalp.value == "bald"
    return Character(
        hairstyle=choose_hairstyle(m),
        skin=colour(m.skin),
        hair=None if bald and hair is None else hair,
        hair_highlight=colour(m.hair_highlight) if hair is not None else None,
        iris=colour(m.iris_colour),
        brows=colour(m.brow_colour),
        glasses=bool(m.glasses.value),
        facial_hair=m.facial_hair.value,
        face_shape=m.face_shape.value,
        # measured only where there is facial hair; without, it would only change the digest
        facial_hair_colour=colour(m.facial_hair_colour) if m.facial_hair.value != "none" else None,
        brow_thickness=brow_class(m),
        glasses_colour=colour(m.glasses_colour) if m.glasses.value else None,
        eye_shape=m.eye_shape.value if m.eye_shape.confidence >= EYE_SURE else "round",
        hat=bool(m.hat.value),
        hat_colour=colour(m.hat_colour) if m.hat.value else None,
    )


def brow_class(m: Measurement) -> str:
    """The measured brow thickness as the face-part library's class."""
    if m.brow_thickness.confidence < BROW_SURE:
        return "medium"
    value = m.brow_thickness.value
    return "thin" if value < BROW_EDGES[0] else "thick" if value > BROW_EDGES[1] else "medium"
