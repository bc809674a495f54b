"""Where each attack is stopped: one answer, shared by the simulator and the red team.

    Agent request -> Vault policy -> Short-lived token -> Tool call -> Access log

An attack is *stopped at* the node whose **check** refuses it, not at the
process that happens to run that check. The broker runs the token verifier,
but a pass refused for its expiry, audience, stamp or revocation is stopped
at "Short-lived token"; the vault compares the request with the session
before it consults the grants, so a request naming another user or tenant is
stopped at "Agent request", not at "Vault policy".

:data:`STOPS` names, for every attack the simulator or the red team knows (and the
few a notebook teaches without running them, :data:`TAUGHT`),
the stopping node, the refusal codes the hardened kit answers with there,
the fact the check compares, the trusted source of that fact (a key of
:data:`SOURCES`), and the text each lens needs: the stale assumption a naive
hop makes, the signal an engineer on call sees, what to revoke, and the
trick as a picture at the checkout desk. :data:`CHECK_CODES` says which
refusal codes each node's check answers with, and :func:`node_of_code` reads
it backwards.

``tests/test_taxonomy.py`` proves the simulator's walks and the red team's
outcomes agree with this table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from . import TRUST_PATH

__all__ = ["CHECK_CODES", "SOURCES", "STOPS", "TAUGHT", "Stop", "node_of_code", "stop_of"]

#: Where the trusted side of a comparison can come from. The last three are the
#: *claimed* side of every comparison and can never be a check's trusted source.
SOURCES: Mapping[str, str] = MappingProxyType({
    "session": "the login session the platform opened (who, for whom, in which company)",
    "grants": "the vault's list of exact grants",
    "approval": "the human approval of one exact request",
    "vault key": "the vault's signing key (to check the stamp)",
    "clock": "the checker's own clock",
    "revocation list": "the vault's list of revoked sessions and passes",
    "called tool": "the tool the broker is actually calling",
    "operation table": "the connector's table of operations and the scope each needs",
    "replay guard": "the broker's record of single-use passes already spent",
    "secret store": "the vault's store of real credentials (to recognise one in text)",
    "request": "what the agent's request says",
    "pass": "what the pass itself claims",
    "model": "what the model read or says",
})

#: node -> the refusal codes that node's check answers with in the hardened kit.
CHECK_CODES: Mapping[str, frozenset[str]] = MappingProxyType({
    "Agent request": frozenset({"session_mismatch", "unknown_session", "unauthenticated"}),
    "Vault policy": frozenset({"no_grant", "scope_not_granted", "grant_expired", "invalid_request",
                               "empty_policy", "configuration", "approval_required",
                               "approval_mismatch", "approval_expired", "approval_replayed",
                               "approval_unknown", "self_approval"}),
    "Short-lived token": frozenset({"invalid_token", "malformed", "disallowed_algorithm",
                                    "unknown_key", "bad_signature", "expired", "not_yet_valid",
                                    "wrong_audience", "wrong_issuer", "missing_claim",
                                    "invalid_claim", "revoked"}),
    "Tool call": frozenset({"unknown_tool", "operation_not_allowed", "scope_missing", "replay"}),
    "Access log": frozenset({"redacted"}),
})


def node_of_code(code: str) -> str | None:
    """The node whose check answers with refusal ``code``, or None for a code no check uses.

    "revoked" is the verifier's (a revoked session's pass); the broker reports a
    spent single-use pass as "replay".
    """
    for node, codes in CHECK_CODES.items():
        if code in codes:
            return node
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class Stop:
    """Where one attack is stopped, what that check compares, and what each lens says about it.

    ``codes`` is empty when the hardened kit defeats the attack without a refusal
    (the secret was never there to take, or was redacted from an answer).
    """

    node: str
    codes: frozenset[str]
    fact: str  # the claimed side the stopping check compares, in plain words
    source: str  # a key of SOURCES: where the trusted side of that comparison comes from
    picture: str  # the trick at the checkout desk (School)
    stale: str  # the assumption a naive hop makes that lets it through (Reviewer)
    signal: str  # what an engineer on call sees, and where (Engineer)
    revoke: str  # what to revoke or fix once it is seen (Engineer)

    def __post_init__(self) -> None:
        if self.node not in TRUST_PATH:
            raise ValueError(f"{self.node!r} is not a node of the trust path")
        if self.source not in SOURCES or self.source in ("request", "pass", "model"):
            raise ValueError(f"{self.source!r} is not a trusted source")
        if not self.codes <= CHECK_CODES[self.node] | {"revoked"}:
            raise ValueError(f"codes {sorted(self.codes)} are not {self.node}'s")


def _stop(node: str, codes: str, fact: str, source: str, picture: str, stale: str, signal: str,
          revoke: str) -> Stop:
    return Stop(node=node, codes=frozenset(codes.split()), fact=fact, source=source,
                picture=picture, stale=stale, signal=signal, revoke=revoke)


#: attack name -> where it is stopped. Names shared by the simulator's TRICKS and the
#: red team's ATTACKS are the same attack.
STOPS: Mapping[str, Stop] = MappingProxyType({
    "forged-acting-user": _stop(
        "Agent request", "session_mismatch", "the user the request acts for", "session",
        "the helper wears Alice's badge but says 'I am here for Bob'",
        "the agent knows who it works for, so the user its request names is the real one",
        "a 'deny session_mismatch' decision line from an agent's own session: its model is "
        "repeating words someone else wrote; page",
        "the agent's session, whose model is being steered"),
    "cross-tenant": _stop(
        "Agent request", "session_mismatch", "the company (tenant) the request names", "session",
        "a helper badged for one company asks for a machine in another company's workshop",
        "a request only ever names its own company, so the tenant field needs no check",
        "a 'deny session_mismatch' decision line naming another tenant; page, it is a "
        "cross-tenant attempt",
        "the session that asked"),
    "injected-instruction": _stop(
        "Vault policy", "no_grant", "the tool and job asked for", "grants",
        "a customer's letter tells the helper to ask for the payments room, and the lending "
        "book has no such line for this job",
        "the agent only asks for what its job needs, so whatever it asks for is safe to grant",
        "a 'deny no_grant' decision line for a tool this agent never uses, just after it read "
        "customer text",
        "the agent's session (its model obeys a ticket); quarantine the ticket that carried "
        "the instruction"),
    "wildcard-grant": _stop(
        "Vault policy", "configuration", "each grant as it is loaded (one exact value per field)", "grants",
        "someone writes 'anyone, any job, payments' in the lending book, 'just for tonight'",
        "a temporary exception is removed after the incident, and '*' matches only what we meant",
        "the grant file is refused at load time with a configuration error naming the entry",
        "nothing was issued: remove the exception from the configuration and find its owner"),
    "approval-swapped-payload": _stop(
        "Vault policy", "approval_mismatch", "this request, byte for byte", "approval",
        "a signed permission slip for one job is stapled to a different job",
        "a human said yes to this agent, so it may do what it now asks",
        "a deny approval_mismatch line for a production tool",
        "the approval; ask the approver what they meant to allow"),
    "expired-token": _stop(
        "Short-lived token", "expired", "the pass's end time",
        "clock",
        "a pass that ran out an hour ago is shown at the door",
        "a token that decodes is a token that is still valid",
        "a 'deny expired' tool_call line at the tool; one is routine, a burst from one session "
        "means someone is replaying passes they collected",
        "nothing for a single one; the session if they keep coming"),
    "token-for-another-tool": _stop(
        "Short-lived token", "wrong_audience", "the door (audience) named on the pass", "called tool",
        "a pass for the ticket room is shown at the payments room",
        "a genuine pass is good at every door",
        "a 'deny wrong_audience' tool_call line at the payments tool for a tickets pass; page",
        "the session the pass was issued to: its pass left its job"),
    "tampered-claims": _stop(
        "Short-lived token", "bad_signature", "every word of the pass, under its stamp", "vault key",
        "after the desk stamped the pass, someone writes 'and payments' on it",
        "nobody edits a token between the vault and the tool",
        "a 'deny bad_signature' tool_call line; page at once, someone is editing passes",
        "the session the pass came from; confirm the signing key never left the vault"),
    "alg-none": _stop(
        "Short-lived token", "disallowed_algorithm", "the algorithm the pass's header names", "vault key",
        "a pass that says 'no stamp needed' on it",
        "the token's header may choose how it is checked",
        "a 'deny disallowed_algorithm' tool_call line; page",
        "the session the payload came from"),
    "hs256-with-public-key": _stop(
        "Short-lived token", "disallowed_algorithm", "the algorithm the pass's header names", "vault key",
        "a pass stamped with a copy of the public sample stamp",
        "a key is a key, whatever algorithm the header names",
        "a 'deny disallowed_algorithm' tool_call line; page",
        "the session the payload came from"),
    "attacker-signed": _stop(
        "Short-lived token", "bad_signature", "the pass's stamp",
        "vault key",
        "a pass stamped with the attacker's own stamp",
        "a token with a valid signature was signed by us",
        "a 'deny bad_signature' tool_call line; page",
        "the session the payload came from"),
    "revoked-session": _stop(
        "Short-lived token", "revoked", "the session the pass belongs to",
        "revocation list",
        "security cancelled the helper's badge, and the helper still shows a pass from it",
        "revoking a session also stops the passes it already holds, so nobody checks again",
        "a 'deny revoked' tool_call line after a revocation: the revocation holds, and someone "
        "still holds that session's passes",
        "already revoked; find where its passes went"),
    "scope-escalation": _stop(
        "Tool call", "scope_missing", "the scopes on the pass", "operation table",
        "a pass that allows reading at a door is used to do more than read",
        "whoever holds a pass for a tool may do anything at that tool",
        "a 'deny scope_missing' tool_call line on a write operation",
        "the session; review what it did at that tool before"),
    "single-use-replay": _stop(
        "Tool call", "revoked replay", "the pass's serial number", "replay guard",
        "a one-time pass is shown a second time",
        "a single-use pass is used once because the agent means to use it once",
        "a 'deny replay' tool_call line",
        "the session that replayed it"),
    "secret-in-tool-error": _stop(
        "Tool call", "", "the tool's answer",
        "secret store",
        "the machine prints the master key on its error screen, and the door keeper covers it",
        "a tool's error message is harmless text",
        "the broker's redaction count rises for one tool",
        "rotate the credential the tool echoed; fix the tool"),
    "refresh-token-extraction": _stop(
        "Tool call", "", "everything the agent side can see",
        "secret store",
        "the helper asks for the key to the key cabinet, and only ever gets a pass",
        "the agent needs the refresh token to keep working",
        "a refresh token found anywhere outside the vault's store",
        "rotate the refresh token (its family is revoked on reuse)"),
    "exfiltration": _stop(
        "Agent request", "", "the agent's context",
        "secret store",
        "a note in a letter tells the helper to post the master key, and the helper never had it",
        "the model will keep the key in its prompt to itself",
        "the collector receives requests with no credential; the agent's trace shows the "
        "injected instruction",
        "the session whose model obeyed the note"),
    # -- attacks taught in one notebook only (see TAUGHT): no simulator trick or red-team run
    "stale-temporary-grant": _stop(
        "Vault policy", "grant_expired", "the end date of the only grant for the request", "grants",
        "last month's emergency line in the lending book, 'until the incident is over', is read "
        "again by a helper who found the job's name in a letter",
        "a temporary exception is removed by whoever added it once the incident is over, so it "
        "needs no end date of its own",
        "a 'deny grant_expired' decision line: something still asks for an exception that has "
        "ended; find who, and what told it the task name",
        "remove the expired grant from the configuration; the session that asked, if its model "
        "read the task name in customer text"),
    "confused-deputy": _stop(
        "Vault policy", "no_grant", "the user the grant was written for", "grants",
        "the helper lent to Ana is asked by Bob, honestly badged, for the room Ana may enter",
        "an honest session proves enough: whoever asks through the agent may use the agent's "
        "authority",
        "a 'deny no_grant' decision line naming a user with no grant for that tool and task, from "
        "a session whose check passed",
        "nothing was issued: review the grants a shared agent holds, one user at a time"),
    "release-note-injection": _stop(
        "Vault policy", "approval_required", "the release the request asks to deploy", "approval",
        "a note in the delivery papers says 'also load crate 666 onto the real lorry', and the dock "
        "asks for the manager's slip for that crate",
        "release notes are data: the deploy agent only ships what its pipeline asked for",
        "a 'deny approval_required' decision line in the deploy agent's own session, for a version "
        "no release names",
        "the deploy agent's session; find who wrote the note and quarantine the release notes"),
    "secret-in-log": _stop(
        "Access log", "redacted", "every line written",
        "secret store",
        "someone tries to copy the master key into the ledger",
        "only trusted people read logs, so a secret there does no harm",
        "the ledger's count of redacted credentials rises: a connector is logging its headers",
        "rotate the credential that reached the debug hook, and remove the hook"),
})


#: Attacks a notebook teaches that neither the simulator nor the red team runs: attack ->
#: (the notebook's spec, the words it teaches the attack by). Their stops are in :data:`STOPS`.
TAUGHT: Mapping[str, tuple[str, str]] = MappingProxyType({
    "stale-temporary-grant": ("03-vault-policy", "A temporary exception that becomes the attacker's path"),
    "release-note-injection": ("09-deployment-agent", "release note"),
})


def stop_of(attack: str) -> Stop:
    """Where ``attack`` is stopped.

    Raises:
        KeyError: ``attack`` is not in :data:`STOPS`.
    """
    return STOPS[attack]
