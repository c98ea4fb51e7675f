"""What a measurement holds: `Measurement`, one `Feature` (value and confidence) per
measured feature, its JSON form and the user's overrides, and the errors of measuring.

Every feature is named once in `SPECS`, with the values it may take; JSON, overrides and
the dataclass's fields are checked against it, so a name or a value is never accepted in
one place and refused in another.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.likeness.measure_colour import lab_to_srgb, srgb_to_lab

SCHEMA = 1


class MeasureError(ValueError):
    """Measuring could not go on, or a measurement is not valid (the message says why)."""


class BadPhotoError(MeasureError):
    """The photo is not an RGB uint8 picture of a usable size."""


class NoFaceError(MeasureError):
    """The photo has no face MediaPipe could find."""


class FeatureError(MeasureError):
    """An unknown feature name, or a value a feature cannot take."""


_HEX = re.compile(r"^#?([0-9a-fA-F]{6})$")


@dataclass(frozen=True, slots=True)
class Colour:
    """A measured colour in CIELAB (D65); `hex` is its sRGB rendering."""

    l: float
    a: float
    b: float

    @property
    def lab(self) -> tuple[float, float, float]:
        return (self.l, self.a, self.b)

    @property
    def srgb(self) -> tuple[int, int, int]:
        rgb = np.round(lab_to_srgb(np.array(self.lab)) * 255).astype(int)
        return (int(rgb[0]), int(rgb[1]), int(rgb[2]))

    @property
    def hex(self) -> str:
        return "#{:02x}{:02x}{:02x}".format(*self.srgb)

    @classmethod
    def from_lab(cls, lab: Any) -> Colour:
        v = [float(x) for x in lab]
        if len(v) != 3 or not all(math.isfinite(x) for x in v):
            raise FeatureError(f"a L*a*b* colour needs three finite numbers, got {lab!r}")
        if not 0.0 <= v[0] <= 100.0:
            raise FeatureError(f"L* must be within 0..100, got {v[0]}")
        return cls(round(v[0], 3), round(v[1], 3), round(v[2], 3))

    @classmethod
    def from_hex(cls, text: str) -> Colour:
        m = _HEX.match(text.strip()) if isinstance(text, str) else None
        if m is None:
            raise FeatureError(f"a colour must be written #rrggbb, got {text!r}")
        rgb = np.array([int(m.group(1)[i : i + 2], 16) for i in (0, 2, 4)], dtype=np.uint8)
        return cls.from_lab(srgb_to_lab(rgb))

    def to_json(self) -> dict[str, Any]:
        return {"hex": self.hex, "lab": [self.l, self.a, self.b]}

    @classmethod
    def parse(cls, value: Any) -> Colour:
        """A Colour from a Colour, '#rrggbb', {"lab": [L, a, b]} or {"hex": "#rrggbb"}."""
        if isinstance(value, Colour):
            return value
        if isinstance(value, str):
            return cls.from_hex(value)
        if isinstance(value, dict) and "lab" in value:
            return cls.from_lab(value["lab"])
        if isinstance(value, dict) and "hex" in value:
            return cls.from_hex(value["hex"])
        raise FeatureError(f"a colour must be '#rrggbb' or {{'lab': [L, a, b]}}, got {value!r}")


@dataclass(frozen=True, slots=True)
class Spec:
    """What one feature may hold: kind is "colour", "choice", "number" or "flag"."""

    kind: str
    about: str
    choices: tuple[str, ...] = ()
    low: float = 0.0
    high: float = 0.0
    optional: bool = False  # None is a value ("not visible", "none there")


SPECS: dict[str, Spec] = {
    "skin": Spec("colour", "skin tone, median of the cheeks"),
    "hair_colour": Spec("colour", "the hair's main colour; None without visible hair", optional=True),
    "hair_highlight": Spec("colour", "the hair's lighter colour; None if it has none", optional=True),
    "iris_colour": Spec("colour", "iris colour; None when the eyes are not visible", optional=True),
    "iris_class": Spec(
        "choice", "iris colour class",
        ("brown", "hazel", "green", "blue", "grey", "dark", "not_visible"),
    ),
    "brow_colour": Spec("colour", "eyebrow colour"),
    "brow_thickness": Spec("number", "eyebrow height over the eye's width", low=0.0, high=1.0),
    "hair_length": Spec("choice", "how far down the hair reaches",
                        ("short", "ear", "chin", "shoulder", "long")),
    "hair_volume": Spec("number", "the hair's widest span over the face's width", low=0.0, high=4.0),
    "fringe": Spec("choice", "hair over the forehead", ("none", "side", "full")),
    "hair_texture": Spec("choice", "hair texture", ("straight", "wavy", "curly")),
    "parting": Spec("choice", "where the hair parts (the person's own left and right)",
                    ("left", "centre", "right", "none")),
    "scalp": Spec("choice", "hair on top of the head", ("hair", "shaved", "bald")),
    "face_shape": Spec("choice", "face outline class", ("oval", "round", "square", "heart")),
    "eye_size": Spec("number", "eye width over face width", low=0.0, high=1.0),
    "eye_spacing": Spec("number", "inner eye corners' distance over face width", low=0.0, high=1.0),
    "eye_shape": Spec("choice", "eye shape class (opening and the corners' tilt)",
                      ("round", "almond", "narrow", "upturned")),
    "glasses": Spec("flag", "wears glasses"),
    "glasses_colour": Spec("colour", "frame colour; None without glasses", optional=True),
    "facial_hair": Spec("choice", "facial hair", ("none", "stubble", "moustache", "beard")),
    "facial_hair_colour": Spec("colour", "facial hair colour; None without", optional=True),
    "hat": Spec("flag", "wears a hat"),
    "hat_colour": Spec("colour", "the hat's colour; None without a hat", optional=True),
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Feature:
    """One measured feature: its value and how sure the measurement is (0..1)."""

    value: Any
    confidence: float


def check_value(name: str, value: Any) -> Any:
    """`value` made valid for feature `name`, or a FeatureError saying what is wrong."""
    spec = SPECS.get(name)
    if spec is None:
        raise FeatureError(f"unknown feature {name!r}; features are: {', '.join(SPECS)}")
    if value is None:
        if spec.optional:
            return None
        raise FeatureError(f"{name} must have a value, not None")
    if spec.kind == "colour":
        try:
            return Colour.parse(value)
        except FeatureError as e:
            raise FeatureError(f"{name}: {e}") from None
    if spec.kind == "choice":
        if value not in spec.choices:
            raise FeatureError(f"{name} must be one of {', '.join(spec.choices)}; got {value!r}")
        return str(value)
    if spec.kind == "flag":
        if not isinstance(value, bool | np.bool_):
            raise FeatureError(f"{name} must be true or false, got {value!r}")
        return bool(value)
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise FeatureError(f"{name} must be a number, got {value!r}")
    v = float(value)
    if not (math.isfinite(v) and spec.low <= v <= spec.high):
        raise FeatureError(f"{name} must be within {spec.low}..{spec.high}, got {value!r}")
    return round(v, 4)


def check_confidence(name: str, confidence: Any) -> float:
    if isinstance(confidence, bool) or not isinstance(confidence, int | float | np.number):
        raise FeatureError(f"{name}: confidence must be a number, got {confidence!r}")
    c = float(confidence)
    if not (math.isfinite(c) and 0.0 <= c <= 1.0):
        raise FeatureError(f"{name}: confidence must be within 0..1, got {confidence!r}")
    return round(c, 3)


def _value_json(value: Any) -> Any:
    return value.to_json() if isinstance(value, Colour) else value


@dataclass(frozen=True, slots=True)
class Measurement:
    """The person in a photo, one `Feature` per field (SPECS says what each may hold).
    `faces` is how many faces the photo had (the largest one was measured)."""

    skin: Feature
    hair_colour: Feature
    hair_highlight: Feature
    iris_colour: Feature
    iris_class: Feature
    brow_colour: Feature
    brow_thickness: Feature
    hair_length: Feature
    hair_volume: Feature
    fringe: Feature
    hair_texture: Feature
    parting: Feature
    scalp: Feature
    face_shape: Feature
    eye_size: Feature
    eye_spacing: Feature
    eye_shape: Feature
    glasses: Feature
    glasses_colour: Feature
    facial_hair: Feature
    facial_hair_colour: Feature
    hat: Feature
    hat_colour: Feature
    faces: int = 1

    def __post_init__(self) -> None:
        for name in SPECS:
            f = getattr(self, name)
            if not isinstance(f, Feature):
                raise FeatureError(f"{name} must be a Feature, got {type(f).__name__}")
            object.__setattr__(
                self,
                name,
                Feature(check_value(name, f.value), check_confidence(name, f.confidence)),
            )

    @classmethod
    def build(cls, features: dict[str, tuple[Any, float]], faces: int = 1) -> Measurement:
        """A Measurement from {name: (value, confidence)} naming every feature."""
        missing = [n for n in SPECS if n not in features]
        if missing:
            raise FeatureError(f"missing features: {', '.join(missing)}")
        unknown = [n for n in features if n not in SPECS]
        if unknown:
            raise FeatureError(f"unknown features {unknown}; features are: {', '.join(SPECS)}")
        return cls(**{n: Feature(*features[n]) for n in SPECS}, faces=faces)

    def features(self) -> dict[str, Feature]:
        return {n: getattr(self, n) for n in SPECS}

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "faces": self.faces,
            "features": {
                n: {"value": _value_json(f.value), "confidence": f.confidence}
                for n, f in self.features().items()
            },
        }

    @classmethod
    def from_json(cls, doc: Any) -> Measurement:
        if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
            raise FeatureError(f"a measurement document must be an object with schema {SCHEMA}")
        feats = doc.get("features")
        if not isinstance(feats, dict):
            raise FeatureError("a measurement document needs a 'features' object")
        parsed: dict[str, tuple[Any, float]] = {}
        for name, entry in feats.items():
            if not isinstance(entry, dict) or "value" not in entry or "confidence" not in entry:
                raise FeatureError(f"{name}: needs {{'value': ..., 'confidence': ...}}")
            parsed[name] = (entry["value"], entry["confidence"])
        faces = doc.get("faces", 1)
        if isinstance(faces, bool) or not isinstance(faces, int) or faces < 1:
            raise FeatureError(f"faces must be a positive whole number, got {faces!r}")
        return cls.build(parsed, faces)

    def with_overrides(self, overrides: dict[str, Any]) -> Measurement:
        """A new Measurement with the user's values: {name: value}; an overridden feature's
        confidence is 1 (the person said so). Unknown names and bad values raise
        FeatureError naming them."""
        if not isinstance(overrides, dict):
            raise FeatureError(f"overrides must be a {{name: value}} object, got {overrides!r}")
        changes = {n: Feature(check_value(n, v), 1.0) for n, v in overrides.items()}
        return dataclasses.replace(self, **changes)


if set(SPECS) != {f.name for f in dataclasses.fields(Measurement)} - {"faces"}:
    raise RuntimeError("Measurement's fields and SPECS name different features")
