"""Figures for trace events: matplotlib `Figure`s by event kind; later agents add theirs with
`register_figure(kind, fn)`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from agents.events import TraceEvent
from ui.graph_view import Entity, entities, fold, place_labels, walk_texts
from ui.markdown import as_event, short

log = logging.getLogger(__name__)

FigureFn = Callable[[TraceEvent], Any]
FIGURES: dict[str, FigureFn] = {}


def literal(text: str) -> str:
    """Text matplotlib draws as it is: a '$' would otherwise start mathtext (and may fail to parse)."""
    return str(text).replace("$", r"\$")

def register_figure(kind: str, fn: FigureFn) -> FigureFn:
    """Register the picture for events of `kind` (the function may return None to draw nothing)."""
    FIGURES[kind] = fn
    return fn


def event_figure(event: TraceEvent | dict[str, Any]) -> Any:
    """The registered figure for an event, or None (a failing figure is logged, never raised)."""
    event = as_event(event)
    fn = FIGURES.get(event.kind)
    if fn is None:
        return None
    try:
        return fn(event)
    except Exception:  # noqa: BLE001 - a broken picture must not break the viewer
        log.exception("figure for %s event failed", event.kind)
        return None


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure  # no pyplot: no global figure registry, nothing to close

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def retrieve_figure(event: TraceEvent) -> Any:
    """Horizontal bars of the retrieved passages' scores, best on top (the walked subgraph when a graph
    walk ranked them)."""
    if (event.data or {}).get("subgraph"):
        return graph_walk_figure(event)
    hits = [h for h in (event.data or {}).get("hits", []) if isinstance(h, dict)]
    if not hits:
        return None
    hits = hits[:15]
    labels = [literal(short(f"{h.get('rank', i)}. {h.get('title') or h.get('doc_id', '')}", 40))
              for i, h in enumerate(hits, 1)]
    scores = [float(h.get("score", 0) or 0) for h in hits]
    fig = _figure(7, 0.45 * len(hits) + 1.2)
    ax = fig.add_subplot()
    y = list(range(len(hits)))
    ax.barh(y, scores, color="#6366f1")
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    for yi, s in zip(y, scores, strict=True):
        ax.text(s, yi, f" {s:.2f}", va="center", fontsize=8)
    ax.set_xlabel("score")
    ax.set_xlim(min(0.0, min(scores)), max(scores) * 1.15 if max(scores) > 0 else 1)
    fig.suptitle(f"Passage scores for: {literal(short((event.data or {}).get('query', ''), 70))}", fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    return fig


NODE_COLOURS = {"seed": "#f59e0b", "phrase": "#6366f1", "passage": "#10b981"}
KIND_NAMES = {"seed": "where the walk starts", "phrase": "entity", "passage": "passage"}


def graph_walk_figure(event: TraceEvent) -> Any:
    """The walked subgraph, one node per entity: spring layout, size and shade by score, seeds ringed, passages as
    squares."""
    import networkx as nx

    g, nodes, pos = _walk_graph(event)
    if not nodes:
        return None
    top = max((n.score for n in nodes), default=0) or 1.0
    fig = _figure(8, 6)
    ax = fig.add_subplot()
    weights = [g.edges[e]["weight"] for e in g.edges]
    wmax = max(weights, default=1) or 1
    nx.draw_networkx_edges(g, pos, ax=ax, width=[0.5 + 2 * w / wmax for w in weights], edge_color="#cbd5e1")
    for kind, shape in (("phrase", "o"), ("seed", "o"), ("passage", "s")):
        group = [n for n in nodes if n.kind == kind]
        if not group:
            continue
        scores = [n.score / top for n in group]
        nx.draw_networkx_nodes(
            g, pos, ax=ax, nodelist=[n.id for n in group], node_shape=shape,
            node_size=[200 + 1400 * s for s in scores], node_color=NODE_COLOURS[kind],
            alpha=[0.35 + 0.65 * s for s in scores], edgecolors=["#b45309" if n.seed else "white" for n in group],
            linewidths=[3 if n.seed else 1 for n in group],
        )
    labels = {n.id: literal(short(n.label, 24)) for n in nodes}
    nx.draw_networkx_labels(g, pos, labels=labels, ax=ax, font_size=8)
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], ls="", marker="s" if k == "passage" else "o", markersize=9, color=c,
                      markeredgecolor="#b45309" if k == "seed" else "white", markeredgewidth=2 if k == "seed" else 0,
                      label=KIND_NAMES[k]) for k, c in NODE_COLOURS.items()]
    ax.legend(handles=handles, loc="upper left", fontsize=8, frameon=False)
    fig.suptitle("Graph walk: size and shade = score; where it starts ringed; passages are squares", fontsize=10)
    ax.set_axis_off()
    return fig


register_figure("retrieve", retrieve_figure)
register_figure("graph_walk", graph_walk_figure)


def _walk_graph(event: TraceEvent) -> tuple[Any, list[Entity], dict[str, tuple[float, float]]]:
    """The walk's entities (ui/graph_view.py) as a networkx graph, its nodes, and a spring layout in [0, 1]²
    (deterministic)."""
    import networkx as nx

    sub = (event.data or {}).get("subgraph") or {}
    nodes, links = entities(sub if isinstance(sub, dict) else {}, walk_texts(event.data or {}))
    g = nx.Graph()
    for n in nodes:
        g.add_node(n.id, entity=n)
    for a, b, w in links:
        g.add_edge(a, b, weight=w)
    if not nodes:
        return g, nodes, {}
    # lay out on a copy where every separate piece hangs weakly off the best node, so a second piece sits near
    # the walk instead of pushing it into a corner; only the real edges are drawn
    layout = g.copy()
    best = nodes[0].id
    for part in nx.connected_components(g):
        if best not in part:
            layout.add_edge(best, max(part, key=lambda i: g.nodes[i]["entity"].score), weight=0.2)
    pos = nx.spring_layout(layout, seed=7, k=1.8 / max(1, len(g) ** 0.5), weight="weight")
    xs, ys = [p[0] for p in pos.values()], [p[1] for p in pos.values()]
    span = lambda v: (min(v), (max(v) - min(v)) or 1.0)  # noqa: E731
    (x0, dx), (y0, dy) = span(xs), span(ys)
    return g, nodes, {k: ((p[0] - x0) / dx, 1 - (p[1] - y0) / dy) for k, p in pos.items()}


def node_tooltip(g: Any, node: Entity) -> str:
    """What hovering a node says: its name (and the other names merged into it), kind, score, and the passages
    it links to (or the entities a passage mentions)."""
    kind = ", ".join([*(["passage"] * node.passage), *(["seed entity (where the walk starts)"] * node.seed)])
    head = f"{node.label} — {kind or 'entity'}, score {node.score:.3f}"
    also = [n for n in node.names if fold(n) != fold(node.label)]
    if also:
        head += f" (also: {', '.join(short(n, 30) for n in also[:4])})"
    neighbours = [g.nodes[m]["entity"] for m in g.neighbors(node.id)]
    if node.passage:
        linked = [m.label for m in neighbours if not m.passage]
        return head + (f"\nMentions: {', '.join(short(x, 40) for x in linked[:8])}" if linked else "")
    linked = [m.label for m in neighbours if m.passage]
    return head + (f"\nPassages: {'; '.join(short(x, 50) for x in linked[:6])}" if linked
                   else "\nPassages: none among those drawn")


def graph_walk_svg(event: TraceEvent | dict[str, Any], width: int = 640, height: int = 420) -> str | None:
    """The walked subgraph as one line of inline SVG, one node per entity: hover a node for its name, score and
    passages (each node carries a <title>, so it needs no script and no plotting library); labels are placed
    where they overlap no other label or node."""
    from html import escape

    event = as_event(event)
    g, nodes, pos = _walk_graph(event)
    if not nodes:
        return None
    pad_x, pad_y = 70, 30  # room for a centred label at the left and right edges
    xy = {k: (pad_x + x * (width - 2 * pad_x), pad_y + y * (height - 2 * pad_y)) for k, (x, y) in pos.items()}
    top = max((n.score for n in nodes), default=0) or 1.0
    radius = {n.id: 6 + 14 * n.score / top for n in nodes}
    labels = {n.id: short(n.label, 24) for n in nodes}
    spots = place_labels([(n.id, *xy[n.id], radius[n.id] + 1, labels[n.id]) for n in nodes], width, height)
    # a fixed size in pixels: the Chatbot's sanitiser may drop viewBox, and an SVG sized by viewBox alone then
    # spills over the next messages
    parts = [f'<svg class="graph-walk" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
             f'xmlns="http://www.w3.org/2000/svg" style="background:#fff">',
             "<title>Graph walk: one node per entity; size = score; where the walk starts is ringed; passages are "
             "squares. Hover a node.</title>"]
    for a, b in g.edges:
        (x1, y1), (x2, y2) = xy[a], xy[b]
        parts.append(f'<line x1="{x1:.0f}" y1="{y1:.0f}" x2="{x2:.0f}" y2="{y2:.0f}" stroke="#cbd5e1" '
                     f'stroke-width="1.5"/>')
    for n in sorted(nodes, key=lambda n: n.score):  # best drawn last, on top
        s = n.score / top
        x, y = xy[n.id]
        r = radius[n.id]
        colour = NODE_COLOURS[n.kind]
        ring = 'stroke="#b45309" stroke-width="3"' if n.seed else 'stroke="#fff" stroke-width="1"'
        opacity = f'fill-opacity="{0.35 + 0.65 * s:.2f}"'
        shape = (f'<rect x="{x - r:.0f}" y="{y - r:.0f}" width="{2 * r:.0f}" height="{2 * r:.0f}" '
                 f'fill="{colour}" {opacity} {ring}/>' if n.passage else
                 f'<circle cx="{x:.0f}" cy="{y:.0f}" r="{r:.0f}" fill="{colour}" {opacity} {ring}/>')
        tip = escape(node_tooltip(g, n)).replace("\n", "&#10;")  # one line: the Chatbot reads it as Markdown
        text = ""
        if n.id in spots:
            lx, ly, anchor = spots[n.id]
            text = (f'<text x="{lx:.0f}" y="{ly:.0f}" font-size="10" font-family="sans-serif" '
                    f'text-anchor="{anchor}" fill="#334155">{escape(labels[n.id])}</text>')
        classes = f"graph-node node-{n.kind}" + (" node-seed" if n.seed and n.kind != "seed" else "")
        parts.append(f'<g class="{classes}" data-kind="{n.kind}"><title>{tip}</title>{shape}{text}</g>')
    parts.append("</svg>")
    return "".join(parts)
