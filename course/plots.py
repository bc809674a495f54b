"""Pictures of the trust path and of what the access log saw, plus the numbers behind them.

    Agent request -> Vault policy -> Short-lived token -> Tool call -> Access log

Every figure function returns a new pyplot-managed :class:`~matplotlib.figure.Figure`
with a fixed size, so a notebook cell shows it with ``plt.show()`` (or by
simply ending the cell: the inline backend displays and closes it). This module
never picks a backend and never shows anything itself.

Each figure has a twin that returns plain data (:func:`timeline_rows`,
:func:`exposure_seconds`, :func:`decision_counts`): nbval does not compare
PNGs, so a notebook prints those numbers next to the picture.

What these pictures refuse to do:

* **Draw a secret.** From an :class:`~course.audit.Event` only ``tool``,
  ``jti`` (a counted id, not the token), ``decision`` and the ``reason`` code
  are ever drawn; ``detail``, ``facts`` (where fingerprints live), ``scopes``
  and identities never are.
* **Vary between runs.** Same input, same PNG bytes: categories are sorted,
  there are no timestamps (the x axes count seconds from the first event), and
  every artist is placed from the input alone.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypeGuard

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Patch
from matplotlib.ticker import MaxNLocator

from . import TRUST_PATH
from .audit import REVOKE_REASONS, Event

__all__ = [
    "ALLOW_COLOR",
    "ATTACKER_FILL",
    "ATTACKER_LABEL",
    "ATTACKER_STROKE",
    "DENY_COLOR",
    "FOCUS_FILL",
    "FOCUS_STROKE",
    "INK",
    "MASTER_KEY_LABEL",
    "NO_TOOL",
    "NODE_FILL",
    "NODE_STROKE",
    "TimelineRow",
    "decision_counts",
    "decisions_by_reason",
    "exposure_seconds",
    "exposure_windows",
    "timeline_rows",
    "token_timeline",
    "trust_path",
    "trust_path_mermaid",
]

# The course palette (the same as the notebooks' Mermaid classDefs).
INK = "#121417"
FOCUS_FILL = "#edf7f4"
FOCUS_STROKE = "#174b43"
ATTACKER_FILL = "#fff1eb"
ATTACKER_STROKE = "#d8512a"
NODE_FILL = "#ffffff"
NODE_STROKE = "#8a949b"
ALLOW_COLOR = "#2a7f6f"
DENY_COLOR = ATTACKER_STROKE
_TOKEN_FILL = "#bfded6"
_MASTER_FILL = "#f3c9b8"
_MUTED = "#5b6670"

ATTACKER_LABEL = "Attacker trick"
# Mermaid node ids, fixed so the output matches the notebooks' template line for line.
_MERMAID_IDS: dict[str, str] = dict(zip(TRUST_PATH, "APTCL", strict=True))

_TRUST_SIZE = (10.0, 3.4)
_TIMELINE_SIZE = (10.0, 4.5)
_EXPOSURE_SIZE = (10.0, 4.0)
_DECISIONS_SIZE = (8.0, 4.0)


def _new_figure(size: tuple[float, float]) -> Figure:
    # pyplot-managed, because a bare Figure only shows as text in Jupyter; imported
    # here so importing this module never touches matplotlib's backend machinery.
    import matplotlib.pyplot as plt

    return plt.figure(figsize=size, facecolor="white")


def _check_node(name: str | None, what: str) -> None:
    if name is not None and name not in TRUST_PATH:
        raise ValueError(f"{what} must be one of {list(TRUST_PATH)} or None, not {name!r}")


# ----------------------------------------------------------------------------- the trust path

_NODE_Y = 2.4
_NODE_W, _NODE_H = 1.6, 0.8
_ATTACKER_Y = 0.75


def _node_x(name: str) -> float:
    return 1.0 + 2.0 * TRUST_PATH.index(name)


def _box(ax: Axes, x: float, y: float, label: str, *, fill: str, stroke: str, width: float,
         gid: str, bold: bool = False, height: float = _NODE_H) -> None:
    ax.add_patch(FancyBboxPatch(
        (x - width / 2, y - height / 2), width, height, boxstyle="round,pad=0.02,rounding_size=0.1",
        facecolor=fill, edgecolor=stroke, linewidth=3.0 if bold else 1.5, gid=gid,
    ))
    ax.text(x, y, label, ha="center", va="center", fontsize=10, color=INK,
            fontweight="bold" if bold else "normal", gid=f"{gid}:label")


def _arrow(ax: Axes, start: tuple[float, float], end: tuple[float, float], *, gid: str,
           color: str = NODE_STROKE, dashed: bool = False) -> None:
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=14,
                                 color=color, linewidth=1.5,
                                 linestyle="--" if dashed else "-", gid=gid))


def trust_path(highlight: str | None = None, *, attacker: bool = True,
               blocked_at: str | None = None) -> Figure:
    """The five nodes of the trust path as boxes with arrows; ``highlight`` is emphasised.

    With ``attacker`` an "Attacker trick" box sends a dashed arrow into Vault
    policy; ``blocked_at`` puts a red X on the node that stopped an attack.
    Artists carry gids for checks: ``node:<name>`` (its text ``node:<name>:label``),
    ``attacker``, ``edge:<from>-><to>``, ``blocked:<name>``.

    Raises:
        ValueError: ``highlight`` or ``blocked_at`` is not a node of ``course.TRUST_PATH``.
    """
    _check_node(highlight, "highlight")
    _check_node(blocked_at, "blocked_at")
    fig = _new_figure(_TRUST_SIZE)
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_xlim(0.0, 10.0)
    ax.set_ylim(0.0, 3.4)
    ax.set_axis_off()
    for name in TRUST_PATH:
        focus = name == highlight
        _box(ax, _node_x(name), _NODE_Y, name, width=_NODE_W, gid=f"node:{name}", bold=focus,
             fill=FOCUS_FILL if focus else NODE_FILL,
             stroke=FOCUS_STROKE if focus else NODE_STROKE)
    for left, right in zip(TRUST_PATH, TRUST_PATH[1:], strict=False):
        _arrow(ax, (_node_x(left) + _NODE_W / 2, _NODE_Y), (_node_x(right) - _NODE_W / 2, _NODE_Y),
               gid=f"edge:{left}->{right}", color=INK)
    if attacker:
        x = _node_x("Vault policy")
        _box(ax, x, _ATTACKER_Y, ATTACKER_LABEL, width=_NODE_W, height=0.6, gid="attacker",
             fill=ATTACKER_FILL, stroke=ATTACKER_STROKE)
        _arrow(ax, (x, _ATTACKER_Y + 0.3), (x, _NODE_Y - _NODE_H / 2),
               gid=f"edge:{ATTACKER_LABEL}->Vault policy",
               color=ATTACKER_STROKE, dashed=True)
    if blocked_at is not None:
        x = _node_x(blocked_at) + _NODE_W / 2 - 0.1
        ax.plot([x], [_NODE_Y + _NODE_H / 2], marker="X", markersize=22, color=DENY_COLOR,
                markeredgecolor="white", markeredgewidth=1.5, gid=f"blocked:{blocked_at}")
        ax.text(_node_x(blocked_at), _NODE_Y + _NODE_H / 2 + 0.3, "blocked here", ha="center",
                va="center", fontsize=9, color=DENY_COLOR, fontweight="bold",
                gid=f"blocked:{blocked_at}:label")
    return fig


def trust_path_mermaid(highlight: str | None = None, *, attacker: bool = True,
                       enters: str = "Vault policy") -> str:
    """The same diagram as Mermaid ``flowchart LR`` text (no trailing newline).

    With ``highlight="Short-lived token"`` and ``attacker=True`` it is exactly
    the notebooks' template: nodes ``A P T C L``, attacker ``X``, classDefs
    ``focus`` (fill #edf7f4, stroke #174b43) and ``attacker`` (fill #fff1eb,
    stroke #d8512a). The attacker's dotted arrow points at ``enters``: the node
    where the notebook's trick enters the path.

    Raises:
        ValueError: ``highlight`` or ``enters`` is not a node of ``course.TRUST_PATH``.
    """
    _check_node(highlight, "highlight")
    _check_node(enters, "enters")
    chain = " --> ".join(f'{_MERMAID_IDS[name]}["{name}"]' for name in TRUST_PATH)
    lines = ["flowchart LR", f"  {chain}"]
    if attacker:
        lines.append(f'  X["{ATTACKER_LABEL}"] -.-> {_MERMAID_IDS[enters]}')
    lines.append(f"  classDef focus fill:{FOCUS_FILL},stroke:{FOCUS_STROKE},"
                 f"stroke-width:3px,color:{INK}")
    if attacker:
        lines.append(f"  classDef attacker fill:{ATTACKER_FILL},stroke:{ATTACKER_STROKE},"
                     f"stroke-width:2px,color:{INK}")
    if highlight is not None:
        lines.append(f"  class {_MERMAID_IDS[highlight]} focus")
    if attacker:
        lines.append("  class X attacker")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- token timeline

NO_TOOL = "(no tool)"


@dataclass(frozen=True, slots=True, kw_only=True)
class TimelineRow:
    """One issued token as the access log saw it; times are seconds after ``origin``.

    ``end`` is when the token stopped being usable: its expiry, or its
    revocation if that came first. ``revoked_at`` is the time of the first
    ``revoke`` event that killed it (``None`` if none did), even one logged after
    expiry. ``uses`` are its tool calls as ``(time, decision)``, in log order,
    with decision ``"allow"``, ``"deny"`` or ``"unknown"``.
    """

    tool: str
    jti: str
    start: int
    end: int
    expires: int
    revoked_at: int | None
    uses: tuple[tuple[int, str], ...]

    @property
    def cut_short(self) -> bool:
        """Whether a revocation ended the token before its expiry."""
        return self.revoked_at is not None and self.revoked_at < self.expires


def _revokes(revoke: Event, issued: Event) -> bool:
    """``AccessLog.revocation``'s rule: a later revoke event naming the token's jti,
    session, agent or tenant (and its tenant, when the revoke names one), or all."""
    if revoke.event != "revoke" or revoke.seq <= issued.seq or revoke.reason not in REVOKE_REASONS:
        return False
    field = REVOKE_REASONS[revoke.reason]
    if field is None:
        return True
    wanted = getattr(revoke, field)
    if not wanted or wanted != getattr(issued, field):
        return False
    return revoke.tenant is None or revoke.tenant == issued.tenant


def _in_log_order(events: Iterable[Event]) -> tuple[Event, ...]:
    out = tuple(events)
    if not all(isinstance(e, Event) for e in out):
        raise TypeError("events must be course.audit.Event values")
    return tuple(sorted(out, key=lambda e: e.seq))


def _origin(events: Sequence[Event], origin: int | None) -> int:
    if origin is not None:
        return int(origin)
    return min((e.time for e in events), default=0)


def timeline_rows(events: Iterable[Event], *, origin: int | None = None) -> tuple[TimelineRow, ...]:
    """Every issued token with its lifetime, revocation and uses, sorted by tool then issue.

    ``origin`` (default: the earliest event's time) is subtracted from every time.
    Revocations follow :meth:`course.audit.AccessLog.live_tokens`'s convention;
    a tool call belongs to the latest earlier ``issue`` of its ``jti``.

    Raises:
        TypeError: an item is not an :class:`~course.audit.Event`.
        ValueError: an ``issue`` event has no ``jti`` or ``expires``.
    """
    ordered = _in_log_order(events)
    zero = _origin(ordered, origin)
    issues = [e for e in ordered if e.event == "issue"]
    for e in issues:
        if not e.jti or e.expires is None:
            raise ValueError(f"issue event seq {e.seq} has no jti or expires")
    uses: dict[int, list[tuple[int, str]]] = {e.seq: [] for e in issues}
    for call in ordered:
        if call.event != "tool_call" or not call.jti:
            continue
        owner = [e for e in issues if e.jti == call.jti and e.seq < call.seq]
        if owner:
            uses[owner[-1].seq].append((call.time - zero, call.decision or "unknown"))
    rows = []
    for e in issues:
        revoke = next((r for r in ordered if _revokes(r, e)), None)
        assert e.expires is not None and e.jti  # checked above
        revoked_at = None if revoke is None else revoke.time - zero
        expires = e.expires - zero
        rows.append((e.tool or NO_TOOL, e.time, e.seq, TimelineRow(
            tool=e.tool or NO_TOOL, jti=e.jti, start=e.time - zero,
            end=expires if revoked_at is None else min(expires, revoked_at),
            expires=expires, revoked_at=revoked_at, uses=tuple(uses[e.seq]),
        )))
    return tuple(row for *_, row in sorted(rows, key=lambda r: r[:3]))


def _lanes(rows: Sequence[TimelineRow]) -> dict[str, list[TimelineRow]]:
    lanes: dict[str, list[TimelineRow]] = {}
    for row in rows:  # already sorted by tool
        lanes.setdefault(row.tool, []).append(row)
    return lanes


def _draw_token(ax: Axes, row: TimelineRow, y: float, height: float) -> None:
    ax.barh(y, max(row.end - row.start, 0), left=row.start, height=height, color=_TOKEN_FILL,
            edgecolor=FOCUS_STROKE, linewidth=1.0, gid=f"token:{row.jti}")
    if row.cut_short:  # a revocation after expiry changed nothing: then no mark
        assert row.revoked_at is not None
        ax.barh(y, row.expires - row.revoked_at, left=row.revoked_at, height=height,
                color="white", edgecolor=DENY_COLOR, hatch="///", linewidth=1.0,
                gid=f"revoked-part:{row.jti}")
        ax.plot([row.revoked_at], [y], marker="|", markersize=18, markeredgewidth=3,
                color=DENY_COLOR, linestyle="none", gid=f"revoke:{row.jti}")
    ax.text(row.expires, y, f" {row.jti[:16]}", ha="left", va="center",
            fontsize=7, color=_MUTED, gid=f"jti:{row.jti}")
    for decision, marker, color in (("allow", "o", ALLOW_COLOR), ("deny", "X", DENY_COLOR),
                                    ("unknown", "s", _MUTED)):
        times = [t for t, d in row.uses if d == decision]
        if times:
            ax.plot(times, [y] * len(times), marker=marker, markersize=7, color=color,
                    markeredgecolor="white", linestyle="none", gid=f"uses:{decision}:{row.jti}")


def _timeline_legend(ax: Axes, with_now: bool) -> None:
    handles = [
        Patch(facecolor=_TOKEN_FILL, edgecolor=FOCUS_STROKE, label="token usable"),
        Patch(facecolor="white", edgecolor=DENY_COLOR, hatch="///", label="cut by revocation"),
        Line2D([], [], marker="|", markersize=12, markeredgewidth=3, color=DENY_COLOR,
               linestyle="none", label="revoked"),
        Line2D([], [], marker="o", color=ALLOW_COLOR, linestyle="none", label="call allowed"),
        Line2D([], [], marker="X", color=DENY_COLOR, linestyle="none", label="call denied"),
    ]
    if with_now:
        handles.append(Line2D([], [], color=INK, linestyle=":", label="now"))
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.16),
              ncols=len(handles), frameon=False, fontsize=8)


def token_timeline(events: Iterable[Event], *, now: int | None = None) -> Figure:
    """Each issued token as a bar from issue to expiry, one lane per tool (sorted).

    Tool calls are markers on their token's bar (allowed: dot, denied: X); a
    revocation is a red tick, and the part of the bar after it is hatched. The
    x axis counts seconds from the first event; ``now`` (an absolute time, like
    the events') draws a dotted line. The numbers are :func:`timeline_rows`.

    Raises:
        TypeError, ValueError: as :func:`timeline_rows`.
    """
    ordered = _in_log_order(events)
    zero = _origin(ordered, None)
    rows = timeline_rows(ordered)
    fig = _new_figure(_TIMELINE_SIZE)
    ax = fig.add_axes((0.16, 0.24, 0.81, 0.66))
    ax.set_title("Tokens: issued, used, revoked", fontsize=11, color=INK, loc="left")
    ax.set_xlabel("seconds since the first event", fontsize=9)
    lanes = _lanes(rows)
    for lane, tokens in enumerate(lanes.values()):
        height = 0.8 / len(tokens)
        for k, row in enumerate(tokens):
            _draw_token(ax, row, lane - 0.4 + height * (k + 0.5), height * 0.85)
    ax.set_yticks(range(len(lanes)), list(lanes), fontsize=9)
    ax.set_ylim(len(lanes) - 0.5 if lanes else 0.5, -0.5)
    if now is not None:
        ax.axvline(now - zero, color=INK, linestyle=":", linewidth=1.2, gid="now")
    ends = [t for r in rows for t in (r.expires, *(u for u, _ in r.uses))]
    right = max([*ends, 0 if now is None else now - zero, 1])
    ax.set_xlim(min([0, *(r.start for r in rows)]), right * 1.13)  # room for the jti labels
    if not rows:
        ax.text(0.5, 0.5, "no tokens issued", transform=ax.transAxes, ha="center",
                va="center", fontsize=10, color=_MUTED)
        ax.set_yticks([])
    ax.grid(axis="x", color="#e3e7ea", linewidth=0.8)
    ax.set_axisbelow(True)
    _timeline_legend(ax, now is not None)
    return fig


# ----------------------------------------------------------------------------- exposure windows

MASTER_KEY_LABEL = "master key"


def _check_exposure_args(master_key_lifetime: object, tokens: object, leak_at: object,
                         revoke_at: object) -> tuple[tuple[str, int, int], ...]:
    def is_int(v: object) -> TypeGuard[int]:
        return isinstance(v, int) and not isinstance(v, bool)

    if not is_int(master_key_lifetime) or master_key_lifetime <= 0:
        raise ValueError("master_key_lifetime must be a positive int (seconds)")
    if not is_int(leak_at) or leak_at < 0:
        raise ValueError("leak_at must be an int >= 0 (seconds)")
    if revoke_at is not None and not is_int(revoke_at):
        raise ValueError("revoke_at must be an int (seconds) or None")
    if isinstance(tokens, str) or not isinstance(tokens, Sequence):
        raise TypeError("tokens must be a sequence of (tool, start, end)")
    out = []
    for item in tokens:
        if not (isinstance(item, tuple | list) and len(item) == 3 and isinstance(item[0], str)
                and is_int(item[1]) and is_int(item[2])):
            raise TypeError("each token must be a (tool: str, start: int, end: int) tuple")
        tool, start, end = item
        if not 0 <= start < end:
            raise ValueError(f"token {tool!r} must have 0 <= start < end")
        out.append((tool, start, end))
    return tuple(out)


def _window(start: int, end: int, leak_at: int, revoke_at: int | None) -> int:
    """Seconds a credential valid on [start, end) stays usable after a leak at ``leak_at``."""
    if not start <= leak_at < end:
        return 0  # not yet issued, or already dead: the leak did not capture it
    stop = end if revoke_at is None else min(end, revoke_at)
    return max(stop - leak_at, 0)


def exposure_seconds(master_key_lifetime: int, tokens: Sequence[tuple[str, int, int]], *,
                     leak_at: int, revoke_at: int | None = None) -> tuple[tuple[str, int], ...]:
    """How many seconds each leaked credential stays usable: ``(name, seconds)`` pairs.

    The master key is valid on ``[0, master_key_lifetime)`` and comes first,
    named ``"master key"``; then each token ``(tool, start, end)`` in the given
    order. A leak at ``leak_at`` captures what is valid at that moment; it stays
    usable until it expires, or until ``revoke_at`` (which kills everything) if
    that is sooner. A credential not valid at ``leak_at`` scores 0.

    Raises:
        TypeError: ``tokens`` is not a sequence of ``(str, int, int)`` tuples.
        ValueError: a non-positive lifetime, a negative ``leak_at``, a token with
            ``end <= start`` or a negative start, or a non-int ``revoke_at``.
    """
    checked = _check_exposure_args(master_key_lifetime, tokens, leak_at, revoke_at)
    master = (MASTER_KEY_LABEL, _window(0, master_key_lifetime, leak_at, revoke_at))
    return (master, *((tool, _window(s, e, leak_at, revoke_at)) for tool, s, e in checked))


def _human(seconds: int) -> str:
    """A short, exact-enough duration: '45 s', '5 min', '2.5 h', '90 days'."""
    for unit, size in (("days", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= 2 * size:
            return f"{round(seconds / size, 1):g} {unit}"
    return f"{seconds} s"


def exposure_windows(master_key_lifetime: int, tokens: Sequence[tuple[str, int, int]], *,
                     leak_at: int, revoke_at: int | None = None) -> Figure:
    """How long a leaked credential stays usable: the master key against scoped tokens.

    One row per credential (master key on top, then ``tokens`` in order): a
    bar for its validity, the window of harm (leak to expiry or revocation)
    shaded red, the leak moment (and ``revoke_at``) as vertical lines, and
    the exposure written at the right. A master key that outlives the chart
    runs off its right edge with an arrow and its full lifetime as a label.
    The numbers are :func:`exposure_seconds`.

    Raises:
        TypeError, ValueError: as :func:`exposure_seconds`.
    """
    exposures = exposure_seconds(master_key_lifetime, tokens, leak_at=leak_at,
                                 revoke_at=revoke_at)
    checked = _check_exposure_args(master_key_lifetime, tokens, leak_at, revoke_at)
    spans = [(MASTER_KEY_LABEL, 0, master_key_lifetime), *checked]
    chart_end = max([e for _, _, e in checked] + [leak_at, revoke_at or 0, 60])
    right = math.ceil(chart_end * 1.15)
    fig = _new_figure(_EXPOSURE_SIZE)
    ax = fig.add_axes((0.16, 0.16, 0.62, 0.72))
    ax.set_title("How long a leaked credential stays usable", fontsize=11, color=INK, loc="left")
    ax.set_xlabel("seconds", fontsize=9)
    for y, ((_, start, end), (_, exposed)) in enumerate(zip(spans, exposures, strict=True)):
        master = y == 0
        shown_end = min(end, right)
        ax.barh(y, shown_end - start, left=start, height=0.55, color=_MASTER_FILL if master
                else _TOKEN_FILL, edgecolor=ATTACKER_STROKE if master else FOCUS_STROKE,
                linewidth=1.0, gid=f"valid:{y}")
        if exposed:
            ax.barh(y, min(leak_at + exposed, right) - leak_at, left=leak_at, height=0.55,
                    color=DENY_COLOR, alpha=0.45, hatch="//", edgecolor=DENY_COLOR,
                    linewidth=0.0, gid=f"harm:{y}")
        if end > right:  # runs off the chart: say how far
            ax.annotate("", xy=(1.0, y), xycoords=("axes fraction", "data"), xytext=(0.9, y),
                        textcoords=("axes fraction", "data"), annotation_clip=False,
                        arrowprops={"arrowstyle": "-|>", "color": ATTACKER_STROKE, "lw": 2})
            ax.text(0.89, y, f"valid until rotated: {_human(end - start)}",
                    transform=ax.get_yaxis_transform(), ha="right", va="center", fontsize=8,
                    color=INK, gid="master:runs-off")
        ax.text(1.02, y, f"exposed {_human(exposed)}" if exposed else "not exposed",
                transform=ax.get_yaxis_transform(), ha="left", va="center", fontsize=9,
                color=DENY_COLOR if exposed else _MUTED, gid=f"exposure:{y}")
    ax.axvline(leak_at, color=DENY_COLOR, linestyle="--", linewidth=1.5, gid="leak")
    ax.text(leak_at, -0.6, "leak ", ha="right", va="center", fontsize=9, color=DENY_COLOR)
    if revoke_at is not None and 0 <= revoke_at <= right:
        ax.axvline(revoke_at, color=INK, linestyle=":", linewidth=1.5, gid="revoke")
        ax.text(revoke_at, -0.6, " revoked", ha="left", va="center", fontsize=9, color=INK)
    ax.set_yticks(range(len(spans)), [name for name, _, _ in spans], fontsize=9)
    ax.set_ylim(len(spans) - 0.5, -0.9)
    ax.set_xlim(0, right)
    ax.grid(axis="x", color="#e3e7ea", linewidth=0.8)
    ax.set_axisbelow(True)
    return fig


# ----------------------------------------------------------------------------- decisions


def decision_counts(events: Iterable[Event], *,
                    kinds: Sequence[str] = ("decision",)) -> tuple[tuple[str, str, int], ...]:
    """``(decision, reason, count)`` over events of ``kinds`` that carry a decision, sorted.

    The default counts the vault's ``decision`` events (what
    :meth:`~course.audit.AccessLog.decisions` returns); pass
    ``kinds=("decision", "tool_call")`` to count the broker's verdicts too.
    An empty reason is counted as ``"(none)"``.

    Raises:
        TypeError: an item is not an :class:`~course.audit.Event`, or ``kinds`` is a str.
    """
    if isinstance(kinds, str):
        raise TypeError("kinds must be a sequence of event names, not one str")
    wanted = frozenset(kinds)
    counts = Counter((e.decision, e.reason or "(none)") for e in _in_log_order(events)
                     if e.event in wanted and e.decision is not None)
    return tuple((d, r, n) for (d, r), n in sorted(counts.items()))


def decisions_by_reason(events: Iterable[Event], *,
                        kinds: Sequence[str] = ("decision",)) -> Figure:
    """Horizontal bars: how many decisions each reason code produced, allow and deny colored.

    Allows are listed first, then denies, each by reason code alphabetically,
    top to bottom; the count is written at each bar's end. The numbers are
    :func:`decision_counts`.

    Raises:
        TypeError: as :func:`decision_counts`.
    """
    counts = decision_counts(events, kinds=kinds)
    fig = _new_figure(_DECISIONS_SIZE)
    ax = fig.add_axes((0.3, 0.14, 0.55, 0.74))
    ax.set_title("Decisions by reason", fontsize=11, color=INK, loc="left")
    ax.set_xlabel("count", fontsize=9)
    for y, (decision, reason, count) in enumerate(counts):
        ax.barh(y, count, height=0.6, color=ALLOW_COLOR if decision == "allow" else DENY_COLOR,
                gid=f"bar:{decision}:{reason}")
        ax.text(count, y, f" {count}", ha="left", va="center", fontsize=9, color=INK)
    ax.set_yticks(range(len(counts)), [reason for _, reason, _ in counts], fontsize=9)
    ax.set_ylim(max(len(counts), 1) - 0.5, -0.5)
    ax.set_xlim(0, max([n for *_, n in counts] + [1]) * 1.15)
    locator = ax.xaxis.get_major_locator()
    if isinstance(locator, MaxNLocator):  # a linear axis's AutoLocator is one
        locator.set_params(integer=True)
    if counts:
        ax.legend(handles=[Patch(color=ALLOW_COLOR, label="allow"),
                           Patch(color=DENY_COLOR, label="deny")],
                  loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    else:
        ax.text(0.5, 0.5, "no decisions", transform=ax.transAxes, ha="center", va="center",
                fontsize=10, color=_MUTED)
    return fig
