"""StructureDefinition differentials arranged as a tree of elements and slices.

Differentials along a baseDefinition chain inside the package are laid over each other, root
profile first, so a profile on a profile carries its parent's constraints.
"""

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class ElementNode:
    name: str  # 'component', 'value[x]'; the type name for the root
    definition: dict[str, Any] = field(default_factory=dict)
    children: dict[str, "ElementNode"] = field(default_factory=dict)
    slices: dict[str, "ElementNode"] = field(default_factory=dict)

    def child_at(self, steps: list[str]) -> "ElementNode | None":
        node: ElementNode | None = self
        for step in steps:
            node = node.children.get(step) if node else None
        return node


def element_steps(element_id: str) -> list[tuple[str, str | None]]:
    """'Observation.component:verbalInteraction.value[x]' -> [('component', 'verbalInteraction'), ('value[x]', None)]."""
    steps: list[tuple[str, str | None]] = []
    for part in element_id.split(".")[1:]:
        name, _, slice_name = part.partition(":")
        steps.append((name, slice_name or None))
    return steps


def build_tree(differentials: list[list[dict[str, Any]]], root_name: str) -> ElementNode:
    root = ElementNode(root_name)
    for elements in differentials:
        for element in elements:
            node = _node_for(root, element.get("id") or element.get("path", ""))
            _overlay(node.definition, element)
    return root


def _node_for(root: ElementNode, element_id: str) -> ElementNode:
    node = root
    for name, slice_name in element_steps(element_id):
        node = node.children.setdefault(name, ElementNode(name))
        if slice_name:
            node = node.slices.setdefault(slice_name, ElementNode(name))
    return node


def _overlay(into: dict[str, Any], element: dict[str, Any]) -> None:
    for key, value in element.items():
        if key == "constraint":  # constraints add up along a profile chain
            into.setdefault("constraint", []).extend(value)
        elif key.startswith(("fixed", "pattern")):
            for old in [k for k in into if k.startswith(("fixed", "pattern"))]:
                del into[old]
            into[key] = value
        else:
            into[key] = value
