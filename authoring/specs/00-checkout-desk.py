# %% [markdown]
# # 00 · The checkout desk
#
# **Layer: School student** · node: the whole path · core path about 85 minutes (the sections
# marked *optional* are extra and ungraded)
#
# An AI agent that files tickets, refunds payments or deploys software needs *authority*: some way
# to prove to each of those systems that it may act. This course is about handing out that
# authority without handing out the keys. This notebook gives you one picture to hang everything
# on, a simulator that sends real requests through a real vault, and three decisions to make
# yourself. By the end you will be able to:
#
# - explain a credential vault as a **checkout desk for temporary authority**, and say where the
#   picture and the real system line up and where they part;
# - for a trick you have never seen, decide **which hop must stop it** and **which fact, from
#   which trusted source, must reach that hop** for the check to work;
# - read the same event through four lenses (school student, university student, engineer on
#   call, security reviewer), and place a refusal in the log at the check that made it.
#
# The attacker in this notebook does not break any cryptography. It puts words where the agent
# will read them, so its arrow enters at the very first hop, the request:
#
# ```mermaid
# flowchart LR
#   A["Agent request"] --> P["Vault policy"] --> T["Short-lived token"] --> C["Tool call"] --> L["Access log"]
#   X["Attacker trick"] -.-> A
#   classDef focus fill:#edf7f4,stroke:#174b43,stroke-width:3px,color:#121417
#   classDef attacker fill:#fff1eb,stroke:#d8512a,stroke-width:2px,color:#121417
#   class A,P,T,C,L focus
#   class X attacker
# ```
#
# Every later notebook highlights one of these five boxes and hardens it. Here all five are lit:
# we look at the whole road before we repave any part of it.

# %% [markdown]
# ## How to work in this lab
#
# - **This is your copy.** `make lab` put the student version of every notebook in your
#   workspace (`workspace/` in the course folder) and opened this one. Save as often as you like:
#   running `make lab` again never overwrites a notebook you changed. If the course itself
#   changes, the new version appears beside yours as `<name>.new.ipynb`; compare and copy across.
#   The course's own `notebooks/` folder is the instructor's: it holds the solutions, so do not
#   open it while you work.
# - **Exercises** are the cells that end in `raise NotImplementedError()`: replace that line
#   with your code. *Run All* stops at the first exercise you have not done yet, with a
#   `NotImplementedError`: that is expected, not a bug. Finish it and run again.
# - **Validate** (the button in the notebook's toolbar) runs the whole notebook in a fresh kernel
#   and lists every check that still fails. Save first (Ctrl+S).
# - **Self-check**: open a terminal (*File > New > Terminal*) and run
#   `python -m autograde check 00-checkout-desk/checkout-desk.ipynb` (any notebook works). It prints
#   one line per exercise, `passed`, `failed: why` or `not attempted`, and a total. It uses the
#   checks you can see; your grade also uses hidden ones, so passing here is necessary, not the end.

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
# At every hop you can ask the same four questions. They are this notebook's whole method, and
# they stay useful when the mechanisms get technical.
#
# > **The four questions, for the checkout desk as a whole**
# >
# > 1. **Who is trusted?** The platform's login session says who the agent works for; the
# >    vault's grants say what that allows; the vault's signing key vouches for every pass; the
# >    broker alone holds the real credential.
# > 2. **What proof?** The agent proves its session with a credential the platform handed it;
# >    a pass proves itself with the vault's stamp; nothing the agent *says* is proof.
# > 3. **Where is the check?** Five times, once per hop, each comparing one claimed fact with a
# >    trusted copy of it: that is what the exercises below make you decide.
# > 4. **What if it is fooled?** Every hop after the fooled one acts on the false story. Fool the
# >    first hop and four others believe you; fool the last and the harm is already done.
#
# Question 4 is the one people skip: a check is worth what stands behind it.

# %% locked id=setup
import json

from course import TRUST_PATH, grading, simulator

print("trust path:", " -> ".join(TRUST_PATH))
print("lenses:    ", ", ".join(f"{key} ({label})" for key, label in simulator.LENSES.items()))
print("tricks:    ", len(simulator.TRICKS), "of them, plus None for the honest request")

# %% [markdown]
# ## One honest request, hop by hop
#
# `simulator.walk()` sends one request through the **real** kit: the support agent `helpdesk-bot`,
# acting for `alice` in the company `acme`, wants to read the ticket queue for its triage job.
# Behind the call there are real HTTP services on your machine, a real vault with a seeded Ed25519
# key, a real broker holding the real API key, and a real hash-chained log. The walk comes back as
# a frozen value with one `Hop` per node: who was trusted there, which fact was checked, whether
# the request got past, and what the log wrote.

# %%
honest = simulator.walk()
print("goal:", honest.goal)
for hop in honest.hops:
    print(f"{hop.node:<18} passed={hop.passed!s:<5} trusted: {hop.actor}")
print()
print("what the tool call hop saw:", honest.hop("Tool call").detail)

# %% [markdown]
# Notice what is **not** in that output: no API key, no token text, no port number. The agent asked
# for a pass, the broker used the real key at the very last step, and the agent only heard "200".
#
# ## Switching a trick on
#
# `simulator.TRICKS` lists the attacker's moves; each is a real attack on the real kit, not a
# story. Start with a pass that is an hour old: the attacker found it in a log and tries it
# anyway. The kit also ships the system a team builds on the happy path (`course.unsafe`, named so
# nobody uses it by accident): it believes whatever user the request names, grants `*` to any
# agent whose name ends in `-bot`, and decodes a pass without checking its stamp or its time.
# Run the trick through both wirings:

# %%
for wiring in simulator.WIRINGS:
    w = simulator.walk("expired-token", wiring=wiring)
    stop = simulator.stopping_node(w)
    marks = " ".join("PASS" if h.passed else "STOP" if h.node == stop else
                     "REC " if h.reached else "----" for h in w.hops)
    print(f"{wiring:<9} {marks}   ({'stopped at ' + stop if stop else 'got through'})")
print()
print(simulator.describe(simulator.walk("expired-token", wiring="naive"), "reviewer"))

# %% [markdown]
# (`REC` marks the Access log recording a refusal made earlier, `----` a hop never reached.)
# The hardened kit refused the stale pass at the **Short-lived token** hop and still wrote the
# refusal to the log. The naive wiring let it through, and the reviewer's lens names the one
# *stale assumption* that did it, at the one hop the trick exploited: "a token that decodes is a
# token that is still valid". An assumption is stale when it was true once (inside one trusted
# gateway, say) and nobody rechecked it when the system changed around it.
#
# ## The path as plain data
#
# A walk needs the real services. To reason about tricks nobody has built yet, the simulator also
# describes a request as plain data: `simulator.attempt(trick)` is a dict holding every fact a
# hop can compare, and where each fact comes from. Read the honest one:

# %%
print(json.dumps(simulator.attempt(), indent=1))

# %% [markdown]
# | section | what it is | who vouches for it |
# |---|---|---|
# | `session` | who logged in: user, company (tenant), agent | the platform, at login |
# | `request` | what the agent asks for: user, tenant, agent, tool, task, scopes, ttl (seconds) | nobody: the agent writes it, and the model may have been talked into anything |
# | `grants` | the lending book: which user, tenant and agent may use which tool, for which tasks, with which scopes | the vault's configuration |
# | `pass` | the pass being presented: its stamp, user, tenant, `aud` (the one tool it opens), `scope` (space-separated), session, `iat` and `exp` (its first and first-invalid second) | the stamp, if it is the vault's; otherwise nobody |
# | `revoked` | sessions the vault has revoked | the vault |
# | `call` | the call the broker is making: tool, operation, the scope that operation `needs`, and the time `at` it happens | the broker and its connector's operation table; `at` is the checker's own clock |
# | `store` | labels of the real credentials | the vault's secret store |
# | `log` | the lines about to be written to the access log | whoever wrote them |
#
# A trick changes one or two facts. `simulator.attempt("token-for-another-tool")` is the honest
# attempt with a different `call`; `simulator.attempt(None, {"call.at": 900})` is one you make up.
#
# ---
# # Exercises
#
# Three functions, each a security decision, each followed by a check you can see. The checks try
# the answers people commonly get wrong and name the property such an answer breaks; the hidden
# tests then try tricks this notebook never shows. Your functions take and return plain data.
#
# ## Exercise 1 (4 points): which hop must stop it?
#
# Write `first_refusal(a)`: the node of the **first** hop, in path order, whose check must refuse
# the attempt `a`, or `None` when every check must let it through. Each hop compares a claimed
# fact with a trusted copy of it; your decision is which copy:
#
# - **Agent request**: the request must act for the user, tenant and agent of the session.
# - **Vault policy**: a grant must name exactly this user, tenant, agent and tool, list this task,
#   and share at least one scope with those asked for. A grant in which any value contains `*` must
#   never load, so any such grant refuses the request, however exact the other grants are.
# - **Short-lived token**: the pass must carry the vault's stamp (`"vault"`), open the tool being
#   called, be inside its own lifetime (`iat <= at < exp`) and belong to a session that is not
#   revoked.
# - **Tool call**: the scope the operation needs must be one of the pass's scopes, whole.
# - **Access log**: no line about to be written may contain a credential of the store.
#
# Which values in `a` are *claims* and which are *trusted copies* is the point of the exercise: a
# comparison between two claims proves nothing.

# %% solution id=first-refusal
def first_refusal(a: dict) -> str | None:
    """The first node whose check must refuse attempt ``a``, or None if none must."""
    ### BEGIN SOLUTION
    session, req, grants = a["session"], a["request"], a["grants"]
    pas, call = a["pass"], a["call"]
    if any(req[fact] != session[fact] for fact in ("user", "tenant", "agent")):
        return "Agent request"
    wildcard = any("*" in str(value) for grant in grants for value in grant.values())
    covered = any(g["user"] == req["user"] and g["tenant"] == req["tenant"]
                  and g["agent"] == req["agent"] and g["tool"] == req["tool"]
                  and req["task"] in g["tasks"] and set(req["scopes"]) & set(g["scopes"])
                  for g in grants)
    if wildcard or not covered:
        return "Vault policy"
    if (pas["stamp"] != "vault" or pas["aud"] != call["tool"]
            or not pas["iat"] <= call["at"] < pas["exp"] or pas["session"] in a["revoked"]):
        return "Short-lived token"
    if call["needs"] not in pas["scope"].split():
        return "Tool call"
    if any(cred in line for line in a["log"]["lines"] for cred in a["store"]["credentials"]):
        return "Access log"
    return None
    ### END SOLUTION

# %% tests id=test-first-refusal points=4
"""Check that first_refusal stops each trick at the first hop holding a trusted copy of the fact."""
_at = simulator.attempt
grading.expect(first_refusal(_at()) is None, "an honest request is refused nowhere",
               "the honest attempt must pass every hop: compare like with like")
grading.expect_same(first_refusal(_at("forged-acting-user")), "Agent request",
                    "the badge, not the story",
                    "the request names bob while alice logged in; compare the request's user with "
                    "the session's, not with another claim such as the pass")
grading.expect_same(first_refusal(_at("cross-tenant")), "Agent request",
                    "the company comes from the badge too",
                    "a request naming another tenant must be refused at the first hop, before any "
                    "grant is consulted")
grading.expect_same(first_refusal(_at("token-for-another-tool")), "Short-lived token",
                    "a pass opens only the door it names",
                    "compare the pass's audience with the tool actually being called, not with the "
                    "tool the request once asked for")
grading.expect_same(first_refusal(_at("expired-token")), "Short-lived token",
                    "a pass dies at its end time", "a pass presented after its exp must be refused")
grading.expect_same(first_refusal(_at(None, {"request.ttl": 3600, "call.at": 900})),
                    "Short-lived token", "the lifetime is the one the vault signed",
                    "the agent asked for an hour but the pass ends at its exp; measure the pass's "
                    "life from the pass, not from what was asked")
grading.expect_same(first_refusal(_at("revoked-session")), "Short-lived token",
                    "a revoked session's passes die with it",
                    "a pass from a revoked session must be refused even though its stamp and time "
                    "are fine")
grading.expect_same(first_refusal(_at("tampered-claims")), "Short-lived token",
                    "only the vault's stamp makes a pass", "a pass edited after stamping must be "
                    "refused, however well its words match the call")
grading.expect_same(first_refusal(_at("wildcard-grant")), "Vault policy",
                    "a wildcard grant never loads", "a grant containing * must refuse the request "
                    "even when another, exact grant covers it")
grading.expect_same(first_refusal(_at("scope-escalation")), "Tool call",
                    "a pass allows only the operations its scopes name",
                    "a read pass used to write must be refused where the operation is known")
grading.expect_same(first_refusal(_at(None, {"pass.scope": "tickets:read tickets:write-draft",
                                             "call.operation": "POST /tickets",
                                             "call.needs": "tickets:write"})),
                    "Tool call", "a scope matches whole, never as part of a longer one",
                    "tickets:write-draft allows drafts only; it must not satisfy tickets:write")
grading.expect_same(first_refusal(_at("secret-in-log")), "Access log",
                    "the ledger is a checkpoint too",
                    "a line carrying a credential of the store must be refused at the Access log")
grading.expect_same(first_refusal(_at("cross-tenant", {"call.at": 3600})), "Agent request",
                    "the first check that can refuse, refuses",
                    "with two lies, name the earlier hop: the later one is never reached")
print("first_refusal: visible checks passed")
### BEGIN HIDDEN TESTS
_grant = dict(simulator.HONEST_ATTEMPT["grants"][0])
_unseen = [
    ({"request.agent": "deploy-bot"}, "Agent request", "the badge names the agent too"),
    ({"request.task": "refund"}, "Vault policy", "a grant covers only its tasks"),
    ({"request.scopes": ["tickets:delete"]}, "Vault policy", "a grant must share a scope"),
    ({"grants": [{**_grant, "user": "bob"}]}, "Vault policy", "a grant covers only its user"),
    ({"grants": [{**_grant, "tenant": "globex"}]}, "Vault policy", "a grant covers only its tenant"),
    ({"grants": [{**_grant, "tool": "payments"}]}, "Vault policy", "a grant covers only its tool"),
    ({"grants": [_grant, {**_grant, "tasks": ["triage", "*"]}]}, "Vault policy",
     "a wildcard anywhere in a grant never loads"),
    ({"grants": [_grant, {**_grant, "agent": "*-bot"}]}, "Vault policy",
     "a wildcard anywhere in a grant never loads"),
    ({"pass.stamp": "none"}, "Short-lived token", "only the vault's stamp makes a pass"),
    ({"pass.stamp": "attacker"}, "Short-lived token", "only the vault's stamp makes a pass"),
    ({"call.at": 300}, "Short-lived token", "a pass is invalid from its exp on"),
    ({"call.at": 299}, None, "a pass is valid until its exp"),
    ({"pass.iat": 100, "pass.exp": 400, "call.at": 50}, "Short-lived token",
     "a pass is not valid before its iat"),
    ({"revoked": ["sess-0002"]}, None, "only the revoked session's passes die"),
    ({"pass.scope": "tickets:readonly", "call.needs": "tickets:read"}, "Tool call",
     "a scope matches whole"),
    ({"pass.scope": "tickets:write tickets:read"}, None, "any whole scope of the pass will do"),
    ({"call.tool": "deploy:staging", "call.needs": "deploy:write"}, "Short-lived token",
     "a pass opens only the door it names"),
    ({"log.lines": ["refund note: CRED-acme-payments"]}, "Access log",
     "every credential of the store is refused at the ledger"),
    ({"call.at": 3600, "log.lines": ["x CRED-acme-tickets"]}, "Short-lived token",
     "the first check that can refuse, refuses"),
    ({"request.user": "bob", "pass.stamp": "none"}, "Agent request",
     "the first check that can refuse, refuses"),
]
for _changes, _want, _property in _unseen:
    with grading.tripwire(simulator, "walk", "stopping_node", "simulate", "describe"):
        _got = first_refusal(_at(None, _changes))
    grading.expect_same(_got, _want, _property, "an attempt this notebook does not show went "
                        "to the wrong hop; re-read the rule for that hop")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 2 (3 points): which fact must reach it?
#
# A check can only compare what it is given. Write `must_reach(a)`: the trusted source whose fact
# the refusing hop needs, as a key of `course.taxonomy.SOURCES`, or `None` when nothing must be
# refused. At the Short-lived token hop, name the first comparison that fails in this order:
# stamp, audience, lifetime, revocation. You may call your `first_refusal`.

# %%
from course import taxonomy  # noqa: E402

for key, meaning in taxonomy.SOURCES.items():
    print(f"{key:<16} {meaning}")

# %% [markdown]
# The last three (`request`, `pass`, `model`) are claims: every check has one of them on its
# *other* side, so none of them can be the source a check trusts.

# %% solution id=must-reach
def must_reach(a: dict) -> str | None:
    """The key of taxonomy.SOURCES the first refusing hop must consult, or None."""
    ### BEGIN SOLUTION
    where = first_refusal(a)
    pas, call = a["pass"], a["call"]
    if where == "Agent request":
        return "session"
    if where == "Vault policy":
        return "grants"
    if where == "Short-lived token":
        if pas["stamp"] != "vault":
            return "vault key"
        if pas["aud"] != call["tool"]:
            return "called tool"
        if not pas["iat"] <= call["at"] < pas["exp"]:
            return "clock"
        return "revocation list"
    if where == "Tool call":
        return "operation table"
    if where == "Access log":
        return "secret store"
    return None
    ### END SOLUTION

# %% tests id=test-must-reach points=3
"""Check that must_reach names the trusted source, never the claim being checked."""
_at = simulator.attempt
grading.expect(must_reach(_at()) is None, "nothing to refuse, nothing to consult",
               "the honest attempt needs no refusal")
grading.expect_same(must_reach(_at("forged-acting-user")), "session", "the badge, not the story",
                    "who the agent acts for must come from the login session, never from the "
                    "request that is being checked")
grading.expect_same(must_reach(_at("token-for-another-tool")), "called tool",
                    "a pass cannot vouch for its own door",
                    "the audience must be compared with the tool the broker is calling")
grading.expect_same(must_reach(_at("expired-token")), "clock", "a pass cannot vouch for its own "
                    "time", "whether a pass is still alive needs the checker's own clock")
grading.expect_same(must_reach(_at("revoked-session")), "revocation list",
                    "a pass cannot say it was revoked",
                    "a pass looks the same after its session is revoked; only the vault's list "
                    "knows")
grading.expect_same(must_reach(_at("tampered-claims")), "vault key",
                    "only the vault's stamp makes a pass", "an edited pass is caught by its stamp")
grading.expect_same(must_reach(_at("injected-instruction")), "grants",
                    "authority comes from the lending book", "an agent asking for a tool its job "
                    "never needed is refused by the grants, whatever the model read")
grading.expect_same(must_reach(_at("scope-escalation")), "operation table",
                    "the door keeper knows what each operation needs",
                    "the scope an operation needs comes from the connector's table")
grading.expect_same(must_reach(_at("secret-in-log")), "secret store",
                    "the ledger recognises a credential", "to refuse a credential in a line, the "
                    "log must know what the credentials are")
print("must_reach: visible checks passed")
### BEGIN HIDDEN TESTS
_unseen = [
    ({"request.agent": "deploy-bot"}, "session", "the badge names the agent too"),
    ({"request.task": "refund"}, "grants", "authority comes from the lending book"),
    ({"pass.stamp": "none"}, "vault key", "only the vault's stamp makes a pass"),
    ({"pass.iat": 100, "pass.exp": 400, "call.at": 50}, "clock",
     "a pass cannot vouch for its own time"),
    ({"call.at": 300}, "clock", "a pass cannot vouch for its own time"),
    ({"call.tool": "payments", "call.at": 3600}, "called tool",
     "the audience is compared before the lifetime"),
    ({"revoked": ["sess-0001"], "call.at": 3600}, "clock",
     "the lifetime is compared before revocation"),
    ({"pass.scope": "tickets:readonly"}, "operation table",
     "the door keeper knows what each operation needs"),
    ({"log.lines": ["CRED-acme-payments"]}, "secret store", "the ledger recognises a credential"),
    ({"revoked": ["sess-0002"]}, None, "nothing to refuse, nothing to consult"),
]
for _changes, _want, _property in _unseen:
    with grading.tripwire(taxonomy, "STOPS", "stop_of", "node_of_code", "CHECK_CODES"):
        _got = must_reach(_at(None, _changes))
    grading.expect_same(_got, _want, _property, "an attempt this notebook does not show named "
                        "the wrong source; ask which side of the comparison is the claim")
### END HIDDEN TESTS

# %% [markdown]
# ### Your rules against the real kit
#
# Your `first_refusal` reasons over plain data; the simulator walks the real vault, broker and log.
# They must agree on every trick the simulator knows. This cell fails, naming the trick, if they
# do not.

# %%
try:
    for trick in (None, *simulator.TRICKS):
        yours = first_refusal(simulator.attempt(trick))
        kit = simulator.stopping_node(simulator.walk(trick))
        print(f"{trick or 'honest':<24} yours: {yours or 'through':<18} real kit: {kit or 'through'}")
        grading.expect(grading.exactly(yours, kit), "your rules describe the real kit",
                       f"for {trick or 'the honest request'} your first_refusal and the real "
                       "walk disagree; find the hop whose rule differs")
    print("\nYour rules agree with the real kit on every trick.")
except NotImplementedError:
    print("write first_refusal above first")

# %% [markdown]
# Every trick is refused somewhere in the hardened kit, at five different hops: no single check
# carries the whole path. And each trick gets through the naive wiring, not because one check is
# missing, but because each naive hop compares a claim with another claim, or with nothing.
#
# ## Switch the lens
#
# The lesson's four layers are four ways to read one event. This notebook's event is the
# attacker's first move: text the model read said "act on behalf of user bob", so the request now
# names bob inside alice's session. Same walk, four readers:

# %%
event = simulator.walk("forged-acting-user")
for lens in ("school", "university"):
    print(simulator.describe(event, lens), end="\n\n")

# %% [markdown]
# The **school student** sees a helper wearing one badge and telling another story; the
# **university student** sees the mechanism: an `AgentRequest` compared field by field with the
# `Session` the vault opened. The other two readers care about different things:

# %%
print(simulator.describe(event, "engineer"), end="\n\n")
print(simulator.describe(simulator.walk("forged-acting-user", wiring="naive"), "reviewer"))

# %% [markdown]
# The **engineer on call** gets the log line, the signal and the revoke decision, all at the hop
# where the refusal happened: a `session_mismatch` from an agent's own session means its model is
# repeating someone else's words, so that session is what to revoke. The **security reviewer**,
# reading the naive wiring, finds the stale assumption at the one hop the trick exploited and
# watches every later hop act on the false story.
#
# ## Exercise 3 (2 points, the lens item): where does the engineer see it?
#
# On call, you start from a log line, not from a diagram. A line is written by the component that
# runs a check, which is not always the hop whose check it is: the broker writes a `tool_call`
# line for every pass it refuses, yet a pass refused for being expired was refused by the
# Short-lived token's check. Write `where_it_shows(line)`: for one access-log line as the
# simulator prints it (`#seq t+Ns event decision reason key=value ...`), the node whose check
# **refused**, or `None` when the line records no refusal. The reasons you will meet:
#
# | reason | what was compared |
# |---|---|
# | `session_mismatch`, `unknown_session`, `unauthenticated` | the request's user, tenant or agent with the session |
# | `no_grant`, `scope_not_granted`, `grant_expired`, `approval_mismatch` | the request with the grants or the approval |
# | `expired`, `not_yet_valid` | the pass's lifetime with the clock |
# | `wrong_audience`, `wrong_issuer` | the pass's audience or issuer with this tool and this vault |
# | `bad_signature`, `disallowed_algorithm`, `unknown_key`, `malformed`, `missing_claim`, `invalid_claim` | the pass's stamp and shape |
# | `revoked` | the pass's session with the revocation list |
# | `scope_missing`, `operation_not_allowed`, `unknown_tool`, `replay` | the operation with the pass's scopes, the catalogue, and the passes already spent |

# %% solution id=where-it-shows
def where_it_shows(line: str) -> str | None:
    """The node whose check refused, for one access-log line, or None if it refused nothing."""
    ### BEGIN SOLUTION
    event, decision, reason = (line.split() + ["", "", "", "", ""])[2:5]
    if decision != "deny":
        return None
    if reason in ("session_mismatch", "unknown_session", "unauthenticated"):
        return "Agent request"
    if event == "decision":
        return "Vault policy"
    about_the_pass = {"expired", "not_yet_valid", "wrong_audience", "wrong_issuer", "bad_signature",
                      "disallowed_algorithm", "unknown_key", "malformed", "missing_claim",
                      "invalid_claim", "revoked"}
    if reason in about_the_pass:
        return "Short-lived token"
    return "Tool call"
    ### END SOLUTION

# %% tests id=test-where-it-shows points=2
"""Check that where_it_shows places a refusal at the check that made it, not at its writer."""
def _deny_line(trick):
    return next(ln for h in simulator.walk(trick).hops for ln in h.log if " deny " in ln)


grading.expect_same(where_it_shows(_deny_line("expired-token")), "Short-lived token",
                    "a refusal belongs to the check that made it",
                    "the broker wrote this tool_call line, but what it refused was the pass's "
                    "lifetime")
grading.expect_same(where_it_shows(_deny_line("revoked-session")), "Short-lived token",
                    "a refusal belongs to the check that made it",
                    "a revoked session's pass is refused by the pass's check, wherever it is run")
grading.expect_same(where_it_shows(_deny_line("forged-acting-user")), "Agent request",
                    "the badge is checked before the lending book",
                    "the vault wrote this decision line, but it compared the request with the "
                    "session, not with the grants")
grading.expect_same(where_it_shows(_deny_line("injected-instruction")), "Vault policy",
                    "the lending book refuses what no grant covers", "no_grant is the policy's")
grading.expect_same(where_it_shows(_deny_line("scope-escalation")), "Tool call",
                    "the door keeper refuses an operation the pass does not cover",
                    "scope_missing compares the operation, not the pass's stamp or time")
for _line in (*simulator.walk().hop("Tool call").log, *simulator.walk("revoked-session").hop(
        "Short-lived token").log[:-1]):
    grading.expect(where_it_shows(_line) is None, "an allow is not a refusal",
                   "a line that records an allow, an issuance or a revocation refused nothing")
print("where_it_shows: visible checks passed")
### BEGIN HIDDEN TESTS
_unseen = [
    ("#7 t+20s tool_call deny not_yet_valid tool=tickets", "Short-lived token"),
    ("#7 t+20s tool_call deny wrong_issuer tool=payments", "Short-lived token"),
    ("#7 t+20s tool_call deny disallowed_algorithm tool=payments", "Short-lived token"),
    ("#7 t+20s tool_call deny wrong_audience tool=payments", "Short-lived token"),
    ("#3 t+0s decision deny unknown_session user=alice tenant=acme", "Agent request"),
    ("#3 t+0s decision deny unauthenticated", "Agent request"),
    ("#3 t+0s decision deny scope_not_granted user=alice tenant=acme tool=tickets", "Vault policy"),
    ("#3 t+0s decision deny approval_mismatch user=carol tenant=acme", "Vault policy"),
    ("#9 t+40s tool_call deny operation_not_allowed tool=tickets", "Tool call"),
    ("#9 t+40s tool_call deny replay tool=tickets jti=tok-0009", "Tool call"),
    ("#9 t+40s tool_call allow tool_call tool=tickets", None),
    ("#5 t+0s debug connector_debug tool=tickets detail=<withheld>", None),
    ("#2 t+0s decision allow_narrowed user=alice tenant=acme", None),
]
for _line, _want in _unseen:
    with grading.tripwire(taxonomy, "STOPS", "stop_of", "node_of_code", "CHECK_CODES"):
        _got = where_it_shows(_line)
    grading.expect_same(_got, _want, "a refusal belongs to the check that made it",
                        "a log line this notebook does not show went to the wrong node")
### END HIDDEN TESTS

# %% [markdown]
# ### Your lens on every refusal of the real kit
#
# For each trick, the real log's refusal line goes through your `where_it_shows`; the node you
# name must be the one the walk stopped at. The cell fails, naming the trick, if not.

# %%
try:
    for trick in simulator.TRICKS:
        w = simulator.walk(trick)
        lines = [ln for h in w.hops for ln in h.log if " deny " in ln]
        if not lines:
            print(f"{trick:<24} no refusal line: {w.hop('Access log').detail}")
            continue
        yours = where_it_shows(lines[0])
        print(f"{trick:<24} {yours}")
        grading.expect(grading.exactly(yours, simulator.stopping_node(w)),
                       "a refusal belongs to the check that made it",
                       f"the refusal line of {trick} went to another node")
except NotImplementedError:
    print("write where_it_shows above first")

# %% [markdown]
# Two tricks leave no refusal line, and both are worth a second look. The wildcard grant was
# refused when the grant file was loaded, before any request existed: the engineer sees it as a
# failed configuration change, not as a log line. And the credential aimed at the log was not
# refused but removed from the line before the line was kept: the engineer learns of it from the
# redaction. A signal has to live where the event actually shows.
#
# ## Reflection (2 points, graded by hand)
#
# Describe one checkout-desk failure from an organisation you know (a job, a club, a school, a
# project, or a well-documented public incident): someone got more authority than the job
# needed, or kept it longer. For the hop where it went wrong, answer the **four questions**:
# who was trusted, what proof they had to bring, where the check was (or should have been), and
# which later steps acted on the false story. End with one sentence on what a *pass* (one job,
# one person, a short life) would have changed. Five to eight sentences.

# %% [markdown] manual id=reflect-desk points=2
# ### BEGIN SOLUTION
# *Mark scheme (stays in the source notebook; the student version shows only the answer box).*
#
# - **1 point**: a concrete situation, with all four questions answered for the *same* hop, and
#   "what if it is fooled" naming at least one later step that acted on the false story. A
#   general statement ("someone had too many permissions") earns 0.
# - **1 point**: the pass is specific (what it would have been limited to: one resource or job,
#   one person, a short expiry) **and** the answer says how that limit would have shrunk the harm
#   or shown up in a ledger. "Use better passwords" or "be more careful" earns 0 for this part.
# ### END SOLUTION

# %% [markdown]
# ## What you can now prove
#
# - Given any attempt as plain data, you can name the first hop whose check must refuse it, and
#   your rules agree with the real kit on every trick the simulator knows.
# - For that hop, you can name the trusted source its check must consult, and say why the claim
#   being checked can never be that source.
# - From a single access-log line, you can place a refusal at the check that made it, even when
#   another component wrote the line.
# - You can read one event through four lenses and say what each reader needs from it.
#
# Next, notebook 01 builds the photocopier on purpose: an agent with the master key in its
# prompt, one injected sentence, and the key arriving at the attacker's endpoint.
#
# ---
# ## Go deeper (optional, ungraded)
#
# ### The simulator, interactively
#
# Switch the lens, the trick and the wiring yourself. In JupyterLab this shows toggles; without a
# browser, `simulator.simulate(trick, lens, wiring=...)` prints the same narration.

# %%
# NBVAL_IGNORE_OUTPUT
# Reason: an ipywidgets display stores model ids that change on every run; the text it shows is
# the output of simulator.describe, which the cells above already pin.
simulator.widget()

# %% [markdown]
# ### Every trick through both wirings, and the picture
#
# Where the hardened kit stops each trick, and what the naive wiring does with it:

# %%
import matplotlib.pyplot as plt  # noqa: E402

from course import plots  # noqa: E402

for trick in simulator.TRICKS:
    hard = simulator.stopping_node(simulator.walk(trick))
    naive = simulator.stopping_node(simulator.walk(trick, wiring="naive"))
    print(f"{trick:<24} hardened: {hard!s:<18} naive: {naive or 'through'}")
plots.trust_path(highlight="Agent request", blocked_at="Agent request")
plt.show()

# %% [markdown]
# ### Reading
#
# - **OWASP Top 10 for LLM Applications (2025)**: LLM01 *Prompt Injection* is this notebook's
#   attacker; LLM02 *Sensitive Information Disclosure* is notebook 01's leak; LLM06 *Excessive
#   Agency* is the photocopier. OWASP's *Agentic AI: Threats and Mitigations* goes further for
#   agents with tools: *Tool Misuse*, *Privilege Compromise* and *Identity Spoofing and
#   Impersonation* are the tricks above, and *Repudiation and Untraceability* is why the ledger
#   is a checkpoint.
# - **NIST AI Risk Management Framework (AI RMF 1.0)**: its Map and Manage functions ask, for an
#   AI system, what it may affect and who answers for it; the lending book is one concrete answer.
# - **Ross Anderson, *Security Engineering* (3rd ed.)**: the chapters on protocols and on access
#   control treat "who vouches for this fact" as the heart of every protocol, which is exercise 2.
# - **Google, *Site Reliability Engineering***: the chapters on monitoring and on being on call
#   explain why a signal must name the boundary that fired, which is exercise 3.
