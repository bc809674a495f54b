# %% [markdown]
# # 05 · The access log: what the ledger can prove, and what it cannot
#
# **Layer: Engineer on call** · node: Access log · core path about 90 minutes (reading and the day
# 10, exercises 1 and 2 15 each, exercises 3 to 6 8 each, the two incidents and the lens 10,
# exercise 7 and the reflection 8); the *Go deeper* section at the end is optional and ungraded
#
# Notebooks 02 to 04 built the checks. This one builds the memory. When something goes wrong at
# 3 a.m., the on-call engineer has no debugger attached to last night: they have the log. The
# lesson warns that teams leave it "unable to explain boundary decisions during rollout,
# debugging, or incident response", and its own advice is one line long: *log token issuance by
# task, user, tool, and expiry*. By the end of this notebook you will be able to:
#
# - write the **decision record**: every fact the vault decided on, the identity taken from the
#   login session and not from the request, and every secret only as a keyed fingerprint, in no
#   spelling a leak detector can find;
# - **verify a hash chain** and name the line an edit, a deletion, a swap, an insertion or an
#   append broke, find a **cut tail** against a published checkpoint, and say exactly what a chain
#   with no anchor cannot prove;
# - answer an incident's questions **from the log alone**: which tokens were live at a moment,
#   what stood behind one call (who logged in, whom the token named, who approved), which calls
#   a session made, and what changed between two decisions on the same request;
# - show, on two real incidents, that "the logs will make it obvious" is true only of a log that
#   recorded the right facts.
#
# This notebook's attacker has two moves. One is upstream: words that make an agent ask for
# something on someone else's behalf, which a log must record well enough to notice. The other
# enters at the ledger itself: someone who can write the log file edits it after the fact.
#
# {{trust-path highlight="Access log" enters="Access log"}}

# %% [markdown]
# ## The ledger at the checkout desk
#
# Notebook 00's desk kept a **bound ledger with numbered pages**. Three properties made it worth
# keeping, and each is a piece of this notebook:
#
# 1. **Each page says what the desk knew when it decided**: who showed which badge, what they
#    asked for, what the lending book allowed, what pass was written and when it runs out. A page
#    that says only "helper took a pass for the payments door" cannot explain anything later.
# 2. **No page holds a key.** The ledger names a pass by its serial number and a key by a
#    fingerprint that only the desk can compute: an auditor can ask "was this key ever used?"
#    without the ledger ever holding the key.
# 3. **Pages cannot be changed quietly.** Each page carries a seal computed over its own words and
#    the previous page's seal, so changing, removing or moving a page breaks every seal after it.
#    But tearing the *last* pages out leaves a shorter book whose seals are all fine. The desk
#    therefore tells someone outside, from time to time, "the book has 25 pages and page 25's seal
#    is this", and signs that note. That note is a **checkpoint**.
#
# > **The four questions, for the access log**
# >
# > 1. **Who is trusted?** The component that writes the log (here, the vault and the broker
# >    append to it), and whoever keeps the published checkpoint. Not whoever can write the file.
# > 2. **What proof?** A hash chain shows the lines are one consistent sequence; a MAC keyed by
# >    the log shows its own key wrote them; a signed checkpoint shows how long the log was.
# > 3. **Where is the check?** When the log is read: by the verifier you write, before anyone
# >    believes what a line says, and by the leak detector before a line is kept.
# > 4. **What if it is fooled?** The incident is explained wrongly: the wrong user blamed, the
# >    wrong token revoked, a refund that was never asked for filed as routine.

# %% locked id=setup
import base64
import hashlib
import hmac
import json
import urllib.parse

from course import audit, grading, incident, plots, redact
from course.clock import ManualClock
from course.lab import log_keys
from course.secretstore import Secret

T0 = 1_767_225_600           # the lab clock's first second: times below are T0 + seconds
GENESIS = audit.GENESIS      # the "previous hash" of the first line
REVOKES = dict(audit.REVOKE_REASONS)   # revoke reason -> the field a token must share (None: all)
LOG_KEY = log_keys("lab")[0]          # the lab log's fingerprint key (a seed exists only in the lab)
CHAIN_KEY = audit.derive_chain_key(LOG_KEY)   # checks every line's mac: held by the log's owner
CLAIMS = ("tenant", "user", "agent", "task", "tool")   # a decision line's request claims


def canonical(obj) -> str:
    """The one text form of a log record: sorted keys, no spaces, ASCII only."""
    return audit.canonical_json(obj)


def line_hash(prev: str, record: dict) -> str:
    """SHA-256 of prev + canonical(record without its hash and mac): what a line's hash must be."""
    return incident.line_hash(prev, record)


def mac_of(chain_key: bytes, line_hash_hex: str) -> str:
    """HMAC-SHA256 of a line's hash under the chain key: what a line's mac must be."""
    return hmac.new(chain_key, line_hash_hex.encode("ascii"), hashlib.sha256).hexdigest()


def trusted(lines: list, chain_key: bytes) -> list[dict]:
    """The records of the lines before the first line that does not verify with chain_key."""
    try:
        audit.verify_chain(lines, chain_key=chain_key)
        return incident.records(lines)
    except audit.ChainBrokenError as exc:
        return incident.records(lines[:exc.line - 1])


def spellings(value: str) -> list[str]:
    """Every spelling of value notebook 01 taught (raw, base64, hex, url, json...), longest first."""
    return sorted({text for _, text in redact.encoded_forms(value)}, key=len, reverse=True)


def show(lines, *, first=None):
    """Print log lines briefly: seq, time after T0, event, decision, reason, who, tool, token."""
    for r in incident.records(lines)[:first]:
        who = "/".join(str(r[k]) for k in ("tenant", "user", "agent", "session") if r[k])
        print(f"#{r['seq']:<3} t+{r['time'] - T0:<4} {r['event']:<9} {r['decision'] or '':<5} "
              f"{r['reason']:<21} {who:<34} {r['tool'] or '':<15} {r['jti'] or ''}")


print("revoke reasons:", ", ".join(f"{k} -> {v}" for k, v in REVOKES.items()))

# %% [markdown]
# ## A day of real traffic
#
# `incident.on_call_day()` runs a short day through the **real** hardened lab: real HTTP services
# on your machine, a vault with seeded Ed25519 keys, the broker, and the kit's access log. Alice's
# support agent triages a ticket, bob refunds a charge, alice's agent asks for a refund that needs a
# human and carol approves it, the deploy agent ships to staging, the on-call engineer revokes a
# suspicious session, a forged user is refused, and an expired token is tried again. You get the
# log's lines (plain strings) and the checkpoint the log signed after the revocation:

# %%
day = incident.on_call_day()
DAY = list(day.lines)
show(DAY)
print("\ncheckpoint:", {k: v for k, v in day.checkpoint.items() if k != "signature"})

# %% [markdown]
# One line in full, as it sits in the file: every field is always present, `facts` holds the input
# facts of the decision, and `prev`, `hash` and `mac` are the seal.

# %%
print(json.dumps(json.loads(DAY[8]), indent=1))

# %% [markdown]
# Notice what is **not** there: no API key, no token text, no session credential. Line 11 is bob's
# refund: the broker wrote the tool, the method, the path and the answer's status, and the token
# it checked (`jti`), not the token itself.
#
# ---
# # Exercises
#
# Seven functions, each a decision about what a log must hold or what it proves. Each takes and
# returns plain data: log lines are `str`, records are dicts. A check you can see follows each one;
# it tries the answers people commonly get wrong and names the property such an answer breaks.
#
# ## Exercise 1 (4 points): the decision record
#
# When the vault decides, it sees an **attempt**. Here is one from a real run (the token text is
# a bearer credential, so we print its length only):

# %%
incidents = incident.refund_incidents()
borrowed = incidents["borrowed"].attempts[0]
for part in ("session", "request", "decision"):
    print(f"{part:<9}", borrowed[part])
print("token    ", {k: (f"<{len(v)} characters>" if k == "text" else v)
                    for k, v in borrowed["token"].items()})
print("credential", borrowed["credential"])

# %% [markdown]
# `session` is what the platform recorded when someone logged in; `request` is what the agent
# wrote, and a model can be talked into writing anything; `decision` is the vault's verdict with
# the scopes and lifetime it granted; `token` is what was issued (`None` on a refusal);
# `credential` is the session credential the agent presented (`None` when the platform itself
# made the call).
#
# Write `decision_record(attempt, key)`: the record to log, a dict with exactly these keys.
#
# | key | value |
# |---|---|
# | `time` | the attempt's `at` |
# | `tenant`, `user`, `agent`, `session` | who this is, from the trusted copy (`session["id"]` for `session`) |
# | `task`, `tool` | what was asked for |
# | `scopes` | the scopes the vault **granted** (a list; `[]` when refused) |
# | `expires`, `jti` | the issued token's own `exp` and `jti` (`None` when no token) |
# | `decision`, `reason` | the decision's `outcome` and `code` |
# | `facts` | the input facts, all `str`: `claimed_user`, `claimed_tenant`, `claimed_agent` (what the request said), `scopes_requested` (space-separated), `ttl_requested`, `intent` (`canonical(request["intent"])`), plus `token` and `credential` when present: their fingerprints |
#
# The secret-bearing values are the token's `text` and the `credential`. Each appears in the record
# only as its **fingerprint**: `"hmac:"` + the first 16 hex digits of HMAC-SHA256 under the log
# `key` (the same form the kit's log writes, so an investigator can match them). A model sometimes
# copies a secret into what it writes, so any spelling of either secret inside the `intent` (use
# `spellings(value)`) is replaced by that secret's fingerprint too. Refuse nothing here; record.

# %% solution id=decision-record
def decision_record(attempt: dict, key: bytes) -> dict:
    """The log record of one decision: trusted identity, granted authority, input facts, no secret."""
    ### BEGIN SOLUTION
    def fingerprint(value: str) -> str:
        return "hmac:" + hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()[:16]

    session, req, dec, tok = (attempt[k] for k in ("session", "request", "decision", "token"))
    secrets = {}
    if attempt["credential"] is not None:
        secrets["credential"] = attempt["credential"]
    if tok is not None:
        secrets["token"] = tok["text"]
    intent = canonical(req["intent"])
    for value in sorted(secrets.values(), key=len, reverse=True):
        for spelling in spellings(value):
            intent = intent.replace(spelling, fingerprint(value))
    allowed = dec["outcome"] == "allow"
    facts = {"claimed_user": req["user"], "claimed_tenant": req["tenant"],
             "claimed_agent": req["agent"], "scopes_requested": " ".join(req["scopes"]),
             "ttl_requested": str(req["ttl"]), "intent": intent,
             **{name: fingerprint(value) for name, value in secrets.items()}}
    return {"time": attempt["at"], "tenant": session["tenant"], "user": session["user"],
            "agent": session["agent"], "session": session["id"], "task": req["task"],
            "tool": req["tool"], "scopes": list(dec["scopes"]) if allowed else [],
            "expires": tok["exp"] if tok else None, "jti": tok["jti"] if tok else None,
            "decision": dec["outcome"], "reason": dec["code"], "facts": facts}
    ### END SOLUTION

# %% tests id=test-decision-record points=4
"""Check that decision_record keeps trusted identity, granted authority and no secret in any spelling."""
_KEY = hashlib.sha256(b"exercise log key").digest()
# A token-shaped test value, assembled here so the course's source holds no token-shaped literal.
_TOKEN = ".".join(base64.urlsafe_b64encode(part).rstrip(b"=").decode() for part in (
    b'{"alg":"EdDSA","kid":"k1"}', b'{"jti":"tok-0042"}', b"signature-bytes"))
_CRED = "vlc_Qm9ndXNDcmVkZW50aWFsRm9yVGhlTGFi"


def _attempt(**over):
    a = {"at": T0 + 10,
         "session": {"id": "sess-0042", "tenant": "acme", "user": "alice", "agent": "helpdesk-bot"},
         "request": {"tenant": "acme", "user": "alice", "agent": "helpdesk-bot",
                     "session": "sess-0042", "task": "triage", "tool": "tickets",
                     "scopes": ["tickets:read"], "ttl": 300, "intent": {}},
         "decision": {"outcome": "allow", "code": "allow", "scopes": ["tickets:read"], "ttl": 300},
         "token": {"jti": "tok-0042", "exp": T0 + 310, "text": _TOKEN}, "credential": _CRED}
    for path, value in over.items():
        part, _, name = path.partition("__")
        if name:
            a[part] = dict(a[part], **{name: value})
        else:
            a[part] = value
    return a


_judge = redact.Redactor([Secret(_TOKEN, name="token"), Secret(_CRED, name="credential")],
                         shapes=())
_fp = {n: "hmac:" + hmac.new(_KEY, v.encode(), hashlib.sha256).hexdigest()[:16]
       for n, v in (("token", _TOKEN), ("credential", _CRED))}

_forged = decision_record(_attempt(request__user="bob"), _KEY)
grading.expect_same((_forged["user"], _forged["facts"]["claimed_user"]), ("alice", "bob"),
                    "who logged in comes from the session",
                    "the request named bob inside alice's session: the record's user is the "
                    "session's, and the request's claim is kept as the fact claimed_user")
_plain = decision_record(_attempt(), _KEY)
grading.expect(_judge.find(canonical(_plain)) == (), "no secret in the clear",
               "the token text or the credential is in the record in some spelling; record "
               "only their fingerprints")
grading.expect_same((_plain["facts"]["token"], _plain["facts"]["credential"]),
                    (_fp["token"], _fp["credential"]), "a fingerprint needs the log's key",
                    "a plain hash of a guessable secret can be confirmed by anyone holding the "
                    "log; use HMAC-SHA256 under the key, 'hmac:' + 16 hex digits")
_copied = decision_record(_attempt(request__intent={
    "body": "my token is " + base64.b64encode(_TOKEN.encode()).decode(),
    "debug": _CRED.encode().hex()}), _KEY)
grading.expect(_judge.find(canonical(_copied)) == (), "every spelling of a copied secret is scrubbed",
               "the intent carried the token base64-encoded and the credential hex-encoded; "
               "replace every spelling with the fingerprint")
grading.expect(_fp["token"] in _copied["facts"]["intent"], "every spelling of a copied secret is "
               "scrubbed", "a scrubbed copy reads as the secret's fingerprint, so it can be matched")
_narrowed = decision_record(_attempt(request__scopes=["tickets:read", "tickets:write"],
                                     request__ttl=3600), _KEY)
grading.expect_same(_narrowed["scopes"], ["tickets:read"], "the record says what was granted",
                    "the agent asked for read and write and was granted read; an incident needs "
                    "the authority that was handed out (what was asked is the fact "
                    "scopes_requested)")
grading.expect_same(_narrowed["expires"], T0 + 310, "the expiry is the token's own",
                    "the agent asked for an hour; the token the vault signed ends at its exp")
_denied = decision_record(_attempt(decision={"outcome": "deny", "code": "no_grant", "scopes": [],
                                              "ttl": 0}, token=None, credential=None), _KEY)
grading.expect_same((_denied["scopes"], _denied["jti"], _denied["expires"],
                     sorted(_denied["facts"])),
                    ([], None, None, ["claimed_agent", "claimed_tenant", "claimed_user", "intent",
                                      "scopes_requested", "ttl_requested"]),
                    "a refusal grants nothing", "a denied attempt has no token, no expiry, no "
                    "granted scope and no secret to fingerprint")
grading.expect_same(sorted(_plain), sorted(["time", "tenant", "user", "agent", "session", "task",
                                            "tool", "scopes", "expires", "jti", "decision",
                                            "reason", "facts"]),
                    "the record holds every field asked for", "compare your keys with the table")
print("decision_record: visible checks passed")
### BEGIN HIDDEN TESTS
_other_key = hashlib.sha256(b"another log").digest()
_cases = [
    (_attempt(session={"id": "sess-0099", "tenant": "globex", "user": "gina",
                       "agent": "helpdesk-bot"}, request__tenant="acme"),
     ("globex", "gina", "sess-0099", "acme"), "who logged in comes from the session"),
    (_attempt(request__agent="deploy-bot"), ("acme", "alice", "sess-0042", "acme"),
     "who logged in comes from the session"),
]
for _a, _want, _prop in _cases:
    with grading.tripwire(audit.AccessLog, "fingerprint", "append"):
        _r = decision_record(_a, _KEY)
    grading.expect_same((_r["tenant"], _r["user"], _r["session"], _r["facts"]["claimed_tenant"]),
                        _want, _prop, "an attempt this notebook does not show took identity from "
                        "the claim")
_r2 = decision_record(_attempt(), _other_key)
grading.expect(_r2["facts"]["token"] != _plain["facts"]["token"], "a fingerprint needs the log's key",
               "the same secret under another log key must fingerprint differently")
for _intent in ({"u": urllib.parse.quote(_TOKEN, safe="")},
                {"a": _CRED, "b": base64.urlsafe_b64encode(_CRED.encode()).decode()},
                {"x": "see " + _TOKEN.encode().hex().upper()},
                {"n": json.dumps({"t": _TOKEN})}):
    _r = decision_record(_attempt(request__intent=_intent), _KEY)
    grading.expect(_judge.find(canonical(_r)) == (), "every spelling of a copied secret is scrubbed",
                   "a spelling this notebook does not show survived in the intent")
_r = decision_record(_attempt(decision={"outcome": "allow", "code": "allow",
                                        "scopes": ["files:read"], "ttl": 120},
                              token={"jti": "tok-0077", "exp": T0 + 130, "text": _TOKEN},
                              request__scopes=["files:read", "files:write"], request__ttl=900,
                              request__tool="files", request__task="files"), _KEY)
grading.expect_same((_r["scopes"], _r["expires"], _r["jti"], _r["facts"]["scopes_requested"],
                     _r["facts"]["ttl_requested"]),
                    (["files:read"], T0 + 130, "tok-0077", "files:read files:write", "900"),
                    "the record says what was granted", "granted and asked were mixed up")
### END HIDDEN TESTS

# %% [markdown]
# ### Your record against the real log
#
# Two checks on the real run above. Your fingerprint of the token must be the one the kit's log
# computes with the lab's log key (so an investigator holding a leaked token can find it in either
# record), and no credential of the world may appear in your record in any spelling.

# %%
try:
    yours = decision_record(borrowed, LOG_KEY)
    kit_log = audit.AccessLog(clock=ManualClock(), hmac_key=LOG_KEY)
    grading.expect(grading.exactly(yours["facts"]["token"], kit_log.fingerprint(borrowed["token"]["text"])),
                   "your fingerprint is the log's", "the kit's log fingerprints the same token "
                   "differently: check the key, the hash and the 16 hex digits")
    token_judge = redact.Redactor([Secret(borrowed["token"]["text"], name="token")], shapes=())
    grading.expect(token_judge.find(canonical(yours)) == (), "no secret in the clear",
                   "the real token is in your record in some spelling")
    print("user:", yours["user"], "| claimed_user:", yours["facts"]["claimed_user"],
          "| token:", yours["facts"]["token"])
except NotImplementedError:
    print("write decision_record above first")

# %% [markdown]
# ## Exercise 2 (4 points): verify the chain
#
# Each line of the log is `canonical(record)`, and for line number `n` (counting from 1):
#
# - `record["seq"] == n`;
# - `record["prev"]` is the previous line's `hash` (`GENESIS` for line 1);
# - `record["hash"] == line_hash(prev, record)` with that `prev`;
# - with a `chain_key`: `record["mac"] == mac_of(chain_key, record["hash"])`.
#
# A **checkpoint** (`{"count": c, "head": h, ...}`, published elsewhere and signed; its signature
# was checked where it was published) says the log had `c` lines and line `c`'s hash was `h`.
#
# Write `first_bad_line(lines, checkpoint=None, chain_key=None)`: the number of the first line that
# breaks any rule above, or that is not valid JSON or not exactly `canonical(record)`; else
# `len(lines) + 1` when the log has fewer lines than the checkpoint counts (the first missing
# line); else `None`. Check the checkpoint's head at line `count`, in order with the other rules.

# %% solution id=first-bad-line
def first_bad_line(lines: list, checkpoint: dict | None = None,
                   chain_key: bytes | None = None) -> int | None:
    """The number of the first line that does not verify, len+1 for a cut tail, or None."""
    ### BEGIN SOLUTION
    prev = GENESIS
    for n, line in enumerate(lines, start=1):
        try:
            record = json.loads(line)
        except ValueError:
            return n
        if not isinstance(record, dict) or canonical(record) != line or record.get("seq") != n:
            return n
        if record.get("prev") != prev or record.get("hash") != line_hash(prev, record):
            return n
        if chain_key is not None and record.get("mac") != mac_of(chain_key, record["hash"]):
            return n
        if checkpoint is not None and n == checkpoint["count"] and record["hash"] != checkpoint["head"]:
            return n
        prev = record["hash"]
    if checkpoint is not None and len(lines) < checkpoint["count"]:
        return len(lines) + 1
    return None
    ### END SOLUTION

# %% tests id=test-first-bad-line points=4
"""Check that first_bad_line finds each tamper at its line, and a cut tail only against an anchor."""
_cp, _key, _t = day.checkpoint, day.chain_key, incident.tamper
grading.expect(first_bad_line(DAY) is None and first_bad_line(DAY, _cp, _key) is None,
               "an honest log verifies", "the day's own log must verify, with and without the "
               "checkpoint and the key")
grading.expect_same(first_bad_line(_t(DAY, "edit", 1)), 1, "lines are counted from 1",
                    "an edit of the very first line is reported as line 1")
grading.expect_same(first_bad_line(_t(DAY, "edit", 7, field_name="decision", value="deny")), 7,
                    "an edited line is found where it is", "line 7's decision was changed")
grading.expect_same(first_bad_line(_t(DAY, "delete", 9)), 9, "a deleted line is found where it was",
                    "line 9 was removed: the line now in its place does not belong there")
grading.expect_same(first_bad_line(_t(DAY, "reorder", 4)), 4, "a moved line is found",
                    "lines 4 and 5 were swapped")
grading.expect_same(first_bad_line(_t(DAY, "renumber", 12)), 12,
                    "each line is chained to the one before it",
                    "line 12 was deleted and every later seq renumbered and rehashed: only the "
                    "link to the previous line's hash gives it away")
grading.expect(first_bad_line(_t(DAY, "truncate", 20)) is None,
               "without an anchor a cut tail is invisible",
               "the first 19 lines are a perfect chain; nothing in them says more existed")
grading.expect_same(first_bad_line(_t(DAY, "truncate", 20), _cp), 20,
                    "a cut tail is found against the checkpoint",
                    "the checkpoint counts 25 lines; the first missing one is line 20")
grading.expect_same(first_bad_line(_t(DAY, "rehash", 10), _cp), 25,
                    "the checkpoint pins the content, not only the length",
                    "line 10 was edited and every hash after it recomputed: the chain is "
                    "consistent, but line 25's hash is no longer the published head")
grading.expect(first_bad_line(_t(DAY, "rehash", 10)) is None,
               "without an anchor a rewritten chain verifies",
               "a chain rewritten from line 10 on is consistent; say so rather than guess")
grading.expect_same(first_bad_line(_t(DAY, "rehash", 10), chain_key=_key), 10,
                    "only the key holder writes lines that verify",
                    "the rewritten lines keep macs the tamperer could not recompute")
grading.expect_same(first_bad_line(_t(DAY, "append", len(DAY) + 1), _cp, _key), len(DAY) + 1,
                    "only the key holder writes lines that verify",
                    "a line appended after the checkpoint has a correct hash but no valid mac")
print("first_bad_line: visible checks passed")
### BEGIN HIDDEN TESTS
_small = incident.write_log([{"at": i, "event": "note", "detail": f"n{i}"} for i in range(6)],
                            checkpoint_after=4)
_S, _scp, _skey = list(_small.lines), _small.checkpoint, _small.chain_key
_cases = [
    (_t(_S, "insert", 3), None, None, 4, "each line is chained to the one before it"),
    (_t(_S, "insert", 3), None, _skey, 3, "only the key holder writes lines that verify"),
    (_t(_S, "delete", 6), _scp, None, None, "without an anchor a cut tail is invisible"),
    (_t(_S, "truncate", 2), _scp, None, 2, "a cut tail is found against the checkpoint"),
    (_t(_S, "truncate", 1), _scp, None, 1, "a cut tail is found against the checkpoint"),
    (_t(_S, "rehash", 1), _scp, None, 4, "the checkpoint pins the content, not only the length"),
    (_t(_S, "rehash", 5), _scp, None, None, "without an anchor a rewritten chain verifies"),
    (_t(_S, "rehash", 5), _scp, _skey, 5, "only the key holder writes lines that verify"),
    (_t(_S, "reorder", 5), None, None, 5, "a moved line is found"),
    (_S[:2] + [_S[2] + " "] + _S[3:], None, None, 3, "an edited line is found where it is"),
    (_S[:3] + ["not json"] + _S[4:], None, None, 4, "an edited line is found where it is"),
    ([], None, None, None, "an honest log verifies"),
    ([], _scp, None, 1, "a cut tail is found against the checkpoint"),
]
for _lines, _c, _k, _want, _prop in _cases:
    with grading.tripwire(audit, "verify_chain", "verify_checkpoint", "_verify_records"):
        _got = first_bad_line(_lines, _c, _k)
    grading.expect_same(_got, _want, _prop, "a tampered log this notebook does not show was "
                        "judged wrongly")
### END HIDDEN TESTS

# %% [markdown]
# ### Your verifier against the kit's, on every tamper
#
# The kit's `audit.verify_chain` and `audit.verify_checkpoint` raise `ChainBrokenError` with the
# line they blame. For each thing a file writer can do, with no anchor, with the chain key, and
# with the signed checkpoint (verified with the public key only), your line must be the kit's.

# %%
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey  # noqa: E402


def kit_line(lines, *, key=None, checkpoint=None):
    try:
        if checkpoint is None:
            audit.verify_chain(lines, chain_key=key)
        else:
            public = Ed25519PublicKey.from_public_bytes(bytes.fromhex(day.public_key))
            audit.verify_checkpoint(lines, audit.Checkpoint(**checkpoint), public, chain_key=key)
    except audit.ChainBrokenError as exc:
        return exc.line
    return None


try:
    print(f"{'tamper':<16} {'no anchor':>10} {'chain key':>10} {'checkpoint':>11}")
    for how, at in [("edit", 7), ("delete", 9), ("reorder", 4), ("insert", 3),
                    ("append", len(DAY) + 1), ("truncate", 20), ("renumber", 12), ("rehash", 10),
                    ("rehash", 27)]:
        bad = incident.tamper(DAY, how, at)
        row = []
        for key, cp in ((None, None), (day.chain_key, None), (None, day.checkpoint)):
            yours, kits = first_bad_line(bad, cp, key), kit_line(bad, key=key, checkpoint=cp)
            grading.expect(grading.exactly(yours, kits), "your verifier agrees with the kit",
                           f"{how} at line {at}: your line and the kit's differ")
            row.append(str(yours))
        print(f"{how + ' ' + str(at):<16} {row[0]:>10} {row[1]:>10} {row[2]:>11}")
except NotImplementedError:
    print("write first_bad_line above first")

# %% [markdown]
# Read the table column by column; it is the honest summary of what each proof buys.
#
# - **No anchor**: an edit, deletion or swap is found at its line, because the tamperer did not
#   recompute the hashes; an insertion with a correct hash is found one line later, where the
#   numbering stops fitting. A cut tail, an append, and an edit with every later hash
#   recomputed all **verify**: a chain alone proves only that the lines agree with each other.
# - **Chain key**: every line a tamperer wrote (inserted, appended, rehashed) is found at the
#   line, because its `mac` needs a key the file does not hold. A cut tail still verifies. And
#   whoever holds the key (the log itself, or a thief of its key) can rewrite anything.
# - **Checkpoint**: anyone with the public key finds a cut tail and a consistent rewrite, but only
#   up to line 25, where the checkpoint was signed. Line 27's rewrite is after it and verifies.
#
# The checkpoint is only as good as its signature. A tamperer who cuts the log would like to
# publish a new checkpoint for the shorter log; without the private key, the kit refuses it:

# %%
cut = incident.tamper(DAY, "truncate", 20)
forged = dict(day.checkpoint, count=19, head=json.loads(cut[-1])["hash"])
try:
    kit_line(cut, checkpoint=forged)
except audit.BadCheckpointError as exc:
    print("forged checkpoint refused:", exc)

# %% [markdown]
# ## Exercise 3 (3 points): which tokens were live at time t?
#
# The first question of every incident: *if a token leaked, which ones could have been used at
# that moment?* Write `live_at(lines, t)`: the sorted `jti`s of the `issue` lines whose token was
# live at `t`. A token is live from its issue `time` (inclusive) until its `expires` (exclusive),
# unless a `revoke` line **logged after its issue** with `time <= t` kills it. Which tokens a
# revoke line kills is in `REVOKES` (printed at the top): the token must share that field with the
# revoke line, and if the revoke line also names a `tenant`, the tenant must match too; `None`
# means every token. Answer from the lines alone.

# %% solution id=live-at
def live_at(lines: list, t: int) -> list:
    """The sorted jtis of tokens live at t: issued, not yet expired, not revoked by then."""
    ### BEGIN SOLUTION
    rows = [json.loads(line) for line in lines]
    live = []
    for i, tok in enumerate(rows):
        if tok["event"] != "issue" or not tok["time"] <= t < tok["expires"]:
            continue
        killed = False
        for rev in rows[i + 1:]:
            if rev["event"] != "revoke" or rev["time"] > t or rev["reason"] not in REVOKES:
                continue
            field = REVOKES[rev["reason"]]
            if field is None or (rev[field] and rev[field] == tok[field]
                                 and rev["tenant"] in (None, tok["tenant"])):
                killed = True
        if not killed:
            live.append(tok["jti"])
    return sorted(live)
    ### END SOLUTION

# %% tests id=test-live-at points=3
"""Check that live_at counts a token live from issue until expiry or its revocation, and no longer."""
def _issue(at, jti, **kw):
    return {"at": at, "event": "issue", "tenant": "acme", "user": "alice", "agent": "helpdesk-bot",
            "session": "sess-0001", "task": "triage", "tool": "tickets", "jti": jti,
            "expires": T0 + at + 100,
            "decision": "allow", "reason": "allow", **kw}


def _lines(*rows):
    return list(incident.write_log(rows, checkpoint_after=-1).lines)


grading.expect_same(live_at(_lines(_issue(0, "tok-a")), T0 + 100), [], "a token is dead from its exp on",
                    "a token with expires = T0+100 is no longer live at T0+100")
grading.expect_same(live_at(_lines(_issue(50, "tok-a")), T0 + 20), [],
                    "a token is not live before it is issued", "it was issued at T0+50")
grading.expect_same(live_at(_lines(_issue(0, "tok-a"), {"at": 30, "event": "revoke", "jti": "tok-a",
                                                        "reason": "revoke_jti"}), T0 + 40), [],
                    "a revoked token is not live", "tok-a was revoked at T0+30")
grading.expect_same(live_at(_lines(_issue(0, "tok-a"), {"at": 30, "event": "revoke",
                                                        "session": "sess-0001",
                                                        "reason": "revoke_session"}), T0 + 20),
                    ["tok-a"], "a revocation takes effect at its own time",
                    "at T0+20 the revocation at T0+30 had not happened yet")
grading.expect_same(live_at(_lines({"at": 0, "event": "revoke", "agent": "helpdesk-bot",
                                    "reason": "revoke_agent"}, _issue(10, "tok-b")), T0 + 20),
                    ["tok-b"], "a revocation kills only what was issued before it",
                    "tok-b was issued after the agent's revocation was logged")
grading.expect_same(live_at(_lines(_issue(0, "tok-a"), _issue(1, "tok-b", agent="deploy-bot"),
                                   {"at": 5, "event": "revoke", "reason": "revoke_all"}), T0 + 6),
                    [], "revoke_all kills every token", "an emergency revoke-all names no field")
grading.expect_same(live_at(DAY, T0 + 265), ["tok-0001", "tok-0002", "tok-0003", "tok-0004",
                                            "tok-0005"],
                    "a revoked token is not live", "the day's session sess-0005 was revoked at "
                    "t+260, taking tok-0006 with it")
print("live_at: visible checks passed")
### BEGIN HIDDEN TESTS
_rev = {"at": 30, "event": "revoke", "agent": "helpdesk-bot", "tenant": "globex",
        "reason": "revoke_agent"}
_cases = [
    (_lines(_issue(0, "tok-a"), _rev), T0 + 40, ["tok-a"], "a revoked token is not live"),
    (_lines(_issue(0, "tok-a"), {"at": 30, "event": "revoke", "tenant": "acme",
                                 "reason": "revoke_tenant"}), T0 + 40, [], "a revoked token is not live"),
    (_lines(_issue(0, "tok-a"), _issue(5, "tok-b", session="sess-0002"),
            {"at": 30, "event": "revoke", "session": "sess-0002", "reason": "revoke_session"}),
     T0 + 40, ["tok-a"], "a revoked token is not live"),
    (_lines(_issue(0, "tok-a"), {"at": 30, "event": "revoke", "jti": "tok-a",
                                 "reason": "revoke_jti"}), T0 + 30, [],
     "a revocation takes effect at its own time"),
    (_lines(_issue(0, "tok-a")), T0 + 99, ["tok-a"], "a token is dead from its exp on"),
    (_lines(_issue(0, "tok-a")), T0, ["tok-a"], "a token is not live before it is issued"),
    (_lines({"at": 0, "event": "revoke", "reason": "revoke_all"}, _issue(1, "tok-c")), T0 + 2,
     ["tok-c"], "a revocation kills only what was issued before it"),
    (DAY, T0 + 255, ["tok-0001", "tok-0002", "tok-0003", "tok-0004", "tok-0005", "tok-0006"],
     "a revocation takes effect at its own time"),
    (DAY, T0 + 455, ["tok-0005"], "a token is dead from its exp on"),
]
for _l, _at, _want, _prop in _cases:
    with grading.tripwire(audit.AccessLog, "live_tokens", "revocation", "incident_summary"), \
            grading.tripwire(plots, "timeline_rows"):
        _got = live_at(_l, _at)
    grading.expect_same(_got, _want, _prop, "a log this notebook does not show was answered wrongly")
### END HIDDEN TESTS

# %% [markdown]
# ### The timeline, and your answer against the kit's
#
# `plots.token_timeline` draws each token of the day as a bar from issue to expiry, one lane per
# tool: calls are dots (allowed) and crosses (refused), a revocation is a red tick with the rest of
# the bar hatched. The dotted line is t+265; the cell then asks the kit's own log the same question
# at every second of the day and compares.

# %%
import matplotlib.pyplot as plt  # noqa: E402

plots.token_timeline(incident.events_of(DAY), now=T0 + 265)
plt.show()

# %%
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

with tempfile.TemporaryDirectory() as folder:
    path = Path(folder) / "day.log"
    path.write_text("\n".join(DAY) + "\n")
    kit_day = audit.AccessLog(path, clock=ManualClock(), hmac_key=LOG_KEY, durable=False)
    kit_day.close()  # read only: the events stay, appends are refused
try:
    for second in range(0, 720, 5):
        kits = sorted(e.jti for e in kit_day.live_tokens(T0 + second))
        grading.expect(grading.exactly(live_at(DAY, T0 + second), kits),
                       "your answer is the log's", f"at t+{second} your live tokens differ")
    print("live_at agrees with the kit at every 5th second of the day;",
          "at t+265:", ", ".join(live_at(DAY, T0 + 265)))
except NotImplementedError:
    print("write live_at above first")

# %% [markdown]
# Two facts the picture makes plain. Revoking `sess-0005` at t+260 cut `tok-0006` short, and the
# broker refused its use at t+270. And the refused calls at t+270 and t+700 sit in no lane with a
# token: the broker refused those tokens *before* trusting anything in them, so its line names no
# `jti`. The log says a revoked token was tried; to say *which*, it would have to record the
# unverified token's fingerprint. That is a limit of this log worth knowing before an incident.
# The cross at t+300 in the payments lane is different: the broker verified bob's refund token
# first and then refused the operation (a read with a refund scope), so that line names the token
# and its session.
#
# ## Exercise 4 (3 points): what stood behind one call?
#
# The second question of every incident: *this call happened; on whose authority?* Write
# `behind_call(lines, seq)` for an **allowed** `tool_call` line `seq`. Find the `issue` line of the
# call's token (same `jti`, the latest one before the call), the `session` line that opened that
# token's session, and an `approval` line, if any, logged before the issue for the same session and
# tool with the same `facts` as the `decision` line right before the issue. Return:
#
# | key | value |
# |---|---|
# | `logged_in` | the `user` of the session line: who the platform authenticated |
# | `acting_for` | the `user` of the issue line: whom the token names |
# | `task` | the issue line's task |
# | `approved_by` | the approver (the approval line's `detail` is `"by <name>"`), or `None` |
# | `issued`, `expires` | the issue line's `time` and `expires` |

# %% solution id=behind-call
def behind_call(lines: list, seq: int) -> dict:
    """Who logged in, whom the token named, the task, the approver and the token's life, for one call."""
    ### BEGIN SOLUTION
    rows = [json.loads(line) for line in lines]
    call = rows[seq - 1]
    issue = [r for r in rows[:seq - 1] if r["event"] == "issue" and r["jti"] == call["jti"]][-1]
    opened = next(r for r in rows if r["event"] == "session" and r["session"] == issue["session"])
    decided = rows[issue["seq"] - 2]
    approvals = [r for r in rows[:issue["seq"] - 1] if r["event"] == "approval"
                 and r["session"] == issue["session"] and r["tool"] == issue["tool"]
                 and r["facts"] == decided["facts"]]
    return {"logged_in": opened["user"], "acting_for": issue["user"], "task": issue["task"],
            "approved_by": approvals[-1]["detail"].removeprefix("by ") if approvals else None,
            "issued": issue["time"], "expires": issue["expires"]}
    ### END SOLUTION

# %% tests id=test-behind-call points=3
"""Check that behind_call links a call to its own token, session and approval, by identity."""
_asked, _borrowed = (list(incidents[k].lines) for k in ("asked", "borrowed"))
grading.expect_same(behind_call(_borrowed, 4)["logged_in"], "alice",
                    "who logged in comes from the session line",
                    "the call and its token name bob, but the session they ran in was opened "
                    "for alice: only the session line knows")
grading.expect_same(behind_call(DAY, 17)["approved_by"], "carol", "an approval is found for its request",
                    "alice's refund at t+155 was approved by carol")
grading.expect_same(behind_call(DAY, 21)["approved_by"], None,
                    "an approval covers only the request it was given for",
                    "carol approved alice's refund, not the deploy that came after it")
grading.expect_same(behind_call(_borrowed, 4), {"logged_in": "alice", "acting_for": "bob",
                                                "task": "refund", "approved_by": None,
                                                "issued": T0 + 42, "expires": T0 + 162},
                    "the answer holds every field asked for", "the borrowed refund: its token "
                    "was issued at t+42 and used a second later")
_mixed = _lines({"at": 0, "event": "session", "tenant": "acme", "user": "alice",
                 "agent": "helpdesk-bot", "session": "sess-0001", "reason": "session_opened"},
                {"at": 1, "event": "session", "tenant": "acme", "user": "bob",
                 "agent": "helpdesk-bot", "session": "sess-0002", "reason": "session_opened"},
                _issue(2, "tok-a"), _issue(3, "tok-b", user="bob", session="sess-0002",
                                          task="refund", tool="payments"),
                {"at": 9, "event": "tool_call", "tenant": "acme", "user": "alice",
                 "agent": "helpdesk-bot", "session": "sess-0001", "tool": "tickets",
                 "jti": "tok-a", "decision": "allow", "reason": "tool_call"})
grading.expect_same(behind_call(_mixed, 5), {"logged_in": "alice", "acting_for": "alice",
                                             "task": "triage",
                                             "approved_by": None, "issued": T0 + 2,
                                             "expires": T0 + 102},
                    "a call is linked to its own token",
                    "two tokens were issued before this call; it used tok-a, not the latest")
print("behind_call: visible checks passed")
### BEGIN HIDDEN TESTS
_cases = [
    (DAY, 4, {"logged_in": "alice", "acting_for": "alice", "task": "triage", "approved_by": None,
              "issued": T0, "expires": T0 + 300}, "the answer holds every field asked for"),
    (DAY, 17, {"logged_in": "alice", "acting_for": "alice", "task": "refund", "approved_by": "carol",
               "issued": T0 + 155, "expires": T0 + 455}, "an approval is found for its request"),
    (_asked, 4, {"logged_in": "bob", "acting_for": "bob", "task": "refund", "approved_by": None,
                 "issued": T0 + 42, "expires": T0 + 162}, "who logged in comes from the session line"),
    (DAY, 11, {"logged_in": "bob", "acting_for": "bob", "task": "refund", "approved_by": None,
               "issued": T0 + 60, "expires": T0 + 360}, "the answer holds every field asked for"),
]
for _l, _seq, _want, _prop in _cases:
    with grading.tripwire(audit.AccessLog, "by_session", "incident_summary", "calls_by_token"):
        _got = behind_call(_l, _seq)
    grading.expect_same(_got, _want, _prop, "a call this notebook does not show was explained "
                        "wrongly")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 5 (3 points): which calls did a session make?
#
# `behind_call` explains one call. The next question is the blast radius: *the session behind
# it, what else did it do?* Write `calls_of(lines, session, chain_key)`: the `seq`s, in log
# order, of the tool calls that `session` **made**. Three rules decide it.
#
# - A call belongs to the session its **token was issued in**: the session of the `issue` line
#   with the call's `jti`. Not to the user who logged in, and not to the agent: one user runs
#   several sessions, one agent serves many users, and a session can act in someone else's name
#   (the borrowed refund of exercise 1 was made by alice's session in bob's name).
# - A call was **made** only if the broker allowed it. A refused `tool_call` line records an
#   attempt: it belongs in an alert, not in the list of what happened.
# - A line that does not verify proves nothing. Believe only the lines **before the first line
#   that fails** the chain with `chain_key`, even if later lines look fine: once the chain breaks,
#   nothing after it is pinned to the start. `trusted(lines, chain_key)` (given at the top, the
#   kit's verifier) returns the records of exactly those lines.

# %% solution id=calls-of
def calls_of(lines: list, session: str, chain_key: bytes) -> list:
    """The seqs of the calls session made: allowed, with a token issued in it, on verified lines only."""
    ### BEGIN SOLUTION
    rows = trusted(lines, chain_key)
    issued_in = {r["jti"]: r["session"] for r in rows if r["event"] == "issue"}
    return [r["seq"] for r in rows if r["event"] == "tool_call" and r["decision"] == "allow"
            and issued_in.get(r["jti"]) == session]
    ### END SOLUTION

# %% tests id=test-calls-of points=3
"""Check that calls_of lists the calls a session's own tokens made, allowed ones, on verified lines."""
grading.expect_same(calls_of(DAY, "sess-0003", CHAIN_KEY), [17],
                    "a call belongs to the session its token was issued in",
                    "sess-0003 made one call, the approved refund; alice's other sessions and the "
                    "helpdesk-bot's other users made the rest")
grading.expect_same(calls_of(_borrowed, "sess-0001", CHAIN_KEY), [4],
                    "a call belongs to the session its token was issued in",
                    "alice's session made the refund in bob's name: the token was issued in "
                    "sess-0001, whatever user it names")
grading.expect_same(calls_of(DAY, "sess-0002", CHAIN_KEY), [11], "a refused call was not made",
                    "at t+300 bob's agent tried to read the charge with its refund token and the "
                    "broker refused it: an attempt, not a call made")
_last = json.loads(DAY[-1])
_copy = dict(json.loads(DAY[10]), seq=len(DAY) + 1, time=_last["time"] + 5, prev=_last["hash"])
_copy["hash"] = line_hash(_copy["prev"], _copy)       # hash and link right, mac only copied
_forged = DAY + [canonical(_copy)]
grading.expect_same(calls_of(_forged, "sess-0002", CHAIN_KEY), [11],
                    "a line that does not verify proves nothing",
                    "someone who can write the file appended a second refund in bob's session; "
                    "its mac does not verify with the chain key")
grading.expect_same(calls_of(incident.tamper(DAY, "edit", 5, field_name="detail", value="x"),
                             "sess-0001", CHAIN_KEY), [4],
                    "a log is believed only up to its first bad line",
                    "line 5 was edited: the call at line 7 comes after the break")
print("calls_of: visible checks passed")
### BEGIN HIDDEN TESTS
_two = _lines({"at": 0, "event": "session", "tenant": "acme", "user": "alice",
               "agent": "helpdesk-bot", "session": "sess-0001", "reason": "session_opened"},
              {"at": 1, "event": "session", "tenant": "acme", "user": "alice",
               "agent": "helpdesk-bot", "session": "sess-0002", "reason": "session_opened"},
              _issue(2, "tok-a"), _issue(3, "tok-b", session="sess-0002"),
              {"at": 4, "event": "tool_call", "tenant": "acme", "user": "alice",
               "agent": "helpdesk-bot", "session": "sess-0002", "tool": "tickets", "jti": "tok-b",
               "decision": "allow", "reason": "tool_call"},
              {"at": 5, "event": "tool_call", "tenant": "acme", "user": "alice",
               "agent": "helpdesk-bot", "session": "sess-0001", "tool": "tickets", "jti": "tok-a",
               "decision": "deny", "reason": "operation_not_allowed"},
              {"at": 6, "event": "tool_call", "tenant": "acme", "user": "alice",
               "agent": "helpdesk-bot", "session": "sess-0001", "tool": "tickets", "jti": "tok-a",
               "decision": "allow", "reason": "tool_call"})
_cases = [
    (DAY, "sess-0001", [4, 7], "a call belongs to the session its token was issued in"),
    (DAY, "sess-0004", [21], "a call belongs to the session its token was issued in"),
    (DAY, "sess-0005", [], "a refused call was not made"),
    (_asked, "sess-0001", [4], "a call belongs to the session its token was issued in"),
    (_two, "sess-0001", [7], "a call belongs to the session its token was issued in"),
    (_two, "sess-0002", [5], "a call belongs to the session its token was issued in"),
    (incident.tamper(DAY, "rehash", 9), "sess-0002", [], "a line that does not verify proves nothing"),
    (incident.tamper(_two, "insert", 7, field_name="time", value=T0 + 6), "sess-0001", [],
     "a line that does not verify proves nothing"),
    (incident.tamper(DAY, "delete", 12), "sess-0003", [], "a log is believed only up to its first bad line"),
]
for _l, _s, _want, _prop in _cases:
    with grading.tripwire(audit.AccessLog, "by_session", "calls_by_token", "incident_summary"):
        _got = calls_of(_l, _s, CHAIN_KEY)
    grading.expect_same(_got, _want, _prop, "a session this notebook does not show was answered wrongly")
### END HIDDEN TESTS

# %% [markdown]
# ### Your answer against the kit's
#
# The kit's log can list a session's lines itself (`by_session`, which reads the `session` field
# the broker copied from the verified token). For every session of the day, your list must be the
# allowed calls it finds.

# %%
try:
    for sid in sorted({r["session"] for r in incident.records(DAY) if r["event"] == "session"}):
        kits = [e.seq for e in kit_day.by_session(sid) if e.event == "tool_call" and e.decision == "allow"]
        grading.expect(grading.exactly(calls_of(DAY, sid, CHAIN_KEY), kits), "your answer is the log's",
                       f"{sid}: your calls differ from the kit's")
        print(f"{sid}: calls at {calls_of(DAY, sid, CHAIN_KEY)}")
except NotImplementedError:
    print("write calls_of above first")

# %% [markdown]
# `sess-0005`, the session revoked at t+260, made no call: the use of its token at t+270 was
# refused, and so was `sess-0002`'s read at t+300. Both attempts are worth an alert; neither is
# something that happened, and a list that mixed them in would send the investigation after calls
# that never reached a service.
#
# ## Exercise 6 (3 points): what changed between two decisions?
#
# Alice's session `sess-0003` asked for a refund three times: refused at t+120
# (`approval_required`), allowed at t+155, refused at t+400 (`session_mismatch`). When one request
# gets two verdicts, the on-call question is *what was different the second time?* If nothing the
# agent sent changed, the difference came from outside the request (an approval, a revocation, a
# policy change). If something did, that is where to look.
#
# Write `what_changed(lines, a, b)` for the `decision` lines at `seq` `a` and `b`. The **inputs** of
# a decision are the request's claims on its line (the fields in `CLAIMS`: tenant, user, agent,
# task, tool) and its `facts` (a list of `[name, value]` pairs; no fact is named like a claim).
# Nothing else on the line is an input: `seq`, `time` and the seal differ on every line, and
# `decision`, `reason`, `detail` and `scopes` are what came out. Return
#
# ```
# {"changed": {name: (value at a, value at b), ...}, "same": [name, ...]}
# ```
#
# over every input name of either line (`same` sorted; `None` for an input a line does not have).
#
# A secret-bearing fact (a credential the agent presented) is in the log only as its fingerprint,
# `hmac:` and 16 hex digits: compare it like any other fact. The same fingerprint means the same
# secret was presented; a different one means a different secret. That is exactly what an
# investigator needs to know, and the log never held the secret to say it.
#
# Compare only what is comparable: raise `ValueError` if either line is not a `decision`, or if the
# two lines are not of the same session and tool. A diff across two sessions would report *who
# logged in* as a change of this request.

# %% solution id=what-changed
def what_changed(lines: list, a: int, b: int) -> dict:
    """The inputs (claims and facts) that differ between decisions a and b of one request, and those that do not."""
    ### BEGIN SOLUTION
    one, two = (json.loads(lines[n - 1]) for n in (a, b))
    if one["event"] != "decision" or two["event"] != "decision":
        raise ValueError("only decision lines are compared")
    if (one["session"], one["tool"]) != (two["session"], two["tool"]):
        raise ValueError("the two decisions are not of the same request")

    def inputs(record):
        facts = {name: value for name, value in record["facts"]}
        claims = {name: record[name] for name in CLAIMS}
        return {**facts, **claims}

    x, y = inputs(one), inputs(two)
    names = sorted(set(x) | set(y))
    changed = {n: (x.get(n), y.get(n)) for n in names if x.get(n) != y.get(n)}
    return {"changed": changed, "same": [n for n in names if n not in changed]}
    ### END SOLUTION

# %% tests id=test-what-changed points=3
"""Check that what_changed compares a request's claims and facts, fingerprints included, and only those."""
def _decision(at, credential=None, **kw):
    row = {"at": at, "event": "decision", "tenant": "acme", "user": "alice", "agent": "helpdesk-bot",
           "session": "sess-0007", "task": "triage", "tool": "tickets", "scopes": ["tickets:read"],
           "decision": "allow", "reason": "allow",
           "facts": {"intent": "", "scopes_requested": "tickets:read", "ttl_requested": "300"}, **kw}
    if credential is not None:
        row["secret_fields"] = {"credential": credential}
    return row


_OTHER = "vlc_" + base64.b64encode(b"a credential copied from another desk").decode().rstrip("=")
_cred = _lines(_decision(0, _CRED), _decision(5, _OTHER), _decision(9, _CRED), _decision(12))
_fp_a, _fp_b = (dict(json.loads(_cred[i])["facts"])["credential"] for i in (0, 1))
grading.expect_same(what_changed(DAY, 13, 15)["changed"], {}, "only the request's inputs are compared",
                    "refused at t+120, allowed at t+155: nothing the agent sent changed (the approval "
                    "came from outside the request); time, seal and verdict are not inputs")
grading.expect_same(what_changed(DAY, 15, 28)["changed"],
                    {"intent": ('charge="ch-0002"', ""), "user": ("alice", "bob")},
                    "the request's claims are inputs too",
                    "at t+400 the request claimed another user; that claim sits on the line, "
                    "not in its facts")
grading.expect_same(what_changed(_cred, 1, 2)["changed"], {"credential": (_fp_a, _fp_b)},
                    "a fingerprint is compared like any other fact",
                    "the second decision was asked with a different credential: its fingerprint "
                    "differs, and that is the finding")
grading.expect_same(what_changed(_cred, 1, 4)["changed"], {"credential": (_fp_a, None)},
                    "an input on one side only has changed",
                    "the fourth decision was made with no credential at all")
grading.expect_same(what_changed(_cred, 1, 3),
                    {"changed": {}, "same": ["agent", "credential", "intent", "scopes_requested",
                                             "task", "tenant", "tool", "ttl_requested", "user"]},
                    "the answer lists every input, changed or same",
                    "the same credential both times: every claim and fact is in same, sorted")
grading.expect_raises(lambda: what_changed(DAY, 15, 19), ValueError,
                      "only decisions of the same request are compared",
                      "line 19 is the deploy-bot's decision in sess-0004")
grading.expect_raises(lambda: what_changed(DAY, 15, 16), ValueError,
                      "only decisions of the same request are compared",
                      "line 16 is the issue line, not a decision")
print("what_changed: visible checks passed")
### BEGIN HIDDEN TESTS
_moved = _lines(_decision(0, _CRED), _decision(3, _CRED, tenant="globex", facts={
    "intent": "", "scopes_requested": "tickets:read", "ttl_requested": "3600"}),
    _decision(6, _OTHER, task="close", facts={"intent": "", "scopes_requested": "tickets:read",
                                               "ttl_requested": "300", "approval": "by carol"}))
_cases = [
    (DAY, 2, 5, {"intent": ("", 'body="Triaged by the support agent: Cannot log in after password '
                              'reset. Queued for the on-call engineer."'),
                 "scopes_requested": ("tickets:read", "tickets:write")},
     "the request's claims are inputs too"),
    (DAY, 13, 28, {"intent": ('charge="ch-0002"', ""), "user": ("alice", "bob")},
     "the request's claims are inputs too"),
    (_cred, 2, 3, {"credential": (_fp_b, _fp_a)}, "a fingerprint is compared like any other fact"),
    (_cred, 4, 2, {"credential": (None, _fp_b)}, "an input on one side only has changed"),
    (_moved, 1, 2, {"tenant": ("acme", "globex"), "ttl_requested": ("300", "3600")},
     "the request's claims are inputs too"),
    (_moved, 1, 3, {"approval": (None, "by carol"), "credential": (_fp_a, _fp_b),
                    "task": ("triage", "close")}, "an input on one side only has changed"),
]
for _l, _a, _b, _want, _prop in _cases:
    with grading.tripwire(audit.AccessLog, "decisions", "by_session", "incident_summary"):
        _got = what_changed(_l, _a, _b)
    grading.expect_same(_got["changed"], _want, _prop, "two decisions this notebook does not show "
                        "were compared wrongly")
    grading.expect_same(_got["same"], sorted(set(_got["same"])), "the answer lists every input, "
                        "changed or same", "same must be sorted, without repeats")
for _l, _a, _b in ((DAY, 2, 9), (DAY, 23, 2), (DAY, 2, 4), (DAY, 1, 2)):
    grading.expect_raises(lambda: what_changed(_l, _a, _b), ValueError,
                          "only decisions of the same request are compared",
                          "a pair this notebook does not show was compared anyway")
### END HIDDEN TESTS

# %% [markdown]
# ### Alice's refund, three verdicts
#
# Your function over the three decisions of `sess-0003`:

# %%
try:
    for a, b in ((13, 15), (15, 28)):
        diff = what_changed(DAY, a, b)
        verdicts = [json.loads(DAY[n - 1])["reason"] for n in (a, b)]
        print(f"line {a} ({verdicts[0]}) -> line {b} ({verdicts[1]}): changed {diff['changed'] or 'nothing'}")
    grading.expect(what_changed(DAY, 13, 15)["changed"] == {}, "your diff finds what changed",
                   "the refused and the approved refund were the same request")
except NotImplementedError:
    print("write what_changed above first")

# %% [markdown]
# Between the refusal and the approved refund nothing the agent sent changed: carol's approval, a
# line of its own at t+150, made the difference, and `behind_call` found it. Between the approved
# refund and the refusal at t+400 two inputs changed: the charge vanished from the intent and the
# request suddenly claimed to act for bob. That is the on-call engineer's lead: this session's
# agent was told to become someone else, and the vault's session check refused it.

# %% [markdown]
# ## "The logs will make the incident obvious"
#
# Here are the two refund incidents from exercise 1, side by side. In the first, bob (acme's
# finance lead, with standing refund authority) logged in and asked his agent to refund `ch-0001`.
# In the second, **alice** logged in; a ticket her agent read told it to "act on behalf of user
# bob", and this vault had the naive session check, so it believed the user the request named and
# bob's grant paid out. One is routine; the other is an incident. First, the log many teams keep:

# %%
weak = {name: incident.weak_log(inc.lines) for name, inc in incidents.items()}
for name, lines in weak.items():
    print(f"{name:<9}", *lines)
grading.expect(weak["asked"] == weak["borrowed"], "the weak log cannot tell them apart",
               "the two weak logs were expected to be identical")
print("\nidentical:", weak["asked"] == weak["borrowed"])

# %% [markdown]
# Valid request, valid principal, valid token, `201`: in this log the two are the same event, and
# no amount of staring at it will change that. Now the same two incidents through **your** decision
# record and **your** `behind_call`. This cell fails if they cannot tell the incidents apart.

# %%
try:
    for name, inc in incidents.items():
        record = decision_record(inc.attempts[0], LOG_KEY)
        why = behind_call(list(inc.lines), 4)
        print(f"{name:<9} record: user={record['user']:<6} claimed_user="
              f"{record['facts']['claimed_user']:<5} | behind the call: logged_in="
              f"{why['logged_in']:<6} acting_for={why['acting_for']}")
    records_ = [decision_record(inc.attempts[0], LOG_KEY) for inc in incidents.values()]
    grading.expect(records_[0] != records_[1], "your decision log tells the incidents apart",
                   "your two records are identical: record identity from the session")
    apart = [behind_call(list(inc.lines), 4) for inc in incidents.values()]
    grading.expect(apart[0] != apart[1], "your reading of the log tells the incidents apart",
                   "behind_call gives the same answer for both")
    print("\ntold apart: in one the user who logged in is the user the token names; in the "
          "other it is not.")
except NotImplementedError:
    print("write decision_record and behind_call above first")

# %% [markdown]
# The misconception is not that logs are useless. It is that *any* log will do. The incident became
# visible only because two facts were recorded separately: who the platform authenticated, and whom
# the request claimed to act for. A log that records only the claim (the kit's own `decision` line
# records the request's `user`, and only the `session` line knows who logged in) makes an attacker's
# request look exactly like the real user's. And remember what made the attack possible: a
# hardened vault would have refused it with `session_mismatch`, as it did at t+400 in the day's log.
# A log explains a boundary decision; it does not replace one.
#
# ## Switch the lens
#
# The same event, the borrowed refund, read four ways.
#
# - **School student**: a helper wearing alice's badge said "bob sent me", the desk believed the
#   words, and the ledger page says "bob took the payments pass". The page is honest about what
#   the desk was told and silent about the badge.
# - **University student**: the decision line carries the request's claims (`user=bob`); the
#   session line, written when the platform authenticated the login, carries `user=alice`. The
#   chain proves neither line was edited; it cannot prove the decision was right.
# - **Engineer on call**: the signal is an allowed decision whose `user` is not the user of its
#   session line. The log line to start from is the `tool_call` at seq 4; the revoke decision is
#   about the thing that acted.
# - **Security reviewer**: the stale assumption is "a valid request from a valid principal is a
#   legitimate one". An agent is a valid principal that can be talked into anything its grants
#   allow; only facts recorded from a trusted source can show it was.
#
# ## Exercise 7 (2 points, the lens item): the engineer's revoke decision
#
# On call, you must stop the actor without stopping everyone else. Write `revoke_for(lines, seq)`
# for the allowed `tool_call` at `seq` that should not have happened: the revocation to issue, as
# `(reason, value)` with `reason` a key of `REVOKES` and `value` the field it names. Choose the
# narrowest one that stops **whatever made this call** from acting again, including asking the
# vault for new tokens, and that leaves other users' work with the same agent running.

# %% solution id=revoke-for
def revoke_for(lines: list, seq: int) -> tuple:
    """The narrowest revocation that stops the actor behind tool call seq: (reason, value)."""
    ### BEGIN SOLUTION
    call = json.loads(lines[seq - 1])
    return ("revoke_session", call["session"])
    ### END SOLUTION

# %% tests id=test-revoke-for points=2
"""Check that revoke_for stops the session that acted, not one token, not the agent, not everyone."""
grading.expect_same(revoke_for(_borrowed, 4), ("revoke_session", "sess-0001"),
                    "stop the actor, not only its token",
                    "the refund token is spent; the session can ask for another, so revoke the "
                    "session that made the call, not the token, the agent or the tenant")
grading.expect_same(revoke_for(DAY, 7), ("revoke_session", "sess-0001"),
                    "stop the actor, not only its token", "the call at seq 7 ran in sess-0001")
grading.expect_same(revoke_for(DAY, 21), ("revoke_session", "sess-0004"),
                    "stop the actor, not only its token", "the deploy ran in sess-0004")
print("revoke_for: visible checks passed")
### BEGIN HIDDEN TESTS
for _seq, _want in ((11, ("revoke_session", "sess-0002")), (17, ("revoke_session", "sess-0003")),
                    (4, ("revoke_session", "sess-0001"))):
    grading.expect_same(revoke_for(DAY, _seq), _want, "stop the actor, not only its token",
                        "a call this notebook does not show got the wrong revocation")
### END HIDDEN TESTS

# %% [markdown]
# ## Reflection (2 points, graded by hand)
#
# Think of a log you have read or written (an application's, a server's, a bank statement, a
# school's attendance record). Pick one incident it would have to explain. Which two facts would it
# need to record *separately* to tell that incident apart from a routine event, and from which
# source would each come? Then say what your log could not prove if the person who wrote it also
# wanted to hide something, and what anchor outside their reach would fix that. Five to eight
# sentences.

# %% [markdown] manual id=reflect-log points=2
# ### BEGIN SOLUTION
# *Mark scheme (stays in the source notebook; the student version shows only the answer box).*
#
# - **1 point**: a concrete incident and routine event that look alike, two facts recorded
#   separately that tell them apart, and for each a *trusted* source (an authentication, a
#   system of record), not the actor's own claim. "Log more" earns 0.
# - **1 point**: names a limit of the log against its own writer (rewriting or cutting the end)
#   **and** an anchor out of the writer's reach (a signed checkpoint held by someone else, an
#   external copy, a transparency log). "Make the log read-only" without saying who holds it
#   earns 0 for this part.
# ### END SOLUTION

# %% [markdown]
# ## What you can now prove
#
# - Your decision record keeps identity from the login session and the request's claims as
#   facts, the authority actually granted and the token's own expiry, and no secret in any
#   spelling the leak detector knows; its token fingerprint is the one the kit's log computes.
# - Your verifier finds an edited, deleted, moved, inserted or renumbered line at its position,
#   finds a cut tail and a consistent rewrite against a signed checkpoint, finds forged lines with
#   the chain key, and agrees with the kit on every tamper; it also says honestly that a chain with
#   no anchor verifies after its tail is cut or rewritten.
# - From the lines alone you can list the tokens live at any second and say what stood behind a
#   call, and your answers agree with the kit's log at every fifth second of a real day.
# - You can list the calls a session made (by the session its tokens were issued in, allowed
#   calls only, believing no line past the first that fails the chain key), and your lists agree
#   with the kit's for every session of the day.
# - You can say which inputs of one request changed between two of its decisions, a presented
#   credential compared by its fingerprint alone, and you refuse to compare two sessions.
# - You showed two incidents that a weak log records identically, told apart by your own record.
#
# Next, notebook 06 acts on what the log shows: revoking a compromised session, everything it
# issued, and the on-call signal that should have fired.
#
# ---
# ## Go deeper (optional, ungraded)
#
# ### The day's decisions by reason
#
# An on-call dashboard starts here: how often each reason code appeared. A burst of one refusal
# reason is the first shape of a signal (notebook 06 builds it).

# %%
plots.decisions_by_reason(incident.events_of(DAY), kinds=("decision", "tool_call"))
plt.show()

# %% [markdown]
# ### Reading
#
# - **OWASP Agentic AI: Threats and Mitigations**: *Repudiation and Untraceability* is exercise 1
#   and the two refunds: an agent's action that cannot be traced to who authorised it. *Identity
#   Spoofing and Impersonation* is the borrowed refund itself.
# - **OWASP Top 10 for LLM Applications (2025)**: LLM06 *Excessive Agency* is why bob's standing
#   grant was worth borrowing.
# - **NIST AI Risk Management Framework (AI RMF 1.0)**: the Manage function asks that incidents
#   can be detected, tracked and explained; a record of input facts is what makes that possible.
# - **Ross Anderson, *Security Engineering* (3rd ed.)**: the chapter on monitoring and on
#   tamper-evident logs, and why an anchor kept by a different party is the whole game.
# - **Google, *Site Reliability Engineering***: the chapters on monitoring and postmortems; a
#   postmortem is only as good as the facts recorded before anyone knew they would matter.
# - **RFC 6962 (Certificate Transparency)**: signed tree heads are this notebook's checkpoints,
#   published so that anyone can catch a log that rewrites or hides its history.
