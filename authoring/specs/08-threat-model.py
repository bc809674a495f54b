# %% [markdown]
# # 08 · The threat model
#
# **Layer: Security reviewer** · node: the boundary between Vault policy and Short-lived token ·
# core path about 90 minutes (sections marked *optional* are extra and ungraded)
#
# Notebooks 01 to 07 each hardened one hop. A reviewer asks a different question: *which belief
# would have to be true for this system to be safe, and what happens on the day it is not?* The
# lesson names the boundary to inspect: the handoff from **Vault policy** to **Short-lived
# token**, where a request's claims become authority. Its attacker goal: reach a tool call while
# making the token accept a weaker story than production assumes. By the end you will be able to:
#
# - turn a misconception into a **test that fails on a system built on that belief** and passes on
#   the hardened one, and say why it must not fail for any other reason;
# - write a **regression test** for one unsafe path and prove it by running it against the naive
#   wiring, the hardened wiring and every wiring with exactly one check removed;
# - read a table of **which piece stopped which attack**, and find the attacks a single check holds
#   alone;
# - **redraw the lesson's sequence diagram** so the enforcing check and the visibility gap show;
# - review an assembly the way the red team sees it: say which piece is **open**, which only
#   **unproven** (another piece ended its attack) and which proven, and run the red team against
#   your own pieces from notebooks 02 to 07 (optional);
# - write down the **stale assumption** behind one attack, as a reviewer would.
#
# The attacker here does not enter at the request: it enters where the policy's story is turned
# into a token, the boundary this notebook examines.
#
# {{trust-path highlight="Short-lived token" enters="Vault policy"}}

# %% [markdown]
# ## The desk, seen by an auditor
#
# Back at the checkout desk. An auditor does not stand at the desk checking passes; she asks what
# the desk *believes*. "Nobody would stamp a pass for a job the book does not list." "A pass for
# the ticket room will only be shown at the ticket room." "Tonight's emergency line in the book
# will be crossed out tomorrow." "If something goes wrong, the ledger will show it." Each belief is
# harmless while it is true. The auditor's method is to **build the desk that holds the belief**
# and show, with a real attempt, what gets through it; then to show that the real desk does not
# hold it. A belief that can be tested that way is no longer a belief: it is a test.
#
# > **The four questions, at the policy → token boundary**
# >
# > 1. **Who is trusted?** The vault's grants decide what a request may become; the vault's key
# >    turns that decision into a pass; every later hop trusts the pass's words.
# > 2. **What proof?** The session for who is asking, the grant for what is allowed, a human's
# >    approval bound to one exact request; after issuance, only the stamp.
# > 3. **Where is the check?** At issuance (session, grant, approval) and again wherever the pass
# >    is used (stamp, life, door, revocation, scope, approved arguments, single use).
# > 4. **What if it is fooled?** A weaker story becomes a genuine pass. Every later hop checks the
# >    pass correctly and acts on the wrong authority; the log records a valid pass doing its job.

# %% locked id=setup
import copy
import inspect
import json
import warnings

from course import grading, redteam, simulator, taxonomy, threatmodel
from course.world import World

warnings.simplefilter("ignore")  # the naive pieces warn on construction; the story says so
_world = World.start(seed="lab")
BEHAVIOUR = {name: threatmodel.observe(threatmodel.WIRINGS[name], world=_world)
             for name in ("naive", "hardened")}


def edited(behaviour: dict, attack: str, **changes) -> dict:
    """A copy of ``behaviour`` with one attack's observation changed (a wiring nobody built yet)."""
    out = copy.deepcopy(behaviour)
    out["attacks"][attack].update(changes)
    return out


print("wirings:", ", ".join(threatmodel.WIRINGS))
print("attacks observed:", len(threatmodel.OBSERVED))

# %% locked id=setup-traces
TRACE = {name: threatmodel.perform(w, world=_world) for name, w in threatmodel.WIRINGS.items()}
print("traces:", len(TRACE))

# %% locked id=setup-mutants
for _name in list(threatmodel.MUTANTS)[:4]:
    BEHAVIOUR[_name] = threatmodel.observe(threatmodel.MUTANTS[_name], world=_world)
print("observed:", ", ".join(BEHAVIOUR))

# %% locked id=setup-mutants-2
for _name in list(threatmodel.MUTANTS)[4:]:
    BEHAVIOUR[_name] = threatmodel.observe(threatmodel.MUTANTS[_name], world=_world)
print("observed:", ", ".join(BEHAVIOUR))

# %% locked id=setup-assemblies
_plain = ("reached", "piece")
KIT = {a: {k: r[k] for k in _plain} for a, r in threatmodel.red_team(threatmodel.assembly({}),
                                                                      world=_world).items()}
COLLEAGUE = {a: {k: r[k] for k in _plain} for a, r in threatmodel.red_team(
    threatmodel.assembly(threatmodel.COLLEAGUE), world=_world).items()}
STOPS = {a: r["piece"] for a, r in KIT.items()}
_world.close()
print("red team tables: the kit's assembly, a colleague's")

# %% [markdown]
# ## Naive, hardened, and one check removed
#
# `course.lab` builds every lab from a `Wiring`: one piece per enforcement slot. `lab.NAIVE` has
# the happy-path piece in every slot, `lab.HARDENED` the kit's. A reviewer needs the wirings in
# between: **the hardened wiring with exactly one check replaced by its naive piece**. Those are
# the *mutants* in `threatmodel.MUTANTS`:

# %%
for name, wiring in threatmodel.MUTANTS.items():
    changed = [f for f in ("session_check", "policy", "approvals", "verifier_for", "broker",
                           "log_redactor") if getattr(wiring, f) is not getattr(threatmodel.HARDENED, f)]
    print(f"{name:<24} replaces: {', '.join(changed)}")

# %% [markdown]
# The setup cells ran the red team (notebooks 02 to 07's attacks) against all ten wirings on real
# services, and kept what it saw as plain data: a **behaviour**. For each attack: did it reach its
# goal (`reached`), which refusal code stopped it (`code`), whose check that code is (`node`, from
# `course.taxonomy`), and the access log's decision and tool-call lines it left. One observation:

# %%
print(json.dumps(BEHAVIOUR["hardened"]["attacks"]["forged-acting-user"], indent=1))

# %% [markdown]
# ## Which piece stopped which attack
#
# A row per attack; `ok` where the attack failed, `OPEN` where it reached its goal. The last column
# is the hop whose check refuses it in the hardened wiring.

# %%
_cols = list(BEHAVIOUR)
print(f"{'attack':<25}" + "".join(f"{c[:9]:>10}" for c in _cols) + "   stopped at")
for attack in threatmodel.OBSERVED:
    row = "".join(f"{'OPEN' if BEHAVIOUR[c]['attacks'][attack]['reached'] else 'ok':>10}"
                  for c in _cols)
    print(f"{attack:<25}{row}   {taxonomy.stop_of(attack).node}")

# %% [markdown]
# Read it the reviewer's way, column by column and row by row:
#
# - The **naive** column is all `OPEN`; the **hardened** one all `ok`. That is what notebooks 01 to
#   07 built.
# - Some rows open under **one** mutant only: that attack is held by one check alone
#   (`wildcard-grant` by the policy loader, `single-use-replay` by the broker's replay guard). If
#   that piece regresses, nothing else stands in the way.
# - Some rows never open under a single mutant: `forged-acting-user` and `cross-tenant` are refused
#   by the session check and, if it is gone, by the grants; `secret-in-log` is redacted by the
#   broker and again by the log. Two checks hold them.
# - The `no-session-check` column is all `ok`, and that is the trap: with the session check gone,
#   the forged user is still refused, but by the grants table, *by luck of what the table lists*.
#   "Every attack failed" is not the same as "every check is in place".

# %%
for attack, mutants in threatmodel.held_by(BEHAVIOUR).items():
    if len(mutants) == 1:
        print(f"{attack:<25} held by one check alone: {mutants[0]}")
    elif mutants:
        print(f"{attack:<25} opens under each of: {', '.join(mutants)}")
    else:
        print(f"{attack:<25} no single removal opens it")

# %% [markdown]
# ---
# # Exercises
#
# ## The five misconceptions, executable
#
# The lesson lists five beliefs that make teams get this wrong. A belief is testable when you can
# build the system that holds it. A **misconception test** takes a behaviour and returns `True`
# when that wiring *disproves* the belief, `False` when the wiring is one the belief would let
# through. It must fail on the naive wiring and on every mutant built on its belief, pass on the
# hardened one, and **pass on a mutant whose missing check has nothing to do with its belief**: a
# test that fails for any reason at all does not tell you which belief broke.
#
# The kit ships three of them. Read them:

# %%
for belief, test in threatmodel.GIVEN_TESTS.items():
    print(f'"{belief}"')
    print("   fails on:", ", ".join(w for w, b in BEHAVIOUR.items() if test(b) is False))
print()
print(inspect.getsource(threatmodel.token_keeps_its_meaning))

# %% [markdown]
# You write the other two.
#
# ## Exercise 1 (3 points): "handled once Agent request is configured"
#
# The lesson: the risk appears during the **handoff** from Agent request to Vault policy; treating
# setup as completion hides stale identity. In this lab the handoff check compares the request's
# user and tenant with the session the platform opened.
#
# Write `handoff_is_checked(behaviour)`: `True` when the wiring refuses both attacks that lie about
# who is asking (`forged-acting-user`, `cross-tenant`) **at the handoff itself**, the Agent request
# hop; `False` otherwise. An attack that was stopped later, by a grant that happens not to cover it,
# was not stopped at the handoff. Decide only from these two attacks.

# %% solution id=handoff-test
def handoff_is_checked(behaviour: dict) -> bool:
    """True when both identity lies are refused at the Agent request hop."""
    ### BEGIN SOLUTION
    attacks = behaviour["attacks"]
    return all(attacks[name]["reached"] is False and attacks[name]["node"] == "Agent request"
               for name in ("forged-acting-user", "cross-tenant"))
    ### END SOLUTION

# %% tests id=test-handoff-test points=3
"""Check that handoff_is_checked fails on wirings that believe the request and passes otherwise."""
_b = BEHAVIOUR
grading.expect_same(handoff_is_checked(_b["hardened"]), True, "the hardened wiring passes",
                    "both identity lies are refused at Agent request in the hardened wiring")
grading.expect_same(handoff_is_checked(_b["naive"]), False, "the naive wiring fails",
                    "the naive wiring believes the request: your test must say so")
grading.expect_same(handoff_is_checked(_b["no-session-check"]), False,
                    "checked at the handoff, not by a later lucky grant",
                    "with the session check removed both lies are still refused, by the grants; "
                    "look at where they were refused, not only whether")
grading.expect_same(handoff_is_checked(edited(_b["hardened"], "cross-tenant", reached=False,
                                              code="no_grant", node="Vault policy")), False,
                    "the tenant comes from the session too",
                    "a wiring that checks the user but lets the grants catch another tenant "
                    "did not check the tenant at the handoff")
for _m in ("trusting-verifier", "unredacted-broker", "catalogue-only-broker"):
    grading.expect_same(handoff_is_checked(_b[_m]), True, "a misconception test names one belief",
                        f"{_m} removes a check that has nothing to do with the handoff; your test "
                        "must still pass there")
print("handoff_is_checked: visible checks passed")
### BEGIN HIDDEN TESTS
_unseen = [
    (edited(_b["hardened"], "forged-acting-user", reached=False, code="no_grant",
            node="Vault policy"), False, "checked at the handoff, not by a later lucky grant"),
    (edited(_b["hardened"], "forged-acting-user", reached=True, code=None, node=None), False,
     "the user comes from the session"),
    (edited(_b["hardened"], "cross-tenant", reached=True, code=None, node=None), False,
     "the tenant comes from the session too"),
    (edited(_b["hardened"], "wildcard-grant", reached=True, code=None, node=None), True,
     "a misconception test names one belief"),
    (_b["wildcard-policy"], True, "a misconception test names one belief"),
    (_b["reusable-single-use"], True, "a misconception test names one belief"),
]
for _beh, _want, _property in _unseen:
    with grading.tripwire(threatmodel, "GIVEN_TESTS", "held_by", "observe"):
        _got = handoff_is_checked(_beh)
    grading.expect_same(_got, _want, _property, "a wiring this notebook does not show got the "
                        "wrong verdict; re-read which two attacks and which hop")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 2 (3 points): "operational exceptions are temporary and harmless"
#
# The lesson: emergency grants, wildcard policies, broad scopes, debug hooks and approval
# shortcuts often become the path attackers use later. In the red team, four attacks ride such an
# exception: `wildcard-grant` (a "temporary" wildcard line in the grants), `scope-escalation` (a
# broad scope asked for on a narrow grant), `approval-swapped-payload` (an approval used as a
# blanket yes) and `secret-in-log` (a debug hook writing a credential to the log).
#
# Write `exceptions_stay_closed(behaviour)`: `True` when none of those four reached its goal,
# `False` otherwise. Some are refused with a code, some are defeated silently (the credential is
# redacted): what matters is whether the attack got what it came for.

# %% solution id=exceptions-test
def exceptions_stay_closed(behaviour: dict) -> bool:
    """True when no attack that rides an operational exception reached its goal."""
    ### BEGIN SOLUTION
    attacks = behaviour["attacks"]
    return not any(attacks[name]["reached"] for name in
                   ("wildcard-grant", "scope-escalation", "approval-swapped-payload", "secret-in-log"))
    ### END SOLUTION

# %% tests id=test-exceptions-test points=3
"""Check that exceptions_stay_closed fails where an exception opens a path and only there."""
_b = BEHAVIOUR
grading.expect_same(exceptions_stay_closed(_b["hardened"]), True, "the hardened wiring passes",
                    "no exception opens a path in the hardened wiring; a silently redacted "
                    "credential is a defeated attack too")
grading.expect_same(exceptions_stay_closed(_b["naive"]), False, "the naive wiring fails",
                    "every exception opens a path in the naive wiring")
grading.expect_same(exceptions_stay_closed(_b["wildcard-policy"]), False,
                    "a wildcard grant is an exception", "the grants load a '*' line here")
grading.expect_same(exceptions_stay_closed(_b["rubber-stamp-approvals"]), False,
                    "an approval shortcut is an exception too",
                    "here any approval approves any request: look at the swapped approval")
grading.expect_same(exceptions_stay_closed(edited(_b["hardened"], "scope-escalation",
                                                  reached=True, code=None, node=None)), False,
                    "a broad scope is an exception too",
                    "a charge made with a refund-only grant rode a broad scope")
for _m in ("trusting-verifier", "no-session-check", "reusable-single-use"):
    grading.expect_same(exceptions_stay_closed(_b[_m]), True, "a misconception test names one belief",
                        f"{_m} removes a check no exception rides; your test must pass there")
print("exceptions_stay_closed: visible checks passed")
### BEGIN HIDDEN TESTS
_unseen = [
    (edited(_b["hardened"], "secret-in-log", reached=True), False,
     "a debug hook is an exception too"),
    (edited(_b["hardened"], "approval-swapped-payload", reached=True, code=None, node=None), False,
     "an approval shortcut is an exception too"),
    (_b["catalogue-only-broker"], False, "a broad scope is an exception too"),
    (edited(_b["hardened"], "expired-token", reached=True, code=None, node=None), True,
     "a misconception test names one belief"),
    (_b["unredacted-log"], True, "a misconception test names one belief"),
    (_b["unredacted-broker"], True, "a misconception test names one belief"),
]
for _beh, _want, _property in _unseen:
    with grading.tripwire(threatmodel, "GIVEN_TESTS", "held_by", "observe"):
        _got = exceptions_stay_closed(_beh)
    grading.expect_same(_got, _want, _property, "a wiring this notebook does not show got the "
                        "wrong verdict; re-read which four attacks ride an exception")
### END HIDDEN TESTS

# %% [markdown]
# ### All five beliefs against all ten wirings
#
# Your two tests next to the kit's three. Each must pass on the hardened wiring and fail on the
# naive one; this cell fails, naming the belief, if one does not.

# %%
_tests = {"handled once Agent request is configured": handoff_is_checked,
          "operational exceptions are temporary and harmless": exceptions_stay_closed,
          **threatmodel.GIVEN_TESTS}
try:
    print(f"{'belief':<64}" + "".join(f"{c[:9]:>10}" for c in BEHAVIOUR))
    for belief, test in _tests.items():
        verdicts = [test(b) for b in BEHAVIOUR.values()]
        print(f"{belief:<64}" + "".join(f"{'pass' if v else 'FAIL':>10}" for v in verdicts))
        grading.expect(test(BEHAVIOUR["hardened"]) is True and test(BEHAVIOUR["naive"]) is False,
                       "a misconception test separates naive from hardened",
                       f"the test of '{belief}' does not fail on naive and pass on hardened")
except NotImplementedError:
    print("write handoff_is_checked and exceptions_stay_closed above first")

# %% [markdown]
# Each row fails on a different set of columns: five beliefs, five different checks that must not
# regress. The `no-session-check` column fails only the handoff test, even though every attack
# failed against it. That is exactly what a misconception test is for.
#
# ## Exercise 3 (4 points): a regression test for one unsafe path
#
# Notebook 07 bound an approval to one exact request, and the broker spends a token minted from it
# after one call. The invariant: **production deploys only the exact release a human approved, and
# only once.** A regression test for it performs a scripted call sequence against a wiring and
# decides from what happened. `threatmodel.perform(wiring)` performs it and returns a **trace**,
# one dict per step:

# %%
for step, what in threatmodel.SCRIPT:
    print(f"{step:<18} {what}")
print()
for s in TRACE["hardened"]:
    print(s)

# %% [markdown]
# `allowed` is `True` when a token was issued or the service answered 2xx; a step that needed a
# token an earlier step was refused has `allowed` `False` and no code.
#
# Write `stays_blocked(trace)`: `True` when the path is blocked and the feature still works, that
# is, the approved release deploys, and **every other step** of the script is refused. It will be
# graded as a reviewer grades a regression test: run against the naive wiring (it must fail), the
# hardened wiring (it must pass), every mutant whose missing check lies on this path (it must
# fail) and every mutant whose missing check does not (it must pass). A test that passes on a
# vault that refuses everything proves nothing about the check.

# %% solution id=regression
def stays_blocked(trace: list) -> bool:
    """True when only the approved release deploys, once, and every other step is refused."""
    ### BEGIN SOLUTION
    deployed = [s for s in trace if s["step"] == "approved-deploy"]
    others = [s for s in trace if s["step"] != "approved-deploy"]
    return (len(deployed) == 1 and deployed[0]["allowed"] is True
            and not any(s["allowed"] for s in others))
    ### END SOLUTION

# %% tests id=test-regression points=4
"""Check that stays_blocked fails on every wiring that opens the path, and passes where it holds."""
_t = TRACE
grading.expect_same(stays_blocked(_t["hardened"]), True, "the hardened wiring passes",
                    "only the approved release deploys there; a step that was never attempted "
                    "(no token, no code) is not an allowed step")
grading.expect_same(stays_blocked(_t["naive"]), False, "the naive wiring fails",
                    "the naive wiring deploys everything")
grading.expect_same(stays_blocked(_t["rubber-stamp-approvals"]), False,
                    "an approval covers one exact release",
                    "here the approval for 1.4.2 was accepted for another release")
grading.expect_same(stays_blocked(_t["reusable-single-use"]), False, "one approval, one deploy",
                    "here the approved token deployed twice")
grading.expect_same(stays_blocked(_t["catalogue-only-broker"]), False,
                    "the approved token deploys only the approved arguments",
                    "here the approved token deployed a different version")
grading.expect_same(stays_blocked(_t["wildcard-policy"]), False, "production needs an approval",
                    "here a production deploy token was issued with no approval at all")
_closed = copy.deepcopy(_t["hardened"])
for _s in _closed:
    if _s["step"] == "approved-deploy":
        _s.update(allowed=False, code="approval_required", node="Vault policy", status=None)
grading.expect_same(stays_blocked(_closed), False, "the approved release still deploys",
                    "a vault that refuses everything passes a test that only looks at refusals")
for _m in ("no-session-check", "trusting-verifier", "unredacted-broker", "unredacted-log"):
    grading.expect_same(stays_blocked(_t[_m]), True, "a regression test fails only for its own path",
                        f"{_m} removes a check off this path; the path still holds there")
print("stays_blocked: visible checks passed")
### BEGIN HIDDEN TESTS
def _with(step, **changes):
    out = copy.deepcopy(_t["hardened"])
    for s in out:
        if s["step"] == step:
            s.update(changes)
    return out


_unseen = [
    (_with("swapped-deploy", allowed=True, status=201), False, "an approval covers one exact release"),
    (_with("unapproved", allowed=True, code=None, node=None), False, "production needs an approval"),
    (_with("replay", allowed=True, code=None, node=None, status=201), False, "one approval, one deploy"),
    (_with("swapped-arguments", allowed=True, code=None, node=None, status=201), False,
     "the approved token deploys only the approved arguments"),
    (_with("replay", code="replay", node="Tool call"), True, "any refusal of the replay will do"),
    (_with("swapped-approval", code="approval_expired"), True, "any refusal will do"),
    (_with("approved-deploy", allowed=False, code=None, node=None, status=502), False,
     "the approved release still deploys"),
]
for _trace, _want, _property in _unseen:
    with grading.tripwire(threatmodel, "perform", "GIVEN_TESTS"):
        _got = stays_blocked(_trace)
    grading.expect_same(_got, _want, _property, "a trace this notebook does not show got the "
                        "wrong verdict; re-read the invariant step by step")
### END HIDDEN TESTS

# %% [markdown]
# ### Your test against every wiring
#
# The grader's view of your regression test: a mutant is **on the path** when removing its check
# lets any step but the approved deploy through. Your test must fail exactly there. The cell fails,
# naming the wiring, if it does not.

# %%
try:
    for name, trace in TRACE.items():
        opened = [s["step"] for s in trace if s["allowed"] and s["step"] != "approved-deploy"]
        verdict = stays_blocked(trace)
        print(f"{name:<24} your test: {'pass' if verdict else 'FAIL':<5} opened: {', '.join(opened) or '-'}")
        grading.expect(verdict is (not opened), "a regression test fails exactly where its path opens",
                       f"on {name} your test says {verdict}, but the path is "
                       f"{'open' if opened else 'closed'}")
except NotImplementedError:
    print("write stays_blocked above first")

# %% [markdown]
# Four of the eight mutants are on this path, each opening a different step: the policy (no
# approval required), the approval book (any approval approves anything), the broker's call check
# (other arguments) and its replay guard (a second deploy). A regression test that checks only the
# step of the last bug you fixed catches one of the four.
#
# ## Exercise 4 (2 points): redraw the lesson's diagram
#
# The lesson's weekend project ends with: *update the diagram so the enforcing component and the
# visibility gap are obvious.* Here is its sequence diagram as the seed draws it:

# %%
print(threatmodel.LESSON_DIAGRAM)

# %% [markdown]
# Edit it and return the Mermaid source from `trust_diagram()`. Keep the five participants and
# their labels, and add two marks:
#
# 1. **The enforcing check.** One note, `Note over <alias>: enforcing: ...`, over the participant
#    whose **check** refuses a pass that tells a weaker story than the one it was issued for (a
#    ticket pass at the payments API, an edited scope, an expired pass). Name the check's hop, not
#    the component that happens to run it (the taxonomy's rule from notebook 00).
# 2. **The visibility gap.** In this diagram the access log only hears about side effects. One
#    message whose text starts with `gap:` closes the gap: from the participant whose **decision**
#    the log never sees here (the one that decides what a request may become) to the Access log.
#
# The diagram renders below your cell in JupyterLab if you paste it into a markdown cell.

# %% solution id=diagram
def trust_diagram() -> str:
    """The lesson's sequence diagram with the enforcing check and the visibility gap marked."""
    ### BEGIN SOLUTION
    return threatmodel.LESSON_DIAGRAM + """
    P->>L: gap: decision, input facts and reason
    Note over M: enforcing: stamp, life, audience, revocation"""
    ### END SOLUTION

# %% tests id=test-diagram points=2
"""Check that trust_diagram marks the enforcing check's hop and the policy's missing log edge."""
_parsed = threatmodel.parse_sequence(trust_diagram())
_lesson = threatmodel.parse_sequence(threatmodel.LESSON_DIAGRAM)
grading.expect_same(_parsed["participants"], _lesson["participants"], "the path keeps its five hops",
                    "keep the five participants, their aliases and labels")
_enforcing = [over for over, text in _parsed["notes"] if text.lower().startswith("enforcing")]
grading.expect_same(_enforcing, [["M"]], "the enforcing check sits at Short-lived token",
                    "one 'enforcing' note, over the hop whose check refuses a pass telling a weaker "
                    "story (not the broker that runs the check, not the policy that wrote the pass)")
_gaps = [[src, dst] for src, dst, text in _parsed["messages"] if text.lower().startswith("gap:")]
grading.expect_same(_gaps, [["P", "L"]], "the policy's decision reaches the log",
                    "one 'gap:' message from the hop that decides what a request becomes to the "
                    "Access log")
grading.expect(all(m in _parsed["messages"] for m in _lesson["messages"]),
               "the path keeps its five hops", "edit the lesson's messages, do not remove them")
print("trust_diagram: visible checks passed")

# %% [markdown]
# The enforcing note lands on the token's hop even though the broker runs the verifier: the
# refusal codes `wrong_audience`, `bad_signature`, `expired` and `revoked` are the pass's own. And
# the gap is where this whole course began: "logs will make the incident obvious" only holds for
# decisions the log is *told about*. A log that hears only side effects records a valid pass doing
# its job.
#
# ## Your own assembly against the red team (optional, ungraded)
#
# So far the table was the kit's. Your functions from notebooks 02 to 07 fill six of the same
# slots. Paste them into the cell below, **under the same names and with the same signatures as
# in their notebooks**, and the cell after it plugs them into `lab.HARDENED` (one adapter per
# slot, in `course.threatmodel`), runs every attack of the table above against that one vault,
# and prints which piece stopped each attack and whose piece it was:

# %%
for _p in threatmodel.PIECES.values():
    _also = f"  (paste {', '.join(_p.needs)} too: it calls them)" if _p.needs else ""
    print(f"{_p.name:<13} notebook {_p.notebook:<22} {_p.signature}{_also}")
print("kit only here:", ", ".join(threatmodel.KIT_ONLY))

# %% [markdown]
# Where a function is missing, the kit's piece stands in and the table says `kit (stand-in)`.
# Three things the adapters do, so that the table is honest:
#
# - **No kit check runs behind your piece.** With your `must_die`, the kit's revocation list no
#   longer answers for revoked sessions; with your `verify_token`, the kit's verifier is gone. If
#   your piece lets an attack through, the table shows it.
# - Your `must_die` gets the vault's books as notebook 06 gave them (`sessions`, `tokens`, `at`,
#   read from the access log) and the session that was revoked by hand; the cascade is yours.
# - Your `approval_refusal` gets each approval as notebook 07's approval service stored it and
#   the ids already spent; the vault only keeps asking whether it issued that approval at all.
#   A self-approval is recorded and left for your check to refuse at redemption.
# - The access log's enforcing part is its redactor, notebook 04's `redact`. Notebook 05's
#   `decision_record` is the shape of a record, not a check: no slot takes it, and the red team
#   does not read records.
# - Notebook 03's grants never needed an approval. When your `decide` allows on a grant that needs
#   one (production deploys), the vault still asks for the human's yes, as notebook 07 taught.
#
# The notebooks' own helpers your code may call (`trusted_keys`, `DEFAULT_LEEWAY`, `policy`,
# `tokens`, `errors`, `connectors`, `approvals`, `jwt`, `re`, ...) are loaded by the next cell.

# %%
import base64  # noqa: F401,E402 - what the pasted functions of 02-06 use
import json  # noqa: F401,E402
import re  # noqa: F401,E402
import urllib.parse  # noqa: F401,E402

import jwt  # noqa: F401,E402

from course import approvals, connectors, errors, policy, tokens  # noqa: F401,E402

trusted_keys = threatmodel.trusted_keys  # notebook 02's given helper
DEFAULT_LEEWAY, MAX_TTL = tokens.DEFAULT_LEEWAY, 900  # notebook 02's constants
print("helpers loaded for the pasted functions")

# %%
# Paste your functions here (optional): verify_token (02), decide and narrow (03),
# authorize and redact (04), must_die (06), approval_refusal (07). Leave out any you did not write.

# %%
_mine = threatmodel.pasted(globals())
_w = World.start(seed="lab")
try:
    YOURS = threatmodel.red_team(threatmodel.assembly(_mine), world=_w)
finally:
    _w.close()
print("your pieces:", ", ".join(_mine) or "none pasted: the kit stands in for every one")
print()
print(threatmodel.assembly_table(YOURS, _mine))

# %% [markdown]
# Read the `stopped by` column before the `outcome` one. With the kit standing in for everything,
# the verifier ends six attacks, the call check two, the revocation list one, the policy one (the
# confused deputy: carol, honestly badged, asks the helpdesk agent for the refund only bob may
# have it make) and **the approval check none**: every attack that lies about who is asking is
# refused earlier, by the session check, the wildcard by the loader, and the swapped approval is
# refused by the approval check first but ended by the call check (the attack's second path). A
# red team that never ends an attack at a piece proves nothing about it: paste notebook 03's
# `decide` with the user test left out and watch the confused deputy get its refund.
#
# ## Exercise 5 (3 points): which piece must be fixed?
#
# A colleague pasted two pieces into the same vault: a `verify_token` and a `must_die`. Here is
# the red team's table for that assembly, and the piece that ends each attack in the kit's:

# %%
print(threatmodel.assembly_table(COLLEAGUE, threatmodel.COLLEAGUE, owner="colleague's"))
print()
print("STOPS, the piece that ends each attack in the kit's assembly:")
for _a, _p in STOPS.items():
    print(f"  {_a:<26} {_p}")

# %% [markdown]
# Every attack failed but one. Is the colleague's verifier fine? A reviewer does not ask whether
# each attack failed; she asks whether **each piece did its own job**. Write
# `review(rows, stops)`:
#
# - `rows` is a red-team table as plain data, `{attack: {"reached": bool, "piece": str | None}}`
#   (`piece` is the piece that ended the attack, `None` when it reached its goal);
# - `stops` says which piece ends each attack in the kit's assembly, `{attack: piece}`.
#
# Return `{piece: verdict}` for **every piece named in `stops`**:
#
# - `"open"` when an attack that piece should stop reached its goal;
# - otherwise `"unproven"` when an attack that piece should stop was ended by **another** piece
#   (a backup held, or something earlier refused it first: either way this piece was not shown to
#   refuse it);
# - otherwise `"proven"`.

# %% solution id=review
def review(rows: dict, stops: dict) -> dict:
    """Per piece: open (an attack of its got through), unproven (another piece ended one), proven."""
    ### BEGIN SOLUTION
    verdict = {piece: "proven" for piece in stops.values()}
    for attack, piece in stops.items():
        row = rows[attack]
        if row["reached"]:
            verdict[piece] = "open"
        elif row["piece"] != piece and verdict[piece] != "open":
            verdict[piece] = "unproven"
    return verdict
    ### END SOLUTION

# %% tests id=test-review points=3
"""Check that review opens, doubts and proves each piece by its own attacks."""
_v = review(copy.deepcopy(COLLEAGUE), dict(STOPS))
grading.expect_same(sorted(_v), sorted(set(STOPS.values())), "every piece that stops an attack gets a verdict",
                    "one key per piece named in stops, no other")
grading.expect_same(_v["revocation"], "open", "an attack that got through opens the piece that should stop it",
                    "the revoked session's pass still worked: whose job was that?")
grading.expect(_v["verifier"] != "open", "nothing got through: the piece is unproven, not open",
               "no attack of the verifier reached its goal in the colleague's table")
grading.expect_same(_v["verifier"], "unproven", "stopped by another piece proves nothing about this one",
                    "the ticket pass at payments was ended by the call check; the verifier accepted it")
for _piece in ("call check", "session check", "replay guard", "broker redaction", "policy loader"):
    grading.expect_same(_v[_piece], "proven", "a piece that ended all its attacks is proven",
                        f"the {_piece} ended every attack it ends in the kit's assembly")
_both = copy.deepcopy(COLLEAGUE)
_both["expired-token"] = {"reached": True, "piece": None}  # the first verifier attack gets through
grading.expect_same(review(_both, dict(STOPS))["verifier"], "open",
                    "one attack through opens the piece, whatever comes after",
                    "a later attack ended elsewhere must not turn open back into unproven")
grading.expect_same(set(review(copy.deepcopy(KIT), dict(STOPS)).values()), {"proven"},
                    "a piece that ended all its attacks is proven", "the kit's own table proves every piece")
print("review: visible checks passed")
### BEGIN HIDDEN TESTS
_S = {"a1": "verifier", "a2": "verifier", "a3": "policy", "a4": "call check", "a5": "revocation"}
_ok = {a: {"reached": False, "piece": p} for a, p in _S.items()}
_unseen = [
    ({**_ok, "a2": {"reached": False, "piece": "call check"}}, "verifier", "unproven",
     "stopped by another piece proves nothing about this one"),
    ({**_ok, "a1": {"reached": False, "piece": "session check"}}, "verifier", "unproven",
     "stopped by another piece proves nothing about this one"),
    ({**_ok, "a1": {"reached": True, "piece": None}, "a2": {"reached": False, "piece": "policy"}},
     "verifier", "open", "one attack through opens the piece, whatever comes after"),
    ({**_ok, "a2": {"reached": True, "piece": None}}, "verifier", "open",
     "an attack that got through opens the piece that should stop it"),
    ({**_ok, "a3": {"reached": False, "piece": None}}, "policy", "unproven",
     "stopped by another piece proves nothing about this one"),
    ({**_ok, "a4": {"reached": False, "piece": "verifier"}}, "verifier", "proven",
     "a piece that ended all its attacks is proven"),
    (_ok, "revocation", "proven", "a piece that ended all its attacks is proven"),
]
for _rows, _piece, _want, _property in _unseen:
    with grading.tripwire(threatmodel, "red_team", "assembly", "held_by"):
        _got = review(copy.deepcopy(_rows), dict(_S))
    grading.expect_same(sorted(_got), sorted(set(_S.values())), "every piece that stops an attack gets a verdict",
                        "a table this notebook does not show got the wrong pieces")
    grading.expect_same(_got[_piece], _want, _property, "a table this notebook does not show got the wrong "
                        "verdict; re-read the three rules in order")
### END HIDDEN TESTS

# %% [markdown]
# The colleague's table said "stopped" fourteen times out of fifteen, and two pieces need work:
# the revocation is open (it spares the revoked session itself, killing only the sessions
# delegated from it), and the verifier is unproven: it accepts a ticket pass at the payments API,
# and only the call check's scope comparison stood in the way. Remove that scope tomorrow and the
# attack walks through.
#
# Your own verdict, on the assembly you pasted above (optional; with nothing pasted it is the
# kit's, and every piece is proven):

# %%
try:
    _yours = {a: {"reached": r["reached"], "piece": r["piece"]} for a, r in YOURS.items()}
    for _piece, _verdict in review(_yours, dict(STOPS)).items():
        _whose = "yours" if _piece in _mine else "kit"
        print(f"{_piece:<17} {_verdict:<9} ({_whose})")
except NotImplementedError:
    print("write review above first")

# %% [markdown]
# ## Switch the lens
#
# This notebook's event is the lesson's attacker goal at its boundary: a pass issued for the ticket
# API, presented with a weaker story at the payments API. Four readers:

# %%
event = simulator.walk("token-for-another-tool")
for lens in ("school", "university", "engineer"):
    print(simulator.describe(event, lens), end="\n\n")
print(simulator.describe(simulator.walk("token-for-another-tool", wiring="naive"), "reviewer"))

# %% [markdown]
# The **school student** sees a pass shown at the wrong door; the **university student** the
# audience claim compared with the tool the broker is calling; the **engineer** the `deny
# wrong_audience` line and whose session to revoke. The **reviewer** reads the naive wiring and
# finds the belief: *a genuine pass is good at every door*. In the table above, that attack opens
# under no single mutant: the audience check and the scope check both hold it. Exercise 4 is this
# section's graded lens item: the reviewer placing the enforcing check on the picture.
#
# ## Reflection (2 points, graded by hand): the stale assumption
#
# Pick **one** attack from the table (not `token-for-another-tool`). Write down, in one sentence
# each: (1) the exact stale assumption the naive wiring makes, phrased as something a reasonable
# engineer once believed, and when it was last true; (2) the fact, and its trusted source, that
# the hardened check compares instead; (3) which mutant column shows what happens when that check
# regresses, and whether another check still holds it; (4) the signal an engineer on call would see
# if it were attempted tomorrow. Four to six sentences.

# %% [markdown] manual id=reflect-stale points=2
# ### BEGIN SOLUTION
# *Mark scheme (stays in the source notebook; the student version shows only the answer box).*
#
# - **1 point**: the assumption is stated as a belief someone could hold (e.g. "a single-use token
#   is used once because the agent means to use it once"), specific to the chosen attack, with a
#   plausible moment it was true (one process, one gateway, before agents read customer text);
#   and the trusted source is right for that attack (taxonomy: session, grants, approval, vault
#   key, clock, revocation list, called tool, operation table, replay guard, secret store). A
#   generic "trust is bad" earns 0.
# - **1 point**: the mutant column is read correctly (held by one check alone, or by two: e.g.
#   forged-acting-user still refused by the grants without the session check, and why that is luck)
#   **and** the signal names a log line or counter that exists in this kit (a `deny <code>` line at
#   the right hop, the redaction count). "Monitor the logs" earns 0 for this part.
# ### END SOLUTION

# %% [markdown]
# ## What you can now prove
#
# - Two of the lesson's misconceptions are executable tests **you wrote**: each fails on the naive
#   wiring and on the mutants built on its belief, and passes on the hardened wiring and on mutants
#   whose missing check is unrelated.
# - Your regression test for the approval path fails on the naive wiring and on each of the four
#   mutants that open a step of it, and passes on the hardened wiring and the four that do not.
# - Your redrawn diagram puts the enforcing check at the pass's hop and the missing log edge at the
#   policy's decision.
# - Your `review` tells an open piece from one that is only unproven because another piece ended
#   its attack, on the colleague's table and on tables you have not seen. If you pasted your
#   pieces, the table above is the red team's verdict on **your** verifier, policy, approval
#   check, call check, log redactor and revocation, each stopping what it stopped with no kit
#   check behind it.
#
# The table of which piece stopped which attack, and the three given misconception tests, are the
# kit's; you read them. Notebook 09 puts all of it to work on one incident: the deployment agent.
#
# ---
# ## Go deeper (optional, ungraded)
#
# ### The red team's own table
#
# `redteam.run_suite` runs each attack in a fresh lab of the naive and hardened wirings (the table
# above reused one lab per wiring; `tests/test_threatmodel.py` proves the two agree):

# %%
print(redteam.table(redteam.run_suite(
    attacks=[a for a in redteam.ATTACKS if a.name in ("wildcard-grant", "approval-swapped-payload",
                                                       "single-use-replay")])))

# %% [markdown]
# ### Reading
#
# - **OWASP Top 10 for LLM Applications (2025)**: LLM06 *Excessive Agency* is the wildcard grant and
#   the reusable approval; OWASP's *Agentic AI: Threats and Mitigations* lists *Privilege
#   Compromise* and *Tool Misuse*, which are the policy → token boundary failing, and *Repudiation
#   and Untraceability*, which is exercise 4's gap.
# - **NIST AI RMF 1.0**: the *Measure* function asks for tests of the risks you mapped; a
#   misconception test is one such measurement, with a pass and a fail condition.
# - **Ross Anderson, *Security Engineering* (3rd ed.)**: the chapter on protocols shows how a
#   protocol fails when one party assumes a fact another never proved, which is every stale
#   assumption in the table.
# - **Google, *Site Reliability Engineering***: the chapter on testing for reliability argues for
#   regression tests that pin one failure mode each, and that fail for that reason only.
