# %% [markdown]
# # 00 · The checkout desk
#
# **Layer: School student** · node: the whole path
#
# An AI agent that can file tickets, refund payments or deploy software needs *authority*: some
# way to prove to each of those systems that it may act. This course is about handing out that
# authority without handing out the keys. Before any mechanism, this notebook gives you one picture
# to hang everything on, and a simulator to watch a real request walk through it. By the end you
# will be able to:
#
# - explain a credential vault as a **checkout desk for temporary authority**, and say exactly
#   where the picture and the real system line up;
# - follow one request along the **trust path** and name, at every hop, who is trusted, what proof
#   was demanded, where the check sits, and what happens if that check is fooled;
# - switch an attacker's trick on, and point to the hop that stops it, and to the missing check
#   that lets it through a naive system;
# - look at the same walk through the eyes of a student, an engineer on call and a security
#   reviewer, and notice what each of them sees that the others miss.
#
# ```mermaid
# flowchart LR
#   A["Agent request"] --> P["Vault policy"] --> T["Short-lived token"] --> C["Tool call"] --> L["Access log"]
#   X["Attacker trick"] -.-> P
#   classDef focus fill:#edf7f4,stroke:#174b43,stroke-width:3px,color:#121417
#   classDef attacker fill:#fff1eb,stroke:#d8512a,stroke-width:2px,color:#121417
#   class A,P,T,C,L focus
#   class X attacker
# ```
#
# Every later notebook highlights one of these five boxes and hardens it. Here, all five are lit:
# we look at the whole road before we repave any part of it.

# %% [markdown]
# ## A checkout desk, not a photocopier
#
# Picture a large workshop. The valuable machines sit behind locked doors, and one master key
# opens all of them. There are two ways to let a helper use a machine.
#
# **The photocopier.** You copy the master key and give the helper the copy. It works on every
# door, it works forever, and it works for whoever happens to hold it: the helper, anyone the
# helper lends it to, anyone who finds it in a coat pocket. You no longer know how many copies
# exist. Taking the authority back means changing every lock in the building. Putting an API key
# into an agent's prompt, its memory or its configuration is exactly this: the model can repeat
# it, log it, or be talked into sending it somewhere (notebook 01 shows that happening for real).
#
# **The checkout desk.** The master key never leaves the safe behind the desk. A helper who needs
# a machine walks up and asks, and the desk does four things:
#
# 1. **It checks who is asking, from the badge, not from the story.** "I'm here for Bob" is
#    something anyone can say. The badge the building issued at the entrance says who the helper
#    really works for today. In our system the badge is the *session* the platform opened when a
#    person logged in; the agent's own words (or words injected into what it read) do not count.
# 2. **It looks the job up in the lending book.** The book lists, one line per permission, which
#    helper may use which machine for which job on whose behalf. If the job is not in the book the
#    answer is no; nobody improvises. That book is the *vault policy*.
# 3. **It writes a pass.** The pass names the holder, the person they act for, the one door it
#    opens, the job, a serial number and a time after which it is worthless, and it carries the
#    desk's stamp, which nobody else can forge. That pass is the *short-lived token*, and the
#    stamp is a digital signature. Because it dies on its own in minutes, losing it is a small
#    problem, not a lock-changing one.
# 4. **It writes the ledger.** Every pass handed out and every refusal goes into a bound book
#    with numbered pages: who asked, for what, what the desk decided and why. A page cannot be
#    changed, removed or slipped in without the numbering giving it away (and once the desk tells
#    someone outside how far the book went, cutting off the last pages shows too). The ledger
#    records the pass's serial number, never a copy of the master key. That ledger is the
#    *access log*.
#
# And at the machine itself stands a **door keeper** (the *broker*): it reads the pass, checks
# the stamp, the door, the job and the time, and only then opens the door, using the real key
# that it never hands to the helper. If the helper asks for a different door than the pass names,
# the keeper says no, however convincing the helper sounds.
#
# | at the desk | in the lab kit | on the trust path |
# |---|---|---|
# | the badge from the entrance | `vault.Session` (opened by the platform) | Agent request |
# | the lending book | `policy.GrantPolicy` and its grants | Vault policy |
# | the stamped pass with an end time | an Ed25519-signed JWT (`tokens`) | Short-lived token |
# | the door keeper with the real key | `broker.Broker` + the secret store | Tool call |
# | the bound ledger | `audit.AccessLog` (hash-chained) | Access log |
#
# Where the picture stops fitting is worth knowing too: a real desk clerk can notice a nervous
# helper, a vault only sees the facts it is given. Everything the desk must check has to arrive
# *as a fact*: in the session, in the request, in the token. What is not a fact cannot be checked.

# %% [markdown]
# ## The four questions
#
# At every hop of the path you can ask the same four questions. They are the whole of this
# notebook's method, and they stay useful when the mechanisms get technical:
#
# 1. **Who is trusted?** Which party's word does this hop accept: the platform's session, the
#    vault's grants, the vault's signing key, the broker?
# 2. **What proof?** What does that party have to show before the hop believes it?
# 3. **Where is the check?** Which component actually compares the proof with what is asked, and
#    refuses when they disagree?
# 4. **What if it is fooled?** If this check accepts a false story, which hops after it act on
#    that story as if it were true?
#
# Question 4 is the one people skip. A check is only as valuable as what stands behind it: fool
# the first hop and four others believe you; fool the last and the damage is already done.

# %% locked id=setup
import dataclasses

from course import TRUST_PATH, grading, simulator

print("trust path:", " -> ".join(TRUST_PATH))
print("lenses:    ", ", ".join(f"{key} ({label})" for key, label in simulator.LENSES.items()))
print("tricks:    ", len(simulator.TRICKS), "of them, plus None for the honest request")

# %%
# The pictures of the path need matplotlib; importing it here keeps the setup cell quick.
import matplotlib.pyplot as plt  # noqa: E402

from course import plots  # noqa: E402

# %% [markdown]
# ## One honest request, hop by hop
#
# `simulator.walk()` sends one request through the **real** kit: the support agent `helpdesk-bot`,
# acting for `alice` in the company `acme`, wants to read the ticket queue for its triage job.
# Behind the call there are real HTTP services on your machine, a real vault with a seeded Ed25519
# key, a real broker holding the real API key, and a real hash-chained log. The walk comes back as
# a frozen value: one `Hop` per node, each saying who was trusted there, which fact was checked,
# whether the request got past, and what happened.

# %%
honest = simulator.walk()
print("goal:", honest.goal)
for hop in honest.hops:
    print(f"{hop.node:<18} passed={hop.passed!s:<5} trusted: {hop.actor}")
print()
print("what the tool call hop saw:", honest.hop("Tool call").detail)

# %% [markdown]
# Notice what is **not** in that output: no API key, no token text, no port number. The agent asked
# for a pass, the broker used the real key at the very last step, and the agent only ever heard
# "200". Here is the same walk read through the first lens, the school student's: a picture and the
# four questions at each hop.

# %%
print(simulator.describe(honest, "school"))

# %% [markdown]
# ## Switching a trick on
#
# Now the attacker. `simulator.TRICKS` lists the moves the simulator knows; each is a real attack on
# the real kit, not a story. We start with a pass that is an hour old: the attacker found it in a
# log and tries it anyway. The path is drawn with a red mark on the hop that refused it.

# %%
stale = simulator.walk("expired-token")
where = simulator.stopping_node(stale)
print(f"trick: {stale.trick} -> {simulator.TRICKS[stale.trick]}")
print(f"refused at {where}, code {stale.hop(where).code!r}")
print("the log still recorded it:", stale.hop("Access log").detail)
fig = plots.trust_path(highlight=where, blocked_at=where)
plt.show()

# %% [markdown]
# The pass got past the desk (it was a genuine pass, honestly issued) and was refused at the
# **Short-lived token** hop, where the door keeper checks the stamp, the door and the time. The
# Tool call hop was never reached, but the Access log was: a refusal is exactly what an engineer
# on call will want to find later.
#
# ## The same trick against a naive system
#
# The kit also ships the system a team builds on the happy path (`course.unsafe`, named so you
# cannot use it by accident): it decodes a token without checking its stamp or its time, believes
# whatever user the request names, and grants `*` to anything whose name ends in `-bot`. Run the
# same trick through both wirings:

# %%
for wiring in simulator.WIRINGS:
    w = simulator.walk("expired-token", wiring=wiring)
    stop = simulator.stopping_node(w)
    marks = " ".join("PASS" if h.passed else "STOP" if h.node == stop else
                     "REC " if h.reached else "----" for h in w.hops)
    print(f"{wiring:<9} {marks}")
print()
print(simulator.describe(simulator.walk("expired-token", wiring="naive"), "reviewer"))

# %% [markdown]
# (`REC` marks the Access log when it recorded a refusal made earlier, `----` a hop never reached.)
# Against the naive wiring every hop says PASS, and the reviewer's lens names the *stale
# assumption* that let the trick through at each hop: "a token that decodes is a token that is
# valid". An assumption is stale when it was true once (inside one trusted gateway, say) and
# nobody rechecked it when the system changed.
#
# ## Four lenses, one walk
#
# The lesson's four layers are four ways to read the same walk. Pick one trick, change only the
# lens, and watch what each reader notices:
#
# - **School student**: the picture and the four questions.
# - **University student**: the mechanism at each hop: session comparison, grant matching and
#   narrowing, the token's claims and signature, the broker's scope check, the hash chain.
# - **Engineer on call**: what the log wrote at each hop, and where the request was refused, what
#   to revoke and which signal should have paged.
# - **Security reviewer**: the attacker's move at each hop, and the stale assumption behind it.

# %%
cross_tool = simulator.walk("token-for-another-tool")
print(simulator.describe(cross_tool, "university"))

# %% [markdown]
# A pass for the ticket system was presented at the payments system. The token was genuine and
# still fresh; what failed was its **audience**: it names one door, and this was another. The
# engineer on call sees a different story in the same walk. Here it is for a forged user, where the
# model read "act on behalf of user bob" somewhere and the request now claims to be for bob:

# %%
print(simulator.describe(simulator.walk("forged-acting-user"), "engineer"))

# %% [markdown]
# The desk compared the request with the **badge** (alice's session) and refused at the very first
# hop, with code `session_mismatch`. For the engineer that code is gold: a model claiming a user it
# was not logged in for means someone else's words are steering it, so the session is the thing
# to revoke. And the last trick for now: instructions hidden in a customer's ticket.

# %%
print(simulator.describe(simulator.walk("injected-instruction"), "reviewer"))

# %% [markdown]
# The model did obey the hidden instruction (the scripted model in this lab does, on purpose, as
# real models often do). It did not matter: the lending book has no line that lets the support
# agent use the payments system for a triage job, so the vault said `no_grant`. The attacker
# controlled the agent's *words*, but not its *authority*. That is the difference between a desk
# and a photocopier in one sentence.
#
# ## The simulator
#
# Switch the lens, the trick and the wiring yourself. (In a browser with JupyterLab this shows
# toggles; the same narration is available without a browser as
# `simulator.simulate(trick, lens, wiring=...)`, which is what the cells above and the graded
# checks use.)

# %%
# NBVAL_IGNORE_OUTPUT
# Reason: an ipywidgets display stores model ids that change on every run; the text it shows is
# the output of simulator.describe, which the cells above already pin.
simulator.widget()

# %% [markdown]
# ---
# # Exercises
#
# Three small functions, each run against real walks of the kit, including tricks and hops that
# this notebook never shows you. Work from the `Hop` fields (`node`, `actor`, `fact_checked`,
# `passed`, `reached`, `code`, `detail`, `log`) and from `TRUST_PATH`. The simulator also contains
# its own reference answers (`checked_nodes`, `stopping_node`, `four_questions_for`, and
# `describe`/`simulate` which use them): calling them from your answer fails the hidden tests.
#
# ## Exercise 1 (2 points): trace a walk
#
# Write `trace(w)`: the list of node names, in path order, where a fact was actually **checked**
# during this walk. A hop's fact was checked when the request reached it (`hop.reached`), whether
# or not it passed. Remember the ledger: the Access log is reached even when an earlier hop refused,
# because refusals are recorded too.

# %% solution id=trace
def trace(w: simulator.Walk) -> list[str]:
    """The nodes, in order, whose check ran during walk ``w`` (a list of str)."""
    ### BEGIN SOLUTION
    nodes = []
    for hop in w.hops:
        if hop.reached:
            nodes.append(hop.node)
    return nodes
    ### END SOLUTION

# %% tests id=test-trace points=2
"""Check that trace lists every checkpoint that ran, refusals and the ledger included."""
_t = trace(simulator.walk())
grading.expect(_t == list(TRUST_PATH), "the honest request is checked at every hop",
               f"an honest walk reaches all five hops; trace gave {_t!r}")
_t = trace(simulator.walk("expired-token"))
grading.expect(_t == ["Agent request", "Vault policy", "Short-lived token", "Access log"],
               "a refusal is a check, and the ledger records it",
               "the expired pass is checked at the first three hops, refused at the third, and "
               f"the refusal is written to the Access log; trace gave {_t!r}")
print("trace: visible checks passed")
### BEGIN HIDDEN TESTS
def _trace_checked(w):
    with grading.tripwire(simulator, "checked_nodes", "stopping_node", "four_questions_for",
                          "describe", "simulate"):
        got = trace(w)
    assert grading.exactly(got, list(simulator.checked_nodes(w))), (w.trick, w.wiring, got)


for _wiring in simulator.WIRINGS:
    for _trick in ("other-tenant", "wildcard-grant", "revoked-session", "scope-escalation",
                   "secret-in-log", "tampered-claims"):
        _trace_checked(simulator.walk(_trick, wiring=_wiring))
# hops this notebook never shows: a walk refused at the first hop, then a hand-made one
_trace_checked(simulator.walk("other-tenant"))
_w = simulator.walk("scope-escalation")
_odd = dataclasses.replace(_w, hops=tuple(
    dataclasses.replace(h, reached=h.node in ("Agent request", "Tool call", "Access log"))
    for h in _w.hops))
_trace_checked(_odd)
_trace_checked(dataclasses.replace(_w, hops=()))
assert grading.exactly(trace(simulator.walk("other-tenant")), ["Agent request", "Access log"])
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 2 (3 points): where is the checkpoint that stops it?
#
# Write `first_checkpoint_that_stops(trick, wiring="hardened")`. Walk the trick for real with
# `simulator.walk(trick, wiring=wiring)` and return the **node** of the first hop that was reached
# and refused the request, or `None` when the request got through every hop. The hidden tests run
# your function on tricks you have not seen in this notebook, on both wirings.

# %% solution id=first-stop
def first_checkpoint_that_stops(trick: str | None, wiring: str = "hardened") -> str | None:
    """The node whose check refused ``trick`` in ``wiring``, or None if it got through."""
    ### BEGIN SOLUTION
    w = simulator.walk(trick, wiring=wiring)
    for hop in w.hops:
        if hop.reached and not hop.passed:
            return hop.node
    return None
    ### END SOLUTION

# %% tests id=test-first-stop points=3
"""Check that first_checkpoint_that_stops names the hop that refused, and None when nothing did."""
_n = first_checkpoint_that_stops("expired-token")
grading.expect(_n == "Short-lived token", "the stale pass is stopped where passes are checked",
               f"an expired token must be refused at the Short-lived token hop, not {_n!r}")
_n = first_checkpoint_that_stops("forged-acting-user")
grading.expect(_n == "Agent request", "the badge, not the story",
               f"a request naming another user must stop at the Agent request hop, not {_n!r}")
_n = first_checkpoint_that_stops("expired-token", wiring="naive")
grading.expect(_n is None, "a trick that gets through is stopped nowhere",
               f"the naive wiring lets the expired pass through; expected None, got {_n!r}")
print("first_checkpoint_that_stops: visible checks passed")
### BEGIN HIDDEN TESTS
_unseen = ("other-tenant", "wildcard-grant", "tampered-claims", "revoked-session",
           "scope-escalation", "secret-in-log", None)
_want = {(t, w): simulator.stopping_node(simulator.walk(t, wiring=w))
         for t in _unseen for w in simulator.WIRINGS}
assert len({v for v in _want.values() if v}) == 5, "every hop stops one of the unseen tricks"
with grading.tripwire(simulator, "checked_nodes", "stopping_node", "four_questions_for",
                      "describe", "simulate"):
    _got = {(t, w): first_checkpoint_that_stops(t, w) for t in _unseen for w in simulator.WIRINGS}
for _key, _expected in _want.items():
    assert grading.exactly(_got[_key], _expected), (_key, _got[_key], _expected)
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 3 (3 points): the four questions, for any hop
#
# Write `four_questions(hop)`, returning a `dict` with exactly these four keys:
#
# - `"who is trusted"`: the party whose word this hop accepts (`hop.actor`);
# - `"what proof"`: what that party must show here (`hop.fact_checked`);
# - `"where is the check"`: the node where the comparison happens (`hop.node`);
# - `"what if it is fooled"`: a `tuple` of the nodes **after** this one on `TRUST_PATH`, in order:
#   each of them would act on the false story. The last node has nobody after it: `()`.

# %% solution id=four-questions
def four_questions(hop: simulator.Hop) -> dict:
    """The four questions answered for ``hop`` (see the keys above)."""
    ### BEGIN SOLUTION
    later = TRUST_PATH[TRUST_PATH.index(hop.node) + 1:]
    return {"who is trusted": hop.actor, "what proof": hop.fact_checked,
            "where is the check": hop.node, "what if it is fooled": tuple(later)}
    ### END SOLUTION

# %% tests id=test-four-questions points=3
"""Check that four_questions names the trusted party, the proof, the check and who is fooled."""
_q = four_questions(honest.hop("Vault policy"))
grading.expect(isinstance(_q, dict) and sorted(_q) == sorted(
    ["who is trusted", "what proof", "where is the check", "what if it is fooled"]),
    "four questions, no more, no less", f"expected the four keys, got {_q!r}")
grading.expect(_q["who is trusted"] == honest.hop("Vault policy").actor
               and _q["where is the check"] == "Vault policy", "who is trusted, and where",
               "at the Vault policy hop the vault's grants are trusted, and the check is there")
grading.expect(_q["what if it is fooled"] == ("Short-lived token", "Tool call", "Access log"),
               "a fooled check misleads every hop after it",
               f"if the policy is fooled, the three later hops believe it; got "
               f"{_q['what if it is fooled']!r}")
print("four_questions: visible checks passed")
### BEGIN HIDDEN TESTS
def _questions_checked(hop):
    with grading.tripwire(simulator, "checked_nodes", "stopping_node", "four_questions_for",
                          "describe", "simulate"):
        got = four_questions(hop)
    assert grading.exactly(got, simulator.four_questions_for(hop)), (hop.node, got)


for _wiring in simulator.WIRINGS:
    for _trick in ("revoked-session", "secret-in-log", "wildcard-grant"):
        for _hop in simulator.walk(_trick, wiring=_wiring).hops:
            _questions_checked(_hop)
# a hop no walk produces: the trusted party and proof must come from the hop itself
_questions_checked(simulator.Hop(node="Tool call", actor="a reviewer's stand-in broker",
                                 fact_checked="nothing yet", passed=False, detail="-"))
_questions_checked(simulator.Hop(node="Agent request", actor="x", fact_checked="y",
                                 passed=True, detail="-"))
_questions_checked(simulator.Hop(node="Access log", actor="ledger", fact_checked="pages",
                                 passed=True, detail="-"))
### END HIDDEN TESTS

# %% [markdown]
# ### Your functions on the real kit
#
# Now your answers drive the lab: for every trick the simulator knows, your
# `first_checkpoint_that_stops` names the hop that refused it in each wiring, your `trace` says
# which checks ran, and the picture marks your answer for one trick you had not met before.

# %%
try:
    print(f"{'trick':<24} {'hardened: stopped at':<22} {'naive':<8} checks that ran (hardened)")
    for trick in simulator.TRICKS:
        hard = first_checkpoint_that_stops(trick)
        naive = first_checkpoint_that_stops(trick, wiring="naive")
        ran = len(trace(simulator.walk(trick)))
        print(f"{trick:<24} {hard!s:<22} {naive or 'through':<8} {ran}")
    where = first_checkpoint_that_stops("scope-escalation")
    print("\nscope-escalation, your answer:", where)
    print(four_questions(simulator.walk("scope-escalation").hop(where)))
    plots.trust_path(highlight=where, blocked_at=where)
    plt.show()
except NotImplementedError:
    print("write trace, first_checkpoint_that_stops and four_questions above first")

# %% [markdown]
# Every trick is refused somewhere in the hardened wiring, and at five different hops: no single
# check carries the whole path. And every trick gets through the naive wiring, not because one
# check is missing, but because each hop trusts a party that cannot actually prove anything.
#
# ## Reflection (2 points, graded by hand)
#
# **Question.** Describe one checkout-desk failure from an organisation you know (your job, a
# club, a school, a project, or a well-documented public incident): a moment when someone got more
# authority than the job needed, or kept it for longer. Answer the **four questions** for the hop
# where it went wrong: who was trusted, what proof they had to bring, where the check was (or
# should have been), and which later steps acted on the false story. Finish with one sentence on
# what a *pass* (job-specific, short-lived) would have changed.
#
# *Mark scheme for the grader (2 points).*
# - **1 point**: a concrete situation with the four questions all answered for the same hop, and
#   "what if it is fooled" naming at least one later step that acted on the false story (a system
#   that accepted a shared password, a door that opened for a copied badge, a script that ran with
#   an admin token). Generic answers ("someone had too many permissions") earn 0.
# - **1 point**: the pass is specific: it names what the pass would have been limited to (one
#   resource or job, one person, a short expiry) **and** how that would have shrunk the damage or
#   shown up in a ledger. "Use better passwords" or "be more careful" earns 0 for this part.

# %% [markdown] manual id=reflect-desk points=2
# YOUR ANSWER HERE

# %% [markdown]
# ## What you can now prove
#
# - You can trace a request from Agent request to Access log and say, hop by hop, which check ran,
#   and that a refusal is still written to the ledger.
# - For any trick, you can point to the hop that refuses it in the hardened kit, from a real walk,
#   and show that the naive wiring lets the same trick through.
# - For any hop, you can answer the four questions: who is trusted, what proof, where the check is,
#   and which later hops are misled if it is fooled.
# - You can explain why a vault is a checkout desk for temporary, job-specific passes and not a
#   photocopier for master keys, and where that picture stops fitting: the desk only checks facts.
#
# Next, notebook 01 builds the photocopier on purpose: an agent with the master key in its prompt,
# one injected sentence, and the key arriving at the attacker's endpoint.
