# %% [markdown]
# # 07 · Approvals, refresh, tenants and ownership: the people around the policy
#
# **Layer: Engineer on call → Security reviewer** · node: Vault policy · core path about 90
# minutes (the sections marked *optional* are extra and ungraded)
#
# Notebooks 02 to 06 built the machinery: a pass with an end, a lending book that denies by
# default, a door keeper with the real key, a ledger, a revoke button. This notebook is about the
# **people and habits around that machinery**, where the lesson says the blind spot usually is:
# a human who clicks "approve" for the fortieth time today, a refresh token someone keeps "just in
# case", a tenant name the model typed, a helper acting for a helper, and a line in the lending
# book whose owner left the company. By the end you will be able to prove that:
#
# - an approval you check is bound to the **exact** request (every fact, the typed arguments), is
#   used once, dies at its end, and never comes from the requester itself; and you can measure
#   how many approvals a day asks of a human and how scoping cuts that number;
# - the upstream refresh token never leaves the vault, and a reused one kills its whole family
#   (shown on the real OAuth endpoint);
# - a cross-tenant attempt is refused at each layer, with identity and tenant taken from the
#   session, never from the model's words;
# - in a delegation chain only the **current** actor is authorized;
# - your audit finds the five human blind spots in a realistic grant file.
#
# The attacker here rides the workflow, not the cryptography: an approval stapled to another
# job, a grant nobody owns. Its arrow enters at the policy, where the lending book and the
# approvals live:
#
# {{trust-path highlight="Vault policy" enters="Vault policy"}}

# %% [markdown]
# ## The checkout desk, after hours
#
# The checkout desk of notebook 00 has a few more habits than we admitted:
#
# - Some jobs need a **manager's signature** on a permission slip before the clerk writes a pass:
#   that is an *approval*. A slip is only worth something if it names the exact job, can be used
#   once, expires, and is not signed by the helper who asks.
# - Some machines belong to a supplier, who lends the desk a **key to the key cabinet** (an OAuth
#   refresh token). The desk trades it at the supplier's counter for a day key, and never lets a
#   helper hold the cabinet key.
# - The building has **two companies** (tenants `acme` and `globex`). A helper's badge says which
#   company it works for; what the helper *says* about it does not count.
# - Sometimes a helper sends **another helper**; the pass then says who is at the door now, and
#   who sent them before.
# - Every line of the lending book and every key in the cabinet has an **owner**, a person who
#   answers for it. When that person leaves, the line does not leave with them.
#
# > **The four questions, for the Vault policy and the people around it**
# >
# > 1. **Who is trusted?** The session (who and which tenant), the grants (what), the approver
# >    (this one exact request, once), and the owners who keep the grant file true.
# > 2. **What proof?** An approval is proof only of the digest it was given; a session is proof
# >    of who and which tenant; an owner is proof only while they still work here.
# > 3. **Where is the check?** In the vault, before anything is signed: the approval's digest
# >    against the request's, the session's tenant against the request's; and in a review of the
# >    grant file, which no loader can do for you.
# > 4. **What if it is fooled?** The pass is genuine and every later hop believes it. A swapped
# >    payload deploys the attacker's image with a manager's real signature; a stale grant hands
# >    production to whoever can name its task.

# %% locked id=setup
import hashlib
import json
import random
from urllib.parse import urlencode

import matplotlib.pyplot as plt

from course import (
    approvals,
    errors,
    grading,
    httpclient,
    lab,
    ownership,
    policy,
    taxonomy,
    tokens,
    vault,
)
from course.clock import ManualClock
from course.ids import IdFactory

desk = lab.assemble(lab.HARDENED, seed="lab")  # real services on 127.0.0.1, vault, broker, log
NOW = desk.clock.now()


def deploy_request(session, **changes):
    """alice's deploy-bot asks to ship version 1.4.2 of the shop to production (override any fact)."""
    facts = dict(tenant="acme", user="alice", agent="deploy-bot", session=session,
                 task="deploy", tool="deploy:production", scopes=("deploy:write",), ttl=120,
                 intent=(("version", "1.4.2"), ("image", "registry.lab/shop:1.4.2")))
    return policy.AgentRequest(**{**facts, **changes})


def log_lines(scene=desk, last=None):
    """The access log as on-call reads it: one dict per line."""
    rows = [json.loads(line) for line in scene.log.lines()]
    return rows[-last:] if last else rows


def brief(e):
    """One log line, short."""
    return (f"#{e['seq']:<3} {e['event']:<16} {e['decision'] or '-':<5} {e['reason']:<19} "
            f"session={e['session']} user={e['user']} tool={e['tool']} {e['detail'][:40]}")


print(desk.world)
print("tenants:", desk.world.tenants)

# %% [markdown]
# ## 1. An approval is bound to one exact request
#
# In the lab's grants, alice's `deploy-bot` may deploy to production only with a human approval
# (`needs_approval=True`). Watch the real vault: it refuses without an approval, accepts one that
# a human (here Ana, the release manager) gave for exactly this request, and refuses the same
# approval for a request that differs in one argument, or a second time.

# %%
s = desk.open_session(user="alice", agent="deploy-bot")
release = deploy_request(s.id)
try:
    desk.vault.request(release)
except errors.ApprovalRequired as exc:
    print("without approval:", exc.code)

slip = desk.vault.approve(release, approver="ana")
print(slip)
print("bound to the request digest:", slip.request_digest == release.digest())

swapped = deploy_request(s.id, intent=(("version", "1.4.2"), ("image", "registry.evil/backdoor")))
reordered = deploy_request(s.id, intent=(("image", "registry.lab/shop:1.4.2"), ("version", "1.4.2")))
for label, r in [("swapped image", swapped), ("same request, arguments reordered", reordered),
                 ("the same approval again", release)]:
    try:
        issued = desk.vault.request(r, approval=slip)
        print(f"{label:<34} -> issued {issued.claims.jti}, single use: {issued.claims.single_use}")
    except errors.AccessDenied as exc:
        print(f"{label:<34} -> refused: {exc.code}")

for who in ("Deploy-Bot", "alice\u200b", " ALICE "):
    try:
        desk.vault.approve(release, approver=who)
    except errors.AccessDenied as exc:
        print(f"approver {who!r:<16} -> refused: {exc.code}")

# %% [markdown]
# Three things made that work. The **digest** covers every fact (tenant, user, agent, session,
# task, tool, scopes, TTL) and the typed arguments, written as canonical JSON: sorted keys,
# `100` and `"100"` different, so a reordered request is the same request and a swapped image is
# not. The approval is **spent** when it is used. And the approver's name is compared as an
# **identity** (`approvals.identity`: case, width, invisible characters and surrounding spaces
# folded), so `Deploy-Bot` and `alice\u200b` are the requester in disguise.
#
# What did the human see? An approval screen shows a summary: the tool, the task, the
# arguments. It does not show the session, the scopes or the TTL. A check that compares what the
# human *saw* instead of the digest lets a different session, a wider scope or a longer TTL ride
# on a real signature.
#
# ---
# # Exercises
#
# Every function below takes plain data (dicts, lists, strings, numbers, the kit's
# `AgentRequest` and `TokenClaims` values) and returns plain data. The check right after each
# tries the answers people commonly get wrong and names the property such an answer breaks; the
# hidden tests then try inputs this notebook does not show. The kit's own pieces for the same job
# (`approvals.ApprovalBook`, `vault.check_session`, `ownership.audit`) are off limits inside your
# answers.
#
# ## Exercise 1 (4 points): check an approval
#
# An approval reaches you as the approval service stores it:
#
# ```python
# {"id": "appr-0001", "request_digest": "<64 hex>", "approver": "ana",
#  "approved_at": 1767225600, "expires_at": 1767226500,
#  "shown": {"tool": "deploy:production", "task": "deploy", "intent": {...}}}   # the screen
# ```
#
# Write `approval_refusal(approval, request, spent, now)`: return `None` when the approval may
# be used for `request` (an `AgentRequest`) at time `now`, or the refusal code, checking in this
# order and returning the first that applies:
#
# 1. `"self_approval"`: the approver is the request's agent or its user, compared as identities
#    with `approvals.identity(name)` (names it refuses never occur here);
# 2. `"approval_replayed"`: the approval's id is in `spent` (a list of ids already used);
# 3. `"approval_expired"`: `now` is at or after `expires_at`;
# 4. `"approval_mismatch"`: the request is not the approved one. **Every fact is bound**: use the
#    request's `digest()`, not the summary the human was shown.

# %% locked id=approval-helpers
def approval_record(request, approver, *, at=NOW, ttl=900, number=1):
    """An approval as the approval service stores it (the kit's digest plus what the screen showed)."""
    return {"id": f"appr-{number:04d}", "request_digest": request.digest(), "approver": approver,
            "approved_at": at, "expires_at": at + ttl,
            "shown": {"tool": request.tool, "task": request.task, "intent": dict(request.intent)}}


print(json.dumps(approval_record(release, "ana"), indent=1)[:400])

# %% solution id=approval-refusal
def approval_refusal(approval: dict, request: policy.AgentRequest, spent: list,
                     now: int) -> str | None:
    """None if the approval may be used for this exact request now, else the refusal code."""
    ### BEGIN SOLUTION
    who = approvals.identity(approval["approver"])
    if who in (approvals.identity(request.agent), approvals.identity(request.user)):
        return "self_approval"
    if approval["id"] in spent:
        return "approval_replayed"
    if now >= approval["expires_at"]:
        return "approval_expired"
    if approval["request_digest"] != request.digest():
        return "approval_mismatch"
    return None
    ### END SOLUTION

# %% tests id=test-approval-refusal points=4
"""Check that approval_refusal binds an approval to one exact request, once, until its end."""
def _check(approval, request, spent=(), now=NOW + 60):
    with grading.tripwire(approvals, "ApprovalBook"):
        return approval_refusal(approval, request, list(spent), now)


_ok = approval_record(release, "ana")
grading.expect(_check(_ok, release) is None, "an approved request passes",
               "the request Ana approved, used once, before its end, must be allowed (None)")
grading.expect(_check(_ok, reordered) is None, "an equal request is the approved request",
               "the same request with its arguments in another order is the same request")
grading.expect_same(_check(_ok, swapped), "approval_mismatch", "an approval covers one exact request",
                    "the image was swapped after Ana approved: that is another request")
_other_session = deploy_request("sess-9999")
_wider = deploy_request(s.id, scopes=("deploy:read", "deploy:write"), ttl=600)
for _r, _what in [(_other_session, "another session"), (_wider, "wider scopes and a longer TTL")]:
    grading.expect_same(_check(_ok, _r), "approval_mismatch", "every fact of the request is bound",
                        f"{_what} with the same tool, task and arguments (what the screen showed) "
                        "is not the approved request")
grading.expect_same(_check(_ok, release, spent=["appr-0001"]), "approval_replayed", "one yes, one use",
                    "an approval whose id is already spent must be refused")
grading.expect_same(_check(_ok, release, now=_ok["expires_at"]), "approval_expired",
                    "an approval is dead at its end",
                    "at expires_at the approval is already dead (now >= expires_at)")
for _who in ("Deploy-Bot", " ALICE ", "alice\u200b"):
    grading.expect_same(_check(approval_record(release, _who), release), "self_approval",
                        "nobody approves their own request",
                        f"{_who!r} is the requesting agent or its user, however it is typed")
print("approval_refusal: visible checks passed")
### BEGIN HIDDEN TESTS
_refund = policy.AgentRequest(tenant="acme", user="alice", agent="helpdesk-bot", session="sess-0042",
                              task="refund", tool="payments", scopes=("payments:refund",), ttl=60,
                              intent=(("charge", "ch_0001"), ("amount", 100)))
_a = approval_record(_refund, "Bob", number=7, at=NOW + 500, ttl=300)
for _r, _want, _prop in [
        (_refund, None, "an approved request passes"),
        (policy.AgentRequest(**{**_refund.facts(), "intent": [["amount", 100], ["charge", "ch_0001"]]}),
         None, "an equal request is the approved request"),
        (policy.AgentRequest(**{**_refund.facts(), "intent": [["charge", "ch_0001"], ["amount", "100"]]}),
         "approval_mismatch", "an approval covers one exact request"),
        (policy.AgentRequest(**{**_refund.facts(), "intent": [["charge", "ch_0001"], ["amount", 100.0]]}),
         "approval_mismatch", "an approval covers one exact request"),
        (policy.AgentRequest(**{**_refund.facts(), "user": "bobby"}), "approval_mismatch",
         "every fact of the request is bound"),
        (policy.AgentRequest(**{**_refund.facts(), "ttl": 61}), "approval_mismatch",
         "every fact of the request is bound"),
        (policy.AgentRequest(**{**_refund.facts(), "tenant": "globex"}), "approval_mismatch",
         "every fact of the request is bound")]:
    grading.expect_same(_check(_a, _r, now=NOW + 600), _want, _prop,
                        "an approval this notebook does not show was judged wrongly")
grading.expect_same(_check(_a, _refund, spent=["appr-0001", "appr-0007"], now=NOW + 600),
                    "approval_replayed", "one yes, one use", "a spent approval was accepted")
grading.expect_same(_check(_a, _refund, spent=["appr-00071"], now=NOW + 600), None,
                    "one yes, one use", "only the exact id is spent")
grading.expect_same(_check(_a, _refund, now=NOW + 799), None, "an approval is dead at its end",
                    "an approval is alive before its end")
grading.expect_same(_check(_a, _refund, now=NOW + 800), "approval_expired",
                    "an approval is dead at its end", "an approval was used at its end")
for _who in ("HELPDESK-BOT", "ｈｅｌｐｄｅｓｋ-bot", "al\u00adice", "Alice\ufe0f"):
    grading.expect_same(_check(approval_record(_refund, _who), _refund), "self_approval",
                        "nobody approves their own request", "a disguised requester approved")
grading.expect_same(_check(approval_record(_refund, "bob"), _refund), None,
                    "nobody approves their own request", "another person's approval was refused")
grading.expect_same(_check(approval_record(_refund, "alice"), _refund, spent=["appr-0001"]),
                    "self_approval", "nobody approves their own request",
                    "self-approval comes first")
### END HIDDEN TESTS

# %% [markdown]
# ### Your check next to the kit's approval book
#
# The same approvals go through the kit's `ApprovalBook` (which keeps its own spent list) and
# through your function (the cell keeps `spent` for you, adding an id when your check lets it
# through). The cell fails, naming the first case, if you and the book disagree.

# %%
try:
    book_clock = ManualClock(NOW)
    book = approvals.ApprovalBook(clock=book_clock, ids=IdFactory())
    session_id = "sess-demo"
    r1 = deploy_request(session_id)
    slips = {who: book.approve(r1, approver=who) for who in ("ana", "erin")}  # two yeses, one request
    records = {who: {**approval_record(r1, who), "id": s.id, "expires_at": s.expires_at}
               for who, s in slips.items()}
    spent_ids, differ = [], []
    for label, who, r, dt in [
            ("swapped image", "ana", deploy_request(session_id, intent=(("version", "6.6.6"),
                                                                       ("image", "registry.evil/x"))), 0),
            ("reordered arguments", "ana", deploy_request(session_id, intent=tuple(reversed(r1.intent))), 0),
            ("the same request again", "ana", r1, 1),
            ("erin's yes, another session", "erin", deploy_request("sess-other"), 10),
            ("erin's yes, 2000 s later", "erin", r1, 2000)]:
        book_clock.set(NOW + dt)
        try:
            book.redeem(r, slips[who])
            kit = None
        except errors.AccessDenied as exc:
            kit = exc.code
        yours = approval_refusal(records[who], r, list(spent_ids), NOW + dt)
        if yours is None:
            spent_ids.append(records[who]["id"])
        print(f"{label:<28} kit={kit!s:<18} yours={yours!s:<18} {'same' if kit == yours else 'DIFFERENT'}")
        if kit != yours:
            differ.append(label)
    grading.expect(not differ, "your check decides as the approval book does",
                   f"first disagreement: {differ[:1]}")
except NotImplementedError:
    print("write approval_refusal above first")

# %% [markdown]
# ## 2. Approval fatigue: how many times a day do we ask a human?
#
# An approval is a control only while the human reads it. Ask forty times a day and the
# fortieth "approve" is a reflex, which is exactly when the swapped payload gets through. So the
# number of approvals a day asks for is a security measure, and **scoping** is how you lower it
# without opening a hole: ask for a human where the authority is privileged, not wherever a
# sensitive tool is touched.
#
# Here is one day of acme's agent traffic (already decided by the policy: every request here
# was allowed). A request is a dict: `hour`, `user`, `agent`, `tool`, `scopes` (a list) and
# `intent` (a dict of the call's arguments).

# %% locked id=day
SENSITIVE_TOOLS = frozenset({"payments", "deploy:production"})
PRIVILEGED = frozenset({("payments", "payments:refund"), ("payments", "payments:charge"),
                        ("deploy:production", "deploy:write")})
SMALL_REFUND = 5000  # cents: refunds up to this are pre-approved by the standing grant


def _day(seed=2026):
    rng = random.Random(seed)
    kinds = [("tickets", ["tickets:read"], {}), ("tickets", ["tickets:read", "tickets:write"], {}),
             ("payments", ["payments:read"], {}),
             ("payments", ["payments:refund"], "small"), ("payments", ["payments:refund"], "large"),
             ("payments", ["payments:read", "payments:refund"], "small"),
             ("deploy:staging", ["deploy:write"], {"version": "1.4.x"}),
             ("deploy:production", ["deploy:read"], {}),
             ("deploy:production", ["deploy:write"], {"version": "1.4.2"}),
             ("payments", ["payments:read", "payments:charge"], "large")]
    weights = [30, 12, 14, 16, 4, 4, 8, 6, 3, 2]
    out = []
    for hour in range(8, 20):
        for _ in range(rng.randint(14, 22)):
            tool, scopes, intent = rng.choices(kinds, weights)[0]
            if intent in ("small", "large"):
                amount = rng.randint(500, SMALL_REFUND) if intent == "small" else rng.randint(5001, 90000)
                intent = {"charge": f"ch_{rng.randint(1, 9999):04d}", "amount": amount}
            out.append({"hour": hour, "user": rng.choice(["alice", "bob", "carol"]),
                        "agent": "deploy-bot" if tool.startswith("deploy") else "helpdesk-bot",
                        "tool": tool, "scopes": list(scopes), "intent": dict(intent)})
    return out


DAY = _day()
print(len(DAY), "requests between 08:00 and 20:00; the first three:")
for r in DAY[:3]:
    print(" ", r)

# %% [markdown]
# ## Exercise 2 (3 points): measure the approvals a day asks for
#
# Write `approval_load(day)` returning a pair of counts `(coarse, scoped)`:
#
# - `coarse`: the requests a **tool-level** rule sends to a human: every request whose `tool` is in
#   `SENSITIVE_TOOLS`;
# - `scoped`: the requests the **scoped** rule sends to a human: a request asks for a human when
#   it asks for at least one privileged `(tool, scope)` pair of `PRIVILEGED`. One exception: the
#   standing grant pre-approves a **small refund**, a `payments` request whose only privileged
#   scope is `payments:refund` and whose `intent["amount"]` is an `int` (not a `bool`, not a
#   string, not a float) with `0 < amount <= SMALL_REFUND`. Whatever the rule cannot judge goes
#   to a human.

# %% solution id=approval-load
def approval_load(day: list) -> tuple[int, int]:
    """(coarse, scoped): how many of the day's requests each rule sends to a human."""
    ### BEGIN SOLUTION
    coarse = scoped = 0
    for r in day:
        if r["tool"] in SENSITIVE_TOOLS:
            coarse += 1
        privileged = {s for s in r["scopes"] if (r["tool"], s) in PRIVILEGED}
        if not privileged:
            continue
        amount = r["intent"].get("amount")
        small = (r["tool"] == "payments" and privileged == {"payments:refund"}
                 and type(amount) is int and 0 < amount <= SMALL_REFUND)
        if not small:
            scoped += 1
    return coarse, scoped
    ### END SOLUTION

# %% tests id=test-approval-load points=3
"""Check that approval_load asks a human for every privileged request but a small refund."""
def _one(**r):
    base = {"hour": 9, "user": "alice", "agent": "helpdesk-bot", "tool": "tickets",
            "scopes": ["tickets:read"], "intent": {}}
    return approval_load([{**base, **r}])


grading.expect_same(_one(), (0, 0), "reading tickets asks nobody", "a ticket read is not privileged")
grading.expect_same(_one(tool="payments", scopes=["payments:read", "payments:charge"],
                         intent={"amount": 100}), (1, 1),
                    "one privileged scope is enough to ask a human",
                    "a read scope next to payments:charge does not make the request harmless")
grading.expect_same(_one(tool="deploy:staging", scopes=["deploy:write"]), (0, 0),
                    "a scope is privileged on its tool",
                    "deploy:write on staging is not deploy:write on production")
grading.expect_same(_one(tool="payments", scopes=["payments:read"]), (1, 0),
                    "the coarse rule asks for every sensitive tool",
                    "a payments read: the coarse rule asks, the scoped rule does not")
grading.expect_same(_one(tool="payments", scopes=["payments:refund"],
                         intent={"charge": "ch_1", "amount": 1200}), (1, 0),
                    "a small refund is pre-approved", "a 12.00 refund is covered by the standing grant")
for _amount in ("1200", 1200.0, True, -5, 0, SMALL_REFUND + 1, None):
    grading.expect_same(_one(tool="payments", scopes=["payments:refund"],
                             intent={"charge": "ch_1", "amount": _amount}), (1, 1),
                        "what the rule cannot judge goes to a human",
                        f"a refund whose amount is {_amount!r} is not a small refund")
grading.expect_same(_one(tool="payments", scopes=["payments:charge", "payments:refund"],
                         intent={"amount": 100}), (1, 1), "the exception covers small refunds only",
                    "a charge rides along with a small refund: ask a human")
grading.expect_same(approval_load(DAY), (110, 9), "your measure of the day",
                    "the day's counts are wrong: test single requests like the ones above")
print("approval_load: visible checks passed; the day:", approval_load(DAY))
### BEGIN HIDDEN TESTS
for _r, _want, _prop in [
        (dict(tool="payments", scopes=["payments:refund"], intent={"amount": SMALL_REFUND}), (1, 0),
         "a small refund is pre-approved"),
        (dict(tool="payments", scopes=["payments:refund"], intent={"amount": 1}), (1, 0),
         "a small refund is pre-approved"),
        (dict(tool="payments", scopes=["payments:read", "payments:refund"], intent={"amount": 99}), (1, 0),
         "a small refund is pre-approved"),
        (dict(tool="payments", scopes=["payments:refund"], intent={}), (1, 1),
         "what the rule cannot judge goes to a human"),
        (dict(tool="payments", scopes=["payments:refund"], intent={"amount": [100]}), (1, 1),
         "what the rule cannot judge goes to a human"),
        (dict(tool="payments", scopes=["payments:refund"], intent={"amount": False}), (1, 1),
         "what the rule cannot judge goes to a human"),
        (dict(tool="deploy:production", scopes=["deploy:read", "deploy:write"]), (1, 1),
         "one privileged scope is enough to ask a human"),
        (dict(tool="deploy:production", scopes=["deploy:read"]), (1, 0),
         "the coarse rule asks for every sensitive tool"),
        (dict(tool="tickets", scopes=["payments:refund"], intent={"amount": 10**6}), (0, 0),
         "a scope is privileged on its tool"),
        (dict(tool="deploy:staging", scopes=["deploy:write", "deploy:read"]), (0, 0),
         "a scope is privileged on its tool"),
        (dict(tool="payments", scopes=["payments:charge"], intent={"amount": 10}), (1, 1),
         "the exception covers small refunds only")]:
    grading.expect_same(_one(**_r), _want, _prop, "a request this notebook does not show was counted wrongly")
grading.expect_same(approval_load([]), (0, 0), "your measure of the day", "an empty day asks nobody")
grading.expect_same(approval_load(_day(7)), (99, 17), "your measure of the day",
                    "another day was counted wrongly")
### END HIDDEN TESTS

# %% [markdown]
# The day in a picture: the approvals each rule asks for, hour by hour. The cell also runs your
# function on every request of the day alone, and fails loudly if a request for privileged
# authority (other than a small refund) went past your scoped rule.

# %%
try:
    coarse_by_hour, scoped_by_hour, missed = [], [], []
    for hour in range(8, 20):
        rows = [r for r in DAY if r["hour"] == hour]
        c, sc = approval_load(rows)
        coarse_by_hour.append(c)
        scoped_by_hour.append(sc)
    for r in DAY:
        privileged = [x for x in r["scopes"] if (r["tool"], x) in PRIVILEGED]
        amount = r["intent"].get("amount")
        if privileged and not (privileged == ["payments:refund"] and type(amount) is int
                               and 0 < amount <= SMALL_REFUND) and approval_load([r])[1] != 1:
            missed.append(r)
    grading.expect(not missed, "one privileged scope is enough to ask a human",
                   f"{len(missed)} privileged requests of the day asked nobody")
    fig, ax = plt.subplots(figsize=(8, 2.6))
    hours = list(range(8, 20))
    ax.bar([h - 0.2 for h in hours], coarse_by_hour, width=0.4, color="#d8512a",
           label=f"tool-level rule: {sum(coarse_by_hour)} a day")
    ax.bar([h + 0.2 for h in hours], scoped_by_hour, width=0.4, color="#174b43",
           label=f"scoped rule: {sum(scoped_by_hour)} a day")
    ax.set_xlabel("hour of the day")
    ax.set_ylabel("approvals asked")
    ax.set_title("Approval fatigue: what scoping saves a human")
    ax.legend()
    plt.tight_layout()
    plt.show()
    print(f"the scoped rule asks {sum(scoped_by_hour)} times instead of {sum(coarse_by_hour)}: "
          f"at most {max(scoped_by_hour)} in any hour instead of {max(coarse_by_hour)}")
except NotImplementedError:
    print("write approval_load above first")

# %% [markdown]
# Scoping did not remove a single approval that protects something: every production deploy,
# every charge and every large refund still waits for a human. It removed the ones that
# protected nothing (reads, staging, small refunds a standing grant already covers), and with
# them the habit of clicking without reading.
#
# ## 3. The refresh token stays in the vault (demo on the real OAuth endpoint)
#
# The `files` tool sits behind a real OAuth server. The vault's `RefreshKeeper` holds acme's
# refresh token and client secret in the secret store, trades them at the token endpoint for a
# short-lived access token, stores the **rotated** refresh token (the old one is now spent), and
# hands the access token only to the broker. The agent gets file names.

# %%
fs = desk.open_session(user="alice", agent="helpdesk-bot")
files_request = policy.AgentRequest(tenant="acme", user="alice", agent="helpdesk-bot", session=fs.id,
                                    task="files", tool="files", scopes=("files:read",), ttl=60)
answer = desk.broker.call(desk.vault.request(files_request).token, tool="files", method="GET",
                          path="/files")
print("the agent sees:", answer.body)
print("credentials in what the agent sees:", desk.leaks_in(answer.body) or "none")
for e in log_lines(last=3):
    print(brief(e), "| fingerprints:", e["facts"] if e["event"] == "upstream_refresh" else "")

# %% [markdown]
# Now the attack the family exists for. Suppose the original refresh token leaked once (notebook
# 01's naive agent had it in its context, client secret and all) and the attacker trades it at
# the token endpoint. The server has already seen it spent: two parties hold the grant and it
# cannot tell which one is the thief, so it **revokes the whole family**: the live refresh token
# in the vault and every access token it bought.

# %%
stolen = desk.world.credential("acme", "oauth:refresh").reveal()  # the leaked original
thief = httpclient.request(
    "POST", desk.world.url("oauth") + "/oauth/token",
    body=urlencode({"grant_type": "refresh_token", "refresh_token": stolen,
                    "client_id": desk.world.oauth_client_id("acme"),
                    "client_secret": desk.world.credential("acme", "oauth:client_secret").reveal(),
                    }).encode(),
    headers={"Content-Type": "application/x-www-form-urlencoded"})
print("the thief gets:", thief.status, thief.json()["error"])

desk.clock.advance(600)  # the cached access token has gone stale: the broker must refresh
try:
    desk.broker.call(desk.vault.request(files_request).token, tool="files", method="GET", path="/files")
except errors.UpstreamError as exc:
    print("the agent's next call:", type(exc).__name__, exc.code)
for e in log_lines(last=2):
    print(brief(e))
refreshes = [e for e in log_lines() if e["event"] == "upstream_refresh"]
last_rotated = dict(refreshes[-2]["facts"])["rotated_to"]
refused = dict(refreshes[-1]["facts"])["presented"]
print("the vault presented the token it was handed last time:", refused == last_rotated,
      f"({refused})")

# %% [markdown]
# The thief got `invalid_grant` and nothing else. The vault's next refresh was refused too
# (`refresh_revoked`), and that refusal is the on-call signal: the log's fingerprints show the
# vault presented the token it was handed last time, so the reuse came from somewhere else. The
# fix is a new consent, not a retry; the keeper does not hammer the endpoint. Had the agent held
# the refresh token, the thief's copy would have been one of two equally valid ones, and nobody
# would have noticed.
#
# ## 4. Tenants: the badge says which company, the model does not
#
# acme and globex share the vault, the broker and the services. Three cross-tenant attempts on
# the real world, one per layer. The model, steered by a ticket, writes `tenant: globex` or an
# `owner` into its plan; or a globex object id finds its way into an acme call.

# %%
a_session = desk.open_session(user="alice", agent="helpdesk-bot")
triage = dict(tenant="acme", user="alice", agent="helpdesk-bot", session=a_session.id, task="triage",
              tool="tickets", scopes=("tickets:read", "tickets:write"), ttl=120)
try:  # the vault: a request naming globex from alice's acme session
    desk.vault.request(policy.AgentRequest(**{**triage, "tenant": "globex"}))
except errors.AccessDenied as exc:
    print("vault,  request says tenant globex   ->", exc.code)
pass_ = desk.vault.request(policy.AgentRequest(**triage))
print("token,  the pass's tenant claim        ->", pass_.claims.tenant)
probe = desk.broker.call(pass_.token, tool="tickets", method="GET", path="/tickets/T-2001")
print("broker, acme pass on globex's T-2001   ->", probe.status, probe.json()["error"])
made = desk.broker.call(pass_.token, tool="tickets", method="POST", path="/tickets",
                        json={"title": "export", "body": "x", "tenant": "globex", "owner": "gina"})
seen = desk.world.received("tickets")[-1]
print("broker, body says tenant globex        ->", made.status, "created", made.json()["id"],
      "with the key of tenant", seen.tenant)

# %% [markdown]
# The vault refused outright (`session_mismatch`): the session says acme. The pass carried
# `tenant=acme`, so the broker injected acme's key, and the ticket service, holding acme's key,
# could not see globex's ticket. The `tenant` and `owner` in the body were just text in a ticket:
# no layer chose a key or a scope by them. (Composio's rule for its connectors says the same:
# never accept a model-supplied owner.)
#
# ## Exercise 3 (4 points): tenant isolation at every layer
#
# Write `tenant_refusal(session, plan, claims, resource_tenant)` for one step of an agent:
#
# - `session` is what the platform opened: `{"id", "tenant", "user", "agent"}`;
# - `plan` is what the **model** wrote: `{"tool", "task", "args": {...}}` and maybe more keys;
# - `claims` is the verified pass the agent presents (`tokens.TokenClaims`);
# - `resource_tenant` is the tenant that owns the object the call touches.
#
# Return the first refusal, or `None`:
#
# 1. `"session_mismatch"` (the vault): the plan names an identity that is not the session's.
#    Look at the keys `tenant` (compared with the session's tenant) and `user` and `owner`
#    (compared with the session's user), at the plan's top level **and** inside `plan["args"]`.
#    A key that is present must equal the session's value exactly.
# 2. `"wrong_tenant"` (the pass): the pass is not this session's: its `tenant`, `user` or
#    `session` claim differs from the session's (a pass copied out of another tenant's memory).
# 3. `"cross_tenant"` (the tool): the object belongs to another tenant than the pass's. Names are
#    compared exactly: `acme` is not `acme-eu`.

# %% solution id=tenant-refusal
def tenant_refusal(session: dict, plan: dict, claims: tokens.TokenClaims,
                   resource_tenant: str) -> str | None:
    """The first layer that refuses this step for tenant isolation, or None."""
    ### BEGIN SOLUTION
    wanted = {"tenant": session["tenant"], "user": session["user"], "owner": session["user"]}
    for where in (plan, plan.get("args") or {}):
        for key, value in wanted.items():
            if key in where and where[key] != value:
                return "session_mismatch"
    if (claims.tenant, claims.user, claims.session) != (session["tenant"], session["user"],
                                                        session["id"]):
        return "wrong_tenant"
    if resource_tenant != claims.tenant:
        return "cross_tenant"
    return None
    ### END SOLUTION

# %% tests id=test-tenant-refusal points=4
"""Check that tenant_refusal takes identity from the session and the pass, never from the model."""
def _claims(tenant="acme", user="alice", session="sess-0100"):
    return tokens.TokenClaims(iss="https://vault.lab.local", sub="helpdesk-bot", aud="tickets", user=user,
                              tenant=tenant, task="triage", session=session, scopes=("tickets:read",),
                              iat=NOW, nbf=NOW, exp=NOW + 120, jti="tok-x")


_S = {"id": "sess-0100", "tenant": "acme", "user": "alice", "agent": "helpdesk-bot"}
_P = {"tool": "tickets", "task": "triage", "args": {"title": "export"}}


def _tr(plan=_P, claims=None, resource="acme"):
    with grading.tripwire(vault, "check_session"):
        return tenant_refusal(dict(_S), plan, claims or _claims(), resource)


grading.expect(_tr() is None, "the session's own work passes",
               "alice's acme session, its own pass, an acme ticket: nothing to refuse")
grading.expect_same(_tr({**_P, "tenant": "globex"}), "session_mismatch",
                    "the model never chooses the tenant", "the plan says tenant globex in an acme session")
grading.expect_same(_tr({**_P, "args": {"title": "x", "owner": "gina"}}), "session_mismatch",
                    "a model-supplied owner is never accepted",
                    "an owner inside the call's arguments is still the model's word")
grading.expect_same(_tr({**_P, "user": "bob"}), "session_mismatch", "a model-supplied owner is never accepted",
                    "the plan names another user at its top level")
grading.expect(_tr({**_P, "tenant": "acme", "args": {"owner": "alice"}}) is None,
               "the session's own work passes", "naming the session's own tenant and user is fine")
grading.expect_same(_tr(claims=_claims(tenant="globex", user="gina", session="sess-0200"),
                        resource="globex"), "wrong_tenant", "a pass is for its own session",
                    "a globex pass found in shared memory, used on a globex ticket from an acme session")
grading.expect_same(_tr(claims=_claims(session="sess-0101")), "wrong_tenant",
                    "a pass is for its own session", "a pass of another acme session")
grading.expect_same(_tr(resource="globex"), "cross_tenant", "the object belongs to the pass's tenant",
                    "an acme pass on a globex object")
grading.expect_same(_tr(resource="acme-eu"), "cross_tenant", "tenants are compared exactly",
                    "acme-eu only starts like acme")
print("tenant_refusal: visible checks passed")
### BEGIN HIDDEN TESTS
for _plan, _claim, _res, _want, _prop in [
        ({**_P, "args": {"tenant": "globex"}}, None, "acme", "session_mismatch",
         "the model never chooses the tenant"),
        ({**_P, "owner": "ALICE"}, None, "acme", "session_mismatch", "a model-supplied owner is never accepted"),
        ({**_P, "args": {"user": "alice "}}, None, "acme", "session_mismatch",
         "a model-supplied owner is never accepted"),
        ({**_P, "tenant": None}, None, "acme", "session_mismatch", "the model never chooses the tenant"),
        ({**_P, "args": {}}, None, "acme", None, "the session's own work passes"),
        ({"tool": "tickets", "task": "triage", "args": {}, "customer_tenant": "globex"}, None, "acme", None,
         "the session's own work passes"),
        (_P, _claims(user="bob"), "acme", "wrong_tenant", "a pass is for its own session"),
        (_P, _claims(tenant="globex"), "acme", "wrong_tenant", "a pass is for its own session"),
        (_P, None, "acm", "cross_tenant", "tenants are compared exactly"),
        (_P, None, "ACME", "cross_tenant", "tenants are compared exactly"),
        (_P, None, "globex", "cross_tenant", "the object belongs to the pass's tenant"),
        ({**_P, "tenant": "globex"}, _claims(tenant="globex"), "globex", "session_mismatch",
         "the model never chooses the tenant")]:
    grading.expect_same(_tr(_plan, _claim, _res), _want, _prop,
                        "a step this notebook does not show was judged wrongly")
_G = {"id": "sess-0300", "tenant": "globex", "user": "gina", "agent": "helpdesk-bot"}
with grading.tripwire(vault, "check_session"):
    grading.expect_same(tenant_refusal(_G, _P, _claims("globex", "gina", "sess-0300"), "globex"), None,
                        "the session's own work passes", "globex's own session was refused")
    grading.expect_same(tenant_refusal(_G, {**_P, "owner": "alice"}, _claims("globex", "gina", "sess-0300"),
                                       "globex"), "session_mismatch",
                        "a model-supplied owner is never accepted", "an owner from another tenant passed")
### END HIDDEN TESTS

# %% [markdown]
# ### Your check on the real attempts
#
# The three attempts of section 4 again, each as your function sees it, next to what the real
# kit did. The cell fails if your check lets through a step the kit stopped or contained.

# %%
try:
    sess = {"id": a_session.id, "tenant": "acme", "user": "alice", "agent": "helpdesk-bot"}
    steps = [("request says tenant globex", {"tool": "tickets", "task": "triage", "tenant": "globex",
                                             "args": {}}, pass_.claims, "acme", "vault: session_mismatch"),
             ("acme pass on globex's T-2001", {"tool": "tickets", "task": "triage", "args": {}},
              pass_.claims, "globex", "service: 404, acme's key cannot see it"),
             ("body says owner gina", {"tool": "tickets", "task": "triage",
                                       "args": {"tenant": "globex", "owner": "gina"}},
              pass_.claims, "acme", "broker: acme's key, the body is only text")]
    for label, plan, claims, res, kit in steps:
        yours = tenant_refusal(sess, plan, claims, res)
        print(f"{label:<30} kit: {kit:<40} yours: {yours}")
        grading.expect(yours is not None, "the model never chooses the tenant",
                       f"{label}: your check let a cross-tenant step through")
except NotImplementedError:
    print("write tenant_refusal above first")

# %% [markdown]
# Notice the third row: the kit *contained* it (acme's key, so nothing of globex's could be
# touched) while your check *refuses* it. Both are safe; refusing is also a signal, because an
# agent that writes another tenant's owner into its arguments is reading someone else's words.
#
# ## 5. A helper sent by a helper: `act` and the current actor
#
# Agents call agents. A release orchestrator, acting for Ana, hands the deploy step to
# `deploy-bot`; a token exchange (RFC 8693) then issues `deploy-bot` a token that says so. RFC
# 8693 writes the chain in the `act` claim: `sub` is whom the authority is for, `act.sub` is the
# **current actor**, the one presenting the token now, and an `act` nested inside `act` is who
# acted *before*. Only the current actor is authorized; the nested ones are audit history. (A
# note on names: the kit's own passes from notebook 02 carry one `act` holding the user; in this
# section tokens are read the RFC's way.)

# %%
chain = {"iss": "https://vault.lab.local", "aud": "deploy:production", "sub": "ana",
         "act": {"sub": "deploy-bot", "act": {"sub": "release-orchestrator"}}}
print(json.dumps(chain, indent=1))
actors, node = [], chain.get("act")
while isinstance(node, dict):
    actors.append(node.get("sub"))
    node = node.get("act")
print("current actor:", actors[0], "| history:", actors[1:])

# %% [markdown]
# Why it matters: suppose only `release-orchestrator` is allowed to deploy to production. A check
# that accepts the token if **any** actor in the chain is allowed lets `deploy-bot` borrow the
# orchestrator's authority just by having been sent by it, and lets anyone who can get a token
# exchanged through a privileged agent inherit its rights.
#
# ## Exercise 4 (3 points): the current actor
#
# Write `delegation(claims, allowed)`. `claims` is a verified payload (a dict); `allowed` a list
# of actor names allowed for this tool. Return a dict
# `{"actor": ..., "history": [...], "authorized": ...}`:
#
# - no `act` claim: nothing was delegated, the subject acts itself: `actor` is `claims["sub"]`,
#   `history` is `[]`;
# - an `act` that is a dict with a non-empty string `sub`: `actor` is that `sub`; `history` lists
#   the `sub` of each nested `act` below it, outer to inner, stopping at the first that is not a
#   dict with a non-empty string `sub`;
# - an `act` of any other shape: `actor` is `None` and `history` `[]`;
# - `authorized` is `True` only when `actor` is exactly one of `allowed`.

# %% solution id=delegation
def delegation(claims: dict, allowed: list) -> dict:
    """The current actor, the audit history behind it, and whether the current actor is authorized."""
    ### BEGIN SOLUTION
    def named(node):
        return isinstance(node, dict) and isinstance(node.get("sub"), str) and node["sub"] != ""

    if "act" not in claims:
        actor, history = claims.get("sub"), []
    elif named(claims["act"]):
        actor, history = claims["act"]["sub"], []
        node = claims["act"].get("act")
        while named(node):
            history.append(node["sub"])
            node = node.get("act")
    else:
        actor, history = None, []
    return {"actor": actor, "history": history, "authorized": actor is not None and actor in allowed}
    ### END SOLUTION

# %% tests id=test-delegation points=3
"""Check that delegation authorizes the current actor only and keeps the rest as history."""
_d = delegation(chain, ["release-orchestrator"])
grading.expect(type(_d) is dict and _d.get("authorized") is False, "only the current actor is authorized",
               "deploy-bot presents the token; the orchestrator acted before: its rights are not lent")
grading.expect_same(delegation(chain, ["deploy-bot"]),
                    {"actor": "deploy-bot", "history": ["release-orchestrator"], "authorized": True},
                    "the outermost act is the current actor",
                    "act.sub is who presents the token now, the nested act is history")
_deep = {"sub": "ana", "act": {"sub": "c", "act": {"sub": "b", "act": {"sub": "a"}}}}
grading.expect_same(delegation(_deep, ["a", "b"]), {"actor": "c", "history": ["b", "a"], "authorized": False},
                    "nested actors are history, outer to inner",
                    "three actors: c now, then b before it, then a first")
grading.expect_same(delegation({"sub": "ana", "act": {"sub": "deploy-bot"}}, ["ana"]),
                    {"actor": "deploy-bot", "history": [], "authorized": False},
                    "the subject is not the actor", "ana is whom the authority is for; deploy-bot acts")
grading.expect_same(delegation({"sub": "deploy-bot"}, ["deploy-bot"]),
                    {"actor": "deploy-bot", "history": [], "authorized": True},
                    "without act the subject acts itself", "no delegation happened")
for _bad in ("deploy-bot", {"act": {"sub": "x"}}, {"sub": ""}, [{"sub": "deploy-bot"}]):
    grading.expect_same(delegation({"sub": "deploy-bot", "act": _bad}, ["deploy-bot", "x"]),
                        {"actor": None, "history": [], "authorized": False},
                        "a malformed act authorizes nobody", f"act={_bad!r} names no current actor")
print("delegation: visible checks passed")
### BEGIN HIDDEN TESTS
for _claims_in, _allowed, _want, _prop in [
        ({"sub": "u", "act": {"sub": "B", "act": {"sub": "A"}}}, ["a", "b"],
         {"actor": "B", "history": ["A"], "authorized": False}, "only the current actor is authorized"),
        ({"sub": "u", "act": {"sub": "b", "act": {"sub": "a"}}}, ["b"],
         {"actor": "b", "history": ["a"], "authorized": True}, "the outermost act is the current actor"),
        ({"sub": "u", "act": {"sub": "d", "act": {"sub": "c", "act": {"sub": "b", "act": {"sub": "a"}}}}},
         ["x"], {"actor": "d", "history": ["c", "b", "a"], "authorized": False},
         "nested actors are history, outer to inner"),
        ({"sub": "u", "act": {"sub": "b", "act": {"sub": ""}}}, ["b"],
         {"actor": "b", "history": [], "authorized": True}, "nested actors are history, outer to inner"),
        ({"sub": "u", "act": {"sub": "b", "act": {"sub": "a", "act": "junk"}}}, ["b"],
         {"actor": "b", "history": ["a"], "authorized": True}, "nested actors are history, outer to inner"),
        ({"sub": "u", "act": {"sub": "b", "act": 7}}, [], {"actor": "b", "history": [], "authorized": False},
         "nested actors are history, outer to inner"),
        ({"sub": "u", "act": {"sub": "b"}}, ["u"], {"actor": "b", "history": [], "authorized": False},
         "the subject is not the actor"),
        ({"sub": "u"}, ["u", "x"], {"actor": "u", "history": [], "authorized": True},
         "without act the subject acts itself"),
        ({"sub": "u", "act": None}, ["u"], {"actor": None, "history": [], "authorized": False},
         "a malformed act authorizes nobody"),
        ({"sub": "u", "act": {"sub": 5}}, [5, "u"], {"actor": None, "history": [], "authorized": False},
         "a malformed act authorizes nobody"),
        ({"sub": "u", "act": {"sub": "deploy-bot"}}, ["deploy-bot-2", "deploy"],
         {"actor": "deploy-bot", "history": [], "authorized": False}, "only the current actor is authorized")]:
    grading.expect_same(delegation(_claims_in, _allowed), _want, _prop,
                        "a delegation chain this notebook does not show was judged wrongly")
### END HIDDEN TESTS

# %% [markdown]
# ## 6. Who owns this line? The grant file and its blind spots
#
# The kit's loader refuses what is malformed: a wildcard, a TTL past the cap. It cannot refuse
# what is well formed and wrong for human reasons. Here is acme's and globex's real grant file
# (`ownership.grant_file()`), as an operator keeps it: every grant and connector with an owner, a
# creation date, a purpose and a note, and the people directory. Every grant in it loads:

# %%
GRANT_FILE = ownership.grant_file(NOW)
PEOPLE = {name: dict(facts) for name, facts in ownership.PEOPLE.items()}
loaded = policy.GrantPolicy([ownership.as_grant(e) for e in GRANT_FILE if e["kind"] == "grant"])
print(loaded, "- the loader found nothing to refuse")
print("people:", {name: ("active" if f["active"] else "left") for name, f in PEOPLE.items()})
for e in GRANT_FILE:
    span = None if e["expires_at"] is None else e["expires_at"] - e["created"]
    end = "no end" if span is None else f"{span // 3600} h" if span < 86400 else f"{span // 86400} d"
    print(f"{e['id']:<5} {e['kind'][:4]:<4} {e['tenant']:<6} {e['tool']:<17} {' '.join(e['scopes']):<29} "
          f"owner={e['owner']!r:<7} {e['purpose']:<9} {end:<6} runbook={'yes' if e['runbook'] else 'no':<3} "
          f"approval={'yes' if e['needs_approval'] else 'no':<3} | {e['note']}")

# %% [markdown]
# ## Exercise 5 (4 points): the ownership audit
#
# Write `audit_grants(entries, people)` returning a sorted list of `(entry id, code)` pairs,
# one per blind spot per entry (an entry can have several). The five codes, one rule each:
#
# - `"stale_owner"` (any entry, grant or connector): the owner is not an **active** person in
#   `people`. Names are compared as identities (`approvals.identity`); an empty or invalid name
#   (one `identity` refuses) is nobody.
# - `"temporary_exception"`: `purpose == "exception"` and no end (`expires_at is None`), or an
#   end more than `ownership.MAX_EXCEPTION` seconds (a week) after `created`.
# - `"broad_debug_grant"`: `purpose == "debug"` and a scope that does more than read (one not
#   ending in `:read`), or no end.
# - `"recovery_shortcut"`: `purpose == "recovery"` and no runbook (`None` or empty), or
#   `needs_approval` is not `True`.
# - `"copied_policy"`: a grant with a non-empty `note` whose `tool`, `scopes`, `tasks` and `note`
#   all equal those of a grant created **earlier** for another `(tenant, agent)`. Report only the
#   later entry: the original is not the copy. Compare scopes and tasks as sorted lists.

# %% solution id=audit-grants
def audit_grants(entries: list, people: dict) -> list:
    """Sorted (entry id, code) pairs: every human blind spot in the grant file."""
    ### BEGIN SOLUTION
    active = {approvals.identity(name) for name, facts in people.items() if facts.get("active") is True}

    def owner_ok(name):
        try:
            return approvals.identity(name) in active
        except errors.InvalidRequestError:
            return False

    def authority(e):
        return (e["tool"], sorted(e["scopes"]), sorted(e["tasks"]), e["note"])

    found = []
    for e in entries:
        if not owner_ok(e["owner"]):
            found.append((e["id"], "stale_owner"))
        end, created = e["expires_at"], e["created"]
        if e["purpose"] == "exception" and (end is None or end - created > ownership.MAX_EXCEPTION):
            found.append((e["id"], "temporary_exception"))
        if e["purpose"] == "debug" and (end is None or any(not s.endswith(":read") for s in e["scopes"])):
            found.append((e["id"], "broad_debug_grant"))
        if e["purpose"] == "recovery" and (not e["runbook"] or e["needs_approval"] is not True):
            found.append((e["id"], "recovery_shortcut"))
        if e["kind"] == "grant" and e["note"] and any(
                o["kind"] == "grant" and o["created"] < created and authority(o) == authority(e)
                and (o["tenant"], o["agent"]) != (e["tenant"], e["agent"]) for o in entries):
            found.append((e["id"], "copied_policy"))
    return sorted(found)
    ### END SOLUTION

# %% tests id=test-audit-grants points=4
"""Check that audit_grants finds the five blind spots in the grant file, and nothing that is fine."""
def _audit(entries, people=None):
    with grading.tripwire(ownership, "audit"):
        return audit_grants([dict(e) for e in entries], dict(people or PEOPLE))


def _found(eid, code, got):
    return (eid, code) in got


_got = _audit(GRANT_FILE)
grading.expect(type(_got) is list and all(type(p) is tuple for p in _got), "a list of (id, code) pairs",
               "return a list of tuples")
grading.expect(_found("G-07", "stale_owner", _got) and _found("C-3", "stale_owner", _got),
               "a leaver owns nothing", "dan left the company: his grant and his connector have no owner")
grading.expect(_found("G-16", "stale_owner", _got), "a leaver owns nothing", "an empty owner is nobody")
grading.expect(not _found("C-2", "stale_owner", _got), "an owner is a person, however the name is typed",
               "'Bob' is bob, who still works here")
grading.expect(_found("G-04", "temporary_exception", _got) and _found("G-06", "temporary_exception", _got),
               "an exception ends within a week",
               "INC-4502's exception has no end; the quarter-close one lasts 90 days")
grading.expect(not _found("G-03", "temporary_exception", _got) and not _found("G-05", "temporary_exception", _got),
               "an exception ends within a week", "a four-hour and a five-day exception are fine")
grading.expect(_found("G-11", "broad_debug_grant", _got) and _found("G-12", "broad_debug_grant", _got)
               and not _found("G-10", "broad_debug_grant", _got), "a debug grant only reads, and ends",
               "webhooks debugging writes; the latency probe never ends; the two-day read is fine")
grading.expect(_found("G-13", "recovery_shortcut", _got) and _found("G-15", "recovery_shortcut", _got)
               and not _found("G-14", "recovery_shortcut", _got), "break glass needs a runbook and a human",
               "the rollback has no runbook, the unfreeze no approval; RB-7 has both")
grading.expect(_found("G-09", "copied_policy", _got) and not _found("G-08", "copied_policy", _got),
               "the copy is the later entry", "globex's reconciliation grant was pasted from acme's")
grading.expect_same(_got, sorted(_got), "a list of (id, code) pairs", "sort the pairs")
grading.expect(len(_got) == 10, "nothing that is fine is flagged",
               f"the file has ten findings; you report {len(_got)}")
print("audit_grants: visible checks passed;", len(_got), "findings")
### BEGIN HIDDEN TESTS
_base = next(e for e in ownership.grant_file(NOW) if e["id"] == "G-01")


def _one_entry(**changes):
    return _audit([{**_base, "id": "Z", **changes}])


for _changes, _want, _prop in [
        (dict(owner="ERIN"), [], "an owner is a person, however the name is typed"),
        (dict(owner="carol\u200b "), [], "an owner is a person, however the name is typed"),
        (dict(owner="zoe"), [("Z", "stale_owner")], "a leaver owns nothing"),
        (dict(owner="Dan"), [("Z", "stale_owner")], "a leaver owns nothing"),
        (dict(owner=" "), [("Z", "stale_owner")], "a leaver owns nothing"),
        (dict(purpose="exception", created=0, expires_at=7 * 86400), [], "an exception ends within a week"),
        (dict(purpose="exception", created=0, expires_at=7 * 86400 + 1), [("Z", "temporary_exception")],
         "an exception ends within a week"),
        (dict(purpose="standing", expires_at=None), [], "an exception ends within a week"),
        (dict(purpose="debug", scopes=["tickets:read"], expires_at=10**9), [], "a debug grant only reads, and ends"),
        (dict(purpose="debug", scopes=["tickets:readall"], expires_at=10**9), [("Z", "broad_debug_grant")],
         "a debug grant only reads, and ends"),
        (dict(purpose="debug", scopes=["tickets:read"], expires_at=None), [("Z", "broad_debug_grant")],
         "a debug grant only reads, and ends"),
        (dict(purpose="recovery", runbook="", needs_approval=True), [("Z", "recovery_shortcut")],
         "break glass needs a runbook and a human"),
        (dict(purpose="recovery", runbook="RB-1", needs_approval=True), [],
         "break glass needs a runbook and a human"),
        (dict(purpose="recovery", runbook="RB-1", needs_approval=False), [("Z", "recovery_shortcut")],
         "break glass needs a runbook and a human"),
        (dict(owner="dan", purpose="recovery", runbook=None), [("Z", "recovery_shortcut"), ("Z", "stale_owner")],
         "nothing that is fine is flagged")]:
    grading.expect_same(_one_entry(**_changes), _want, _prop, "an entry this notebook does not show was judged wrongly")
_orig = {**_base, "id": "A", "created": 10, "note": "n", "scopes": ["b:read", "a:read"]}
for _copy, _want, _prop in [
        ({"id": "B", "created": 20, "tenant": "globex", "scopes": ["a:read", "b:read"]}, [("B", "copied_policy")],
         "the copy is the later entry"),
        ({"id": "B", "created": 5, "tenant": "globex"}, [("A", "copied_policy")], "the copy is the later entry"),
        ({"id": "B", "created": 20, "agent": "x-bot"}, [("B", "copied_policy")], "the copy is the later entry"),
        ({"id": "B", "created": 20, "user": "bob"}, [], "nothing that is fine is flagged"),
        ({"id": "B", "created": 20, "tenant": "globex", "note": "n2"}, [], "nothing that is fine is flagged"),
        ({"id": "B", "created": 20, "tenant": "globex", "tasks": ["other"]}, [], "nothing that is fine is flagged"),
        ({"id": "B", "created": 10, "tenant": "globex"}, [], "the copy is the later entry")]:
    grading.expect_same(_audit([_orig, {**_orig, **_copy}]), _want, _prop,
                        "a pair of grants this notebook does not show was judged wrongly")
grading.expect_same(_audit([{**_orig, "note": ""}, {**_orig, "id": "B", "created": 20, "note": "",
                                                    "tenant": "globex"}]), [],
                    "nothing that is fine is flagged", "two grants without a note are not a copy")
_conn = next(e for e in ownership.grant_file(NOW) if e["id"] == "C-1")
grading.expect_same(_audit([{**_conn, "note": "x"}, {**_conn, "id": "C-9", "tenant": "globex", "note": "x",
                                                    "created": _conn["created"] + 1}]), [],
                    "nothing that is fine is flagged", "connectors are not grants to copy")
grading.expect_same(_audit(GRANT_FILE, {**PEOPLE, "dan": {"active": True}}),
                    [p for p in _got if p[0] not in ("C-3", "G-07")], "a leaver owns nothing",
                    "with dan back, his entries have an owner again")
### END HIDDEN TESTS

# %% [markdown]
# ### Your audit next to the kit's
#
# The cell fails, naming the first difference, if your findings on the grant file differ from
# the kit's reference audit (`ownership.audit`), with the directory as it is and with one more
# leaver.

# %%
try:
    for label, people in [("today", PEOPLE),
                          ("after erin leaves", {**PEOPLE, "erin": {"team": "security", "active": False}})]:
        kit_found = [(f.entry, f.code) for f in ownership.audit(GRANT_FILE, people)]
        yours = audit_grants([dict(e) for e in GRANT_FILE], dict(people))
        print(f"{label:<18} kit {len(kit_found)} findings, yours {len(yours)}:",
              "same" if yours == kit_found else "DIFFERENT")
        grading.expect(yours == kit_found, "your audit finds what the reference finds",
                       f"{label}: first difference {sorted(set(yours) ^ set(kit_found))[:1]}")
    by_code = {}
    for eid, code in audit_grants([dict(e) for e in GRANT_FILE], dict(PEOPLE)):
        by_code.setdefault(code, []).append(eid)
    for code in ownership.BLIND_SPOTS:
        print(f"  {code:<20} {', '.join(by_code.get(code, []))}")
except NotImplementedError:
    print("write audit_grants above first")

# %% [markdown]
# Each finding is a conversation, not a deletion: the exception gets an end or becomes a reviewed
# standing grant, dan's connector gets a new owner who re-consents, the copied globex grant is
# rewritten for globex's own job, the debug grant loses its write scope, and the rollback gets a
# runbook and an approval. The lesson's repair is to *rehearse* the failure: the rollback you
# have never run is the shortcut someone will improvise at 3 a.m.
#
# ## Switch the lens: the swapped payload
#
# This notebook's event is the first demo's attack: Ana approved deploying `1.4.2` to
# production, and the agent, steered by a release note, tries to use that approval for a
# different image. Here it runs once more on a fresh lab, this time with the approved call's
# arguments also swapped at the broker, next to an honest release and a slow approver. Four
# readers:

# %%
stop = taxonomy.stop_of("approval-swapped-payload")
print("school      :", stop.picture)
print("university  : the check compares", f"'{stop.fact}'", "with", taxonomy.SOURCES[stop.source])
print("engineer    :", stop.signal, "| revoke:", stop.revoke)
print("reviewer    : the stale assumption:", f"'{stop.stale}'")

# %% locked id=event
def release_day():
    """An honest release, a slow approver, and one steered session; the log lines as dicts."""
    with lab.assemble(lab.HARDENED, seed="lab") as scene:
        def go(user_session, request, approval, call_args=None):
            try:
                issued = scene.vault.request(request, approval=approval)
                scene.broker.call(issued.token, tool="deploy:production", method="POST",
                                  path="/environments/production/deployments",
                                  json=call_args or dict(request.intent))
            except errors.VaultLabError:
                pass

        honest = scene.open_session(user="alice", agent="deploy-bot")
        r = deploy_request(honest.id)
        go(honest, r, scene.vault.approve(r, approver="ana"))
        slow = scene.open_session(user="alice", agent="deploy-bot")
        r = deploy_request(slow.id, intent=(("version", "1.4.3"), ("image", "registry.lab/shop:1.4.3")))
        late = scene.vault.approve(r, approver="erin")
        scene.clock.advance(1000)
        go(slow, r, late)
        steered = scene.open_session(user="alice", agent="deploy-bot")
        r = deploy_request(steered.id, intent=(("version", "1.4.4"), ("image", "registry.lab/shop:1.4.4")))
        yes = scene.vault.approve(r, approver="ana")
        other = scene.open_session(user="alice", agent="deploy-bot")
        scene.vault.approve(deploy_request(other.id), approver="erin")
        go(steered, r, yes, call_args={"version": "1.4.4", "image": "registry.evil/backdoor"})
        bent = deploy_request(steered.id, intent=(("version", "1.4.4"), ("image", "registry.evil/backdoor")))
        go(steered, bent, yes)
        return log_lines(scene)


RELEASE_DAY = release_day()
for e in RELEASE_DAY:
    if e["event"] in ("approval", "decision", "tool_call"):
        print(brief(e))

# %% [markdown]
# The steered session tried twice: the approved pass with swapped call arguments (the broker
# refused, `approval_mismatch`, because the pass carries the digest of the approved arguments),
# then a new request with the swapped image and the same approval (the vault refused,
# `approval_replayed`: that one yes had been used). The slow approval expired: routine, not an
# attack.
#
# ## Exercise 6 (2 points, the lens item): the engineer on call
#
# Write `respond(lines)`. `lines` are the access log's lines as dicts (like `RELEASE_DAY`).
# Find the **first** line, of any event, whose `decision` is `"deny"` and whose `reason` is
# `"approval_mismatch"`: someone tried to use an approval for something else. Return
# `(session, approver)`: the session to revoke (that line's `session`), and the person to ask
# what they meant to allow, read from the **latest `approval` line of the same session** before it
# (its `detail` is `"by <name>"`; return the name). Return `None` when there is no such refusal:
# an expired or replayed approval alone is routine.

# %% solution id=respond
def respond(lines: list) -> tuple[str, str] | None:
    """(session to revoke, approver to ask) for the first approval used for something else, or None."""
    ### BEGIN SOLUTION
    approver = {}
    for e in lines:
        if e.get("event") == "approval" and e.get("session"):
            approver[e["session"]] = e["detail"].removeprefix("by ")
        if e.get("decision") == "deny" and e.get("reason") == "approval_mismatch":
            return e["session"], approver.get(e["session"])
    return None
    ### END SOLUTION

# %% tests id=test-respond points=2
"""Check that respond revokes the session behind the first swapped approval and names its approver."""
_steered = next(e for e in RELEASE_DAY if e["reason"] == "approval_mismatch")["session"]
grading.expect(respond([e for e in RELEASE_DAY if e["reason"] != "approval_mismatch"]) is None,
               "an expired approval is routine", "a slow approver and a replayed approval alone are no page")
grading.expect(respond([]) is None, "an expired approval is routine", "an empty log pages nobody")
_answer = respond(RELEASE_DAY)
grading.expect(type(_answer) is tuple and len(_answer) == 2 and _answer[0] == _steered,
               "revoke the session that tried it",
               "the session field of the approval_mismatch line, not a user or an agent")
grading.expect_same(_answer, (_steered, "ana"), "ask the approver of this session",
                    "the steered session's approval came from ana; erin approved another session "
                    "after it, and that is not who to ask")
print("respond: visible checks passed")
### BEGIN HIDDEN TESTS
def _line(seq, event, session, reason="", decision=None, detail=""):
    return {"seq": seq, "event": event, "session": session, "reason": reason, "decision": decision,
            "detail": detail, "user": "alice", "tool": "deploy:production"}


for _lines, _want, _prop in [
        ([_line(1, "approval", "s1", "approved", detail="by erin"),
          _line(2, "approval", "s1", "approved", detail="by Ana"),
          _line(3, "decision", "s1", "approval_mismatch", "deny")], ("s1", "Ana"),
         "ask the approver of this session"),
        ([_line(1, "approval", "s2", "approved", detail="by bob"),
          _line(2, "approval", "s1", "approved", detail="by carol"),
          _line(3, "tool_call", "s2", "approval_mismatch", "deny"),
          _line(4, "decision", "s1", "approval_mismatch", "deny")], ("s2", "bob"),
         "ask the approver of this session"),
        ([_line(1, "approval", "s1", "approved", detail="by erin"),
          _line(2, "decision", "s1", "approval_replayed", "deny"),
          _line(3, "decision", "s1", "approval_expired", "deny")], None, "an expired approval is routine"),
        ([_line(1, "approval", "s1", "approved", detail="by erin"),
          _line(2, "decision", "s1", "approval_mismatch", "deny"),
          _line(3, "approval", "s1", "approved", detail="by zed")], ("s1", "erin"),
         "ask the approver of this session")]:
    grading.expect_same(respond(_lines), _want, _prop, "a log this notebook does not show was answered wrongly")
### END HIDDEN TESTS

# %% [markdown]
# ## Reflection (2 points, graded by hand)
#
# Pick **one** of this notebook's human problems (approval fatigue, a refresh token kept "just in
# case", a tenant named by the model, a delegation chain, a grant nobody owns) in a system you
# know. Say (a) how it would happen there, concretely, (b) which check or measure from this
# notebook would catch it and where it would run, and (c) how you would **rehearse** the failure
# so that you know the check works (a drill, a negative test, a signal you would watch fire).
# Five to eight sentences.

# %% [markdown] manual id=reflect-people points=2
# ### BEGIN SOLUTION
# *Mark scheme (stays in the source notebook; the student version shows only the answer box).*
#
# - **1 point**: a concrete, plausible path in a named kind of system (who does what, which
#   authority leaks or is misused), and the check that catches it placed at a real point (the
#   vault before signing, the approval service, a scheduled audit of the grant file, the
#   token endpoint's reuse detection). "Train people better" or "be careful" earns 0.
# - **1 point**: a rehearsal that would show the check working or failing: a drill that reuses an
#   old refresh token in staging and watches the family die and the signal fire; a negative test
#   with a swapped payload; a game day that removes an owner and checks the audit flags it; an
#   approval-count dashboard with a threshold. Only "document the control" earns 0: the lesson's
#   point is to rehearse, not to document.
# ### END SOLUTION

# %% [markdown]
# ## What you can now prove
#
# - Your `approval_refusal` refused a swapped payload, another session, wider scopes and a longer
#   TTL under a real approval, a replay, an approval at its end and an approval by the requester
#   in disguise, accepted the same request with its arguments reordered, and agreed with the
#   kit's approval book.
# - Your `approval_load` counted what a day asks of a human under a tool-level and a scoped rule,
#   and never let a privileged request (other than a small, typed refund) skip the human.
# - Your `tenant_refusal` refused the model's tenant and owner, a pass from another session and
#   an object of another tenant, taking identity only from the session and the pass.
# - Your `delegation` authorized only the current actor and kept the chain behind it as history.
# - Your `audit_grants` found the temporary exception, the stale owners, the copied policy, the
#   broad debug grants and the recovery shortcuts in a file the loader accepted whole, and agreed
#   with the kit's audit.
# - Your `respond` named the session to revoke and the approver to ask after a swapped payload.
#
# The refresh-token demo was the kit's, not yours: you watched it, you did not build it.
#
# ---
# ## Go deeper (optional, ungraded)
#
# ### The approval screen, honestly
#
# The digest is what the vault binds; the human reads a summary. A good approval screen shows
# every fact the digest covers, so that what the human approves and what the vault binds are the
# same thing. Here is what Ana's screen would have to show, as the canonical JSON the digest is
# taken over:

# %%
print(policy.canonical_json(release.facts()).decode())
print("sha256:", hashlib.sha256(policy.canonical_json(release.facts())).hexdigest() == release.digest())

# %% [markdown]
# ### Further reading
#
# - OAuth 2.0 Security Best Current Practice (RFC 9700), section 4.14 on refresh-token rotation
#   and reuse detection: the family revocation you watched in section 3.
# - RFC 8693, *OAuth 2.0 Token Exchange*, section 4.1 on the `act` claim: "the least recent
#   actor is the most deeply nested", and only the outermost is the current actor.
# - OWASP, *Top 10 for LLM Applications* (LLM06, Excessive Agency) and the *Agentic AI Threats
#   and Mitigations* guide (privilege compromise; *overwhelming the human in the loop*): approval
#   fatigue is listed there as a threat in its own right.
# - NIST, *AI Risk Management Framework* (AI RMF 1.0), the Govern function: roles, owners and
#   their reviews, which is what the ownership audit checks.
# - Ross Anderson, *Security Engineering* (3rd ed.), on usability and on the confused deputy:
#   people who click "OK" all day, and authority lent along a chain.
# - Google, *Site Reliability Engineering*, the chapters on on-call and on postmortems: a
#   recovery procedure that has never been run is not one.

# %%
desk.close()
