"""Profiles: named overlays deep-merged over the document before it is checked.

Mappings merge key by key, anything else (lists, scalars) is replaced, and a null unsets.
``profiles.NAME.members`` maps member names to overlays merged into those members (giving
``run``, ``shell`` or ``image`` there replaces the member's kind), and
``profiles.NAME.exclude`` lists members this run leaves out. Every profile is checked, not
only the chosen one, so a typo in ``prod`` shows up while working in ``dev``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from orecart.spec.fields import KIND_KEYS, ROOT
from orecart.spec.kinds import Ctx
from orecart.spec.loader import Node
from orecart.spec.scalars import Text
from orecart.spec.structures import ListOf
from orecart.spec.suggest import did_you_mean, one_of

PROFILES = "profiles"
_EXCLUDE = ListOf(Text(non_empty=True), single=True)


@dataclass(frozen=True)
class Profiled:
    """The document with its profile applied, and the members the profile leaves out."""

    root: Node
    excluded: frozenset[str] = frozenset()


def apply_profile(root: Node, name: str | None, ctx: Ctx) -> Profiled:
    """``root`` without its ``profiles`` section, with profile ``name`` merged in."""
    profiles = root.get(PROFILES)
    if profiles is not None and profiles.value is not None:
        ROOT.by_name[PROFILES].kind.check(profiles, PROFILES, Ctx(None, partial=True))
        _check_member_names(root, profiles)
    base = _without(root, PROFILES)
    if not name:
        return Profiled(base)
    overlay = _select(root, profiles, name)
    if overlay.value is None:
        return Profiled(base)
    merged = merge(base, _without(overlay, "members", "exclude"))
    path = f"{PROFILES}.{name}"
    member_overlays = overlay.get("members")
    if member_overlays is not None and member_overlays.is_map:
        merged = _merge_members(merged, member_overlays, f"{path}.members")
    return Profiled(merged, _excluded(merged, overlay.get("exclude"), f"{path}.exclude", ctx))


def merge(base: Node, top: Node) -> Node:
    """``top`` deep-merged over ``base``: mappings merge, everything else is replaced."""
    if not (base.is_map and top.is_map):
        return top
    value = dict(base.value)
    keys = dict(base.keys or {})
    for key, child in top.value.items():
        value[key] = merge(value[key], child) if key in value else child
        keys[key] = top.key_node(key)
    return replace(base, value=value, keys=keys)


def _select(root: Node, profiles: Node | None, name: str) -> Node:
    known = list(profiles.value) if profiles is not None and profiles.is_map else []
    if name in known:
        assert profiles is not None
        chosen: Node = profiles.value[name]
        return chosen
    where = root.key_node(PROFILES) if profiles is not None else root
    listed = f"known profiles: {one_of(known)}" if known else "the file defines no profiles"
    raise where.error(PROFILES, f"unknown profile {name!r}{did_you_mean(name, known)} ({listed})")


def _check_member_names(root: Node, profiles: Node) -> None:
    """Every profile names only members the file has, the chosen profile or not."""
    members = root.get("members")
    known = _member_index(members) if members is not None and members.is_seq else {}
    for profile, overlay in profiles.value.items():
        path = f"{PROFILES}.{profile}"
        overlays = overlay.get("members")
        if overlays is not None and overlays.is_map:
            _known(known, [overlays.key_node(key) for key in overlays.value], f"{path}.members")
        exclude = overlay.get("exclude")
        if exclude is not None and exclude.value is not None:
            _known(known, exclude.value if exclude.is_seq else [exclude], f"{path}.exclude")


def _known(known: dict[str, int], nodes: list[Node], path: str) -> None:
    for node in nodes:
        name = node.raw
        if name not in known and "$" not in name:  # a reference is judged once expanded
            raise node.error(path, f"no member named {name!r}{did_you_mean(name, known)}")


def _without(node: Node, *names: str) -> Node:
    if not node.is_map or not any(name in node.value for name in names):
        return node
    value = {k: v for k, v in node.value.items() if k not in names}
    keys = {k: v for k, v in (node.keys or {}).items() if k not in names}
    return replace(node, value=value, keys=keys)


def _merge_members(root: Node, overlays: Node, path: str) -> Node:
    members = root.get("members")
    if members is None or not members.is_seq:
        return root  # checking the document reports the broken members list
    index = _member_index(members)
    items = list(members.value)
    for name, top in overlays.value.items():
        if name not in index:
            hint = did_you_mean(name, index)
            raise overlays.key_node(name).error(path, f"no member named {name!r}{hint}")
        position = index[name]
        items[position] = _merge_member(items[position], top)
    value = dict(root.value)
    value["members"] = replace(members, value=items)
    return replace(root, value=value)


def _merge_member(base: Node, top: Node) -> Node:
    if top.is_map and any(key in top.value for key in KIND_KEYS):
        base = _without(base, *KIND_KEYS)
    return merge(base, top)


def _member_index(members: Node) -> dict[str, int]:
    index: dict[str, int] = {}
    for position, item in enumerate(members.value):
        name = item.get("name")
        if name is not None and name.is_scalar and name.raw:
            index.setdefault(name.raw, position)
    return index


def _excluded(root: Node, node: Node | None, path: str, ctx: Ctx) -> frozenset[str]:
    if node is None or node.value is None:
        return frozenset()
    names: list[str] = _EXCLUDE.check(node, path, ctx)
    members = root.get("members")
    known = _member_index(members) if members is not None and members.is_seq else {}
    items = node.value if node.is_seq else [node]
    for name, item in zip(names, items, strict=True):
        if name not in known:
            raise item.error(path, f"no member named {name!r}{did_you_mean(name, known)}")
    return frozenset(names)
