"""The search tree as inline SVG: depth downwards, leaves left to right, the best kernel's lineage drawn
thick; each node links to its row in the node table and says its change and fitness on hover."""

from __future__ import annotations

from collections.abc import Sequence

from kernelevolve.report.data import NodeView
from kernelevolve.report.svg import STATUS_COLOURS, empty_plot, esc

LEAF_GAP = 16  # px between neighbouring leaves at least: hundreds of nodes stay legible with horizontal scroll
TREE_WIDTH = 600  # px a small tree spreads over (up to 48 px between leaves)
LEVEL_GAP = 44  # px between depths
LINEAGE = "#1f5fa8"


def layout(nodes: Sequence[NodeView]) -> dict[int, tuple[float, int]]:
    """Returns node id -> (x slot, depth): leaves take consecutive slots in id order, a parent sits at
    the mean of its children. Nodes whose parent is missing are roots."""
    ids = {n.id for n in nodes}
    children: dict[int | None, list[int]] = {}
    for n in sorted(nodes, key=lambda n: n.id):
        parent = n.parent_id if n.parent_id in ids else None
        children.setdefault(parent, []).append(n.id)
    out: dict[int, tuple[float, int]] = {}
    next_slot = 0.0
    stack: list[tuple[int, int, bool]] = [(root, 0, False) for root in reversed(children.get(None, []))]
    while stack:  # iterative post-order: a deep lineage must not hit the recursion limit
        node, depth, expanded = stack.pop()
        kids = children.get(node, [])
        if not kids:
            out[node], next_slot = (next_slot, depth), next_slot + 1
        elif expanded:
            out[node] = (sum(out[k][0] for k in kids) / len(kids), depth)
        else:
            stack.append((node, depth, True))
            stack.extend((k, depth + 1, False) for k in reversed(kids))
    return out


def _title(node: NodeView, fitness_label: str) -> str:
    status = node.status or node.state
    fitness = f"{fitness_label} {node.score:.4g}" if status == "ok" else (node.reason or "")[:120]
    return f"node {node.id} ({status}) {fitness}\n{node.note}"


def render_tree(nodes: Sequence[NodeView], lineage: Sequence[int], *, fitness_label: str) -> str:
    """Returns the tree as an <svg class="plot" data-plot="tree">; nodes and edges carry class="mark"."""
    if not nodes:
        return empty_plot("tree", 300, "no nodes yet")
    pos = layout(nodes)
    on_path = set(lineage)
    leaves = max(x for x, _ in pos.values()) + 1
    gap = max(LEAF_GAP, min(48.0, TREE_WIDTH / leaves))
    width = int((leaves + 1) * gap + 20)
    height = int(max(d for _, d in pos.values()) * LEVEL_GAP + 40)

    def xy(node_id: int) -> tuple[float, float]:
        x, depth = pos[node_id]
        return gap + x * gap + 10, 20 + depth * LEVEL_GAP

    edges, marks = [], []
    for n in nodes:
        if n.parent_id in pos:
            (x1, y1), (x2, y2) = xy(n.parent_id), xy(n.id)
            best = n.id in on_path and n.parent_id in on_path
            style = f'stroke="{LINEAGE}" stroke-width="3"' if best else 'stroke="#9aa5b1" stroke-width="1"'
            edges.append(f'<line class="mark{" lineage" if best else ""}" x1="{x1:.1f}" y1="{y1:.1f}" '
                         f'x2="{x2:.1f}" y2="{y2:.1f}" {style}/>')
    for n in nodes:
        x, y = xy(n.id)
        colour = STATUS_COLOURS.get(n.status or n.state, "#b8c0cc")
        ring = f' stroke="{LINEAGE}" stroke-width="3"' if n.id in on_path else ' stroke="#fff" stroke-width="1"'
        marks.append(f'<a href="#node-{n.id}"><circle class="mark node{" lineage" if n.id in on_path else ""}" '
                     f'data-node="{n.id}" cx="{x:.1f}" cy="{y:.1f}" r="{7 if n.id in on_path else 5}" '
                     f'fill="{colour}"{ring}><title>{esc(_title(n, fitness_label))}</title></circle></a>')
    return (f'<svg class="plot" data-plot="tree" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img">{"".join(edges)}{"".join(marks)}</svg>')
