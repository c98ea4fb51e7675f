"""Animation clip JSON (schema 1, see content/README.md) -> `Clip`, validated against a rig."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.anim.clip import AttachmentTimeline, Clip, EventData
from engine.kernels.curves import BEZIER, INTERP_NAMES
from engine.kernels.layout import TARGET_DIMS, TARGET_NAMES
from engine.rig.data import RigData, frozen
from engine.rig.errors import FormatError
from engine.rig.reader import Node, check_schema, read_json

SCHEMA_VERSION = 1


class AnimationFormatError(FormatError):
    """An animation clip file is invalid."""


def load_clip(path: str | Path, rig: RigData) -> Clip:
    p = Path(path)
    data = read_json(p, AnimationFormatError)
    return parse_clip(data, rig, str(p), expected_name=p.stem)


def load_clips(directory: str | Path, rig: RigData) -> dict[str, Clip]:
    """Every clip in a directory (one clip a file; `statemachine.json` is skipped)."""
    d = Path(directory)
    files = sorted(f for f in d.glob("*.json") if f.name != "statemachine.json")
    if not files:
        raise AnimationFormatError(str(d), "", "no animation clips found")
    return {f.stem: load_clip(f, rig) for f in files}


class _Packer:
    def __init__(self) -> None:
        self.times: list[float] = []
        self.values: list[tuple[float, ...]] = []
        self.interp: list[int] = []
        self.curves: list[np.ndarray] = []

    def add_channel(self, keys: list[Node], dims: int, length: float) -> tuple[int, int]:
        start = len(self.times)
        prev_t = -1.0
        for k, key in enumerate(keys):
            t = key.get("time").num(lo=0.0, hi=length)
            if t <= prev_t:
                raise key.get("time").fail(f"key times must increase (previous key is at {prev_t})")
            vnode = key.get("value")
            v = (vnode.num(),) if dims == 1 else vnode.vec(dims)
            kind = INTERP_NAMES.index(key.get("interp", "linear").choice(INTERP_NAMES))
            curve = np.zeros((4, 4))
            if kind == BEZIER:
                cnode = key.get("curve")
                c = [n.num() for n in cnode.list()]
                if len(c) != 4 * dims:
                    raise cnode.fail(
                        f"expected {4 * dims} numbers (cx1, cy1, cx2, cy2 per value), got {len(c)}"
                    )
                if k > 0:
                    for d in range(dims):
                        cx1, cx2 = c[4 * d], c[4 * d + 2]
                        if not (prev_t <= cx1 <= t and prev_t <= cx2 <= t):
                            raise cnode.fail(f"control point times must lie within [{prev_t}, {t}]")
                curve[:dims] = np.array(c).reshape(dims, 4)
            self.times.append(t)
            self.values.append((*v, *([0.0] * (4 - dims))))
            self.interp.append(kind)
            self.curves.append(curve)
            prev_t = t
        return start, len(self.times)


def parse_clip(
    data: object, rig: RigData, source: str = "<clip>", expected_name: str | None = None
) -> Clip:
    root = Node(data, "", source, AnimationFormatError)
    root.obj()
    check_schema(root, SCHEMA_VERSION)
    name = root.get("name").str_()
    if expected_name is not None and name != expected_name:
        raise root.get("name").fail(f'"{name}" does not match the file name "{expected_name}"')
    length = root.get("length").num()
    if length <= 0:
        raise root.get("length").fail(f"must be > 0, got {length}")
    looping = root.get("looping", False).bool_()

    packer = _Packer()
    chan: list[tuple[int, int, int, int]] = []
    keyed = np.zeros((len(rig.bones), 4), dtype=bool)
    for bone_name, channels in root.get("bones", {}).items():
        if bone_name not in rig.bone_index:
            raise channels.fail(f'unknown bone "{bone_name}"')
        b = rig.bone_index[bone_name]
        for target_name, keys in channels.items():
            if target_name not in TARGET_NAMES:
                raise keys.fail(
                    f'unknown channel "{target_name}" (expected one of {", ".join(TARGET_NAMES)})'
                )
            tg = TARGET_NAMES.index(target_name)
            start, end = packer.add_channel(keys.list(min_len=1), TARGET_DIMS[tg], length)
            chan.append((b, tg, start, end))
            keyed[b, tg] = True

    attachments: list[AttachmentTimeline] = []
    colors: list[tuple[int, int, int]] = []
    slot_keyed = np.zeros(len(rig.slots), dtype=bool)
    for slot_name, timelines in root.get("slots", {}).items():
        if slot_name not in rig.slot_index:
            raise timelines.fail(f'unknown slot "{slot_name}"')
        s = rig.slot_index[slot_name]
        for kind, keys in timelines.items():
            if kind == "attachment":
                attachments.append(_attachment_timeline(s, keys, rig, length))
            elif kind == "color":
                for k in keys.list(min_len=1):
                    for ci, c in enumerate(k.get("value").vec(4)):
                        if not 0.0 <= c <= 1.0:
                            raise (
                                k.get("value")
                                .child(ci, c)
                                .fail("colour channel must be within 0..1")
                            )
                start, end = packer.add_channel(keys.list(min_len=1), 4, length)
                colors.append((s, start, end))
            else:
                raise keys.fail(f'unknown slot timeline "{kind}" (expected attachment or color)')
            slot_keyed[s] = True

    params: list[tuple[int, str, int, int]] = []
    for pid, keys in root.get("parameters", {}).items():
        i = rig.parameter_index.get(pid)
        if i is None:
            known = ", ".join(p.id for p in rig.parameters[:20])
            raise keys.fail(f'unknown parameter "{pid}" (known: {known})')
        pd = rig.parameters[i]
        key_list = keys.list(min_len=1)
        for k in key_list:
            k.get("value").num(lo=pd.min, hi=pd.max)
        start, end = packer.add_channel(key_list, 1, length)
        params.append((i, pid, start, end))

    events = []
    for e in root.get("events", []).list():
        snode = e.get("string", "")
        if not isinstance(snode.value, str):
            raise snode.fail("expected a string")
        events.append(
            EventData(
                time=e.get("time").num(lo=0.0, hi=length),
                name=e.get("name").str_(),
                string=snode.value,
                int_=e.get("int", 0).int_(),
                float_=e.get("float", 0.0).num(),
            )
        )
    events.sort(key=lambda e: e.time)

    def ints(xs: list[int]) -> np.ndarray:
        return frozen(np.array(xs, dtype=np.int64))

    k = len(packer.times)
    return Clip(
        name=name,
        length=length,
        looping=looping,
        times=frozen(np.array(packer.times, dtype=np.float64)),
        values=frozen(np.array(packer.values, dtype=np.float64).reshape(k, 4)),
        interp=ints(packer.interp),
        curves=frozen(np.array(packer.curves).reshape(k, 4, 4)),
        chan_bone=ints([c[0] for c in chan]),
        chan_target=ints([c[1] for c in chan]),
        chan_start=ints([c[2] for c in chan]),
        chan_end=ints([c[3] for c in chan]),
        bone_keyed=frozen(keyed),
        attachments=tuple(attachments),
        color_slot=ints([c[0] for c in colors]),
        color_start=ints([c[1] for c in colors]),
        color_end=ints([c[2] for c in colors]),
        slot_keyed=frozen(slot_keyed),
        events=tuple(events),
        param_index=ints([p[0] for p in params]),
        param_ids=tuple(p[1] for p in params),
        param_start=ints([p[2] for p in params]),
        param_end=ints([p[3] for p in params]),
    )


def _attachment_timeline(slot: int, keys: Node, rig: RigData, length: float) -> AttachmentTimeline:
    times: list[float] = []
    names: list[str | None] = []
    for key in keys.list(min_len=1):
        t = key.get("time").num(lo=0.0, hi=length)
        if times and t <= times[-1]:
            raise key.get("time").fail(f"key times must increase (previous key is at {times[-1]})")
        nnode = key.get("name")
        n = None if nnode.value is None else nnode.str_()
        if n is not None and n not in rig.attachments[slot]:
            raise nnode.fail(f'unknown attachment "{n}" for slot "{rig.slots[slot].name}"')
        times.append(t)
        names.append(n)
    return AttachmentTimeline(slot, tuple(times), tuple(names))
