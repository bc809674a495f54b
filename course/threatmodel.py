"""The reviewer's view of the whole path: mutant wirings, observed behaviour as plain data.

A *mutant* is the hardened wiring with exactly one check replaced by its naive
piece from :mod:`course.unsafe` (:data:`MUTANTS`). Running the red team
against the hardened wiring, the naive one and every mutant answers the
reviewer's questions: which piece stopped which attack, which attacks are held
by one check alone, and whether a test (a misconception made executable, or a
regression test) can tell the wirings apart.

Everything a notebook's graded function receives from here is plain data
(dicts, lists, str, bool, None): :func:`observe` turns a wiring's run into a
*behaviour*, and :func:`perform` turns one scripted call sequence into a
*trace*. Neither ever holds a secret, a token or a log line's detail text.
"""

from __future__ import annotations

import copy
import functools
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from . import redteam, unsafe
from .approvals import Approval, ApprovalBook, identity
from .broker import Broker
from .clock import Clock
from .errors import AccessDenied, RevokedTokenError, VaultLabError
from .ids import IdFactory
from .keys import JWKSKeys
from .lab import HARDENED, NAIVE, Wiring, assemble
from .policy import NEEDS_APPROVAL, AgentRequest, Decision, Grant, GrantPolicy, Outcome
from .secretstore import SecretStore
from .taxonomy import CHECK_CODES, node_of_code
from .tokens import PluggedVerifier, TokenClaims, Verifier
from .vault import Vault
from .world import TENANTS, World

__all__ = ["GIVEN_TESTS", "KIT_ONLY", "LESSON_DIAGRAM", "MUTANTS", "OBSERVED", "PIECES", "SCRIPT",
           "WIRINGS", "Piece", "assembly", "assembly_table", "held_by", "logs_explain_refusals",
           "observe", "parse_sequence", "pasted", "perform", "piece_of", "red_team",
           "token_keeps_its_meaning", "trusted_keys", "workflow_is_defended"]


def _naive_policy() -> Any:
    return NAIVE.policy()


#: slot removed -> the hardened wiring with that one check replaced by the naive piece.
MUTANTS: Mapping[str, Wiring] = MappingProxyType({
    "no-session-check": HARDENED.replace(name="no-session-check",
                                         session_check=unsafe.believe_the_request),
    "wildcard-policy": HARDENED.replace(name="wildcard-policy", policy=_naive_policy,
                                        load_policy=unsafe.UnsafeWildcardPolicy),
    "rubber-stamp-approvals": HARDENED.replace(name="rubber-stamp-approvals",
                                               approvals=unsafe.UnsafeRubberStampApprovals),
    "trusting-verifier": HARDENED.replace(
        name="trusting-verifier", verifier_for=NAIVE.verifier_for),
    "catalogue-only-broker": HARDENED.replace(
        name="catalogue-only-broker",
        broker=functools.partial(Broker, authorize=unsafe.authorize_catalogue_only)),
    "reusable-single-use": HARDENED.replace(
        name="reusable-single-use", broker=functools.partial(Broker, single_use=False)),
    "unredacted-broker": HARDENED.replace(
        name="unredacted-broker", broker=functools.partial(Broker, redact=False)),
    "unredacted-log": HARDENED.replace(name="unredacted-log", log_redactor=None),
})

WIRINGS: Mapping[str, Wiring] = MappingProxyType({"naive": NAIVE, "hardened": HARDENED, **MUTANTS})

#: The attacks :func:`observe` runs: every red-team attack a single check can hold. The two
#: left out (exfiltration, refresh-token extraction) are held by the architecture (the agent
#: never holds a credential), not by a slot, and drive a whole agent (slow).
OBSERVED: tuple[str, ...] = tuple(a.name for a in redteam.ATTACKS
                                  if a.name not in ("exfiltration", "refresh-token-extraction"))


def _text(value: object) -> str | None:
    if value is None:
        return None
    return str(getattr(value, "value", value))


def _line(event: Any) -> dict[str, str | None]:
    """One decision or tool_call line as plain data: no detail text, no hash, no secret."""
    return {"event": event.event, "decision": _text(event.decision), "reason": _text(event.reason),
            "user": event.user, "holder": event.fact("session_holder"), "tool": event.tool}


def observe(wiring: Wiring, *, world: World, seed: str = "lab",
            attacks: Iterable[str] = OBSERVED) -> dict[str, Any]:
    """What the red team sees when it attacks ``wiring``, as plain data (a *behaviour*).

    ``{"wiring": name, "attacks": {attack: {"reached", "code", "node", "lines"}}}``:
    ``reached`` is the red team's verdict (the attack got its tool call or its secret),
    ``code`` the refusal code when a check refused it, ``node`` the node whose check
    that code belongs to (:func:`course.taxonomy.node_of_code`), ``lines`` the access
    log's decision and tool_call lines the attack left (event, decision, reason, user,
    holder, tool). One lab per wiring, on ``world``.
    """
    by_name = {a.name: a for a in redteam.ATTACKS}
    lab = assemble(wiring, seed=seed, world=world)
    seen: dict[str, Any] = {}
    for name in attacks:
        before = len(lab.log)
        outcome = redteam.run_attack(by_name[name], lab)
        code = outcome.evidence.removeprefix("refused: ") if outcome.evidence.startswith(
            "refused: ") else None
        lines = [_line(e) for e in lab.log.events()[before:]
                 if e.event in ("decision", "tool_call")]
        denied = [line["reason"] for line in lines if line["decision"] == "deny"]
        if code is not None and denied:
            code = denied[-1]  # the log's reason: a spent pass raises "revoked", its line says "replay"
        seen[name] = {"reached": outcome.succeeded, "code": code,
                      "node": node_of_code(code) if code else None, "lines": lines}
    return {"wiring": wiring.name, "attacks": seen}


# ---------------------------------------------------------------- the scripted regression path

#: The unsafe path the regression test guards, one step a line: production deploys only the
#: exact release a human approved, and only once. ``call`` steps go through the broker.
SCRIPT: tuple[tuple[str, str], ...] = (
    ("unapproved", "ask for a production deploy token for 1.4.2 with no approval"),
    ("swapped-approval", "carol approves 1.4.2; present her approval with a request for 6.6.6-evil"),
    ("swapped-deploy", "call: deploy 6.6.6-evil with whatever token that request got"),
    ("approved-deploy", "carol approves 1.4.2; get its token; call: deploy 1.4.2"),
    ("replay", "call: deploy 1.4.2 again with the same token"),
    ("swapped-arguments", "carol approves 1.4.2; get its token; call: deploy 6.6.6-evil with it"),
)

_GOOD, _EVIL = "1.4.2", "6.6.6-evil"


def _step(step: str, *, allowed: bool, code: str | None = None, status: int | None = None
          ) -> dict[str, Any]:
    return {"step": step, "allowed": allowed, "code": code,
            "node": node_of_code(code) if code else None, "status": status}


def perform(wiring: Wiring, *, world: World, seed: str = "lab") -> list[dict[str, Any]]:
    """Walk :data:`SCRIPT` through ``wiring`` and return what happened, as plain data (a *trace*).

    One dict per step: ``step``, ``allowed`` (a token was issued, or the service answered 2xx),
    ``code`` (the refusal code, when a check refused), ``node`` (whose check that code is) and
    ``status`` (the service's HTTP status, for calls that reached it). A step that needs a
    token an earlier step was refused is recorded as not allowed, with no code.
    """
    from .errors import VaultLabError
    from .policy import AgentRequest

    lab = assemble(wiring, seed=seed, world=world)
    session = lab.open_session(user="alice", agent="deploy-bot")

    def ask(version: str) -> AgentRequest:
        return AgentRequest(tenant="acme", user="alice", agent="deploy-bot", session=session.id,
                            task="deploy", tool="deploy:production", scopes=("deploy:write",),
                            ttl=120, intent=(("version", version),))

    def issue(step: str, version: str, approval: Any) -> tuple[dict[str, Any], str | None]:
        try:
            token = lab.vault.request(ask(version), approval=approval).token
        except VaultLabError as exc:
            return _step(step, allowed=False, code=exc.code), None
        return _step(step, allowed=True), token

    def call(step: str, token: str | None, version: str) -> dict[str, Any]:
        if token is None:
            return _step(step, allowed=False)
        try:
            result = lab.broker.call(token, tool="deploy:production", method="POST",
                                     path="/environments/production/deployments",
                                     json={"version": version})
        except VaultLabError as exc:
            last = lab.log.events()[-1]  # the broker's line names the check ("replay", not "revoked")
            code = str(last.reason) if last.event == "tool_call" and last.decision == "deny" else exc.code
            return _step(step, allowed=False, code=code)
        return _step(step, allowed=200 <= result.status < 300, status=result.status)

    def approved(version: str) -> Any:
        return lab.vault.approve(ask(version), approver="carol")

    trace = [issue("unapproved", _GOOD, None)[0]]
    asked, swapped = issue("swapped-approval", _EVIL, approved(_GOOD))
    trace += [asked, call("swapped-deploy", swapped, _EVIL)]
    _, token = issue("approved-deploy", _GOOD, approved(_GOOD))
    trace += [call("approved-deploy", token, _GOOD), call("replay", token, _GOOD)]
    _, token = issue("swapped-arguments", _GOOD, approved(_GOOD))
    trace.append(call("swapped-arguments", token, _EVIL))
    return trace


# ---------------------------------------------------------------- three misconceptions, executable
# Each takes a behaviour (:func:`observe`) and returns True when the wiring disproves the belief.
# Notebook 08 gives these three and has the learner write the other two.

#: Attacks on what a token means: its stamp, life, door, revocation, scopes, approval, single use.
TOKEN_MEANING = ("expired-token", "token-for-another-tool", "alg-none", "hs256-with-public-key",
                 "attacker-signed", "tampered-claims", "revoked-session", "scope-escalation",
                 "approval-swapped-payload", "single-use-replay")

#: Attacks that break no cryptography: they go around it, through the workflow.
WORKFLOW = ("cross-tenant", "forged-acting-user", "wildcard-grant", "revoked-session",
            "approval-swapped-payload", "single-use-replay", "secret-in-tool-error", "secret-in-log")


def token_keeps_its_meaning(behaviour: dict[str, Any]) -> bool:
    """"The token will enforce the same meaning every caller intended" is false here.

    Every fact a token carries is enforced by the piece that receives it: no attack on
    its stamp, life, door, revocation, scopes, approval or single use reached its goal.
    """
    attacks = behaviour["attacks"]
    return not any(attacks[name]["reached"] for name in TOKEN_MEANING)


def logs_explain_refusals(behaviour: dict[str, Any]) -> bool:
    """"Logs will make the incident obvious" is false here: the log explains because it was built to.

    No attack reached its goal (a success is written as an ordinary ``allow``: valid
    traffic from a valid principal), and every refusal with a code left a ``deny`` line
    with a reason (a grant file refused at load leaves a configuration error, not a line;
    a spent single-use pass is refused as ``revoked`` and logged as ``replay``).
    """
    for seen in behaviour["attacks"].values():
        if seen["reached"]:
            return False
        code = seen["code"]
        if code not in (None, "configuration") and not any(
                line["decision"] == "deny" and line["reason"] for line in seen["lines"]):
            return False
    return True


def workflow_is_defended(behaviour: dict[str, Any]) -> bool:
    """"The attacker has to break the main technology" is false here: the workflow holds too.

    None of the attacks that forge no signature (another tenant, another user, a
    temporary wildcard, a revoked session, a swapped approval, a replay, an echoed or
    logged credential) reached its goal.
    """
    attacks = behaviour["attacks"]
    return not any(attacks[name]["reached"] for name in WORKFLOW)


#: misconception (the lesson's words) -> the kit's executable test of it.
GIVEN_TESTS = MappingProxyType({
    "the token will enforce the same meaning every caller intended": token_keeps_its_meaning,
    "logs will make the incident obvious": logs_explain_refusals,
    "the attacker has to break the main technology": workflow_is_defended,
})


def held_by(behaviours: Mapping[str, dict[str, Any]]) -> dict[str, tuple[str, ...]]:
    """Per attack the hardened wiring refuses: the mutants under which it gets through.

    A mutant removes one check, so an attack listed with one mutant is held by that check
    alone; an empty tuple means no single removal opens it (two checks hold it).
    """
    hardened = behaviours["hardened"]["attacks"]
    return {name: tuple(m for m in MUTANTS if m in behaviours
                        and behaviours[m]["attacks"][name]["reached"])
            for name, seen in hardened.items() if not seen["reached"]}


# ---------------------------------------------------------------- the lesson's sequence diagram

#: The lesson's sequence diagram of the trust path, as its seed draws it.
LESSON_DIAGRAM = """sequenceDiagram
    participant U as Agent request
    participant P as Vault policy
    participant M as Short-lived token
    participant T as Tool call
    participant L as Access log
    U->>P: request plus context
    P->>M: scoped instructions
    M->>T: proposed tool call
    T-->>P: policy decision
    T->>L: side effect and audit trail
    Note over M,T: untrusted text must not become authority"""

_ARROWS = ("-->>", "->>", "--x", "-x", "-->", "->", "--)", "-)")


def parse_sequence(text: str) -> dict[str, Any]:
    """A Mermaid ``sequenceDiagram`` as plain data: participants, messages and notes.

    ``{"participants": {alias: label}, "messages": [[from, to, text]], "notes": [[[alias...],
    text]]}``. Lines it does not know (``autonumber``, ``activate``, comments) are ignored.

    Raises:
        ValueError: the text is not a sequence diagram, or a message or note names a
            participant the diagram never declared.
    """
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip() and not ln.strip().startswith("%%")]
    if not lines or lines[0] != "sequenceDiagram":
        raise ValueError("not a Mermaid sequenceDiagram (the first line must say so)")
    participants: dict[str, str] = {}
    messages: list[list[str]] = []
    notes: list[list[Any]] = []
    for line in lines[1:]:
        words = line.split()
        if words[0] in ("participant", "actor"):
            alias, _, label = line.split(None, 1)[1].partition(" as ")
            participants[alias.strip()] = (label or alias).strip()
        elif words[0] == "Note" and ":" in line:
            head, _, body = line.partition(":")
            where = head.split(None, 2)[2] if len(head.split()) > 2 else ""
            over = [a.strip() for a in where.split(",") if a.strip()]
            unknown = [a for a in over if a not in participants]
            if unknown:
                raise ValueError(f"a note names undeclared participants {unknown}")
            notes.append([over, body.strip()])
        elif ":" in line:
            head, _, body = line.partition(":")
            arrow = next((a for a in _ARROWS if a in head), None)
            if arrow is None:
                continue
            src, _, dst = head.partition(arrow)
            src, dst = src.strip(), dst.strip().lstrip("+-")
            if src not in participants or dst not in participants:
                raise ValueError(f"a message joins undeclared participants {src!r}, {dst!r}")
            messages.append([src, dst, body.strip()])
    return {"participants": participants, "messages": messages, "notes": notes}


# ---------------------------------------------------------------- the learner's own assembly

@dataclass(frozen=True, slots=True, kw_only=True)
class Piece:
    """One function a learner wrote in an earlier notebook that fills an enforcement slot here."""

    name: str  # the piece's name in the red team's table ("verifier", "policy", ...)
    notebook: str  # the notebook it was written in
    function: str  # its name there (paste it under the same name)
    signature: str  # its signature there
    slot: str  # the Wiring slot its adapter fills
    needs: tuple[str, ...] = ()  # other functions of the same notebook it calls (paste them too)


#: The pieces a learner can paste into notebook 08, in trust-path order.
PIECES: Mapping[str, Piece] = MappingProxyType({p.name: p for p in (
    Piece(name="policy", notebook="03-vault-policy", function="decide",
          signature="decide(request, grants, now) -> policy.Decision", slot="policy",
          needs=("narrow",)),
    Piece(name="approvals", notebook="07-approvals-and-tenants", function="approval_refusal",
          signature="approval_refusal(approval, request, spent, now) -> code | None", slot="approvals"),
    Piece(name="verifier", notebook="02-short-lived-tokens", function="verify_token",
          signature="verify_token(token, *, jwks, issuer, audience, now, leeway=DEFAULT_LEEWAY, "
                    "max_ttl=MAX_TTL) -> tokens.TokenClaims", slot="verifier_for"),
    Piece(name="revocation", notebook="06-revocation", function="must_die",
          signature="must_die(state, session) -> {'sessions': [...], 'tokens': [...]}",
          slot="verifier_for"),
    Piece(name="call check", notebook="04-the-broker", function="authorize",
          signature="authorize(claims, connector, method, path, args) -> (code, reason) | None",
          slot="broker"),
    Piece(name="log redactor", notebook="04-the-broker", function="redact",
          signature="redact(text, secrets) -> str", slot="log_redactor"),
)})

#: Pieces only the kit supplies here (no earlier notebook's function fills their slot).
KIT_ONLY = ("session check", "policy loader", "replay guard", "broker redaction")


def trusted_keys(jwks: Mapping[str, Any]) -> dict[str, Any]:
    """Notebook 02's given helper: ``{kid: Ed25519 public key}`` for every key of a JWKS document.

    Raises:
        ConfigurationError: the document is not a JWKS of Ed25519 keys, or names a kid twice.
    """
    source = JWKSKeys(jwks)
    return {jwk["kid"]: source.public_key(jwk["kid"]) for jwk in jwks["keys"]}


class _DecidePolicy:
    """Notebook 03's ``decide(request, grants, now)`` as the vault's policy, over the lab's grants.

    Notebook 03's grants never needed an approval (notebook 07 added that): when the
    learner's decision allows on a grant that needs one, it becomes NEEDS_APPROVAL, so
    the vault asks for the human's yes exactly as it does for the kit's policy.

    Raises:
        TypeError: the learner's decide returned something that is not a Decision.
    """

    def __init__(self, decide: Callable[..., Any], grants: Iterable[Grant]) -> None:
        self._decide, self.grants = decide, tuple(grants)

    def decide(self, request: AgentRequest, *, now: int) -> Decision:
        decision = self._decide(request, self.grants, now)
        if not isinstance(decision, Decision):
            raise TypeError(f"decide returned {type(decision).__name__}, not a policy.Decision")
        grant = decision.grant
        if decision.outcome is Outcome.ALLOW and grant is not None and grant.needs_approval:
            return Decision(outcome=Outcome.NEEDS_APPROVAL, code=NEEDS_APPROVAL,
                            reason="allowed only with a human approval of this exact request",
                            request=request, scopes=decision.scopes, ttl=decision.ttl, grant=grant)
        return decision

    def __repr__(self) -> str:
        return f"_DecidePolicy(grants={len(self.grants)})"


class _RefusalBook(ApprovalBook):
    """Notebook 07's ``approval_refusal(approval, request, spent, now)`` as the vault's approval book.

    It records each approval as notebook 07's approval service stored it (the digest of
    the exact request, the approver as typed, the times, and what the screen showed) and
    asks the learner's function at every redemption, with the ids already spent. The
    kit keeps one question the learner's function never had: was this approval issued
    here at all (``approval_unknown``). It does not refuse a self-approval when one is
    made: that is the learner's check, at redemption.
    """

    def __init__(self, refusal: Callable[..., Any], clock: Clock, ids: IdFactory, ttl: int = 900) -> None:
        super().__init__(clock=clock, ids=ids, ttl=ttl)
        self._refusal, self._when, self._numbers, self._life = refusal, clock, ids, ttl
        self._records: dict[str, tuple[Approval, dict[str, Any]]] = {}
        self._spent: list[str] = []
        self._guard = threading.Lock()

    def approve(self, request: AgentRequest, *, approver: str) -> Approval:
        """Record ``approver``'s yes to this exact request (refusing only a name that is no name).

        Raises:
            InvalidRequestError: the approver's name is not a string, holds a control
                character, or is empty once normalised.
        """
        now = self._when.now()
        approval = Approval(id=self._numbers.next("appr"), request_digest=request.digest(),
                            approver=identity(approver), approved_at=now, expires_at=now + self._life)
        record = {"id": approval.id, "request_digest": approval.request_digest, "approver": approver,
                  "approved_at": now, "expires_at": approval.expires_at,
                  "shown": {"tool": request.tool, "task": request.task, "intent": dict(request.intent)}}
        with self._guard:
            self._records[approval.id] = (approval, record)
        return approval

    def redeem(self, request: AgentRequest, approval: Approval) -> Approval:
        """Use ``approval`` for ``request`` if the learner's check returns no refusal code.

        Raises:
            AccessDenied: ``approval_unknown`` (not issued here), or the learner's code.
            TypeError: the learner's function returned neither None nor a str.
        """
        with self._guard:
            known = self._records.get(approval.id)
            if known is None or known[0] != approval:
                raise AccessDenied("approval_unknown", "this approval was not issued by the vault")
            code = self._refusal(copy.deepcopy(known[1]), request, list(self._spent), self._when.now())
            if code is not None:
                if not isinstance(code, str):
                    raise TypeError(f"approval_refusal returned {type(code).__name__}, not a code")
                raise AccessDenied(code, "refused by the approval check")
            self._spent.append(approval.id)
            return known[0]


def _books(vault: Vault, now: int) -> tuple[dict[str, Any], list[str]]:
    """Notebook 06's ``state`` read from the vault's access log, and the sessions revoked by hand.

    A revocation cascades in the kit; here only its roots (a revoked session whose
    parent was not revoked) are handed to the learner, whose function does the cascade.
    """
    sessions: list[dict[str, Any]] = []
    tokens_: list[dict[str, Any]] = []
    revoked: list[str] = []
    if vault.log is None:
        raise ValueError("the assembly's vault keeps no access log to read the state from")
    for e in vault.log.events():
        if e.event == "session" and e.session:
            parent = e.detail.removeprefix("parent=") if e.detail.startswith("parent=") else None
            sessions.append({"id": e.session, "parent": parent})
        elif e.event == "issue" and e.jti and e.session:
            tokens_.append({"jti": e.jti, "session": e.session, "iat": e.time, "exp": e.expires})
        elif e.event == "revoke" and e.reason == "revoke_session" and e.session:
            revoked.append(e.session)
    parents = {s["id"]: s["parent"] for s in sessions}
    roots = [s for s in dict.fromkeys(revoked) if parents.get(s) not in revoked]
    return {"sessions": sessions, "tokens": tokens_, "at": now}, roots


def _verifier_for(verify_token: Callable[..., Any] | None,
                  must_die: Callable[..., Any] | None) -> Callable[[Vault, str], Any]:
    """The ``verifier_for`` slot: the learner's verify_token and must_die, the kit's where absent.

    The kit's verifier stands in *without* its revocation list when ``must_die`` is pasted,
    and the kit's revocation list stands in for session revocations only when it is not:
    no kit check runs behind a learner's piece on the same question.
    """
    def factory(vault: Vault, audience: str) -> PluggedVerifier:
        kit = Verifier(keys=vault.keys, issuer=vault.issuer, audience=audience, clock=vault.clock,
                       leeway=vault.leeway, max_ttl=vault.max_ttl)

        def check(token: object) -> Any:
            if verify_token is None:
                claims = kit.verify(token).claims
            else:
                claims = verify_token(token, jwks=vault.jwks(), issuer=vault.issuer, audience=audience,
                                      now=vault.clock.now(), leeway=vault.leeway, max_ttl=vault.max_ttl)
                if not isinstance(claims, TokenClaims):
                    raise TypeError(f"verify_token returned {type(claims).__name__}, not tokens.TokenClaims")
            scope = vault.revocations.reason(claims)
            if must_die is None:
                if scope is not None:
                    raise RevokedTokenError(scope)
                return claims
            if scope not in (None, "session"):  # jti, agent, tenant, revoke-all: the kit's lists
                raise RevokedTokenError(scope)
            state, roots = _books(vault, vault.clock.now())
            for root in roots:
                dead = must_die(copy.deepcopy(state), root)
                if claims.session in dead["sessions"] or claims.jti in dead["tokens"]:
                    raise RevokedTokenError("session")
            return claims

        return PluggedVerifier(check, name="yours")

    return factory


class _PlainRedactor:
    """Notebook 04's ``redact(text, secrets)`` as the access log's redactor, over the store's secrets."""

    def __init__(self, redact: Callable[[str, tuple[str, ...]], str], store: SecretStore) -> None:
        self._redact, self._store = redact, store
        self._generation = -1
        self._secrets: tuple[str, ...] = ()
        self._memo: dict[str, str] = {}  # short strings repeat on every line; redacted output only

    def _values(self) -> tuple[str, ...]:
        if self._generation != self._store.generation:
            values = []
            for tenant in TENANTS:
                for name in self._store.names(tenant):
                    value = self._store.get(tenant, name).reveal()
                    if len(value) >= 12:  # notebook 04's contract: secrets of at least 12 characters
                        values.append(value)
            self._generation, self._secrets = self._store.generation, tuple(sorted(set(values)))
            self._memo = {}
        return self._secrets

    def redact(self, text: str) -> str:
        secrets = self._values()
        done = self._memo.get(text)
        if done is not None:
            return done
        out = self._redact(text, secrets)
        if not isinstance(out, str):
            raise TypeError(f"redact returned {type(out).__name__}, not str")
        if len(text) <= 256 and len(self._memo) < 4096:
            self._memo[text] = out
        return out

    def __repr__(self) -> str:
        return "_PlainRedactor(yours)"


def pasted(namespace: Mapping[str, Any]) -> dict[str, Callable[..., Any]]:
    """piece name -> the learner's function, for every piece whose function is in ``namespace``."""
    return {name: namespace[p.function] for name, p in PIECES.items()
            if callable(namespace.get(p.function))}


def assembly(pieces: Mapping[str, Callable[..., Any]], *, name: str = "yours") -> Wiring:
    """``lab.HARDENED`` with each given piece plugged into its slot (the kit's where none is given).

    ``pieces`` maps a :data:`PIECES` name to the learner's function with that notebook's
    signature. The policy loader, session check, replay guard and the broker's own
    redaction stay the kit's (:data:`KIT_ONLY`: no earlier notebook wrote them as one
    function with a slot to fill).

    Raises:
        KeyError: a piece name that is not in :data:`PIECES`.
    """
    unknown = sorted(set(pieces) - set(PIECES))
    if unknown:
        raise KeyError(f"no such piece: {', '.join(unknown)}")
    slots: dict[str, Any] = {}
    if "policy" in pieces:
        decide = pieces["policy"]

        def load_policy(config: list[dict[str, Any]], /) -> Any:
            return _DecidePolicy(decide, GrantPolicy.from_config(config).grants)

        slots["policy"] = lambda: _DecidePolicy(decide, _standard_grants())
        slots["load_policy"] = load_policy
    if "approvals" in pieces:
        refusal = pieces["approvals"]
        slots["approvals"] = lambda clock, ids: _RefusalBook(refusal, clock, ids)
    if "verifier" in pieces or "revocation" in pieces:
        slots["verifier_for"] = _verifier_for(pieces.get("verifier"), pieces.get("revocation"))
    if "call check" in pieces:
        authorize = pieces["call check"]
        slots["broker"] = functools.partial(
            Broker, authorize=lambda claims, connector, method, path, args: authorize(
                claims, connector, method, path, None if args is None else dict(args)))
    if "log redactor" in pieces:
        redact = pieces["log redactor"]
        slots["log_redactor"] = lambda store: _PlainRedactor(redact, store)
    return HARDENED.replace(name=name, **slots)


def _standard_grants() -> tuple[Grant, ...]:
    from .agent import standard_grants

    return tuple(standard_grants())


_POLICY_CODES = frozenset({"no_grant", "scope_not_granted", "grant_expired", "invalid_request",
                           "empty_policy"})


def piece_of(code: str, event: str) -> str:
    """The piece whose check answers with refusal ``code`` on a log line of kind ``event``.

    Finer than :func:`course.taxonomy.node_of_code`: the Short-lived token node has two
    pieces (the verifier, the revocation list), and ``approval_mismatch`` is the approval
    book's at issuance (a ``decision`` line) but the call check's at the broker.
    """
    if code in CHECK_CODES["Agent request"]:
        return "session check"
    if code == "configuration":
        return "policy loader"
    if code in _POLICY_CODES:
        return "policy"
    if code in CHECK_CODES["Vault policy"]:
        return "approvals" if event != "tool_call" else "call check"
    if code == "revoked":
        return "revocation"
    if code == "replay":
        return "replay guard"
    if code in CHECK_CODES["Short-lived token"]:
        return "verifier"
    if code in ("operation_not_allowed", "scope_missing"):
        return "call check"
    return "broker catalogue" if code == "unknown_tool" else "?"


def red_team(wiring: Wiring, *, world: World, seed: str = "lab",
             attacks: Iterable[str] = OBSERVED) -> dict[str, dict[str, Any]]:
    """Every observed attack against ``wiring`` (one lab, on ``world``), as plain data.

    ``{attack: {"reached", "error", "code", "pieces", "piece"}}``: ``pieces`` every piece
    that refused something on the attack's way (in order), ``piece`` the one that ended
    it (the last refusal; "broker redaction" for a credential that never came back),
    ``None`` when it reached its goal; ``error`` names the exception type when a piece
    crashed instead of refusing (the attack then did not run to its end).
    """
    by_name = {a.name: a for a in redteam.ATTACKS}
    lab = assemble(wiring, seed=seed, world=world)
    rows: dict[str, dict[str, Any]] = {}
    for name in attacks:
        before = len(lab.log)
        try:
            reached, _ = by_name[name].run(lab)
            code, error = None, None
        except VaultLabError as exc:
            known = node_of_code(exc.code) is not None
            reached, code, error = False, exc.code if known else None, None if known else type(exc).__name__
        except Exception as exc:  # noqa: BLE001 - a learner's piece that crashes is reported
            reached, code, error = False, None, type(exc).__name__
        refusals = [piece_of(str(e.reason), e.event) for e in lab.log.events()[before:]
                    if e.decision == "deny" and e.event in ("decision", "tool_call")]
        if code == "configuration":
            refusals.append("policy loader")
        piece = None if reached or error else (refusals[-1] if refusals else "broker redaction")
        rows[name] = {"reached": bool(reached), "error": error, "code": code,
                      "pieces": refusals, "piece": piece}
    return rows


def assembly_table(rows: Mapping[str, Mapping[str, Any]], yours: Iterable[str], *,
                   owner: str = "yours") -> str:
    """The red team's table for one assembly: attack, outcome, the piece that stopped it, whose.

    A pasted piece is marked ``owner``; a piece of :data:`PIECES` that was not pasted is
    the kit's stand-in; the others are the kit's own.
    """
    mine = set(yours)
    lines = [f"{'attack':<26}{'outcome':<13}{'stopped by':<18}whose"]
    for attack, row in rows.items():
        if row.get("error"):
            outcome, piece, whose = "CRASHED", f"({row['error']})", "a pasted piece raised"
        elif row["reached"]:
            outcome, piece, whose = "GOT THROUGH", "-", ""
        else:
            outcome, piece = "stopped", row["piece"]
            whose = owner if piece in mine else "kit (stand-in)" if piece in PIECES else "kit"
        lines.append(f"{attack:<26}{outcome:<13}{piece:<18}{whose}")
    return "\n".join(lines)


# ---------------------------------------------------------------- a colleague's assembly (notebook 08)

def colleague_verify_token(token: str, *, jwks: Mapping[str, Any], issuer: str, audience: str, now: int,
                           leeway: int = 5, max_ttl: int = 900) -> TokenClaims:
    """A plausible notebook 02 answer with one hole: it checks every claim but the audience.

    It reads the audience the token names (unverified) and checks the token against
    that, so a genuine pass for one tool is accepted at every tool.
    """
    from .clock import ManualClock
    from .forge import peek

    named = peek(token)["claims"].get("aud") if isinstance(token, str) else None
    return Verifier(keys=JWKSKeys(jwks), issuer=issuer, audience=str(named or audience),
                    clock=ManualClock(now), leeway=leeway, max_ttl=max_ttl).verify(token).claims


def colleague_must_die(state: Mapping[str, Any], session: str) -> dict[str, list[str]]:
    """A plausible notebook 06 answer with one hole: it kills the delegated sessions, not the session.

    The cascade is right (children, grandchildren, ...), but the revoked session itself
    and its own passes stay alive.
    """
    children: dict[str | None, list[str]] = {}
    for s in state["sessions"]:
        children.setdefault(s["parent"], []).append(s["id"])
    dead: set[str] = set()
    todo = list(children.get(session, []))
    while todo:
        current = todo.pop()
        if current not in dead:
            dead.add(current)
            todo.extend(children.get(current, []))
    at = state["at"]
    live = [t["jti"] for t in state["tokens"] if t["session"] in dead and t["iat"] <= at < t["exp"]]
    return {"sessions": sorted(dead), "tokens": sorted(live)}


#: A colleague's pasted pieces: the kit stands in for the rest.
COLLEAGUE: Mapping[str, Callable[..., Any]] = MappingProxyType({
    "verifier": colleague_verify_token, "revocation": colleague_must_die})
