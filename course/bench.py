"""Speed, measured as ratios against the plain alternative in the same run.

Each figure is the median of several rounds, the kit and its baseline
measured alternately so machine noise hits both alike:

* ``token``: issue + verify through the kit (every claim required and checked)
  versus raw PyJWT ``encode`` + ``decode`` with the same Ed25519 key and an
  audience check. Target: within 1.5x.
* ``broker``: a brokered tool call (verify, authorize, fetch and inject the
  credential, redact, log) versus a direct keep-alive HTTP call to the same
  endpoint of the same real service, through the same client, with the
  services in their own process as real services are. Target: 1.3x.
  ``broker-inproc`` repeats it with the services as threads of the measuring
  process, where they compete with the broker for one GIL (a harsher,
  less realistic setting, reported so nobody has to guess).
* ``revocation``: a verify with the revocation check (1,000 revoked entries
  on each list) versus one without.
* ``log``: an access-log append (hash chain, HMAC, schema checks) versus a
  plain ``json.dumps`` line, in memory and durable (fsync) on disk.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import jwt

from . import httpclient, tokens
from .audit import AccessLog
from .clock import ManualClock
from .keys import KeyRing
from .policy import AgentRequest
from .revocation import RevocationList
from .world import World

TARGETS = {"token": 1.5, "broker": 1.3}


@dataclass(frozen=True, slots=True, kw_only=True)
class Figure:
    name: str
    kit_us: float
    baseline_us: float
    ratio: float
    target: float | None
    what: str

    @property
    def meets_target(self) -> bool | None:
        return None if self.target is None else self.ratio <= self.target


def _per_call_us(fn: Callable[[], object], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n * 1e6


def compare(name: str, kit: Callable[[], object], baseline: Callable[[], object], *, n: int,
            rounds: int = 7, what: str = "") -> Figure:
    """Median per-call time of ``kit`` and ``baseline``, measured alternately."""
    kit(), baseline()  # warm up caches, connections, imports
    ks, bs = [], []
    for _ in range(rounds):
        ks.append(_per_call_us(kit, n))
        bs.append(_per_call_us(baseline, n))
    k, b = statistics.median(ks), statistics.median(bs)
    return Figure(name=name, kit_us=round(k, 1), baseline_us=round(b, 1), ratio=round(k / b, 2),
                  target=TARGETS.get(name), what=what)


def _claims(clock: ManualClock, jti: str = "tok-0001") -> tokens.TokenClaims:
    now = clock.now()
    return tokens.TokenClaims(iss="https://vault.lab.local", sub="helpdesk-bot", aud="tickets",
                              user="alice", tenant="acme", task="triage", session="sess-0001",
                              scopes=("tickets:read",), iat=now, nbf=now, exp=now + 300, jti=jti)


def bench_token(n: int = 300) -> Figure:
    clock = ManualClock()
    keys = KeyRing(clock=clock, seed="bench")
    claims = _claims(clock)
    verifier = tokens.Verifier(keys=keys, issuer=claims.iss, audience="tickets", clock=clock)
    payload, key = claims.to_payload(), keys.active

    def kit() -> object:
        return verifier.verify(tokens.issue(claims, key))

    def raw() -> object:
        token = jwt.encode(payload, key.private, algorithm="EdDSA", headers={"kid": key.kid})
        return jwt.decode(token, key.public, algorithms=["EdDSA"], audience="tickets",
                          options={"verify_exp": False, "verify_iat": False, "verify_nbf": False})

    return compare("token", kit, raw, n=n, what="issue+verify vs raw PyJWT encode+decode")


def bench_revocation(n: int = 2000) -> Figure:
    clock = ManualClock()
    keys = KeyRing(clock=clock, seed="bench")
    claims = _claims(clock)
    token = tokens.issue(claims, keys.active)
    revoked = RevocationList()
    for i in range(1000):
        revoked.revoke_jti(f"tok-x{i}")
        revoked.revoke_session(f"sess-x{i}")
        revoked.revoke_agent(f"agent-{i}")
    common: dict[str, Any] = dict(keys=keys, issuer=claims.iss, audience="tickets", clock=clock,
                                  cache_size=16)
    with_check = tokens.Verifier(revocation=revoked, **common)
    without = tokens.Verifier(**common)
    return compare("revocation", lambda: with_check.verify(token), lambda: without.verify(token),
                   n=n, what="cached verify with vs without the revocation check (1,000 entries/list)")


_WORLD_CHILD = (
    "import json, sys\n"
    "from course.world import World\n"
    "world = World.start(seed=sys.argv[1])\n"
    "print(json.dumps({s: world.url(s) for s in world.services}), flush=True)\n"
    "sys.stdin.read()\n"
    "world.close()\n"
)


@contextlib.contextmanager
def world_process(seed: str) -> Iterator[dict[str, str]]:
    """The world's services in a child process (as real services are: never in the broker's)."""
    child = subprocess.Popen([sys.executable, "-c", _WORLD_CHILD, seed], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    assert child.stdin is not None and child.stdout is not None  # both are PIPEs
    try:
        yield json.loads(child.stdout.readline())
    finally:
        child.stdin.close()
        child.wait(timeout=10)


def _broker_pair(urls: Callable[[str], str],
                 world: World) -> tuple[Callable[[], object], Callable[[], object]]:
    """A brokered and a direct GET /tickets against the services at ``urls``."""
    from .redteam import hardened_wiring

    wiring = hardened_wiring("bench", world=world)
    broker = wiring.make_broker(wiring.vault, urls=urls)  # the services the direct call reaches
    session = wiring.vault.open_session(tenant="acme", user="alice", agent="helpdesk-bot").id
    token = wiring.vault.request(AgentRequest(
        tenant="acme", user="alice", agent="helpdesk-bot", session=session, task="triage",
        tool="tickets", scopes=("tickets:read",), ttl=300)).token
    url = urls("tickets") + "/tickets"
    header = {"Authorization": "Bearer " + world.credential("acme", "tickets").reveal()}
    return (lambda: broker.call(token, tool="tickets", method="GET", path="/tickets"),
            lambda: httpclient.request("GET", url, headers=header))


def bench_broker(n: int = 200) -> Figure:
    """Services in their own process; the broker's full path (verify .. log) in this one."""
    with World.start(seed="bench") as local, world_process("bench") as remote:
        brokered, direct = _broker_pair(remote.__getitem__, local)
        return compare("broker", brokered, direct, n=n,
                       what="brokered vs direct keep-alive GET /tickets, services in a child process")


def bench_broker_in_process(n: int = 200) -> Figure:
    """The same, with the services as threads of this process (they then share its GIL)."""
    with World.start(seed="bench") as world:
        brokered, direct = _broker_pair(world.url, world)
        return compare("broker-inproc", brokered, direct, n=n,
                       what="the same, services as threads of this process (shared GIL)")

def bench_log(n: int = 500) -> tuple[Figure, Figure]:
    clock = ManualClock()
    memory = AccessLog(clock=clock, hmac_key=b"bench-key-bench-key-bench-key-32")
    fields: dict[str, Any] = dict(tenant="acme", user="alice", agent="helpdesk-bot", session="sess-0001",
                  task="triage", tool="tickets", scopes=("tickets:read",), jti="tok-0001",
                  expires=clock.now() + 300, decision="allow", reason="tool_call",
                  detail="status 200", facts={"method": "GET", "path": "/tickets"})
    plain: list[str] = []
    first = compare("log", lambda: memory.append("tool_call", **fields),
                    lambda: plain.append(json.dumps({"event": "tool_call", **fields}, default=list)),
                    n=n, rounds=5, what="access-log append vs json.dumps line, in memory")
    with tempfile.TemporaryDirectory() as tmp:
        durable = AccessLog(Path(tmp) / "a.jsonl", clock=clock, hmac_key=b"b" * 32)
        fd = os.open(Path(tmp) / "plain.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

        def plain_durable() -> None:
            os.write(fd, (json.dumps({"event": "tool_call", **fields}, default=list) + "\n").encode())
            os.fsync(fd)

        second = compare("log-durable", lambda: durable.append("tool_call", **fields), plain_durable,
                         n=max(50, n // 5), rounds=5,
                         what="durable append (fsync) vs json line + fsync, on disk")
        os.close(fd)
        durable.close()
    return first, second


def run_all(*, quick: bool = False) -> tuple[Figure, ...]:
    scale = 4 if quick else 1
    log_mem, log_disk = bench_log(500 // scale)
    return (bench_token(300 // scale), bench_broker(200 // scale),
            bench_broker_in_process(200 // scale), bench_revocation(2000 // scale), log_mem, log_disk)


def render(figures: tuple[Figure, ...]) -> str:
    lines = [f"{'bench':<12} {'kit us':>9} {'plain us':>9} {'ratio':>6} {'target':>7}  what"]
    for f in figures:
        target = "" if f.target is None else f"<={f.target}" + (" ok" if f.meets_target else " MISS")
        lines.append(f"{f.name:<12} {f.kit_us:>9.1f} {f.baseline_us:>9.1f} {f.ratio:>6.2f} "
                     f"{target:>7}  {f.what}")
    return "\n".join(lines)


def as_json(figures: tuple[Figure, ...]) -> str:
    return json.dumps([{**asdict(f), "meets_target": f.meets_target} for f in figures], indent=2)
