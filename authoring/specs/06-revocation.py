# %% [markdown]
# # 06 · Revocation and the on-call signal
#
# **Layer: Engineer on call** · node: Short-lived token / Tool call · core path about 85 minutes
# (the sections marked *optional* are extra and ungraded)
#
# Notebooks 02 to 04 made authority short-lived and kept the real key behind the broker. That
# limits what a thief gets; it does not tell you that there *is* a thief, and it does not stop
# one before the pass runs out. This notebook is the night shift. Something was stolen, and you
# are the engineer on call. By the end you will be able to:
#
# - decide, from the vault's books alone, **exactly which sessions and passes a revocation must
#   kill** (every pass of the session and of every session delegated from it, and nothing else),
#   and show on the real kit, with threads calling the tools at the same moment, that **after the
#   revocation returns, no call succeeds**;
# - say **which passes die when a signing key leaks**, why rotating the key is not enough, and
#   what the emergency switch (revoke everything) costs and what it still does not stop;
# - measure again, with notebook 01's definition, **how long a leak is worth** with a master key,
#   a short-lived pass, and a pass whose session is revoked;
# - write **the on-call signal**: a function over real access-log lines that pages on the attack
#   (a revoked session's pass still in use, a burst of one refusal, an agent in someone else's
#   session) and stays silent through a whole normal working day.
#
# This notebook's attacker already holds something: a copied pass, a session's credential, a
# signing key. They do not need to fool the vault again; they walk straight to a tool. So the
# attacker's arrow enters at the tool call, and the box we harden is the pass, whose life we now
# learn to end early:
#
# {{trust-path highlight="Short-lived token" enters="Tool call"}}

# %% [markdown]
# ## When a badge is stolen
#
# Back at the checkout desk of notebook 00. A helper's badge has been copied: someone else has
# been walking around the building with it and collecting passes. Three things the desk must do,
# and they are this notebook's three questions:
#
# 1. **Cancel the badge, and everything hanging off it.** Every pass stamped for that badge must
#    stop opening doors *now*, not when it would have run out. And if the helper lent the badge's
#    authority to an assistant (a *delegated* session: the assistant's badge says "on behalf of
#    badge 1"), the assistant's badge goes too, and its assistant's, however long the chain. The
#    helper's *other* badge from this morning's second login, a colleague's badge, and another
#    company's badges stay valid: cancelling too much stops the building.
# 2. **Ring every door keeper.** A pass carries the desk's stamp and an end time; it cannot carry
#    "this badge was cancelled ten minutes ago". Only a keeper who asks the desk's cancellation
#    list *at every door, every time* notices. A keeper who trusts the stamp alone keeps opening.
# 3. **If the stamp itself was stolen**, cancelling badges does nothing: the thief stamps fresh
#    passes. The desk must throw the stamp away, and every pass that stamp made dies with it.
#
# Then the part a desk clerk never thinks about and an on-call engineer always does: how would
# you **know** any of this was happening? That is the signal, the last part of the notebook.
#
# > **The four questions, for revocation**
# >
# > 1. **Who is trusted?** The vault's revocation list (sessions, passes, agents, tenants, a
# >    revoke-all cut-off) and the key ring (which stamps are still good). Every verifier trusts
# >    them *at the moment of each call*; the tools trust the verifier.
# > 2. **What proof?** A pass proves its stamp, its audience and its time. It can never prove it
# >    has not been revoked since: that fact lives only in the vault, and only a fresh lookup sees
# >    it.
# > 3. **Where is the check?** Twice: at issuance (a revoked session gets no new pass) and at
# >    every tool call (the Short-lived token check consults the list and the key ring on every
# >    call, run by the broker).
# > 4. **What if it is fooled?** A tool that verifies passes offline, from the key set alone,
# >    honours a revoked session's pass until its `exp`: the exposure window is the pass's whole
# >    life, not the moment you revoked. A leaked stamp that is only rotated keeps verifying for
# >    the whole grace period of a rotation.

# %% locked id=setup
import json

import matplotlib.pyplot as plt

from course import grading, oncall, plots, revocation, simulator
from course.errors import TokenError

DAY = 86_400
print("the on-call kit:", ", ".join(sorted(n for n in oncall.__all__ if n[0].islower())))
print("incidents on file:", ", ".join(oncall.INCIDENTS))

# %% [markdown]
# ## A compromised session, on the real kit
#
# `oncall.revocation_drill()` builds a real vault (seeded keys, a manual clock, a real broker and
# log) and opens eight sessions. Alice's helpdesk agent (`sess-0001`) delegated to a deploy agent
# (`sess-0002`), which delegated again (`sess-0003`); `sess-0001` also delegated a second deploy
# job (`sess-0004`). Alice logged in a second time (`sess-0005`), bob has his own session with a
# delegation (`sess-0006`, `sess-0008`), and gina works for another company (`sess-0007`). Each
# session holds one or two passes; three passes have already expired. `drill.plain()` is the
# vault's books as plain data, the form your function will get:

# %%
drill = oncall.revocation_drill()
books = drill.plain()
at = books["at"]
print("now: t =", at - oncall.DAY_START, "s into the drill")
for s in sorted(books["sessions"], key=lambda s: s["id"]):
    mine = [t["jti"] + ("" if t["iat"] <= at < t["exp"] else " (expired)")
            for t in books["tokens"] if t["session"] == s["id"]]
    print(f"{s['id']}  {s['tenant']:<6} {s['user']:<5} {s['agent']:<12} parent={s['parent']!s:<9} "
          f"passes: {', '.join(mine)}")
print("\none token row:", books["tokens"][3])

# %% [markdown]
# Now the on-call decision: alice's helpdesk agent read a poisoned ticket and its session is
# compromised. Revoke `sess-0001` for real and probe every pass with the tools' own verifiers:

# %%
alive_before = drill.alive()
revoked = drill.apply({"session": "sess-0001"})
alive_after = drill.alive()
print("revoke_session returned:", revoked)
print("passes that died:       ", sorted(set(alive_before) - set(alive_after)))
print("why each pass is refused now:", drill.refused())
for sid in ("sess-0001", "sess-0003", "sess-0005", "sess-0007"):
    print(f"can {sid} still get a new pass? {drill.can_get_a_pass(sid)}")
drill.close()

# %% [markdown]
# Three things to notice. The cascade went *down* the delegation tree, two levels deep, and
# nowhere else: `sess-0005` is alice with the same agent, yet it lives, because it is a different
# login. The dead passes answer `revoked`, the ones that had run out still answer `expired`
# (a revocation has nothing to add to a dead pass). And the revoked sessions cannot get a new
# pass: the vault checks its list at issuance too.
#
# ---
# # Exercises
#
# Four functions, each an on-call decision, each followed by a check you can see that tries the
# answers people commonly get wrong and names the property such an answer breaks. Hidden tests
# then try states and logs this notebook never shows. Every function takes and returns plain
# data.
#
# ## Exercise 1 (4 points): what must die?
#
# Write `must_die(state, session)`: everything a revocation of `session` must kill, as
# `{"sessions": [...], "tokens": [...]}`, both lists sorted.
#
# - `state` is the vault's books as above: `state["sessions"]` (each with `id` and `parent`, the
#   session it was delegated from or `None`), `state["tokens"]` (each with `jti`, `session`, `iat`
#   and `exp`), and `state["at"]`, now. The sessions come in no particular order.
# - The sessions: `session` itself and every session delegated from it, directly or through any
#   number of delegations. Never its parent, never a sibling, never another session of the same
#   user or agent.
# - The tokens: every pass of those sessions that is still alive now (`iat <= at < exp`). A pass
#   that has already expired is not on the list: nothing is left to kill.

# %% solution id=must-die
def must_die(state: dict, session: str) -> dict:
    """The sessions and live passes a revocation of ``session`` must kill (sorted lists)."""
    ### BEGIN SOLUTION
    children: dict = {}
    for s in state["sessions"]:
        children.setdefault(s["parent"], []).append(s["id"])
    dead, todo = set(), [session]
    while todo:
        current = todo.pop()
        if current not in dead:
            dead.add(current)
            todo.extend(children.get(current, []))
    at = state["at"]
    tokens = [t["jti"] for t in state["tokens"]
              if t["session"] in dead and t["iat"] <= at < t["exp"]]
    return {"sessions": sorted(dead), "tokens": sorted(tokens)}
    ### END SOLUTION

# %% tests id=test-must-die points=4
"""Check that must_die kills the session's whole delegation tree and its live passes, nothing else."""
_books = oncall.revocation_drill()
_state = _books.plain()
_books.close()
_mid = must_die(_state, "sess-0002")
grading.expect_same(_mid["sessions"], ["sess-0002", "sess-0003"],
                    "a revocation never climbs up or sideways",
                    "revoking sess-0002 must not touch the session it was delegated from "
                    "(sess-0001) nor that session's other delegation (sess-0004)")
_root = must_die(_state, "sess-0001")
grading.expect_same(_root["sessions"], ["sess-0001", "sess-0002", "sess-0003", "sess-0004"],
                    "the cascade reaches every delegated session, however deep",
                    "sess-0003 was delegated from sess-0002, which was delegated from sess-0001; "
                    "the sessions list comes in no particular order")
grading.expect("tok-0008" not in _root["tokens"] and "tok-0009" not in _root["tokens"],
               "only the revoked session's tree dies",
               "sess-0005 is alice with the same agent and sess-0006 is bob: different logins, "
               "their passes live")
grading.expect(not {"tok-0001", "tok-0002"} & set(_root["tokens"]),
               "what must die is what is still alive",
               "tok-0001 and tok-0002 expired before now; there is nothing left to kill")
grading.expect_same(_root["tokens"],
                    ["tok-0004", "tok-0005", "tok-0006", "tok-0007", "tok-0012", "tok-0013"],
                    "passes of delegated sessions die too",
                    "a pass held by sess-0002, sess-0003 or sess-0004 is as stolen as one of "
                    "sess-0001")
grading.expect_same(must_die(_state, "sess-0007"), {"sessions": ["sess-0007"],
                                                     "tokens": ["tok-0010", "tok-0014"]},
                    "a session with no delegations takes only its own passes",
                    "gina's session has no children; both its live passes die")
print("must_die: visible checks passed")
### BEGIN HIDDEN TESTS
def _s(sid, parent=None, user="alice", agent="helpdesk-bot"):
    return {"id": sid, "tenant": "acme", "user": user, "agent": agent, "parent": parent}


def _t(jti, sid, iat=0, exp=300):
    return {"jti": jti, "session": sid, "tenant": "acme", "user": "alice",
            "agent": "helpdesk-bot", "tool": "tickets", "kid": "k1", "iat": iat, "exp": exp}


_chain = [_s(f"s{n}", f"s{n - 1}" if n else None) for n in range(6)][::-1]
_deep = {"at": 100, "sessions": _chain, "tokens": [_t(f"t{n}", f"s{n}") for n in range(6)]}
_prefix = {"at": 100, "sessions": [_s("s1"), _s("s10"), _s("s11", "s10"), _s("s2", "s1")],
           "tokens": [_t("a", "s1"), _t("b", "s10"), _t("c", "s11"), _t("d", "s2")]}
_edges = {"at": 100, "sessions": [_s("r"), _s("c", "r")],
          "tokens": [_t("born-now", "r", 100, 400), _t("dies-now", "c", 0, 100),
                     _t("last-second", "c", 0, 101), _t("future", "r", 101, 400)]}
_bush = {"at": 50, "sessions": [_s("x3", "x1"), _s("x1", "x0"), _s("x2", "x0"), _s("x0"),
                                _s("y", None, "bob"), _s("x4", "x3", agent="deploy-bot")],
         "tokens": [_t("p", "x4"), _t("q", "y"), _t("r", "x2"), _t("s", "x0", 0, 40)]}
_unseen = [
    (_deep, "s0", {"sessions": [f"s{n}" for n in range(6)], "tokens": [f"t{n}" for n in range(6)]},
     "the cascade reaches every delegated session, however deep"),
    (_deep, "s3", {"sessions": ["s3", "s4", "s5"], "tokens": ["t3", "t4", "t5"]},
     "a revocation never climbs up or sideways"),
    (_prefix, "s1", {"sessions": ["s1", "s2"], "tokens": ["a", "d"]},
     "a session id matches whole, never as a prefix"),
    (_prefix, "s10", {"sessions": ["s10", "s11"], "tokens": ["b", "c"]},
     "a session id matches whole, never as a prefix"),
    (_edges, "r", {"sessions": ["c", "r"], "tokens": ["born-now", "last-second"]},
     "what must die is what is still alive"),
    (_bush, "x0", {"sessions": ["x0", "x1", "x2", "x3", "x4"], "tokens": ["p", "r"]},
     "the cascade reaches every delegated session, however deep"),
    (_bush, "x1", {"sessions": ["x1", "x3", "x4"], "tokens": ["p"]},
     "a revocation never climbs up or sideways"),
    (_bush, "y", {"sessions": ["y"], "tokens": ["q"]}, "only the revoked session's tree dies"),
]
for _st, _sid, _want, _property in _unseen:
    with grading.tripwire(revocation, "RevocationList"):
        _got = must_die(json.loads(json.dumps(_st)), _sid)
    grading.expect_same(_got, _want, _property, "a state this notebook does not show got the "
                        "wrong sessions or passes")
### END HIDDEN TESTS

# %% [markdown]
# ### Your answer against the real vault
#
# For three different sessions, a fresh drill: your `must_die` reads the books, then the real
# vault revokes and every pass is probed with the tools' verifiers. The cell stops, naming the
# session, on any difference, and also checks what a revocation must do beyond killing passes:
# the revoked sessions get no new pass, and a session you did not name still does.

# %%
try:
    for target in ("sess-0001", "sess-0002", "sess-0006"):
        d = oncall.revocation_drill()
        yours = must_die(d.plain(), target)
        before = d.alive()
        kit_sessions = d.apply({"session": target})
        kit = {"sessions": sorted(kit_sessions), "tokens": sorted(set(before) - set(d.alive()))}
        print(f"revoke {target}: yours {yours}")
        grading.expect(grading.exactly(yours, kit), "your revocation is the real one",
                       f"for {target} your must_die and the real vault disagree; compare the "
                       "sessions first, then the passes")
        grading.expect(not any(d.can_get_a_pass(s) for s in kit_sessions),
                       "a revoked session gets no new pass", "the vault issued one anyway")
        grading.expect(d.can_get_a_pass("sess-0007"), "a revocation stops only its own tree",
                       "gina's session lost its passes")
        d.close()
    print("\nSame sessions, same passes as the real vault, three times.")
except NotImplementedError:
    print("write must_die above first")

# %% [markdown]
# ## After `revoke` returns, nothing works
#
# A revocation is only as good as its timing. If the list were consulted once a minute, or a
# verifier kept a cache of "already checked" passes, a thief would have a window *after* you
# pressed the button. The kit consults the list on every call (its verifier caches only the
# signature check, never the revocation answer). Here is the claim tested with real threads:
# four threads hammer the ticket and deploy tools with the compromised session's passes, a fifth
# keeps asking the vault for a fresh pass for that session, and a sixth, gina's agent in another
# company, works normally. The main thread revokes `sess-0001` in the middle of it. Each thread
# then makes exactly twelve more calls, all of which *started after `revoke_session` returned*.

# %%
report = oncall.revoke_under_load(threads=4, calls_after=12)
print("revoked:", report.revoked)
print(f"tool calls started after revoke returned: {report.calls_after}, "
      f"succeeded: {report.calls_after_succeeded}, refused as {report.call_refusals}")
print(f"new passes asked for after it returned:   {report.passes_asked_after}, "
      f"granted: {report.passes_granted_after}, refused as {report.pass_refusals}")
print(f"the bystander's calls after it returned:  {report.other_session_calls_after}, "
      f"succeeded: {report.other_session_succeeded}")
grading.expect(report.calls_after_succeeded == 0 and report.passes_granted_after == 0,
               "after revoke returns, no call succeeds", "a call or an issuance got through")
grading.expect(report.other_session_succeeded == report.other_session_calls_after,
               "a revocation stops only its own tree", "the bystander was refused")

# %% [markdown]
# The numbers above are the same on every run; the number of calls made *before* the revocation
# is not (it depends on how the threads were scheduled), so it is not printed. One honest limit:
# a call that had already passed the check when you revoked finishes. Revocation closes the door;
# it does not pull back a request that is already through it. That is one more reason the pass
# should allow as little as possible in the first place.
#
# ## When the stamp itself leaks
#
# Revoking sessions assumes the thief holds passes the vault made. If the vault's *signing key*
# leaked, the thief makes their own passes, for any session, any tool, with a fresh `iat`. Two
# responses, and they are not the same:
#
# - **Rotation** (`vault.rotate_keys()`): new passes get a new key; the old key stays trusted
#   until the last pass it signed could have expired (rotation time + the ring's longest pass
#   life, one hour here), so nothing breaks. That grace is exactly what a thief with the old key
#   needs.
# - **Compromise** (`vault.rotate_keys(compromised=True)`, or distrusting an older key): the key
#   is distrusted **now**. Every pass it signed dies at once, and only those.
#
# And the emergency switch, **revoke-all** (`vault.revoke_all()`): every pass issued up to this
# second dies, whatever key signed it, in every tenant. Its cut-off is a time, so it kills by
# `iat`: a pass stamped in the very second of the revoke-all dies too (the conservative choice
# when one second holds both sides). `oncall.key_drill()` builds a vault whose first key was
# rotated normally, with passes signed by both keys, in two companies:

# %%
keys_drill = oncall.key_drill()
kbooks = keys_drill.plain()
old_kid, new_kid = kbooks["keys"]
print(f"now: t = {kbooks['at'] - oncall.DAY_START} s; the old key was rotated out normally and is "
      f"trusted until t = {kbooks['keys'][old_kid] - oncall.DAY_START} s; the new key is active")
for t in kbooks["tokens"]:
    state = "alive" if t["iat"] <= kbooks["at"] < t["exp"] else "expired"
    print(f"{t['jti']}  {t['tenant']:<6} {t['session']}  key={'old' if t['kid'] == old_kid else 'new'}"
          f"  iat=t+{t['iat'] - oncall.DAY_START:<4} exp=t+{t['exp'] - oncall.DAY_START:<4} {state}")
keys_drill.close()

# %% [markdown]
# ## Exercise 2 (3 points): which passes die?
#
# Write `dies_now(state, event)`: the sorted `jti`s of the passes that are alive at `state["at"]`
# (`iat <= at < exp`) and that `event`, happening at that moment, kills. `state` is as in
# `key_drill` (each token has its `kid`); `event` is one of:
#
# - `{"compromised": kid}`: that signing key leaked and is distrusted now;
# - `{"revoke_all": True}`: every pass issued at or before this second dies.
#
# A pass that is already dead does not die again. Decide for each event which passes the
# attacker can no longer use, and which ones your users keep.

# %% solution id=dies-now
def dies_now(state: dict, event: dict) -> list:
    """The sorted jtis of the live passes that ``event`` kills at ``state["at"]``."""
    ### BEGIN SOLUTION
    at = state["at"]
    alive = [t for t in state["tokens"] if t["iat"] <= at < t["exp"]]
    if "compromised" in event:
        return sorted(t["jti"] for t in alive if t["kid"] == event["compromised"])
    if event.get("revoke_all") is True:
        return sorted(t["jti"] for t in alive if t["iat"] <= at)
    raise ValueError("unknown event")
    ### END SOLUTION

# %% tests id=test-dies-now points=3
"""Check that dies_now kills exactly the live passes a leaked key stamped, and all of them on revoke-all."""
_kd = oncall.key_drill()
_k = _kd.plain()
_kd.close()
_old, _new = _k["keys"]
_leak_old = dies_now(_k, {"compromised": _old})
grading.expect(all(t["kid"] == _old for t in _k["tokens"] if t["jti"] in _leak_old),
               "a leaked key kills only the passes it stamped",
               "passes signed by the other key are not the thief's to use; they must live")
grading.expect("tok-0001" not in _leak_old, "only a live pass can die",
               "tok-0001 had expired before the key leaked")
grading.expect_same(_leak_old, ["tok-0002", "tok-0003"], "a leaked key is distrusted at once",
                    "the old key's two live passes must die now, not at the end of the "
                    "rotation's grace period")
grading.expect_same(dies_now(_k, {"compromised": _new}),
                    ["tok-0004", "tok-0005", "tok-0006", "tok-0007"],
                    "a leaked key is distrusted at once", "the active key's live passes die now")
_all = dies_now(_k, {"revoke_all": True})
grading.expect("tok-0007" in _all, "revoke-all kills passes stamped in its own second too",
               "tok-0007 was issued in the same second as the revoke-all")
grading.expect_same(_all, ["tok-0002", "tok-0003", "tok-0004", "tok-0005", "tok-0006", "tok-0007"],
                    "revoke-all kills every live pass, whatever key stamped it",
                    "both keys, both companies")
print("dies_now: visible checks passed")
### BEGIN HIDDEN TESTS
def _tk(jti, kid, iat, exp):
    return {"jti": jti, "session": "s", "tenant": "acme", "user": "u", "agent": "a",
            "tool": "tickets", "kid": kid, "iat": iat, "exp": exp}


_h = {"at": 1000, "keys": {"A": 4000, "AB": None},
      "tokens": [_tk("a1", "A", 900, 1200), _tk("a2", "A", 700, 1000), _tk("a3", "A", 1000, 1300),
                 _tk("b1", "AB", 950, 1250), _tk("b2", "AB", 1001, 1301), _tk("b3", "AB", 999, 1001)]}
_cases = [
    ({"compromised": "A"}, ["a1", "a3"], "a leaked key kills only the passes it stamped"),
    ({"compromised": "AB"}, ["b1", "b3"], "a key id matches whole, never as a prefix"),
    ({"compromised": "ZZ"}, [], "a key that stamped nothing kills nothing"),
    ({"revoke_all": True}, ["a1", "a3", "b1", "b3"],
     "revoke-all kills every live pass, and no pass not yet issued"),
]
for _event, _want, _property in _cases:
    grading.expect_same(dies_now(json.loads(json.dumps(_h)), _event), _want, _property,
                        "a key ring this notebook does not show")
grading.expect_same(dies_now({"at": 5, "keys": {}, "tokens": []}, {"revoke_all": True}), [],
                    "an empty vault loses nothing", "no passes at all")
### END HIDDEN TESTS

# %% [markdown]
# ### Your answer against the real key ring, and what each switch costs
#
# Each event on a fresh drill: the real vault does it, every pass is probed, and your answer must
# be what died (the cell stops on any difference). Then the bill: whose passes died.

# %%
try:
    events = {"old key leaked": {"compromised": old_kid}, "active key leaked": {"compromised": new_kid},
              "revoke-all": {"revoke_all": True}}
    for label, event in events.items():
        kd = oncall.key_drill()
        yours = dies_now(kd.plain(), event)
        before = kd.alive()
        kd.apply(event)
        kit = sorted(set(before) - set(kd.alive()))
        tenants = sorted({t["tenant"] for t in kd.plain()["tokens"] if t["jti"] in kit})
        kd.close()
        grading.expect(grading.exactly(yours, kit), "your passes die as the real ones do",
                       f"{label}: your dies_now and the real key ring disagree")
        print(f"{label:<18} dies: {len(kit)} of {len(before)} live passes, in {', '.join(tenants)}")
except NotImplementedError:
    print("write dies_now above first")

# %% [markdown]
# A leaked key costs every company whose passes that key stamped, and revoke-all costs everyone,
# including globex, whose agents did nothing wrong: every agent everywhere must ask again, at
# once. And revoke-all has two holes worth saying out loud. It kills *passes*, not *sessions*:
# the compromised session asks for a new pass the next second and gets one. And it kills by
# issue time: a thief holding the signing key stamps a pass dated after the cut-off. Watch:

# %%
kd = oncall.key_drill()
vault = kd.lab.vault
stolen_key = vault.keys.active  # what the thief copied (never printed)
kd.apply({"revoke_all": True})
kd.lab.clock.advance(1)
alice = kd.plain()["sessions"][0]["id"]
print("a second after revoke-all, the compromised session gets a new pass:", kd.can_get_a_pass(alice))
from course import forge  # noqa: E402

payload = kd.claims("tok-0004")  # what alice's live pass says; the thief re-dates it
fresh = forge.resign(forge.retimed(payload, iat=kd.lab.clock.now(), exp=kd.lab.clock.now() + 300),
                     stolen_key)
check = vault.verifier("tickets")


def verdict(token: str) -> str:
    try:
        check.verify(token)
    except TokenError as exc:
        return f"refused ({exc.code})"
    return "ACCEPTED"


print("a pass the thief stamps after revoke-all:     ", verdict(fresh))
kd.apply({"compromised": stolen_key.kid})
print("the same pass once the key is distrusted:     ", verdict(fresh))
kd.close()

# %% [markdown]
# Revoke-all is the fire alarm: loud, expensive, and it does not find the arsonist. A leaked key
# needs the key distrusted; a leaked session needs the session revoked; you need both lists.
#
# ## How long is a leak worth now?
#
# Notebook 01 measured the **exposure window**: the seconds during which a copied credential
# still works. Revocation is the third design, and we measure it with the same definition, your
# own.
#
# ## Exercise 3 (1 point): your exposure window, again
#
# Paste your `exposure_window` from notebook 01 (or write it again). The definition, unchanged:
# the credential works on `[issued_at, expires_at)`; a revocation at `revoked_at` stops it from
# that second on (`None`: never), and can only shorten its life; a leak when it does not work is
# worth `0`, never a negative number; a credential that expires at or before it is issued is a
# mistake in the input (`ValueError`).

# %% solution id=exposure-window
def exposure_window(issued_at: int, expires_at: int, leaked_at: int,
                    revoked_at: int | None = None) -> int:
    """Seconds a credential leaked at leaked_at stays usable: until expiry or revocation.

    Raises:
        ValueError: expires_at <= issued_at.
    """
    ### BEGIN SOLUTION
    if expires_at <= issued_at:
        raise ValueError("a credential cannot expire before it is issued")
    if leaked_at < issued_at:
        return 0  # nothing existed yet to copy
    end = expires_at if revoked_at is None else min(expires_at, revoked_at)
    return max(end - leaked_at, 0)  # dead already: worth nothing
    ### END SOLUTION

# %% tests id=test-exposure-window points=1
"""Check that exposure_window stops at the first of expiry and revocation, and is never negative."""
grading.expect_same(exposure_window(0, 300, 30, 90), 60, "revocation ends the window",
                    "a pass leaked at 30 and revoked at 90 is usable for 60 s")
grading.expect_same(exposure_window(0, 300, 30, revoked_at=900), 270,
                    "a revocation never lengthens a life",
                    "a pass revoked after it expired still died at its expiry")
grading.expect_same(exposure_window(0, 300, 400), 0, "a dead credential is worth nothing",
                    "a pass leaked after its expiry gives 0, never a negative number")
grading.expect_same(exposure_window(100, 400, 40), 0,
                    "a credential not yet issued is worth nothing",
                    "a leak before the pass exists captured nothing")
_ = grading.expect_raises(lambda: exposure_window(300, 300, 300), ValueError, "inputs are checked",
                          "a credential that expires when it is issued is a mistake in the input")
print("exposure_window: visible checks passed")
### BEGIN HIDDEN TESTS
for _args, _want in [((0, 300, 30, 30), 0), ((0, 300, 30, 10), 0), ((0, 300, 0), 300),
                     ((0, 300, 299), 1), ((0, 300, 300), 0), ((50, 90 * DAY, 60, 3 * DAY),
                                                              3 * DAY - 60)]:
    with grading.tripwire(plots, "exposure_seconds", "exposure_windows"):
        _got = exposure_window(*_args)
    grading.expect_same(_got, _want, "the window runs from the leak to the first of expiry and "
                        "revocation, never below 0", "an edge not shown")
_ = grading.expect_raises(lambda: exposure_window(10, 5, 7), ValueError, "inputs are checked",
                          "a credential that expires before it is issued is refused")
### END HIDDEN TESTS

# %% [markdown]
# ### The same leak, three designs, one picture
#
# Take the first incident on file, `stolen-pass-revoked`: at 12:30 alice's agent fetched a pass,
# the attacker copied it the first time the agent used it, two seconds later, and the on-call
# engineer revoked the session at 12:31:05. The log has every time we need. Three designs for the same copy, each measured by
# your `exposure_window` (the cell stops if it disagrees with the kit's measure):
#
# - a **master key**, rotated when someone noticed three days later (notebook 01's design);
# - the **scoped pass alone**, nobody revoking: it dies at its `exp`;
# - the **scoped pass with revocation**: it dies when the session is revoked.

# %%
incident = [json.loads(line) for line in oncall.incident("stolen-pass-revoked")]
issued = next(r for r in incident if r["event"] == "issue" and r["jti"] == "tok-0015")
copied_at = next(r["time"] for r in incident if r["jti"] == "tok-0015" and r["event"] == "tool_call")
revoked_at = next(r["time"] for r in incident if r["event"] == "revoke" and r["time"] > issued["time"])
print(oncall.brief(oncall.incident("stolen-pass-revoked")[issued["seq"] - 1]))
print("copied at +", copied_at - issued["time"], "s; revoked at +", revoked_at - issued["time"], "s")
try:
    rows = [("master key, rotated after 3 days",
             exposure_window(issued["time"], issued["time"] + 90 * DAY, copied_at,
                             issued["time"] + 3 * DAY)),
            ("scoped pass, nobody revokes", exposure_window(issued["time"], issued["expires"], copied_at)),
            ("scoped pass + session revoked",
             exposure_window(issued["time"], issued["expires"], copied_at, revoked_at))]
    kit = [plots.exposure_seconds(90 * DAY, [], leak_at=copied_at - issued["time"],
                                  revoke_at=3 * DAY)[0][1],
           plots.exposure_seconds(1, [("p", 0, issued["expires"] - issued["time"])],
                                  leak_at=copied_at - issued["time"])[1][1],
           plots.exposure_seconds(1, [("p", 0, issued["expires"] - issued["time"])],
                                  leak_at=copied_at - issued["time"],
                                  revoke_at=revoked_at - issued["time"])[1][1]]
    for (label, seconds), theirs in zip(rows, kit):
        grading.expect(grading.exactly(seconds, theirs), "your window is the kit's",
                       f"{label}: yours and the kit's measure differ")
        print(f"{label:<34} exposed {seconds:>9,} s")
    oncall.exposure_bars(rows)
    plt.show()
except NotImplementedError:
    print("paste your exposure_window above first")

# %% [markdown]
# About four thousand times shorter than the master key, and five times shorter than the pass
# alone, *if two things hold*: somebody revoked within a minute, and every tool asked the
# revocation list. In the `stolen-pass-offline-tool` incident the tickets tool verified passes
# from the key set alone, so the same revocation bought nothing: the window was the pass's whole
# life. Revocation is only as fast as your signal and only as wide as your verifiers.
#
# ## Switch the lens
#
# This notebook's event, seen four ways: *a session was revoked as compromised, and its pass is
# presented anyway*. The simulator of notebook 00 walks exactly that on the real kit.

# %%
event = simulator.walk("revoked-session")
for lens in ("school", "university"):
    print(simulator.describe(event, lens), end="\n\n")

# %% [markdown]
# The **school student** sees a cancelled badge and a pass still being waved at a door. The
# **university student** sees the mechanism: the verifier consults the revocation list on every
# call, and refuses with `revoked`. The other two readers:

# %%
print(simulator.describe(event, "engineer"), end="\n\n")
print(simulator.describe(simulator.walk("revoked-session", wiring="naive"), "reviewer"))

# %% [markdown]
# The **security reviewer** names the stale assumption: *revoking a session also stops the passes
# it already holds*. It is only true where every verifier asks. The **engineer on call** gets one
# log line and a sentence; in a real day that line sits among hundreds of ordinary ones. That is
# the lens item.
#
# ## Exercise 4 (4 points, the lens item): the on-call signal
#
# Write `alerts(lines)`: the pages an on-call engineer must get, for a list of access-log lines
# (each a JSON object, as `oncall.normal_day()` returns them; `oncall.brief(line)` prints one
# short). Return a sorted list of distinct `(kind, subject)` tuples of `str`:
#
# | kind | when | subject |
# |---|---|---|
# | `"revoked-pass"` | a refusal (`decision` `"deny"`) whose `reason` is `"revoked"`, or an **allowed** line (`decision` `"allow"`) in a session that an earlier `revoke` line (`reason` `"revoke_session"`) revoked | the line's `tool` |
# | `"refusal-burst"` | five refusals with the same `reason`, the fifth less than 60 seconds (`time`) after the first | that `reason` |
# | `"foreign-session"` | a line that names a `session` and an `agent`, where the agent is not the one that session was opened for (its `session` line, `event` `"session"`) | that `session` |
#
# Everything else stays silent, and that is half the grade: a signal that pages on a normal day
# is switched off within a week. A normal day (`oncall.normal_day()`) holds logins and logouts,
# a delegated session, a key rotation, and the refusals a healthy system makes. Look at it:

# %%
normal = oncall.normal_day()
print(len(normal), "lines; the ones that are not a plain allow:")
for line in normal:
    if json.loads(line)["decision"] != "allow":
        print(" ", oncall.brief(line))

# %% solution id=alerts
def alerts(lines: list) -> list:
    """The sorted, distinct (kind, subject) pages this list of access-log lines raises."""
    ### BEGIN SOLUTION
    found = set()
    opened, revoked, refusals = {}, set(), {}
    for line in lines:
        r = json.loads(line)
        session, agent = r["session"], r["agent"]
        if r["event"] == "session":
            opened[session] = agent
        if r["event"] == "revoke" and r["reason"] == "revoke_session":
            revoked.add(session)
        if r["decision"] == "deny" and r["reason"] == "revoked":
            found.add(("revoked-pass", r["tool"]))
        if r["decision"] == "allow" and session in revoked:
            found.add(("revoked-pass", r["tool"]))
        if session in opened and agent is not None and agent != opened[session]:
            found.add(("foreign-session", session))
        if r["decision"] == "deny":
            times = refusals.setdefault(r["reason"], [])
            times.append(r["time"])
            if len(times) >= 5 and times[-1] - times[-5] < 60:
                found.add(("refusal-burst", r["reason"]))
    return sorted(found)
    ### END SOLUTION

# %% tests id=test-alerts points=4
"""Check that alerts pages on each attack and stays silent through a normal day."""
_day = oncall.normal_day()
_recs = [json.loads(_line) for _line in _day]


def _pick(keep):
    return [_line for _line, _r in zip(_day, _recs) if keep(_r)]


_noon = oncall.DAY_START + 4 * 3600
grading.expect_same(alerts(_pick(lambda r: r["event"] in ("session", "revoke"))), [],
                    "a revocation is not an attack",
                    "logins and logouts (revoke lines with no agent) must not page")
grading.expect_same(alerts(_pick(lambda r: r["time"] < _noon and r["decision"] == "deny")), [],
                    "a burst is five refusals, not four",
                    "the batch job's four expired passes at 11:20 are routine")
grading.expect_same(alerts(_pick(lambda r: r["decision"] == "deny" and r["time"] >= _noon)), [],
                    "a burst is of one reason",
                    "the release at 14:05 made five refusals in 40 s, each for another reason")
grading.expect_same(alerts(_pick(lambda r: r["decision"] == "deny")), [],
                    "a burst is five refusals within a minute, not in a day",
                    "six expired passes over a whole day are not a burst")
grading.expect_same(alerts(_day), [], "the signal stays silent on a normal day",
                    "a false positive is a failure: find the line that pages")
_stolen = alerts(oncall.incident("stolen-pass-revoked"))
grading.expect(len(_stolen) == len(set(_stolen)), "one page per kind and subject",
               "the same (kind, subject) must appear once")
grading.expect_same(_stolen, [("revoked-pass", "tickets")], "a revoked session's pass must page",
                    "two 'deny revoked' calls at the tickets tool after the revocation")
grading.expect_same(alerts(oncall.incident("stolen-pass-offline-tool")),
                    [("revoked-pass", "tickets")], "a revoked pass that still works must page too",
                    "this tool does not ask the revocation list: the calls were allowed, in a "
                    "session revoked earlier in the log")
grading.expect_same(alerts(oncall.incident("forged-passes")), [("refusal-burst", "bad_signature")],
                    "a burst of one refusal reason must page", "six forged passes in 35 s")
grading.expect_same(alerts(oncall.incident("borrowed-session")),
                    [("foreign-session", "sess-0001")], "an agent in another's session must page",
                    "deploy-bot asked for a pass in helpdesk-bot's session")
grading.expect_same(alerts(oncall.incident("borrowed-session-believed")),
                    [("foreign-session", "sess-0001")],
                    "an agent in another's session must page, even when the vault believed it",
                    "here the request was allowed: no refusal names it, only the agent does")
print("alerts: visible checks passed")
### BEGIN HIDDEN TESTS
_KEYS = ("agent", "decision", "detail", "event", "expires", "facts", "hash", "jti", "mac", "prev",
         "reason", "scopes", "seq", "session", "task", "tenant", "time", "tool", "user", "v")


def _ln(seq, time, event, **kw):
    rec = {k: None for k in _KEYS}
    rec.update(seq=seq, time=time, event=event, reason="", detail="", facts=[], scopes=[], v=1,
               hash="0" * 64, mac="0" * 64, prev="0" * 64)
    rec.update(kw)
    return json.dumps(rec, sort_keys=True, separators=(",", ":"))


def _open(seq, sid, agent, time=0):
    return _ln(seq, time, "session", session=sid, agent=agent, user="u", tenant="acme",
               reason="session_opened")


def _deny(seq, time, reason, **kw):
    return _ln(seq, time, "tool_call", decision="deny", reason=reason, tool="payments", **kw)


_burst = [_deny(n, 100 + 14 * n, "unauthenticated") for n in range(5)]  # 56 s apart
_slow = [_deny(n, 100 + 15 * n, "unauthenticated") for n in range(5)]  # exactly 60 s apart
_cases = [
    ([], [], "nothing to read, nothing to page"),
    ([_open(1, "s1", "a"), _ln(2, 5, "decision", decision="deny", reason="revoked", session="s1",
                               agent="a", tool="files")],
     [("revoked-pass", "files")], "a revoked session asking for a new pass must page"),
    (_burst, [("refusal-burst", "unauthenticated")], "a burst of one refusal reason must page"),
    (_slow, [], "a burst is five refusals within a minute"),
    (_burst[:2] + [_deny(9, 120, "scope_missing")] + _burst[2:], [("refusal-burst", "unauthenticated")],
     "a burst is of one reason"),
    ([_open(1, "p", "helpdesk-bot"), _open(2, "c", "deploy-bot"),
      _ln(3, 9, "revoke", reason="revoke_session", session="p"),
      _ln(4, 9, "revoke", reason="revoke_session", session="c"),
      _ln(5, 20, "tool_call", decision="allow", reason="tool_call", session="c", agent="deploy-bot",
          tool="deploy:staging")],
     [("revoked-pass", "deploy:staging")], "a revoked pass that still works must page too"),
    ([_open(1, "s", "a"), _ln(2, 1, "tool_call", decision="allow", reason="tool_call", session="s",
                              agent="a", tool="tickets"),
      _ln(3, 9, "revoke", reason="revoke_session", session="s")],
     [], "a use before the revocation is no alarm"),
    ([_open(1, "s", "a"), _ln(2, 3, "revoke", reason="revoke_jti", jti="t9"),
      _ln(3, 4, "tool_call", decision="allow", reason="tool_call", session="s", agent="a",
          tool="tickets")],
     [], "only a revoked session makes its passes suspect"),
    ([_open(1, "s", "a"), _ln(2, 4, "issue", decision="allow", reason="allow", session="s",
                              agent="b", tool="tickets", jti="t1", expires=300)],
     [("foreign-session", "s")], "an agent in another's session must page"),
    ([_open(1, "s", "a"), _open(2, "s2", "b"),
      _ln(3, 4, "decision", decision="deny", reason="session_mismatch", session="s2", agent="b",
          user="mallory", tool="tickets")],
     [], "another user in one's own session is not another agent"),
    (_burst + [_deny(9, 300, "revoked")] + [_open(10, "z", "a"),
                                           _ln(11, 301, "decision", decision="allow", session="z",
                                               agent="q", tool="tickets")],
     [("foreign-session", "z"), ("refusal-burst", "unauthenticated"), ("revoked-pass", "payments")],
     "every page, each once, sorted"),
]
for _lines, _want, _property in _cases:
    grading.expect_same(alerts(list(_lines)), _want, _property,
                        "a log this notebook does not show paged wrongly")
### END HIDDEN TESTS

# %% [markdown]
# ### Your signal, replayed as the day happens
#
# A signal is judged by *when* it pages. This cell feeds your `alerts` each day one line at a
# time, as the log grows, and reports the first page. It stops if a page comes before the attack
# began (12:30) or if an attack day ends without one.

# %%
def first_page(lines: list) -> str | None:
    """The first line after which alerts(...) is not empty (None: it never pages)."""
    for n in range(1, len(lines) + 1):
        if alerts(lines[:n]):
            return lines[n - 1]
    return None


try:
    paged = first_page(normal)
    grading.expect(paged is None, "the signal stays silent on a normal day",
                   f"it paged at {paged and oncall.brief(paged)}")
    print(f"{'normal day':<26} silent all day")
    attack_start = oncall.DAY_START + 4 * 3600 + 30 * 60
    for name in oncall.INCIDENTS:
        paged = first_page(oncall.incident(name))
        grading.expect(paged is not None, "every attack pages", f"{name} went unnoticed")
        when = json.loads(paged)["time"]
        grading.expect(when >= attack_start, "no page before the attack",
                       f"{name} paged before the attacker did anything")
        print(f"{name:<26} paged {when - attack_start:>3} s after it began: {oncall.brief(paged)}")
except NotImplementedError:
    print("write alerts above first")

# %% [markdown]
# Read the `stolen-pass-offline-tool` line: the page came from an **allowed** call. The hardened
# tool refused the stolen pass and the refusal paged; the offline tool served it, and only a
# signal that remembers which sessions were revoked noticed at all. A signal that pages on
# refusals alone is blind exactly where the damage is being done.
#
# ## Reflection (2 points, graded by hand)
#
# You are writing the runbook entry "an agent session is compromised" for your team. In five to
# eight sentences: what do you revoke first and why (session, agent, tenant, key, everything),
# what does that choice cost the people who did nothing wrong, which signal tells you the
# revocation *held*, and one situation in which you would pull the emergency switch
# (revoke-all) anyway. Name one thing revocation cannot undo.

# %% [markdown] manual id=reflect-runbook points=2
# ### BEGIN SOLUTION
# *Mark scheme (stays in the source notebook; the student version shows only the answer box).*
#
# - **1 point**: the first revocation is the narrowest one that covers the compromise (the
#   session with its delegations, or the key if a stamp leaked), with a reason tied to what was
#   stolen; the cost names who else loses work (delegated jobs, other sessions of the agent, other
#   tenants on revoke-all). "Revoke everything to be safe" with no cost earns 0.
# - **1 point**: a concrete signal that the revocation held (e.g. `deny revoked` lines for the
#   session's passes and no allowed call after the revoke line; or pages stopping), one credible
#   revoke-all situation (signing key leaked and unknown which, or the revocation list itself
#   untrusted), and one thing revocation cannot undo (a call already made, data already read, a
#   refund already sent, a credential the tool itself leaked).
# ### END SOLUTION

# %% [markdown]
# ## What you can now prove
#
# - Given the vault's books as plain data, you can name every session and live pass a
#   revocation must kill, down any chain of delegations and nowhere else, and your answer agrees
#   with the real vault, which then refuses those sessions any new pass.
# - You watched the real kit refuse every call that started after `revoke_session` returned,
#   with threads calling at the same moment, while a bystander's session kept working.
# - For a leaked signing key and for revoke-all, you can say exactly which passes die, and your
#   answer agrees with the real key ring; you saw why rotation and revoke-all do not stop a thief
#   who holds the key.
# - With notebook 01's definition, you measured the same leak as a master key, a pass, and a
#   pass with revocation.
# - Your signal pages on a revoked session's pass (refused or not), a burst of one refusal and
#   an agent in another's session, and stays silent through a normal day.
#
# Next, notebook 07: approvals, refresh, tenants and ownership, the pains that remain.
#
# ---
# ## Go deeper (optional, ungraded)
#
# ### Offline verification: fast, and deaf
#
# Many real systems verify JWTs at the resource server from a cached JWKS, with no call to the
# issuer: it is fast and survives an issuer outage. It also means revocation does not exist for
# those services until `exp`. The usual answers: keep passes very short (minutes, as here), push
# revocations to verifiers (a short-lived deny list they poll or are sent), or ask the issuer
# (token introspection). The kit's broker asks the vault's list in process, which is the cheap
# version of introspection. Here is what each incident's tool calls looked like, by reason:

# %%
from collections import Counter  # noqa: E402

for name in ("stolen-pass-revoked", "stolen-pass-offline-tool"):
    calls = Counter(f"{r['decision']} {r['reason']}" for r in map(json.loads, oncall.incident(name))
                    if r["event"] == "tool_call")
    print(f"{name:<26}", dict(sorted(calls.items())))

# %% [markdown]
# ### Reading
#
# - **RFC 7009** (OAuth 2.0 Token Revocation) and **RFC 7662** (Token Introspection): the
#   standard ways to tell an issuer a token is dead and to ask it whether a token is still good;
#   the broker's per-call lookup is introspection without the network hop.
# - **OpenID Shared Signals and CAEP** (Continuous Access Evaluation Profile): pushing "this
#   session was revoked" to every service that relies on it, the wide version of ringing every
#   door keeper.
# - **OWASP Top 10 for LLM Applications**: *LLM06 Excessive Agency*: revocation is how you take
#   agency back; OWASP's *Agentic AI: Threats and Mitigations* lists *Privilege Compromise* and
#   *Identity Spoofing*, which are the stolen session and the borrowed one here.
# - **NIST AI RMF**, the Manage function: responding to and recovering from incidents, with the
#   cost of the response weighed; revoke-all's bill is that trade-off in numbers.
# - **Ross Anderson, *Security Engineering***: the chapters on access control and on
#   distributed systems discuss revocation as the hard part of capabilities: the pass is easy to
#   hand out and hard to take back.
# - **Google, *Site Reliability Engineering***: the chapter on monitoring distributed systems
#   asks that every page be actionable and rare; the normal day in exercise 4 is that rule as a
#   test.
