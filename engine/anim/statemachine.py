"""State-machine data (schema 1, see content/README.md): layers, regions and states, loaded
from JSON and checked against the rig's clips. Frozen; `AnimationController` runs it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.anim.blend import Blend1D
from engine.anim.clip import Clip
from engine.rig.errors import FormatError
from engine.rig.reader import Node, check_schema, read_json

SCHEMA_VERSION = 1
PRIORITIES = ("core", "idle", "movement", "action")


class StateMachineFormatError(FormatError):
    """A state machine file is invalid."""


@dataclass(frozen=True, slots=True)
class LayerData:
    track: int  # position in priority order = the AnimationState track
    name: str
    priority: str
    region: str
    rest: str | None
    mask: dict[str, float] | None
    # regions a commanded entry into this layer's states sends to rest (a body state
    # commanded while an emote plays ends the emote); `when` and `next` entries do not
    stops: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Condition:
    input: str
    below: float | None
    above: float | None
    go: str

    def holds(self, value: float) -> bool:
        if self.below is not None and value < self.below:
            return True
        return self.above is not None and value > self.above


@dataclass(frozen=True, slots=True, eq=False)
class StateData:
    name: str
    layer: LayerData
    variants: tuple[tuple[Clip, float], ...]  # one entry for a plain animation
    blend: Blend1D | None
    loop: bool | None
    speed: float
    duration: float | None
    next: str | None
    returns: bool
    reroll: bool
    mix: float | None
    when: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class StateMachineData:
    layers: tuple[LayerData, ...]
    states: dict[str, StateData]
    initial: dict[str, str]
    inputs: dict[str, float]
    default_mix: float
    mixes: tuple[tuple[str, str, float], ...]

    def regions(self) -> dict[str, list[LayerData]]:
        out: dict[str, list[LayerData]] = {}
        for layer in self.layers:
            out.setdefault(layer.region, []).append(layer)
        return out


def load_state_machine(
    path: str | Path, clips: dict[str, Clip], bone_names: set[str]
) -> StateMachineData:
    p = Path(path)
    data = read_json(p, StateMachineFormatError)
    return parse_state_machine(data, clips, bone_names, str(p))


def parse_state_machine(
    data: object, clips: dict[str, Clip], bone_names: set[str], source: str = "<statemachine>"
) -> StateMachineData:
    root = Node(data, "", source, StateMachineFormatError)
    root.obj()
    check_schema(root, SCHEMA_VERSION)
    inputs = {k: v.num() for k, v in root.get("inputs", {}).items()}

    raw_layers = []
    for ln in root.get("layers").list(min_len=1):
        mask = None
        if ln.has("mask"):
            mask = {}
            for b, w in ln.get("mask").items():
                if b not in bone_names:
                    raise w.fail(f'unknown bone "{b}"')
                mask[b] = w.num(lo=0.0, hi=1.0)
        rest = ln.get("rest", None)
        stops = ln.get("stops", []).list()
        for n in stops:
            n.str_()
        raw_layers.append(
            (
                PRIORITIES.index(ln.get("priority").choice(PRIORITIES)),
                ln.get("name").str_(),
                ln.get("region", ln.get("name").value).str_(),
                None if rest.value is None else rest.str_(),
                mask,
                rest,
                stops,
            )
        )
    names = [r[1] for r in raw_layers]
    for i, n in enumerate(names):
        if n in names[:i]:
            raise root.fail(f'duplicate layer name "{n}"', f"layers[{i}].name")
    order = sorted(range(len(raw_layers)), key=lambda i: (raw_layers[i][0], i))  # stable
    layers = tuple(
        LayerData(
            t,
            raw_layers[i][1],
            PRIORITIES[raw_layers[i][0]],
            raw_layers[i][2],
            raw_layers[i][3],
            raw_layers[i][4],
            tuple(n.value for n in raw_layers[i][6]),
        )
        for t, i in enumerate(order)
    )
    regions = {la.region for la in layers}
    for r in raw_layers:
        for n in r[6]:
            if n.value not in regions:
                raise n.fail(f'unknown region "{n.value}" (known: {", ".join(sorted(regions))})')
            if n.value == r[2]:
                raise n.fail(f'a layer cannot stop its own region "{n.value}"')
    by_name = {la.name: la for la in layers}

    def clip(node: Node) -> Clip:
        n = node.str_()
        if n not in clips:
            raise node.fail(f'unknown animation "{n}"')
        return clips[n]

    states: dict[str, StateData] = {}
    state_nodes = dict(root.get("states").items())
    for sname, sn in state_nodes.items():
        lnode = sn.get("layer")
        lname = lnode.str_()
        if lname not in by_name:
            raise lnode.fail(f'unknown layer "{lname}"')
        kinds = [k for k in ("animation", "variants", "blend") if sn.has(k)]
        if len(kinds) != 1:
            raise sn.fail("needs exactly one of animation, variants or blend")
        variants: tuple[tuple[Clip, float], ...] = ()
        blend = None
        if kinds[0] == "animation":
            variants = ((clip(sn.get("animation")), 1.0),)
        elif kinds[0] == "variants":
            vs = []
            for v in sn.get("variants").list(min_len=1):
                vs.append((clip(v.get("animation")), v.get("weight", 1.0).num(lo=0.0)))
            if sum(w for _, w in vs) <= 0:
                raise sn.get("variants").fail("variant weights sum to 0")
            variants = tuple(vs)
        else:
            bn = sn.get("blend")
            inp = bn.get("input")
            if inp.str_() not in inputs:
                raise inp.fail(f'unknown input "{inp.value}" (declare it under "inputs")')
            pts = [
                (clip(pt.get("animation")), pt.get("at").num())
                for pt in bn.get("points").list(min_len=1)
            ]
            blend = Blend1D.of("+".join(c.name for c, _ in pts), inp.value, pts)
        when = []
        for cn in sn.get("when", []).list():
            inp = cn.get("input")
            if inp.str_() not in inputs:
                raise inp.fail(f'unknown input "{inp.value}"')
            below = cn.get("below").num() if cn.has("below") else None
            above = cn.get("above").num() if cn.has("above") else None
            if below is None and above is None:
                raise cn.fail("needs below or above")
            when.append(Condition(inp.value, below, above, _state_ref(cn.get("go"), state_nodes)))
        loop = sn.get("loop").bool_() if sn.has("loop") else None
        states[sname] = StateData(
            name=sname,
            layer=by_name[lname],
            variants=variants,
            blend=blend,
            loop=loop,
            speed=sn.get("speed", 1.0).num(lo=0.0),
            duration=sn.get("duration").num(lo=0.0) if sn.has("duration") else None,
            next=_state_ref(sn.get("next"), state_nodes) if sn.has("next") else None,
            returns=sn.get("returns", False).bool_(),
            reroll=sn.get("reroll", False).bool_(),
            mix=sn.get("mix").num(lo=0.0) if sn.has("mix") else None,
            when=tuple(when),
        )

    for r in raw_layers:
        if r[3] is not None:
            if r[3] not in states:
                raise r[5].fail(f'unknown state "{r[3]}"')
            if states[r[3]].layer.name != r[1]:
                raise r[5].fail(
                    f'rest state "{r[3]}" plays on layer "{states[r[3]].layer.name}", not "{r[1]}"'
                )
    initial = {}
    for region, sn in root.get("initial", {}).items():
        s = _state_ref(sn, state_nodes)
        if states[s].layer.region != region:
            raise sn.fail(f'state "{s}" is not in region "{region}"')
        initial[region] = s
    mixes = []
    for mn in root.get("mixes", []).list():
        mixes.append(
            (clip(mn.get("from")).name, clip(mn.get("to")).name, mn.get("duration").num(lo=0.0))
        )
    return StateMachineData(
        layers=layers,
        states=states,
        initial=initial,
        inputs=inputs,
        default_mix=root.get("default_mix", 0.2).num(lo=0.0),
        mixes=tuple(mixes),
    )


def _state_ref(node: Node, states: dict[str, Node]) -> str:
    n = node.str_()
    if n not in states:
        raise node.fail(f'unknown state "{n}"')
    return n
