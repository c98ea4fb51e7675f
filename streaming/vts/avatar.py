"""A live session as VTube Studio's API sees it: the model, its hotkeys, its expressions and
its parameters, mapped from our rig, state machine and sprite library.

- Hotkeys (stable ids: a hash of the rig and what the hotkey does) carry out the control
  messages the puppet page sends (`LiveSession.command`), so a plugin and the page drive
  the avatar the same way (docs/CONTROL.md "Controls").
- Expressions are VTube Studio's `.exp3.json` toggles: our outfit pieces (wearing one is
  its expression being active) and a few face presets (smile, surprised...) held over the
  tracking while active.
- Input parameters are VTube Studio's default tracking inputs (FaceAngleX, MouthOpen,
  EyeOpenLeft...) mapped onto the rig's Live2D-named parameters; the rig's own parameter
  ids (ParamMouthOpenY...) may be injected directly too.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from engine.render.framing import FRAMINGS
from engine.render.looks import LOOK_NAMES

EXP_SUFFIX = ".exp3.json"


@dataclass(frozen=True)
class Hotkey:
    id: str
    name: str
    type: str  # a VTube Studio HotkeyAction name
    description: str
    file: str
    command: dict[str, Any] | None  # the control message it sends (None: an expression)
    expression: str | None = None  # the expression file it toggles

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "description": self.description,
            "file": self.file,
            "hotkeyID": self.id,
            "keyCombination": [],
            "onScreenButtonID": -1,
        }


@dataclass(frozen=True)
class Expression:
    """An `.exp3.json` toggle: `wear` (category, label) for an outfit piece, else
    `parameters` held while active."""

    file: str
    name: str
    wear: tuple[str, str] | None = None
    parameters: dict[str, float] = field(default_factory=dict)


# Face presets (parameter id -> value), kept when the rig has every parameter they name.
FACE_PRESETS: dict[str, dict[str, float]] = {
    "smile": {"ParamMouthForm": 1.0},
    "surprised": {"ParamBrowLY": 1.0, "ParamBrowRY": 1.0, "ParamMouthOpenY": 0.7, "ParamO": 1.0},
    "angry": {"ParamBrowLY": -1.0, "ParamBrowRY": -1.0, "ParamMouthForm": -1.0},
    "sad": {"ParamBrowLY": -0.6, "ParamBrowRY": -0.6, "ParamMouthForm": -0.8},
    "wink": {"ParamEyeLOpen": 0.0, "ParamMouthForm": 0.6},
    "eyes_closed": {"ParamEyeLOpen": 0.0, "ParamEyeROpen": 0.0},
}

# VTube Studio's default input parameters -> (min, max, default, targets); a target is
# (rig parameter, input range, output range), mapped linearly and clamped.
Target = tuple[str, tuple[float, float], tuple[float, float]]
INPUTS: dict[str, tuple[float, float, float, tuple[Target, ...]]] = {
    "FaceAngleX": (
        -30,
        30,
        0,
        (("ParamAngleX", (-30, 30), (-30, 30)), ("ParamBodyAngleX", (-30, 30), (-10, 10))),
    ),
    "FaceAngleY": (
        -30,
        30,
        0,
        (("ParamAngleY", (-30, 30), (-30, 30)), ("ParamBodyAngleY", (-30, 30), (-10, 10))),
    ),
    "FaceAngleZ": (
        -30,
        30,
        0,
        (("ParamAngleZ", (-30, 30), (-30, 30)), ("ParamBodyAngleZ", (-30, 30), (-10, 10))),
    ),
    "MouthOpen": (0, 1, 0, (("ParamMouthOpenY", (0, 1), (0, 1)),)),
    "MouthSmile": (0, 1, 0.5, (("ParamMouthForm", (0, 1), (-1, 1)),)),
    "EyeOpenLeft": (0, 1, 1, (("ParamEyeLOpen", (0, 1), (0, 1)),)),
    "EyeOpenRight": (0, 1, 1, (("ParamEyeROpen", (0, 1), (0, 1)),)),
    "EyeLeftX": (-1, 1, 0, (("ParamEyeBallX", (-1, 1), (-1, 1)),)),
    "EyeLeftY": (-1, 1, 0, (("ParamEyeBallY", (-1, 1), (-1, 1)),)),
    "EyeRightX": (-1, 1, 0, (("ParamEyeBallX", (-1, 1), (-1, 1)),)),
    "EyeRightY": (-1, 1, 0, (("ParamEyeBallY", (-1, 1), (-1, 1)),)),
    "Brows": (0, 1, 0.5, (("ParamBrowLY", (0, 1), (-1, 1)), ("ParamBrowRY", (0, 1), (-1, 1)))),
    "BrowLeftY": (0, 1, 0.5, (("ParamBrowLY", (0, 1), (-1, 1)),)),
    "BrowRightY": (0, 1, 0.5, (("ParamBrowRY", (0, 1), (-1, 1)),)),
    "VoiceVolume": (0, 1, 0, (("ParamMouthOpenY", (0, 1), (0, 1)),)),
    "VoiceVolumePlusMouthOpen": (0, 1, 0, (("ParamMouthOpenY", (0, 1), (0, 1)),)),
    "VoiceFrequencyPlusMouthSmile": (0, 1, 0.5, (("ParamMouthForm", (0, 1), (-1, 1)),)),
}


def stable_id(*parts: str) -> str:
    """32 hex digits, the same for the same parts on every server and run."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def title(name: str) -> str:
    return re.sub(r"[_-]+", " ", name).strip().capitalize()


def linear(v: float, src: tuple[float, float], dst: tuple[float, float]) -> float:
    (a, b), (c, d) = src, dst
    t = (v - a) / (b - a) if b != a else 0.0
    return c + min(1.0, max(0.0, t)) * (d - c)


class AvatarView:
    """What one live session offers through the API (built once per session: the rig and
    its state machine do not change while it lives)."""

    def __init__(self, session: Any) -> None:
        self.session = session
        bundle = session.bundle
        rig = bundle.rig
        self.rig = rig
        look = session.look
        self.model_id = stable_id(
            "model", rig.name, look.face or "", look.saved or "", look.library
        )
        self.model_name = (
            rig.name.capitalize()
            if not look.saved
            else f"{rig.name.capitalize()} ({look.saved[:8]})"
        )
        known = set(rig.parameter_index)
        self.parameters = {p.id: p for p in rig.parameters}
        self.inputs = {
            name: (lo, hi, default, tuple(t for t in targets if t[0] in known))
            for name, (lo, hi, default, targets) in INPUTS.items()
            if any(t[0] in known for t in targets)
        }
        self.presence = bundle.tracking.presence_parameter if bundle.tracking is not None else None
        self.expressions = self._expressions(session)
        self._hotkeys_for: tuple | None = None  # the background names they were made with
        self._hotkey_list: list[Hotkey] = []

    @property
    def hotkeys(self) -> list[Hotkey]:
        """The session's hotkeys, made again when its backgrounds change (webapi attaches
        them after the session opens)."""
        key = tuple(getattr(self.session, "background_names", {}).items())
        if key != self._hotkeys_for:
            self._hotkey_list, self._hotkeys_for = self._hotkeys(self.session), key
        return self._hotkey_list

    # --- hotkeys ------------------------------------------------------------------------------

    def _hotkeys(self, session: Any) -> list[Hotkey]:
        rig = self.rig.name
        machine = session.bundle.machine
        puppet = session.puppet
        out: list[Hotkey] = []

        def add(
            key: str, name: str, kind: str, description: str, file: str, command, expression=None
        ) -> None:
            out.append(
                Hotkey(
                    stable_id("hotkey", rig, key),
                    name,
                    kind,
                    description,
                    file,
                    command,
                    expression,
                )
            )

        follow_ups = {st.next for st in machine.states.values() if st.next}
        rests = {layer.rest for layer in machine.layers if layer.rest}
        for name, st in sorted(machine.states.items(), key=lambda kv: (kv[1].layer.region, kv[0])):
            region = st.layer.region
            if st.when or (name in follow_ups and name not in rests):
                continue  # entered by itself (a fall after a jump), not on request
            label = (
                f"Tool: {name[4:]}" if region == "tool" and name.startswith("tool") else title(name)
            )
            if st.loop and len(st.variants) > 1:  # a dance: any of them, or one
                add(f"state:{name}", label, "TriggerAnimation",
                    f"Plays a {name} (a different one each time); triggering it again while "
                    "it plays stops it", f"{name}.motion3.json",
                    {"type": "transition", "state": name})  # fmt: skip
                for clip, _ in st.variants:
                    command = {"type": "transition", "state": name}
                    if name == "dance":
                        command = {"type": "dance", "variant": clip.name}
                    add(f"variant:{name}:{clip.name}", title(clip.name), "TriggerAnimation",
                        f"Plays {title(clip.name).lower()}", f"{clip.name}.motion3.json",
                        command)  # fmt: skip
            elif region == "body" and not st.next:
                add(f"state:{name}", label, "ChangeIdleAnimation",
                    f"The body {name}s from now on (stops a dance or emote)",
                    f"{name}.motion3.json", {"type": "transition", "state": name})  # fmt: skip
            else:
                add(f"state:{name}", label, "TriggerAnimation", f"Plays {name}",
                    f"{name}.motion3.json", {"type": "transition", "state": name})  # fmt: skip
        if "emote" in machine.regions():
            add("stop:emote", "Stop emote", "TriggerAnimation", "Stops the emote playing (the body goes on)",
                "", {"type": "stop", "region": "emote"})  # fmt: skip
        for sid, label in session.look.names.items():
            add(f"custom:{sid}", label, "TriggerAnimation", "Plays your custom animation",
                f"{sid}.motion3.json", {"type": "transition", "state": sid})  # fmt: skip
        for exp in self.expressions:
            add(f"expression:{exp.file}", exp.name, "ToggleExpression",
                "Wears this (an outfit piece)" if exp.wear else "Toggles this expression",
                exp.file, None, exp.file)  # fmt: skip
        if any(not e.wear for e in self.expressions):
            add("expressions:none", "Remove all expressions", "RemoveAllExpressions",
                "Ends every face expression", "", None)  # fmt: skip
        for framing in FRAMINGS:
            add(f"framing:{framing}", f"Framing: {framing}", "MoveModel",
                f"Frames the avatar {framing}", "", {"type": "framing", "value": framing})  # fmt: skip
        # scenes: VTube Studio's background hotkeys change our scene's background
        add("scene:transparent", "Scene: transparent", "ChangeBackground",
            "No background (OBS composites the avatar)", "",
            {"type": "scene", "background": "transparent"})  # fmt: skip
        for bid, name in getattr(session, "background_names", {}).items():
            add(f"scene:{bid}", f"Scene: {name}", "ChangeBackground",
                f"The {name} background behind the avatar", bid,
                {"type": "scene", "background": "image", "image": bid})  # fmt: skip
        for style in LOOK_NAMES:
            add(f"style:{style}", f"Style: {title(style).lower()}", "LoadEffectPreset",
                "Draws the avatar in this style", style, {"type": "style", "value": style})  # fmt: skip
        if puppet.tracker is not None:
            add("calibrate", "Calibrate camera", "CalibrateCam",
                "Takes your face now as its neutral", "", {"type": "calibrate"})  # fmt: skip
        return out

    def hotkey(self, key: str) -> Hotkey | None:
        """By id, or by name (case-insensitive, the first of that name)."""
        for h in self.hotkeys:
            if h.id == key:
                return h
        low = key.lower()
        return next((h for h in self.hotkeys if h.name and h.name.lower() == low), None)

    # --- expressions --------------------------------------------------------------------------

    def _expressions(self, session: Any) -> list[Expression]:
        out: list[Expression] = []
        for category, labels in session.puppet.labels.items():
            for label in labels:
                out.append(
                    Expression(
                        f"{category}_{label}{EXP_SUFFIX}",
                        f"{title(category)}: {label}",
                        (category, label),
                    )
                )
        known = set(self.rig.parameter_index)
        for name, values in FACE_PRESETS.items():
            if set(values) <= known:
                out.append(Expression(f"{name}{EXP_SUFFIX}", title(name), parameters=dict(values)))
        return out

    def expression(self, file: str) -> Expression | None:
        return next((e for e in self.expressions if e.file == file), None)

    # --- parameters ---------------------------------------------------------------------------

    def to_rig(self, name: str, value: float) -> dict[str, float]:
        """An input parameter's value as rig parameter values (a rig id maps to itself)."""
        if name in self.parameters:
            return {name: value}
        _, _, _, targets = self.inputs[name]
        return {pid: linear(value, src, dst) for pid, src, dst in targets}

    def delta_to_rig(self, name: str, delta: float) -> dict[str, float]:
        """An input parameter's change ("add" mode) as rig parameter changes."""
        if name in self.parameters:
            return {name: delta}
        _, _, _, targets = self.inputs[name]
        return {pid: delta * (d1 - d0) / (s1 - s0) for pid, (s0, s1), (d0, d1) in targets}

    def from_rig(self, name: str) -> float:
        """An input parameter's value read back from its first target's current value."""
        _, _, _, targets = self.inputs[name]
        pid, src, dst = targets[0]
        current = self.rig_value(pid)
        return linear(current, dst, src) if dst != src else current

    def rig_value(self, pid: str) -> float:
        params = self.session.puppet.session.params
        return float(params.values[params.index(pid)])
