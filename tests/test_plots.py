"""Plots: the trust path, token timeline, exposure windows and decisions.

Each picture has a known shape (nodes, bars, markers, labels) and known
numbers, renders to identical PNG bytes twice, and never draws a secret.
"""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Callable

import matplotlib
import matplotlib.pyplot as plt
import pytest
from matplotlib.artist import Artist
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.text import Text

from course import TRUST_PATH, plots
from course.audit import AccessLog, Event
from course.clock import LAB_EPOCH, ManualClock
from course.secretstore import lab_secret

matplotlib.use("Agg")  # headless, whatever the machine's default; no figure exists yet

KEY = b"vault-lab-plots-test-key-32bytes"
CREDENTIAL = lab_secret("plots-tests", "tickets-api").reveal()  # sk_live_ + 32 hex, in clear
RAW_TOKEN = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhZ2VudC0xIn0.c2lnbmF0dXJl"
DAYS_90 = 90 * 86_400
TOKENS = (("tickets", 0, 300), ("payments", 200, 320), ("deploy", 400, 460))

# The notebooks' template (.helpers/NOTEBOOKS.md), which trust_path_mermaid must reproduce.
MERMAID_TEMPLATE = "\n".join([
    "flowchart LR",
    '  A["Agent request"] --> P["Vault policy"] --> T["Short-lived token"] --> C["Tool call"]'
    ' --> L["Access log"]',
    '  X["Attacker trick"] -.-> P',
    "  classDef focus fill:#edf7f4,stroke:#174b43,stroke-width:3px,color:#121417",
    "  classDef attacker fill:#fff1eb,stroke:#d8512a,stroke-width:2px,color:#121417",
    "  class T focus",
    "  class X attacker",
])


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _common(tool: str, session: str) -> dict[str, object]:
    return {"tenant": "acme", "user": "u-ana", "agent": "agent-1", "session": session,
            "task": "triage", "tool": tool}


def _issue(log: AccessLog, clock: ManualClock, tool: str, jti: str, ttl: int,
           session: str = "s-1") -> None:
    log.append("decision", **_common(tool, session), decision="allow", reason="granted")
    log.append("issue", **_common(tool, session), jti=jti, expires=clock.now() + ttl,
               decision="allow", reason="granted", secret_fields={"token": RAW_TOKEN})


def _call(log: AccessLog, tool: str, jti: str, decision: str, reason: str,
          session: str = "s-1") -> None:
    # A careless detail quoting the credential: the log fingerprints it, the plots never draw it.
    log.append("tool_call", **_common(tool, session), jti=jti, decision=decision, reason=reason,
               detail=f"sent Authorization: Bearer {CREDENTIAL}",
               secret_fields={"credential": CREDENTIAL})


def story(revoke: dict[str, object] | None = None) -> tuple[AccessLog, ManualClock]:
    """Three tokens, uses, three denials, one revocation (default: session s-1 at t=80).

    t=0 tok-0001 tickets (300 s); t=20 used; t=50 tok-0002 payments (120 s), t=60 used;
    t=60 deny x3; t=80 revoke; t=85 tok-0001 denied, tok-0003 tickets (300 s); t=125 used.
    """
    clock = ManualClock()
    log = AccessLog(clock=clock, hmac_key=KEY)
    _issue(log, clock, "tickets", "tok-0001", 300)
    clock.advance(20)
    _call(log, "tickets", "tok-0001", "allow", "ok")
    clock.advance(30)
    _issue(log, clock, "payments", "tok-0002", 120, session="s-2")
    clock.advance(10)
    _call(log, "payments", "tok-0002", "allow", "ok", session="s-2")
    for reason in ("no_grant", "ttl_exceeded", "no_grant"):
        log.append("decision", **_common("deploy", "s-1"), decision="deny", reason=reason)
    clock.advance(20)
    log.append("revoke", **(revoke or {"session": "s-1", "reason": "revoke_session"}),
               detail="on-call revoked it")
    clock.advance(5)
    _call(log, "tickets", "tok-0001", "deny", "revoked")
    _issue(log, clock, "tickets", "tok-0003", 300)
    clock.advance(40)
    _call(log, "tickets", "tok-0003", "allow", "ok")
    return log, clock


def by_gid(fig: Figure, gid: str) -> list[Artist]:
    return fig.findobj(lambda a: a.get_gid() == gid)


def gids_starting(fig: Figure, prefix: str) -> list[str]:
    return sorted(a.get_gid() for a in fig.findobj(
        lambda a: isinstance(a.get_gid(), str) and a.get_gid().startswith(prefix)))


def texts(fig: Figure) -> list[str]:
    return [t.get_text() for t in fig.findobj(Text) if t.get_text()]


def ytick_labels(fig: Figure) -> list[str]:
    return [t.get_text() for t in fig.axes[0].get_yticklabels()]


def png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    # A low dpi keeps the test fast; determinism does not depend on resolution.
    fig.savefig(buf, format="png", dpi=60, metadata={"Software": None})
    return buf.getvalue()


# ----------------------------------------------------------------------------- trust path


def test_trust_path_draws_five_labelled_nodes_with_the_highlight_emphasised():
    fig = plots.trust_path("Short-lived token")
    assert isinstance(fig, Figure)
    assert tuple(fig.get_size_inches()) == (10.0, 3.4)
    labels = [by_gid(fig, f"node:{name}:label")[0].get_text() for name in TRUST_PATH]
    assert labels == list(TRUST_PATH)
    fills = {name: to_hex(by_gid(fig, f"node:{name}")[0].get_facecolor()) for name in TRUST_PATH}
    assert fills.pop("Short-lived token") == plots.FOCUS_FILL
    assert set(fills.values()) == {plots.NODE_FILL}
    assert len(gids_starting(fig, "edge:")) == len(TRUST_PATH)  # 4 hops + the attacker's


def test_trust_path_without_highlight_emphasises_nothing():
    fig = plots.trust_path()
    fills = {to_hex(by_gid(fig, f"node:{name}")[0].get_facecolor()) for name in TRUST_PATH}
    assert fills == {plots.NODE_FILL}


def test_trust_path_attacker_box_sends_a_dashed_arrow_into_vault_policy():
    fig = plots.trust_path()
    (box,) = by_gid(fig, "attacker")
    assert to_hex(box.get_facecolor()) == plots.ATTACKER_FILL
    assert by_gid(fig, "attacker:label")[0].get_text() == "Attacker trick"
    (arrow,) = by_gid(fig, "edge:Attacker trick->Vault policy")
    assert arrow.get_linestyle() == "--"
    assert [to_hex(arrow.get_edgecolor())] == [plots.ATTACKER_STROKE]


def test_trust_path_without_attacker_has_no_attacker_box():
    fig = plots.trust_path("Tool call", attacker=False)
    assert not by_gid(fig, "attacker") and not gids_starting(fig, "edge:Attacker")
    assert "Attacker trick" not in texts(fig)


def test_trust_path_marks_the_blocking_node_with_a_red_x():
    assert not gids_starting(plots.trust_path(), "blocked:")
    fig = plots.trust_path(blocked_at="Vault policy")
    (mark,) = by_gid(fig, "blocked:Vault policy")
    assert mark.get_marker() == "X" and to_hex(mark.get_color()) == plots.DENY_COLOR
    assert "blocked here" in texts(fig)


@pytest.mark.parametrize("kwargs", [{"highlight": "Vault"}, {"blocked_at": "attacker"},
                                    {"highlight": "agent request"}])
def test_trust_path_refuses_an_unknown_node(kwargs):
    with pytest.raises(ValueError, match="must be one of"):
        plots.trust_path(**kwargs)


def test_trust_path_mermaid_is_the_notebooks_template():
    assert plots.trust_path_mermaid("Short-lived token") == MERMAID_TEMPLATE


@pytest.mark.parametrize("node", TRUST_PATH)
def test_trust_path_mermaid_highlights_exactly_one_node(node):
    text = plots.trust_path_mermaid(node)
    focus = [line for line in text.splitlines() if line.endswith(" focus")
             and line.strip().startswith("class ")]
    assert len(focus) == 1
    node_id = focus[0].split()[1]
    assert f'{node_id}["{node}"]' in text


def test_trust_path_mermaid_options():
    plain = plots.trust_path_mermaid(attacker=False)
    lines = plain.splitlines()
    assert "Attacker trick" not in plain and "X" not in plain.split("classDef")[0]
    assert "class X attacker" not in lines
    assert not [line for line in lines if line.strip().startswith("class ")]  # no highlight
    assert plots.trust_path_mermaid().endswith("class X attacker")
    with pytest.raises(ValueError):
        plots.trust_path_mermaid("Access Log")


# ----------------------------------------------------------------------------- token timeline


def test_timeline_rows_known_answer():
    log, _ = story()
    assert plots.timeline_rows(log.events()) == (
        plots.TimelineRow(tool="payments", jti="tok-0002", start=50, end=170, expires=170,
                          revoked_at=None, uses=((60, "allow"),)),
        plots.TimelineRow(tool="tickets", jti="tok-0001", start=0, end=80, expires=300,
                          revoked_at=80, uses=((20, "allow"), (85, "deny"))),
        plots.TimelineRow(tool="tickets", jti="tok-0003", start=85, end=385, expires=385,
                          revoked_at=None, uses=((125, "allow"),)),
    )


def test_timeline_rows_origin_and_input_order():
    log, _ = story()
    absolute = plots.timeline_rows(log.events(), origin=0)
    assert absolute[1].start == LAB_EPOCH and absolute[1].end == LAB_EPOCH + 80
    # Shuffled input (events sorted by seq inside) gives the same rows.
    assert plots.timeline_rows(reversed(log.events())) == plots.timeline_rows(log.events())


@pytest.mark.parametrize("revoke", [
    {"jti": "tok-0001", "reason": "revoke_jti"},
    {"session": "s-1", "reason": "revoke_session"},
    {"agent": "agent-1", "reason": "revoke_agent"},
    {"tenant": "acme", "reason": "revoke_tenant"},
    {"reason": "revoke_all"},
    {"agent": "agent-1", "tenant": "other", "reason": "revoke_agent"},  # wrong tenant: no-op
    {"tenant": "other", "reason": "revoke_tenant"},
    {"jti": "tok-9999", "reason": "revoke_jti"},
])
def test_timeline_revocation_follows_the_access_logs_convention(revoke):
    log, _ = story(revoke)
    origin = log.events()[0].time
    rows = {row.jti: row for row in plots.timeline_rows(log.events())}
    for issued in (e for e in log.events() if e.event == "issue"):
        killer = log.revocation(issued)
        row = rows[issued.jti]
        assert row.revoked_at == (None if killer is None else killer.time - origin)
        assert row.end == min(row.expires, row.revoked_at if row.revoked_at is not None
                              else row.expires)
    assert rows["tok-0003"].revoked_at is None  # issued after the revocation: untouched


def test_a_revoked_tokens_bar_ends_at_the_revocation_and_the_rest_is_hatched():
    log, clock = story()
    fig = plots.token_timeline(log.events(), now=clock.now())
    assert tuple(fig.get_size_inches()) == (10.0, 4.5)
    assert ytick_labels(fig) == ["payments", "tickets"]
    assert gids_starting(fig, "token:") == ["token:tok-0001", "token:tok-0002", "token:tok-0003"]
    (live,) = by_gid(fig, "token:tok-0001")
    assert (live.get_x(), live.get_x() + live.get_width()) == (0, 80)
    (cut,) = by_gid(fig, "revoked-part:tok-0001")
    assert (cut.get_x(), cut.get_x() + cut.get_width()) == (80, 300)
    assert cut.get_hatch() == "///"
    assert gids_starting(fig, "revoked-part:") == ["revoked-part:tok-0001"]
    assert list(by_gid(fig, "revoke:tok-0001")[0].get_xdata()) == [80]


def test_timeline_marks_allowed_and_denied_uses_differently():
    log, clock = story()
    fig = plots.token_timeline(log.events(), now=clock.now())
    (allowed,) = by_gid(fig, "uses:allow:tok-0001")
    (denied,) = by_gid(fig, "uses:deny:tok-0001")
    assert list(allowed.get_xdata()) == [20] and list(denied.get_xdata()) == [85]
    assert (allowed.get_marker(), to_hex(allowed.get_color())) != (
        denied.get_marker(), to_hex(denied.get_color()))
    assert list(by_gid(fig, "now")[0].get_xdata()) == [125, 125]


def test_a_revocation_after_expiry_is_reported_but_cuts_nothing():
    clock = ManualClock()
    log = AccessLog(clock=clock, hmac_key=KEY)
    _issue(log, clock, "tickets", "tok-0001", 60)
    clock.advance(100)
    log.append("revoke", reason="revoke_all")
    (row,) = plots.timeline_rows(log.events())
    assert (row.end, row.expires, row.revoked_at, row.cut_short) == (60, 60, 100, False)
    fig = plots.token_timeline(log.events())
    assert not gids_starting(fig, "revoked-part:") and not gids_starting(fig, "revoke:")


def test_timeline_of_an_empty_log_says_so():
    assert plots.timeline_rows([]) == ()
    fig = plots.token_timeline([])
    assert "no tokens issued" in texts(fig) and ytick_labels(fig) == []


def test_timeline_refuses_what_is_not_an_event_or_an_issue_without_jti():
    with pytest.raises(TypeError):
        plots.timeline_rows([{"event": "issue"}])
    with pytest.raises(ValueError, match="no jti or expires"):
        plots.timeline_rows([Event(seq=1, time=0, event="issue", tool="x", expires=10)])


def test_timeline_reads_the_real_vaults_log():
    from course.errors import AccessDenied
    from course.policy import AgentRequest, Grant, GrantPolicy
    from course.vault import Vault

    clock = ManualClock()
    log = AccessLog(clock=clock, hmac_key=KEY)
    grant = Grant(tenant="acme", user="u-ana", agent="agent-1", tool="tickets",
                  tasks=("triage",), scopes=("tickets:read",), max_ttl=120)
    vault = Vault.lab(policy=GrantPolicy([grant]), clock=clock, log=log)
    session = vault.open_session(tenant="acme", user="u-ana", agent="agent-1")
    ask = {"tenant": "acme", "user": "u-ana", "agent": "agent-1", "session": session.id,
           "task": "triage"}
    issued = vault.request(AgentRequest(**ask, tool="tickets", scopes=("tickets:read",), ttl=60))
    clock.advance(30)
    with pytest.raises(AccessDenied):
        vault.request(AgentRequest(**ask, tool="payments", scopes=("payments:write",)))
    clock.advance(10)
    vault.revoke_session(session.id, why="drill")
    (row,) = plots.timeline_rows(log.events())
    assert (row.tool, row.jti, row.start, row.end, row.expires, row.revoked_at) == (
        "tickets", issued.claims.jti, 0, 40, 60, 40)
    assert [(d, n) for d, _, n in plots.decision_counts(log.events())] == [("allow", 1),
                                                                          ("deny", 1)]
    fig = plots.token_timeline(log.events())
    assert issued.token not in " ".join(texts(fig))


# ----------------------------------------------------------------------------- exposure


@pytest.mark.parametrize(("leak_at", "revoke_at", "expected"), [
    (250, None, (DAYS_90 - 250, 50, 70, 0)),   # master key: months; tokens: until expiry
    (250, 290, (40, 40, 40, 0)),               # revocation caps every window
    (250, 100, (0, 0, 0, 0)),                  # revoked before the leak: nothing to abuse
    (420, None, (DAYS_90 - 420, 0, 0, 40)),    # only what is valid at the leak is captured
    (300, None, (DAYS_90 - 300, 0, 20, 0)),    # tickets expired exactly at the leak
])
def test_exposure_seconds_known_answers(leak_at, revoke_at, expected):
    got = plots.exposure_seconds(DAYS_90, TOKENS, leak_at=leak_at, revoke_at=revoke_at)
    assert got == tuple(zip(("master key", "tickets", "payments", "deploy"), expected,
                            strict=True))


def test_exposure_after_master_key_rotation_is_zero():
    assert plots.exposure_seconds(100, [], leak_at=100) == (("master key", 0),)


@pytest.mark.parametrize(("args", "kwargs", "error"), [
    ((0, TOKENS), {"leak_at": 1}, ValueError),
    ((True, TOKENS), {"leak_at": 1}, ValueError),
    ((100, TOKENS), {"leak_at": -1}, ValueError),
    ((100, [("t", 10, 10)]), {"leak_at": 1}, ValueError),
    ((100, [("t", 10)]), {"leak_at": 1}, TypeError),
    ((100, "tickets"), {"leak_at": 1}, TypeError),
    ((100, TOKENS), {"leak_at": 1, "revoke_at": 2.5}, ValueError),
])
def test_exposure_refuses_bad_input(args, kwargs, error):
    with pytest.raises(error):
        plots.exposure_seconds(*args, **kwargs)
    with pytest.raises(error):
        plots.exposure_windows(*args, **kwargs)


def test_exposure_windows_shades_harm_and_runs_the_master_key_off_the_chart():
    fig = plots.exposure_windows(DAYS_90, TOKENS, leak_at=250)
    assert tuple(fig.get_size_inches()) == (10.0, 4.0)
    assert ytick_labels(fig) == ["master key", "tickets", "payments", "deploy"]
    assert gids_starting(fig, "harm:") == ["harm:0", "harm:1", "harm:2"]  # deploy not exposed
    (runs_off,) = by_gid(fig, "master:runs-off")
    assert runs_off.get_text() == "valid until rotated: 90 days"
    assert fig.axes[0].get_xlim()[1] < DAYS_90  # the chart shows the tokens' scale
    assert [t.get_text() for t in fig.findobj(Text)
            if str(t.get_gid()).startswith("exposure:")] == [
        "exposed 90 days", "exposed 50 s", "exposed 70 s", "not exposed"]
    assert by_gid(fig, "leak") and not by_gid(fig, "revoke")


def test_exposure_windows_short_master_key_fits_and_revocation_is_drawn():
    fig = plots.exposure_windows(400, TOKENS, leak_at=250, revoke_at=290)
    assert not by_gid(fig, "master:runs-off")
    assert list(by_gid(fig, "revoke")[0].get_xdata()) == [290, 290]
    harm = by_gid(fig, "harm:0")[0]
    assert (harm.get_x(), harm.get_width()) == (250, 40)


# ----------------------------------------------------------------------------- decisions


def test_decision_counts_known_answer():
    log, _ = story()
    assert plots.decision_counts(log.events()) == (
        ("allow", "granted", 3), ("deny", "no_grant", 2), ("deny", "ttl_exceeded", 1))
    assert plots.decision_counts(log.events(), kinds=("decision", "tool_call")) == (
        ("allow", "granted", 3), ("allow", "ok", 3), ("deny", "no_grant", 2),
        ("deny", "revoked", 1), ("deny", "ttl_exceeded", 1))
    with pytest.raises(TypeError):
        plots.decision_counts(log.events(), kinds="decision")


def test_decisions_by_reason_bars_and_colors():
    log, _ = story()
    fig = plots.decisions_by_reason(log.events())
    assert tuple(fig.get_size_inches()) == (8.0, 4.0)
    assert ytick_labels(fig) == ["granted", "no_grant", "ttl_exceeded"]
    bars = {g: by_gid(fig, g)[0] for g in gids_starting(fig, "bar:")}
    assert sorted(bars) == ["bar:allow:granted", "bar:deny:no_grant", "bar:deny:ttl_exceeded"]
    assert [bars[g].get_width() for g in sorted(bars)] == [3, 2, 1]
    colors = {g.split(":")[1]: to_hex(b.get_facecolor()) for g, b in bars.items()}
    assert colors == {"allow": plots.ALLOW_COLOR, "deny": plots.DENY_COLOR}
    assert colors["allow"] != colors["deny"]


def test_decisions_by_reason_empty():
    fig = plots.decisions_by_reason([])
    assert plots.decision_counts([]) == () and "no decisions" in texts(fig)


# ----------------------------------------------------------------------------- properties


def _all_figures() -> dict[str, Callable[[], Figure]]:
    def timeline() -> Figure:
        log, clock = story()
        return plots.token_timeline(log.events(), now=clock.now())

    def decisions() -> Figure:
        return plots.decisions_by_reason(story()[0].events(), kinds=("decision", "tool_call"))

    return {
        "trust_path": lambda: plots.trust_path("Tool call", blocked_at="Tool call"),
        "token_timeline": timeline,
        "exposure_windows": lambda: plots.exposure_windows(DAYS_90, TOKENS, leak_at=250),
        "decisions_by_reason": decisions,
    }


@pytest.mark.parametrize("name", sorted(_all_figures()))
def test_same_input_renders_identical_png_bytes(name):
    make = _all_figures()[name]
    first, second = make(), make()  # the events are rebuilt from scratch for each
    assert first is not second
    assert png(first) == png(second)


def test_no_secret_or_fingerprint_is_ever_drawn():
    log, clock = story()
    events = list(log.events())
    fingerprints = {log.fingerprint(CREDENTIAL), log.fingerprint(RAW_TOKEN)}
    assert any(fp in line for fp in fingerprints for line in log.lines())  # the log has them
    # A hand-built event that skipped the log's fingerprinting: its detail, facts, scopes
    # and identities are still never drawn (only tool, jti, decision and reason are).
    careless = Event(seq=len(events) + 1, time=clock.now(), event="tool_call", tool="tickets",
                     jti="tok-0003", decision="deny", reason="bad_credential",
                     user=CREDENTIAL, scopes=(RAW_TOKEN,), detail=f"token={RAW_TOKEN}",
                     facts=(("credential", CREDENTIAL),))
    events.append(careless)
    figures = [plots.token_timeline(events, now=clock.now()),
               plots.decisions_by_reason(events, kinds=("decision", "tool_call", "issue")),
               plots.trust_path("Access log", blocked_at="Tool call"),
               plots.exposure_windows(DAYS_90, TOKENS, leak_at=250)]
    plt.rcParams["svg.fonttype"] = "none"  # text stays text in the SVG, so we can search it
    try:
        for fig in figures:
            drawn = " ".join(texts(fig))
            buf = io.StringIO()
            fig.savefig(buf, format="svg")
            for needle in (CREDENTIAL, RAW_TOKEN, "hmac:", "sk_live_", "eyJ", *fingerprints):
                assert needle not in drawn
                assert needle not in buf.getvalue()
    finally:
        plt.rcParams["svg.fonttype"] = "path"


def test_importing_plots_does_not_touch_pyplot():
    code = "import sys, course.plots; print('matplotlib.pyplot' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip() == "False"


def test_every_figure_is_new_and_managed_by_pyplot():
    figures = [make() for make in _all_figures().values()]
    assert len({id(f) for f in figures}) == len(figures)
    assert all(plt.fignum_exists(f.number) for f in figures)  # so plt.show() displays them
