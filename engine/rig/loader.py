"""`rig.json` -> `RigData`, validating every field and naming the JSON path of any error."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from engine.kernels.layout import INHERIT_NAMES, LOCAL_FIELDS, SX, SY, WA, WB, WC, WD, WX, WY
from engine.kernels.transform import update_bones
from engine.rig.data import (
    Attachment,
    BlendMode,
    BoneData,
    IkData,
    IkSolver,
    MeshAttachment,
    ParamBinding,
    ParameterData,
    RegionAttachment,
    RigData,
    SlotBinding,
    SlotData,
    SpringData,
    frozen,
)
from engine.rig.errors import RigFormatError
from engine.rig.plan import build_plan
from engine.rig.reader import Node, check_schema, read_json

SCHEMA_VERSION = 1
MAX_INFLUENCES = 4
WEIGHT_SUM_TOLERANCE = 1e-3


def load_rig(path: str | Path) -> RigData:
    """Load and validate `rigs/<id>/rig.json` (or a rig directory)."""
    p = Path(path)
    if p.is_dir():
        p = p / "rig.json"
    data = read_json(p, RigFormatError)
    return parse_rig(data, str(p))


def parse_rig(data: object, source: str = "<rig>") -> RigData:
    root = Node(data, "", source, RigFormatError)
    root.obj()
    check_schema(root, SCHEMA_VERSION)
    name = root.get("name").str_()
    bones = _bones(root.get("bones"))
    bone_index = {b.name: b.index for b in bones}
    parent = np.array([b.parent for b in bones], dtype=np.int64)
    inherit = np.array([b.inherit for b in bones], dtype=np.int64)
    setup_local = np.array([b.local for b in bones], dtype=np.float64)
    setup_world = np.zeros((len(bones), 6))
    update_bones(np.arange(len(bones), dtype=np.int64), parent, inherit, setup_local, setup_world)

    slots = _slots(root.get("slots", []), bone_index)
    slot_index = {s.name: s.index for s in slots}
    skin = _SkinBuffers()
    attachments = _attachments(
        root.get("attachments", {}), slots, slot_index, bone_index, setup_world, skin
    )
    for s in slots:
        if s.attachment is not None and s.attachment not in attachments[s.index]:
            raise root.fail(
                f'unknown attachment "{s.attachment}" for slot "{s.name}"',
                f"slots[{s.index}].attachment",
            )
    ik = _ik_constraints(root.get("ik", []), bones, bone_index)
    parameters = _parameters(root.get("parameters", []), bone_index, slots, attachments)
    skin_bones, skin_weights, skin_local, skin_anchor = skin.pack()
    return RigData(
        name=name,
        bones=tuple(bones),
        slots=tuple(slots),
        attachments=tuple(attachments),
        ik=tuple(ik),
        parameters=tuple(parameters),
        plan=build_plan(parent, ik),
        springs=_springs(root.get("springs", []), bones, bone_index),
        parent=frozen(parent),
        inherit=frozen(inherit),
        setup_local=frozen(setup_local),
        skin_bones=frozen(skin_bones),
        skin_weights=frozen(skin_weights),
        skin_local=frozen(skin_local),
        skin_anchor=frozen(skin_anchor),
        bone_index=bone_index,
        slot_index=slot_index,
        ik_index={k.name: k.index for k in ik},
        parameter_index={p.id: p.index for p in parameters},
    )


def _unique(node: Node, seen: set[str], what: str) -> str:
    name = node.str_()
    if name in seen:
        raise node.fail(f'duplicate {what} "{name}"')
    seen.add(name)
    return name


def _ref(node: Node, names: dict[str, int], what: str) -> int:
    name = node.str_()
    if name not in names:
        raise node.fail(f'unknown {what} "{name}"')
    return names[name]


def _bones(node: Node) -> list[BoneData]:
    items = node.list(min_len=1)
    raw_parents: dict[str, str | None] = {}
    for item in items:
        n = item.get("name").str_()
        if n in raw_parents:
            raise item.get("name").fail(f'duplicate bone name "{n}"')
        p = item.get("parent", None).value
        raw_parents[n] = p
    index: dict[str, int] = {}
    bones: list[BoneData] = []
    for i, item in enumerate(items):
        n = item.get("name").str_()
        pnode = item.get("parent", None)
        if pnode.value is None:
            if i != 0:
                raise pnode.fail("missing parent (only the first bone may be a root)")
            parent = -1
        else:
            pname = pnode.str_()
            if pname not in raw_parents:
                raise pnode.fail(f'unknown bone "{pname}"')
            if pname not in index:
                cycle = _find_cycle(n, raw_parents)
                if cycle:
                    raise pnode.fail("parent cycle through " + " -> ".join(f'"{c}"' for c in cycle))
                raise pnode.fail(f'parent "{pname}" must be listed before "{n}"')
            parent = index[pname]
        vals = {
            f: item.get(f, 1.0 if f in ("scaleX", "scaleY") else 0.0).num() for f in LOCAL_FIELDS
        }
        bones.append(
            BoneData(
                index=i,
                name=n,
                parent=parent,
                length=item.get("length", 0.0).num(lo=0.0),
                x=vals["x"],
                y=vals["y"],
                rotation=vals["rotation"],
                scale_x=vals["scaleX"],
                scale_y=vals["scaleY"],
                shear_x=vals["shearX"],
                shear_y=vals["shearY"],
                inherit=INHERIT_NAMES.index(item.get("inherit", "normal").choice(INHERIT_NAMES)),
            )
        )
        index[n] = i
    return bones


def _find_cycle(start: str, parents: dict[str, str | None]) -> list[str] | None:
    seen: list[str] = []
    cur: str | None = start
    while cur is not None and cur in parents:
        if cur in seen:
            return [*seen[seen.index(cur) :], cur]
        seen.append(cur)
        cur = parents[cur]
    return None


def _slots(node: Node, bone_index: dict[str, int]) -> list[SlotData]:
    slots: list[SlotData] = []
    names: set[str] = set()
    for i, item in enumerate(node.list()):
        n = _unique(item.get("name"), names, "slot name")
        att = item.get("attachment", None)
        color = item.get("color", [1, 1, 1, 1])
        rgba = color.vec(4)
        for k, c in enumerate(rgba):
            if not 0.0 <= c <= 1.0:
                raise color.child(k, c).fail(f"colour channel must be within 0..1, got {c}")
        blend = item.get("blend", "normal").choice(tuple(m.name.lower() for m in BlendMode))
        slots.append(
            SlotData(
                index=i,
                name=n,
                bone=_ref(item.get("bone"), bone_index, "bone"),
                attachment=None if att.value is None else att.str_(),
                color=rgba,  # type: ignore[arg-type]
                blend=BlendMode[blend.upper()],
            )
        )
    return slots


class _SkinBuffers:
    def __init__(self) -> None:
        self.bones: list[np.ndarray] = []
        self.weights: list[np.ndarray] = []
        self.local: list[np.ndarray] = []
        self.anchor: list[np.ndarray] = []
        self.count = 0

    def add(self, bones: np.ndarray, weights: np.ndarray, local: np.ndarray, anchor: int) -> int:
        offset = self.count
        self.bones.append(bones)
        self.weights.append(weights)
        self.local.append(local)
        self.anchor.append(np.full(bones.shape[0], anchor, np.int64))
        self.count += bones.shape[0]
        return offset

    def pack(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        if not self.bones:
            return (
                np.zeros((0, 4), np.int64),
                np.zeros((0, 4)),
                np.zeros((0, 4, 2)),
                np.zeros(0, np.int64),
            )
        return (
            np.concatenate(self.bones),
            np.concatenate(self.weights),
            np.concatenate(self.local),
            np.concatenate(self.anchor),
        )


def _attachments(
    node: Node,
    slots: list[SlotData],
    slot_index: dict[str, int],
    bone_index: dict[str, int],
    setup_world: np.ndarray,
    skin: _SkinBuffers,
) -> list[dict[str, Attachment]]:
    out: list[dict[str, Attachment]] = [{} for _ in slots]
    for slot_name, per_slot in node.items():
        if slot_name not in slot_index:
            raise per_slot.fail(f'unknown slot "{slot_name}"')
        slot = slots[slot_index[slot_name]]
        for att_name, att in per_slot.items():
            kind = att.get("type").choice(("region", "mesh"))
            if kind == "region":
                out[slot.index][att_name] = _region(att_name, att)
            else:
                out[slot.index][att_name] = _mesh(
                    att_name, att, slot, bone_index, setup_world, skin
                )
    return out


def _region(name: str, node: Node) -> RegionAttachment:
    x, y = node.get("x", 0.0).num(), node.get("y", 0.0).num()
    rot = node.get("rotation", 0.0).num()
    sx, sy = node.get("scaleX", 1.0).num(), node.get("scaleY", 1.0).num()
    w, h = node.get("width").num(lo=0.0), node.get("height").num(lo=0.0)
    r = math.radians(rot)
    cos, sin = math.cos(r), math.sin(r)
    corners = []
    for cx, cy in ((-0.5, -0.5), (0.5, -0.5), (0.5, 0.5), (-0.5, 0.5)):
        px, py = cx * w * sx, cy * h * sy
        corners.append((x + cos * px - sin * py, y + sin * px + cos * py))
    uvs = np.array([(0, 1), (1, 1), (1, 0), (0, 0)], dtype=np.float64)
    return RegionAttachment(
        name=name,
        path=node.get("path", name).str_(),
        x=x,
        y=y,
        rotation=rot,
        scale_x=sx,
        scale_y=sy,
        width=w,
        height=h,
        corners=frozen(np.array(corners)),
        uvs=frozen(uvs),
    )


def _points(node: Node, dims: int) -> np.ndarray:
    items = node.list(min_len=1)
    return np.array([i.vec(dims) for i in items], dtype=np.float64)


def _mesh(
    name: str,
    node: Node,
    slot: SlotData,
    bone_index: dict[str, int],
    setup_world: np.ndarray,
    skin: _SkinBuffers,
) -> MeshAttachment:
    verts_node = node.get("vertices")
    verts = _points(verts_node, 2)
    n = verts.shape[0]
    uvs_node = node.get("uvs")
    uvs = _points(uvs_node, 2)
    if uvs.shape[0] != n:
        raise uvs_node.fail(f"expected {n} uvs (one per vertex), got {uvs.shape[0]}")
    tris_node = node.get("triangles")
    tris = []
    for t in tris_node.list(min_len=1):
        idx = [c.int_(lo=0) for c in t.list()]
        if len(idx) != 3:
            raise t.fail(f"expected 3 vertex indices, got {len(idx)}")
        for k, v in enumerate(idx):
            if v >= n:
                raise t.child(k, v).fail(f"vertex index {v} out of range (mesh has {n} vertices)")
        tris.append(idx)

    bones = np.zeros((n, 4), np.int64)
    weights = np.zeros((n, 4))
    if node.has("weights"):
        wnode = node.get("weights")
        wlist = wnode.list()
        if len(wlist) != n:
            raise wnode.fail(f"expected {n} weight lists (one per vertex), got {len(wlist)}")
        for v, infl in enumerate(wlist):
            pairs = infl.list(min_len=1)
            if len(pairs) > MAX_INFLUENCES:
                raise infl.fail(f"{len(pairs)} influences; at most {MAX_INFLUENCES} are supported")
            for k, pair in enumerate(pairs):
                bw = pair.list()
                if len(bw) != 2:
                    raise pair.fail('expected ["bone", weight]')
                bones[v, k] = _ref(bw[0], bone_index, "bone")
                weights[v, k] = bw[1].num(lo=0.0, hi=1.0)
            total = weights[v].sum()
            if abs(total - 1.0) > WEIGHT_SUM_TOLERANCE:
                raise infl.fail(f"weights sum to {total:.6g}, not 1")
            weights[v] /= total
    else:
        bones[:, 0] = slot.bone
        weights[:, 0] = 1.0

    # Bind: express each vertex in every influencing bone's local space at the setup pose.
    local = np.zeros((n, 4, 2))
    for k in range(4):
        w = setup_world[bones[:, k]]
        det = w[:, WA] * w[:, WD] - w[:, WB] * w[:, WC]
        if np.any((weights[:, k] > 0) & (np.abs(det) < 1e-12)):
            raise verts_node.fail("a weighted bone has a degenerate (zero-scale) setup transform")
        det = np.where(np.abs(det) < 1e-12, 1.0, det)
        dx = verts[:, 0] - w[:, WX]
        dy = verts[:, 1] - w[:, WY]
        local[:, k, 0] = (w[:, WD] * dx - w[:, WB] * dy) / det
        local[:, k, 1] = (-w[:, WC] * dx + w[:, WA] * dy) / det
    offset = skin.add(bones, weights, local, slot.bone)
    return MeshAttachment(
        name=name,
        path=node.get("path", name).str_(),
        uvs=frozen(uvs),
        triangles=frozen(np.array(tris, dtype=np.int32)),
        setup_vertices=frozen(verts),
        offset=offset,
        count=n,
    )


def _ik_constraints(node: Node, bones: list[BoneData], bone_index: dict[str, int]) -> list[IkData]:
    out: list[IkData] = []
    names: set[str] = set()
    for i, item in enumerate(node.list()):
        n = _unique(item.get("name"), names, "IK constraint name")
        solver = IkSolver[item.get("solver").choice(("limb", "ccd", "fabrik")).upper()]
        bnode = item.get("bones")
        chain = [_ref(b, bone_index, "bone") for b in bnode.list(min_len=1)]
        if solver == IkSolver.LIMB and len(chain) != 2:
            raise bnode.fail(f"a limb chain has exactly 2 bones, got {len(chain)}")
        if len(set(chain)) != len(chain):
            raise bnode.fail("a bone appears twice in the chain")
        for k in range(1, len(chain)):
            if bones[chain[k]].parent != chain[k - 1]:
                raise bnode.child(k, bones[chain[k]].name).fail(
                    f'"{bones[chain[k]].name}" is not a child of "{bones[chain[k - 1]].name}"'
                )
        tnode = item.get("target")
        target = _ref(tnode, bone_index, "bone")
        cur = target
        while cur >= 0:
            if cur in chain:
                raise tnode.fail(
                    f'target "{bones[target].name}" must not be in or under its own chain'
                )
            cur = bones[cur].parent
        limits = np.tile([-np.inf, np.inf], (len(chain), 1))
        if item.has("limits"):
            for bname, lim in item.get("limits").items():
                if bname not in bone_index or bone_index[bname] not in chain:
                    raise lim.fail(f'"{bname}" is not a bone of this chain')
                lo, hi = lim.vec(2)
                if lo > hi:
                    raise lim.fail(f"min {lo} is greater than max {hi}")
                limits[chain.index(bone_index[bname])] = (lo, hi)
        for b in chain:
            s = bones[b]
            if s.scale_x <= 0 or s.scale_y <= 0:
                raise bnode.fail(f'IK bone "{s.name}" needs a positive setup scale')
            if s.length <= 0:
                raise bnode.fail(f'IK bone "{s.name}" needs a length > 0')
        rest = np.array([bones[b].rotation + bones[b].shear_x for b in chain])
        out.append(
            IkData(
                index=i,
                name=n,
                solver=solver,
                bones=tuple(chain),
                target=target,
                mix=item.get("mix", 1.0).num(lo=0.0, hi=1.0),
                bend=1.0
                if item.get("bend", "positive").choice(("positive", "negative")) == "positive"
                else -1.0,
                iterations=item.get("iterations", 10).int_(lo=1),
                tolerance=item.get("tolerance", 0.01).num(lo=0.0),
                velocity=item.get("velocity", 0.5).num(lo=1e-6, hi=1.0),
                limits=frozen(limits),
                chain=frozen(np.array(chain, dtype=np.int64)),
                lengths=frozen(np.array([bones[b].length for b in chain])),
                relative_limits=frozen(limits + rest[:, None]),
            )
        )
    return out


_PROPS = {f: i for i, f in enumerate(LOCAL_FIELDS)}


def _parameters(
    node: Node,
    bone_index: dict[str, int],
    slots: list[SlotData],
    attachments: list[dict[str, Attachment]],
) -> list[ParameterData]:
    slot_index = {sl.name: sl.index for sl in slots}
    out: list[ParameterData] = []
    ids: set[str] = set()
    for i, item in enumerate(node.list()):
        pid = _unique(item.get("id"), ids, "parameter id")
        lo = item.get("min").num()
        hi = item.get("max").num()
        if lo >= hi:
            raise item.get("max").fail(f"max {hi} must be greater than min {lo}")
        default = item.get("default", 0.0).num(lo=lo, hi=hi)
        bindings: list[ParamBinding] = []
        slot_bindings: list[SlotBinding] = []
        for b in item.get("bindings", []).list():
            if b.has("slot"):
                slot_bindings.append(_slot_binding(b, slot_index, slots, attachments))
                continue
            prop = _PROPS[b.get("property").choice(LOCAL_FIELDS)]
            knode = b.get("keys")
            keys = [k.vec(2) for k in knode.list(min_len=1)]
            xs = _increasing([k[0] for k in keys], knode)
            ys = np.array([k[1] for k in keys])
            if prop in (SX, SY) and np.any(ys <= 0):
                raise knode.fail("scale factors must be positive")
            bindings.append(
                ParamBinding(
                    bone=_ref(b.get("bone"), bone_index, "bone"),
                    prop=prop,
                    inputs=frozen(xs),
                    outputs=frozen(ys),
                )
            )
        out.append(ParameterData(i, pid, lo, hi, default, tuple(bindings), tuple(slot_bindings)))
    return out


def _increasing(xs: list[float], node: Node) -> np.ndarray:
    a = np.array(xs, dtype=np.float64)
    if np.any(np.diff(a) <= 0):
        raise node.fail("key parameter values must be strictly increasing")
    return a


def _slot_binding(
    b: Node,
    slot_index: dict[str, int],
    slots: list[SlotData],
    attachments: list[dict[str, Attachment]],
) -> SlotBinding:
    slot = _ref(b.get("slot"), slot_index, "slot")
    kind = b.get("property").choice(("alpha", "attachment", "deform"))
    knode = b.get("keys")
    keys = []
    for k in knode.list(min_len=1):
        pair = k.list()
        if len(pair) != 2:
            raise k.fail("expected [parameter value, output]")
        keys.append((pair[0].num(), pair[1]))
    xs = _increasing([x for x, _ in keys], knode)
    if kind == "deform":
        anode = b.get("attachment")
        mesh = attachments[slot].get(anode.str_())
        if not isinstance(mesh, MeshAttachment):
            raise anode.fail(
                f'"{anode.value}" is not a mesh attachment of slot "{slots[slot].name}"'
            )
        offsets = []
        for _, v in keys:
            pts = v.list()
            if len(pts) != mesh.count:
                raise v.fail(f"expected {mesh.count} offsets (one per vertex), got {len(pts)}")
            offsets.append([p.vec(2) for p in pts])
        return SlotBinding(slot, kind, frozen(xs), offsets=frozen(np.array(offsets)), mesh=mesh)
    if kind == "alpha":
        alphas = np.array([v.num(lo=0.0, hi=1.0) for _, v in keys])
        return SlotBinding(slot, kind, frozen(xs), alphas=frozen(alphas))
    names: list[str | None] = []
    for _, v in keys:
        name = None if v.value is None else v.str_()
        if name is not None and name not in attachments[slot]:
            raise v.fail(f'unknown attachment "{name}" for slot "{slots[slot].name}"')
        names.append(name)
    return SlotBinding(slot, kind, frozen(xs), names=tuple(names))


def _springs(
    node: Node, bones: list[BoneData], bone_index: dict[str, int]
) -> tuple[SpringData, ...]:
    out: list[SpringData] = []
    for item in node.list():
        bnode = item.get("bone")
        b = _ref(bnode, bone_index, "bone")
        if bones[b].parent < 0:
            raise bnode.fail("the root bone cannot be a spring")
        if any(sp.bone == b for sp in out):
            raise bnode.fail(f'"{bones[b].name}" already has a spring')
        if bones[b].length <= 0:
            raise bnode.fail(f'spring bone "{bones[b].name}" needs a length > 0')
        out.append(
            SpringData(
                bone=b,
                stiffness=item.get("stiffness", 120.0).num(lo=0.0),
                damping=item.get("damping", 8.0).num(lo=0.0),
                inertia=item.get("inertia", 1.0).num(lo=0.0, hi=4.0),
                gravity=item.get("gravity", 0.0).num(),
                limit=item.get("limit", 45.0).num(lo=0.0, hi=180.0),
            )
        )
    out.sort(key=lambda sp: sp.bone)  # parents before children: a chain swings as one
    return tuple(out)


def setup_world_transforms(rig: RigData) -> np.ndarray:
    """World rows of the setup pose (without constraints), for tools and tests."""
    world = np.zeros((len(rig.bones), 6))
    update_bones(
        np.arange(len(rig.bones), dtype=np.int64), rig.parent, rig.inherit, rig.setup_local, world
    )
    return world


__all__ = ["SCHEMA_VERSION", "load_rig", "parse_rig", "setup_world_transforms"]
