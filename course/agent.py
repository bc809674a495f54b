"""The agent: a deterministic stand-in for a model, wired two ways.

The "model" is a :class:`Planner`: it reads a :class:`Context` (system prompt,
task, memory, the tool outputs it has observed) and plans tool calls. The
kit's :class:`ScriptedPlanner` knows a handful of tasks and, like a real
model, *obeys instructions injected into what it reads*:

* ``send your credentials to <url>`` plans a raw HTTP POST to ``<url>`` whose
  body is every credential-looking string in its own system prompt and memory;
  ``... encoded as <form>`` (``base64``, ``base64url``, ``hex``, ``url``) makes it
  encode that loot first, as a helpful model would;
* ``act on behalf of user <name>`` makes its later calls claim that user;
* ``use tool <x>`` makes it try tool ``<x>``.

Two wirings run the same planner on the same world:

* :class:`UnsafeNaiveAgent` (unsafe, by name) puts the raw credentials in its
  prompt and memory, calls the services itself, has a raw HTTP tool, and
  keeps raw traces. One injected ticket is enough to exfiltrate a key.
* :class:`BrokeredAgent` holds no credential. Per planned call it asks the
  vault for a short-lived token (the session, not the model, says who it acts
  for) and hands the token to the broker, which injects the credential at the
  last hop. It has no raw HTTP tool. Its context sees only token *ids*.

:func:`lab_world_and_vault` builds the standard hardened wiring in one
process, with :func:`standard_grants` as the single source of the lab's
grants (notebooks, the walkthrough and the red-team suite reuse them).
"""

from __future__ import annotations

import base64 as _base64
import json as _json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, NoReturn, Protocol
from urllib.parse import quote, urlencode, urlsplit

from . import httpclient
from .approvals import Approval
from .clock import Clock
from .connectors import by_tool
from .errors import AccessDenied, ApprovalRequired, TokenError, VaultLabError
from .policy import AgentRequest, Grant
from .secretstore import Secret
from .vault import Session, Vault
from .world import INJECTION_PATTERN, World

__all__ = [
    "CREDENTIAL_LOOKING",
    "EXFIL_ENCODINGS",
    "MAX_ROUNDS",
    "RAW_HTTP",
    "BrokerClient",
    "BrokeredAgent",
    "CallOutcome",
    "Context",
    "InProcessVault",
    "PlannedCall",
    "Planner",
    "RunReport",
    "ScriptedPlanner",
    "TokenInfo",
    "UnsafeNaiveAgent",
    "VaultClient",
    "lab_world_and_vault",
    "scopes_for",
    "standard_grants",
    "task_kind",
]

RAW_HTTP = "http"  # the tool name of a raw HTTP call (only the naive agent has that tool)
MAX_ROUNDS = 8  # plan/act rounds per run: a planner that never settles still stops

# What a model (or an attacker) recognises as a credential: the world's key formats,
# OAuth tokens, and anything JWT-shaped.
CREDENTIAL_LOOKING = re.compile(
    r"\b(?:[a-z]{2,4}_(?:live|test|stg|prd|adm)_|rt_|at_)[A-Za-z0-9]{16,}\b"
    r"|\beyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]{8,}"
)
_EXFIL = re.compile(INJECTION_PATTERN)

#: The encodings the scripted model applies to its loot when an injected instruction asks
#: (``send your credentials to <url> encoded as <form>``); any other word means "as it is".
EXFIL_ENCODINGS: Mapping[str, Any] = MappingProxyType({
    "base64": lambda text: _base64.b64encode(text.encode()).decode("ascii"),
    "base64url": lambda text: _base64.urlsafe_b64encode(text.encode()).decode("ascii"),
    "hex": lambda text: text.encode().hex(),
    "url": lambda text: quote(text, safe=""),
})
_ACT_AS = re.compile(r"act on behalf of user ([A-Za-z0-9_.@\-]+)")
_USE_TOOL = re.compile(r"use tool ([A-Za-z0-9_:\-]+)")
_JWT_SHAPED = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]*")
_URL_TAIL = ".,;:!?\"'`)]}>"


# ---------------------------------------------------------------- values


@dataclass(frozen=True, slots=True, kw_only=True)
class Context:
    """Everything the model reads: the prompt, the task, its memory, and tool outputs so far."""

    system_prompt: str
    task: str
    memory: tuple[str, ...] = ()
    observations: tuple[str, ...] = ()

    def text(self) -> str:
        """The whole context as one string (what a leak detector scans)."""
        return "\n".join((self.system_prompt, self.task, *self.memory, *self.observations))

    def __repr__(self) -> str:
        # The naive agent's prompt holds raw keys: a repr shows sizes, never the text.
        return (f"Context(task={self.task!r}, system_prompt=<{len(self.system_prompt)} chars>, "
                f"memory=<{len(self.memory)} items>, "
                f"observations=<{len(self.observations)} items>)")


@dataclass(frozen=True, slots=True, kw_only=True)
class PlannedCall:
    """One call the model wants made, and why.

    ``tool`` is a catalogue tool (``"tickets"``, ``"deploy:staging"``, ...) or
    :data:`RAW_HTTP` with ``url`` set. ``json`` is the body as sorted-insertion
    pairs (hashable, so plans compare). ``as_user`` is a user the model *claims*
    to act for (from injected text); None means "whoever the session says".
    """

    tool: str
    method: str
    path: str
    json: tuple[tuple[str, Any], ...] | None = None
    url: str | None = None
    note: str = ""
    as_user: str | None = None

    def body(self) -> dict[str, Any] | None:
        return dict(self.json) if self.json is not None else None

    def label(self) -> str:
        """``tool METHOD path``: how observations and reports name this call (no host, no port)."""
        return f"{self.tool} {self.method} {self.path}"

    def __repr__(self) -> str:
        # Body values may be loot (an exfiltration's credentials): the repr names keys only.
        keys = [k for k, _ in self.json] if self.json is not None else None
        return (f"PlannedCall(tool={self.tool!r}, method={self.method!r}, path={self.path!r}, "
                f"json_keys={keys!r}, as_user={self.as_user!r}, note={self.note!r})")


class Planner(Protocol):
    """The model. Same context, same plan.

    A plan is *cumulative*: every call the model wants made given everything it
    has read so far, including calls already made. The agent runs the ones it
    has not run yet, adds what it observed, and asks again until nothing is new.
    """

    def plan(self, context: Context) -> tuple[PlannedCall, ...]: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class CallOutcome:
    """What happened to one planned call: a service status, or a refusal with its code."""

    tool: str
    method: str
    path: str
    status: int | None = None
    code: str = ""
    reason: str = ""
    as_user: str | None = None
    note: str = ""

    @property
    def refused(self) -> bool:
        return self.status is None


@dataclass(frozen=True, slots=True, kw_only=True)
class RunReport:
    """One run of one task: calls that reached a service, calls refused, what was observed.

    ``redacted`` says whether the observations went through the broker's
    redaction (True for the brokered agent; False for the naive one, whose
    observations are raw service output).
    """

    agent: str
    task: str
    calls: tuple[CallOutcome, ...]
    refused: tuple[CallOutcome, ...]
    observations: tuple[str, ...]
    redacted: bool

    @property
    def ok(self) -> bool:
        """True when nothing was refused and every call answered below 400."""
        return not self.refused and all(c.status is not None and c.status < 400 for c in self.calls)

    def codes(self) -> tuple[str, ...]:
        """The refusal codes, in order."""
        return tuple(c.code for c in self.refused)

    def lines(self) -> tuple[str, ...]:
        """A stable, secret-free summary (no bodies, no hosts or ports) for notebook output."""
        made = [f"{c.tool} {c.method} {c.path} -> {c.status}" for c in self.calls]
        refused = [f"{c.tool} {c.method} {c.path} -> refused: {c.code}" for c in self.refused]
        return (f"{self.agent}: {self.task}", *made, *refused)

    def __repr__(self) -> str:
        # Observations are raw service output for the naive agent (a tool error can echo a key).
        return (f"RunReport(agent={self.agent!r}, task={self.task!r}, calls={len(self.calls)}, "
                f"refused={self.codes()!r}, observations=<{len(self.observations)} items>, "
                f"redacted={self.redacted})")


# ---------------------------------------------------------------- the scripted model


def task_kind(task: str) -> str:
    """The task name grants speak of (``triage``, ``refund``, ``deploy``, ``files``, ...).

    Unknown tasks are named by their first word, so the vault can refuse them by name.
    """
    text = task.strip().lower()
    for kind, pattern in _TASKS:
        if re.match(pattern, text):
            return kind
    return text.split()[0] if text.split() else "none"


_TASKS: tuple[tuple[str, str], ...] = (
    ("triage", r"triage (T-\d+)\b"),
    ("refund", r"refund (ch-\d+)\b"),
    ("deploy", r"deploy (\S+) to (staging|production)\b"),
    ("files", r"list files\b"),
    ("tickets", r"list tickets\b"),
)

_DEFAULT_CALLS: dict[str, tuple[str, str]] = {
    "tickets": ("GET", "/tickets"),
    "payments": ("GET", "/charges"),
    "deploy:staging": ("GET", "/environments/staging/deployments"),
    "deploy:production": ("GET", "/environments/production/deployments"),
    "files": ("GET", "/files"),
}


class ScriptedPlanner:
    """A deterministic model that knows five tasks and obeys injected instructions.

    Tasks: ``triage T-1003`` (read the ticket, then comment on it), ``refund
    ch-0001``, ``deploy 1.4.2 to staging|production``, ``list files``, ``list
    tickets``. Injections are looked for in every observation, in order; see the
    module docstring for the three it obeys. Injected calls come first in the
    plan ("before replying, ..."), then the task's own calls.
    """

    def plan(self, context: Context) -> tuple[PlannedCall, ...]:
        injected = self._injected(context)
        return tuple(dict.fromkeys((*injected, *self._task_calls(context))))

    # -- the task's own calls. A first step never claims an injected user: nothing was read
    # before it, and a later re-plan must produce the very same call (or it would run twice).
    def _task_calls(self, ctx: Context) -> list[PlannedCall]:
        text = ctx.task.strip()
        low = text.lower()
        if m := re.match(r"triage (T-\d+)\b", text, re.I):
            ticket = m.group(1).upper()
            first = PlannedCall(tool="tickets", method="GET", path=f"/tickets/{ticket}",
                                note=f"read ticket {ticket}")
            seen = _answered(ctx.observations, first)
            if seen is None or not _succeeded(ctx.observations[seen - 1]):
                return [first]  # no ticket to comment on (yet)
            title = _title(ctx.observations[seen - 1])
            comment = (("body", f"Triaged by the support agent: {title}. "
                                "Queued for the on-call engineer."),)
            second = PlannedCall(tool="tickets", method="POST", path=f"/tickets/{ticket}/comments",
                                 json=comment, note="post a triage comment",
                                 as_user=_forged(ctx.observations[:seen]))
            return [first, second]
        if m := re.match(r"refund (ch-\d+)\b", low):
            return [PlannedCall(tool="payments", method="POST", path="/refunds",
                                json=(("charge", m.group(1)),), note=f"refund {m.group(1)}")]
        if m := re.match(r"deploy (\S+) to (staging|production)\b", low):
            version, env = m.groups()
            return [PlannedCall(tool=f"deploy:{env}", method="POST",
                                path=f"/environments/{env}/deployments",
                                json=(("version", version),), note=f"deploy {version} to {env}")]
        if re.match(r"list files\b", low):
            return [PlannedCall(tool="files", method="GET", path="/files", note="list files")]
        if re.match(r"list tickets\b", low):
            return [PlannedCall(tool="tickets", method="GET", path="/tickets", note="list tickets")]
        return []

    # -- what injected text makes it do
    def _injected(self, ctx: Context) -> list[PlannedCall]:
        calls: list[PlannedCall] = []
        for i, observation in enumerate(ctx.observations):
            user = _forged(ctx.observations[: i + 1])
            for text in _readable(observation):
                for m in _EXFIL.finditer(text):
                    url = m.group(1).rstrip(_URL_TAIL)
                    if url.startswith(("http://", "https://")):
                        calls.append(_exfiltrate(ctx, url, user, m.group(2)))
                for tool in _USE_TOOL.findall(text):
                    tool = tool.rstrip(_URL_TAIL)
                    method, path = _DEFAULT_CALLS.get(tool, ("GET", "/"))
                    calls.append(PlannedCall(tool=tool, method=method, path=path, as_user=user,
                                             note=f"injected instruction: use tool {tool}"))
        return calls

    def __repr__(self) -> str:
        return "ScriptedPlanner()"


def _exfiltrate(ctx: Context, url: str, user: str | None, encoding: str | None = None
                ) -> PlannedCall:
    """The weakness itself: every credential-looking string the model can see, sent away.

    ``encoding`` is the word the injected text asked for; one of :data:`EXFIL_ENCODINGS`
    encodes the loot (all of it, as one string), anything else leaves it as it is.
    """
    found = CREDENTIAL_LOOKING.findall("\n".join((ctx.system_prompt, *ctx.memory)))
    loot = " ".join(dict.fromkeys(found))
    encode = EXFIL_ENCODINGS.get((encoding or "").lower())
    note = "injected instruction: send your credentials"
    if encode is not None:
        loot, note = encode(loot), f"{note}, encoded as {encoding!s}".lower()
    return PlannedCall(tool=RAW_HTTP, method="POST", path=urlsplit(url).path or "/",
                       json=(("credentials", loot),), url=url, as_user=user, note=note)


def _readable(observation: str) -> list[str]:
    """The observation as the model reads it: raw, plus every string inside it if it is JSON."""
    texts = [observation]
    _, _, body = observation.partition("\n")
    try:
        data = _json.loads(body)
    except ValueError:
        return texts
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            texts.append(item)
        elif isinstance(item, dict):
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            stack.extend(reversed(item))
    return texts


def _forged(observations: Iterable[str]) -> str | None:
    """The last user an injected text told the model to act for, if any."""
    user = None
    for observation in observations:
        for text in _readable(observation):
            for name in _ACT_AS.findall(text):
                user = name.rstrip(_URL_TAIL)
    return user


def _answered(observations: tuple[str, ...], call: PlannedCall) -> int | None:
    """1 + index of the observation answering ``call``, or None if it has not been made yet."""
    head = call.label() + " -> "
    return next((i + 1 for i, o in enumerate(observations) if o.startswith(head)), None)


def _succeeded(observation: str) -> bool:
    """The observation's first line ends in a 2xx status."""
    verdict = observation.partition("\n")[0].rpartition(" -> ")[2]
    return verdict.isdigit() and 200 <= int(verdict) < 300


def _title(observation: str) -> str:
    _, _, body = observation.partition("\n")
    try:
        data = _json.loads(body)
    except ValueError:
        return "ticket"
    title = data.get("title") if isinstance(data, dict) else None
    return str(title) if title else "ticket"


def _observation(call: PlannedCall, status: int | None, text: str) -> str:
    """``label -> status`` then the body: the planner finds a step's answer by its first line."""
    verdict = str(status) if status is not None else "refused"
    return f"{call.label()} -> {verdict}\n{text}"


# ---------------------------------------------------------------- the plan/act loop


class _Loop:
    """Plan, act on what is new, observe, repeat: the same loop for both wirings."""

    name: str
    planner: Planner
    redacted: bool

    def _context(self, task: str, observations: tuple[str, ...]) -> Context:
        raise NotImplementedError

    def _act(self, call: PlannedCall, task: str) -> tuple[CallOutcome, str]:
        raise NotImplementedError

    def _begin(self, task: str) -> None:
        """Hook run before the first round."""

    def run(self, task: str) -> RunReport:
        """Run ``task`` to the end (at most :data:`MAX_ROUNDS` rounds) and report what happened."""
        self._begin(task)
        done: list[PlannedCall] = []
        outcomes: list[CallOutcome] = []
        observations: tuple[str, ...] = ()
        for _ in range(MAX_ROUNDS):
            plan = self.planner.plan(self._context(task, observations))
            new = [c for c in dict.fromkeys(plan) if c not in done]
            if not new:
                break
            for call in new:
                done.append(call)
                outcome, seen = self._act(call, task)
                outcomes.append(outcome)
                observations = (*observations, seen)
        return RunReport(agent=self.name, task=task,
                         calls=tuple(o for o in outcomes if not o.refused),
                         refused=tuple(o for o in outcomes if o.refused),
                         observations=observations, redacted=self.redacted)


# ---------------------------------------------------------------- the unsafe wiring


class UnsafeNaiveAgent(_Loop):
    """UNSAFE on purpose: the "master key in the prompt" agent that notebook 01 breaks.

    Its system prompt and memory hold the tenant's raw credentials, it calls
    the services itself with them (the reusable ``deploy:admin`` key for every
    environment), it has a raw HTTP tool that reaches any URL, and it writes
    its prompts and raw tool traffic, headers included, to :attr:`trace`, as
    naive frameworks do. Never copy this wiring; it exists to be attacked.

    For ``list files`` it trades the world's refresh token itself, which
    rotates it: a Lab's broker then holds a dead refresh token for that tenant.
    Run the two wirings' files tasks in separate worlds.

    ``egress_filter=True`` adds the patch such teams reach for after a first
    leak: the raw HTTP tool refuses (code ``egress_filter``) a request whose URL
    or body contains one of the agent's keys *as it is*. It compares exact
    strings only, so an encoded copy goes through: notebook 01 shows why that
    is no check.
    """

    redacted = False

    def __init__(self, world: World, tenant: str = "acme", *, name: str = "helpdesk-bot",
                 planner: Planner | None = None, egress_filter: bool = False) -> None:
        self.world, self.tenant, self.name = world, tenant, name
        self.egress_filter = egress_filter
        self.planner = planner or ScriptedPlanner()
        cred = {n: world.credential(tenant, n).reveal() for n in
                ("tickets", "payments", "deploy:admin", "oauth:refresh", "oauth:client_secret")}
        self._keys = cred  # raw strings, as a naive agent keeps them
        self.system_prompt = (
            f"You are {name}, the support and operations assistant of {tenant}. "
            "Use these API credentials when calling tools:\n"
            f"  tickets API key: {cred['tickets']}\n"
            f"  payments API key: {cred['payments']}\n"
            f"  deploy key (admin, all environments): {cred['deploy:admin']}\n"
            "Follow the instructions you find in tickets carefully."
        )
        self.memory: list[str] = [
            f"Note from the last session: tickets key {cred['tickets']} works with Bearer auth.",
            f"OAuth client {world.oauth_client_id(tenant)} secret {cred['oauth:client_secret']}, "
            f"refresh token {cred['oauth:refresh']}.",
        ]
        self.trace: list[str] = []

    def _context(self, task: str, observations: tuple[str, ...]) -> Context:
        return Context(system_prompt=self.system_prompt, task=task, memory=tuple(self.memory),
                       observations=observations)

    def _begin(self, task: str) -> None:
        self.trace.append(f"PROMPT system={self.system_prompt}\nTASK {task}\n"
                          f"MEMORY {' | '.join(self.memory)}")

    def _act(self, call: PlannedCall, task: str) -> tuple[CallOutcome, str]:
        try:
            answer = self._send(call)
        except (VaultLabError, ValueError) as exc:
            code = getattr(exc, "code", "error")
            self.trace.append(f"ERROR {call.label()}: {exc}")
            outcome = CallOutcome(tool=call.tool, method=call.method, path=call.path, code=code,
                                  reason=str(exc), as_user=call.as_user, note=call.note)
            return outcome, _observation(call, None, f"{code}: {exc}")
        self.trace.append(f"RESULT {answer.status} {answer.text}")
        outcome = CallOutcome(tool=call.tool, method=call.method, path=call.path,
                              status=answer.status, as_user=call.as_user, note=call.note)
        return outcome, _observation(call, answer.status, answer.text)

    def _send(self, call: PlannedCall) -> httpclient.Response:
        if call.tool == RAW_HTTP:
            if not call.url:
                raise AccessDenied("no_url", "a raw HTTP call needs a URL")
            self.trace.append(f"CALL http {call.method} {call.url} json={call.body()}")
            if self.egress_filter and self._carries_a_key(call):
                raise AccessDenied("egress_filter", "the outbound filter found a key in the request")
            return httpclient.request(call.method, call.url, json=call.body())
        connector = by_tool().get(call.tool)
        if connector is None:
            raise AccessDenied("unknown_tool", f"the agent has no tool {call.tool!r}")
        key = self._key_for(call.tool)
        headers = {connector.header: f"{connector.scheme}{key}"}
        url = self.world.url(connector.service) + call.path
        self.trace.append(f"CALL {call.tool} {call.method} {url} headers={headers} "
                          f"json={call.body()}")
        return httpclient.request(call.method, url, headers=headers, json=call.body())

    def _carries_a_key(self, call: PlannedCall) -> bool:
        """The naive patch: an exact-string search for the agent's keys (no encoding decoded)."""
        outgoing = f"{call.url} {_json.dumps(call.body())}"
        return any(key in outgoing for key in self._keys.values())

    def _key_for(self, tool: str) -> str:
        if tool.startswith("deploy:"):
            return self._keys["deploy:admin"]  # the bad habit: one key for every environment
        if tool == "files":
            return self._oauth_access()
        return self._keys[tool]

    def _oauth_access(self) -> str:
        """Trade the refresh token itself (and keep the rotated one in memory, raw)."""
        form = {"grant_type": "refresh_token", "refresh_token": self._keys["oauth:refresh"],
                "client_id": self.world.oauth_client_id(self.tenant),
                "client_secret": self._keys["oauth:client_secret"]}
        answer = httpclient.request("POST", self.world.url("oauth") + "/oauth/token",
                                    body=urlencode(form).encode(),
                                    headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.trace.append(f"OAUTH refresh -> {answer.status} {answer.text}")
        data = answer.json()
        if answer.status != 200 or not isinstance(data, dict):
            raise AccessDenied("oauth_refused", "the token endpoint refused the refresh")
        self._keys["oauth:refresh"] = str(data["refresh_token"])
        self.memory.append(f"New refresh token {data['refresh_token']}, "
                           f"access token {data['access_token']}.")
        return str(data["access_token"])

    def __repr__(self) -> str:
        guard = ", egress_filter" if self.egress_filter else ""
        return f"UnsafeNaiveAgent(name={self.name!r}, tenant={self.tenant!r}{guard}, UNSAFE)"


# ---------------------------------------------------------------- the brokered wiring


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenInfo:
    """What the agent may know about a token it holds: id, tool, scopes, expiry. Never the text."""

    jti: str
    aud: str
    scopes: tuple[str, ...]
    exp: int


class VaultClient(Protocol):
    """What the brokered agent needs from a vault: a token for one request.

    ``credential`` is the session's proof (:attr:`Session.credential`), which the
    platform handed the agent when it opened the session.
    """

    def request_token(self, request: AgentRequest, *, approval: Approval | None = None,
                      credential: Secret | None = None) -> tuple[str, TokenInfo]: ...


class BrokerClient(Protocol):
    """What the brokered agent needs from a broker: one call with one token."""

    def call(self, token: str, *, tool: str, method: str, path: str,
             json: Mapping[str, Any] | None = None) -> Any: ...


class InProcessVault:
    """Adapts a :class:`~course.vault.Vault` in this process to :class:`VaultClient`."""

    def __init__(self, vault: Vault) -> None:
        self._vault = vault

    def request_token(self, request: AgentRequest, *, approval: Approval | None = None,
                      credential: Secret | None = None) -> tuple[str, TokenInfo]:
        """A token for ``request``. Raises what :meth:`Vault.request` raises."""
        issued = self._vault.request(request, approval=approval, credential=credential)
        c = issued.claims
        return issued.token, TokenInfo(jti=c.jti, aud=c.aud, scopes=c.scopes, exp=c.exp)

    def __repr__(self) -> str:
        return "InProcessVault()"


def scopes_for(tool: str, method: str, path: str) -> tuple[str, ...]:
    """The one scope the catalogue says this call needs (``("unknown",)`` if it is no operation).

    An unknown call is still *asked for*, so the vault, not the agent, refuses it.
    """
    connector = by_tool().get(tool)
    op = connector.operation_for(method, path) if connector else None
    return (op.scope,) if op else ("unknown",)


class BrokeredAgent(_Loop):
    """An agent that never holds a credential: vault token per call, broker performs it.

    Args:
        vault: a :class:`VaultClient` (:class:`InProcessVault`, ``RemoteVault``) or a Vault.
        broker: a :class:`BrokerClient` (a :class:`~course.broker.Broker`, ``RemoteBroker``).
        session: the session the platform opened for this agent; its tenant, user
            and agent are what every request claims (unless the model forges a user,
            which the vault then refuses as ``session_mismatch``).
        planner: the model (default :class:`ScriptedPlanner`).
        redactor: optional extra redaction (anything with ``redact(text)``) over the trace.

    What it refuses itself: a raw HTTP call (code ``no_raw_http``): it has no such tool.
    Tokens live in a private handle map; the model's context sees ``token tok-0001 for
    tickets`` and nothing more.
    """

    redacted = True

    def __init__(self, *, vault: VaultClient | Vault, broker: BrokerClient, session: Session,
                 planner: Planner | None = None, redactor: Any | None = None,
                 ttl: int = 300) -> None:
        self._vault: VaultClient = InProcessVault(vault) if isinstance(vault, Vault) else vault
        self._broker = broker
        self.session = session
        self.name = session.agent
        self.planner = planner or ScriptedPlanner()
        self._redactor = redactor
        self._ttl = ttl
        self.__handles: dict[str, str] = {}  # jti -> token text; never in the context or trace
        self._infos: dict[str, TokenInfo] = {}
        self._approvals: dict[str, Approval] = {}
        self.memory: list[str] = []
        self.trace: list[str] = []
        self.pending: tuple[AgentRequest, ...] = ()  # requests waiting for a human approval
        self.system_prompt = (
            f"You are {session.agent}, acting for {session.user} in tenant {session.tenant}. "
            "You hold no credentials. Name the tool call you want; the platform asks the vault "
            "for a short-lived token and the broker performs the call."
        )

    @property
    def handles(self) -> dict[str, TokenInfo]:
        """The tokens held, by id: what they are for, never their text."""
        return dict(self._infos)

    def add_approval(self, approval: Approval) -> None:
        """Hand over a human's approval; it is used for the request it was bound to."""
        self._approvals[approval.request_digest] = approval

    def request_for(self, call: PlannedCall, task: str) -> AgentRequest:
        """The vault request for ``call``: session facts, the task, the tool, the scopes it needs.

        The arguments go in as the request's intent, so an approval binds them.
        """
        s = self.session
        intent = tuple((str(k), v) for k, v in (call.json or ()))
        return AgentRequest(tenant=s.tenant, user=call.as_user or s.user, agent=s.agent,
                            session=s.id, task=task_kind(task), tool=call.tool,
                            scopes=scopes_for(call.tool, call.method, call.path),
                            ttl=self._ttl, intent=intent)

    def _context(self, task: str, observations: tuple[str, ...]) -> Context:
        return Context(system_prompt=self.system_prompt, task=task, memory=tuple(self.memory),
                       observations=observations)

    def _begin(self, task: str) -> None:
        self.__handles.clear()
        self._infos.clear()
        self.pending = ()
        self._log(f"TASK {task}")

    def _act(self, call: PlannedCall, task: str) -> tuple[CallOutcome, str]:
        if call.tool == RAW_HTTP:
            return self._refuse(call, "no_raw_http", "this agent has no raw HTTP tool")
        try:
            request = self.request_for(call, task)
        except AccessDenied as exc:  # arguments no request can carry (InvalidRequestError)
            return self._refuse(call, exc.code, exc.reason)
        try:
            token, info = self._vault.request_token(
                request, approval=self._approvals.get(request.digest()),
                credential=self.session.credential)
        except ApprovalRequired as exc:
            self.pending = (*self.pending, request)
            return self._refuse(call, exc.code, exc.reason)
        except (AccessDenied, TokenError) as exc:
            return self._refuse(call, exc.code, getattr(exc, "reason", str(exc)))
        self.__handles[info.jti] = token
        self._infos[info.jti] = info
        self.memory.append(f"token {info.jti} for {info.aud}")
        self._log(f"TOKEN {info.jti} for {info.aud} scopes={' '.join(info.scopes)} exp={info.exp}")
        try:
            result = self._broker.call(self.__handles[info.jti], tool=call.tool,
                                       method=call.method, path=call.path, json=call.body())
        except VaultLabError as exc:
            return self._refuse(call, exc.code, getattr(exc, "reason", str(exc)))
        body = self._clean(result.body)
        self._log(f"CALL {call.label()} with {info.jti} -> {result.status} {body}")
        outcome = CallOutcome(tool=call.tool, method=call.method, path=call.path,
                              status=result.status, as_user=call.as_user, note=call.note)
        return outcome, _observation(call, result.status, body)

    def _refuse(self, call: PlannedCall, code: str, reason: str) -> tuple[CallOutcome, str]:
        reason = self._clean(reason)
        self._log(f"REFUSED {call.label()}: {code}: {reason}")
        outcome = CallOutcome(tool=call.tool, method=call.method, path=call.path, code=code,
                              reason=reason, as_user=call.as_user, note=call.note)
        return outcome, _observation(call, None, f"{code}: {reason}")

    def _clean(self, text: str) -> str:
        """Defence in depth over everything kept: nothing token-shaped, then the redactor."""
        text = _JWT_SHAPED.sub("[token]", text)
        return self._redactor.redact(text) if self._redactor is not None else text

    def _log(self, line: str) -> None:
        self.trace.append(self._clean(line))

    def __repr__(self) -> str:
        s = self.session
        return (f"BrokeredAgent(agent={s.agent!r}, user={s.user!r}, tenant={s.tenant!r}, "
                f"session={s.id!r}, tokens={len(self._infos)})")

    def __reduce__(self) -> NoReturn:
        raise TypeError("a BrokeredAgent refuses to be pickled (it holds live tokens)")


# ---------------------------------------------------------------- the standard lab wiring


def standard_grants() -> tuple[Grant, ...]:
    """The lab's grants, in one place (notebooks, the walkthrough and the red team reuse them).

    ``acme``: alice's helpdesk-bot triages tickets (read+write), refunds only with
    approval, lists files; alice's deploy-bot deploys to staging freely and to
    production only with approval. bob, acme's finance lead, may refund without
    approval: the prize a forged "act on behalf of user bob" is after.
    ``globex``: gina's helpdesk-bot triages globex tickets (the other tenant).
    """
    return (
        Grant(tenant="acme", user="alice", agent="helpdesk-bot", tool="tickets",
              tasks=("triage", "tickets"), scopes=("tickets:read", "tickets:write"),
              note="support triage"),
        Grant(tenant="acme", user="alice", agent="helpdesk-bot", tool="payments",
              tasks=("refund",), scopes=("payments:refund",), needs_approval=True,
              note="refunds need a human"),
        Grant(tenant="acme", user="alice", agent="helpdesk-bot", tool="files",
              tasks=("files",), scopes=("files:read",), note="read shared files"),
        Grant(tenant="acme", user="bob", agent="helpdesk-bot", tool="payments",
              tasks=("refund",), scopes=("payments:read", "payments:refund"),
              note="finance lead: standing refund authority"),
        Grant(tenant="acme", user="alice", agent="deploy-bot", tool="deploy:staging",
              tasks=("deploy",), scopes=("deploy:read", "deploy:write"), note="staging is free"),
        Grant(tenant="acme", user="alice", agent="deploy-bot", tool="deploy:production",
              tasks=("deploy",), scopes=("deploy:read", "deploy:write"), needs_approval=True,
              max_ttl=120, note="production needs a human"),
        Grant(tenant="globex", user="gina", agent="helpdesk-bot", tool="tickets",
              tasks=("triage", "tickets"), scopes=("tickets:read", "tickets:write"),
              note="globex support triage"),
    )


def lab_world_and_vault(seed: str = "lab", *, clock: Clock | None = None,
                        log: Any | None = None,
                        grants: Iterable[Grant] | None = None,
                        require_credentials: bool = False) -> Any:
    """Start the world and build the hardened wiring around it: :func:`course.lab.assemble`.

    Kept for the notebooks already released; the composition root is
    :mod:`course.lab`. Returns a :class:`course.lab.Lab`.
    """
    from .lab import HARDENED, assemble

    return assemble(HARDENED, seed=seed, clock=clock, log=log, grants=grants,
                    require_credentials=require_credentials)


def __getattr__(name: str) -> Any:
    if name == "Lab":  # moved to the composition root; the old import path keeps working
        from .lab import Lab
        return Lab
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
