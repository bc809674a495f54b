"""The one composition root: which piece sits at each enforcement point, and the lab built from it.

A :class:`Wiring` names the piece in every enforcement-point slot of the
trust path; :func:`assemble` builds a running :class:`Lab` from it (world,
secret store, keys, vault, broker, access log, all on one clock). The
hardened wiring (:data:`HARDENED`), the naive one (:data:`NAIVE`) and a
learner's (``HARDENED.replace(verifier_for=theirs)``) are values of the same
type, and the notebooks, the red team, the walkthrough, the bench and the
service all assemble through here, so the red team certifies exactly what
the others run.

====================  ==========================  ===========================================
node                  slot                        hardened piece
====================  ==========================  ===========================================
Agent request         ``session_check``           :func:`course.vault.check_session`
Vault policy          ``policy``, ``load_policy`` :class:`course.policy.GrantPolicy`
(approvals)           ``approvals``               :class:`course.approvals.ApprovalBook`
Short-lived token     ``max_token_ttl``,          the key ring's 1 h ceiling;
                      ``verifier_for``            :meth:`course.vault.Vault.verifier`
Tool call             ``broker``                  :class:`course.broker.Broker`
Access log            ``log_redactor``            :class:`course.redact.StoreRedactor`
====================  ==========================  ===========================================
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from . import unsafe
from .approvals import ApprovalBook
from .audit import AccessLog
from .broker import Broker, TokenVerifier
from .clock import Clock, ManualClock
from .errors import ConfigurationError
from .ids import IdFactory
from .keys import KeyRing
from .policy import GrantPolicy, Policy
from .redact import Redactor, StoreRedactor
from .refresh import RefreshKeeper
from .secretstore import Secret, SecretStore
from .vault import SessionCheck, Vault, check_session
from .world import CREDENTIAL_NAMES, TENANTS, World

__all__ = ["HARDENED", "NAIVE", "NAIVE_GRANTS", "Lab", "Wiring", "assemble", "log_keys"]


class PolicyLoader(Protocol):
    """Reads grant configuration (a list of dicts) into a policy; refuses what it must.

    The configuration is passed positionally (loaders name it ``items``, ``grants``, ...).
    """

    def __call__(self, config: list[dict[str, Any]], /) -> Policy: ...


class VerifierFactory(Protocol):
    """The verifier a tool trusts, for tokens of ``vault`` addressed to ``audience``."""

    def __call__(self, vault: Vault, audience: str) -> TokenVerifier: ...


def _vault_verifier(vault: Vault, audience: str) -> TokenVerifier:
    return vault.verifier(audience)


def _approval_book(clock: Clock, ids: IdFactory) -> ApprovalBook:
    return ApprovalBook(clock=clock, ids=ids)


def _store_redactor(store: SecretStore) -> StoreRedactor:
    return StoreRedactor(store, TENANTS)


def _standard_policy() -> Policy:
    from .agent import standard_grants

    return GrantPolicy(standard_grants())


@dataclass(frozen=True, slots=True, kw_only=True)
class Wiring:
    """Which piece sits at each enforcement point. Assemble it with :func:`assemble`.

    Every slot is public and typed, so a naive or a learner's piece is a
    replacement of one slot (:meth:`replace`), never an override of a private
    method. ``agent`` says which agent the wiring hands a task to.
    """

    name: str
    session_check: SessionCheck
    policy: Callable[[], Policy] = field(repr=False)
    load_policy: PolicyLoader = field(repr=False)
    approvals: Callable[[Clock, IdFactory], ApprovalBook] = field(repr=False)
    max_token_ttl: int
    verifier_for: VerifierFactory = field(repr=False)
    broker: Callable[..., Broker] = field(repr=False)
    log_redactor: Callable[[SecretStore], Any] | None = field(repr=False)
    agent: Literal["brokered", "naive"] = "brokered"

    def replace(self, *, name: str, **slots: Any) -> Wiring:
        """This wiring with some slots replaced (a learner's piece), under a new name."""
        return dataclasses.replace(self, name=name, **slots)


HARDENED = Wiring(
    name="hardened", session_check=check_session, policy=_standard_policy,
    load_policy=GrantPolicy.from_config, approvals=_approval_book, max_token_ttl=3600,
    verifier_for=_vault_verifier, broker=Broker, log_redactor=_store_redactor,
)


# The naive configuration: what the same team wrote before hardening ("just let the bots work").
NAIVE_GRANTS: tuple[dict[str, Any], ...] = (
    {"tenant": "*", "user": "*", "agent": "*-bot", "tool": "*"},
)


NAIVE = Wiring(
    name="naive", session_check=unsafe.believe_the_request,
    policy=lambda: unsafe.UnsafeWildcardPolicy(list(NAIVE_GRANTS)),
    load_policy=unsafe.UnsafeWildcardPolicy, approvals=unsafe.UnsafeRubberStampApprovals,
    max_token_ttl=10**9,
    verifier_for=lambda vault, audience: unsafe.UnsafeTrustingVerifier(audience=audience),
    broker=unsafe.UnsafeBroker, log_redactor=None, agent="naive",
)
"""Every piece from :mod:`course.unsafe` (constructing them warns, importing does not)."""


def log_keys(seed: str) -> tuple[bytes, Ed25519PrivateKey]:
    """The access log's HMAC key and checkpoint signing key, derived from the lab's seed.

    One derivation for every assembly (a seed exists only in notebooks and
    tests; the service's seed is random and never leaves its process).
    """
    hmac_key = hashlib.sha256(f"vault-lab-log|{seed}".encode()).digest()
    signing = Ed25519PrivateKey.from_private_bytes(
        hashlib.sha256(f"vault-lab-log-checkpoint|{seed}".encode()).digest())
    return hmac_key, signing


@dataclass(slots=True, eq=False, repr=False)
class Lab:
    """One running assembly of a :class:`Wiring`: world, store, keys, vault, broker, log, clock.

    Close it (or use ``with``) to stop the world's servers it started.
    """

    wiring: Wiring
    world: World
    clock: Clock
    store: SecretStore
    keys: KeyRing
    log: AccessLog
    vault: Vault
    broker: Broker
    refresh: RefreshKeeper
    _owns_world: bool = True

    @property
    def name(self) -> str:
        return self.wiring.name

    @property
    def manual_clock(self) -> ManualClock:
        """The lab's clock as the :class:`~course.clock.ManualClock` that notebooks move.

        Raises:
            ConfigurationError: this lab runs on another clock (a real one).
        """
        if not isinstance(self.clock, ManualClock):
            raise ConfigurationError("this lab runs on a clock that cannot be moved by hand")
        return self.clock

    # -- building more pieces on the same keys, clock, store and log ------------
    def load_policy(self, config: list[dict[str, Any]]) -> Policy:
        """Read grant configuration the way this wiring does (the hardened one refuses wildcards)."""
        return self.wiring.load_policy(config)

    def make_vault(self, policy: Policy) -> Vault:
        """A vault with this wiring's session check and approvals, sharing keys, clock and log."""
        ids = IdFactory()  # its own counters, as every vault has
        return Vault(policy=policy, keys=self.keys, clock=self.clock, log=self.log,
                     approvals=self.wiring.approvals(self.clock, ids),
                     ids=ids, max_ttl=self.wiring.max_token_ttl,
                     session_check=self.wiring.session_check,
                     require_credentials=self.vault.require_credentials)

    def make_broker(self, vault: Vault, *, urls: Callable[[str], str] | None = None) -> Broker:
        """This wiring's broker, trusting ``vault`` through this wiring's verifier.

        ``urls`` points it at the same services elsewhere (the bench's child process).
        """
        return self.wiring.broker(
            verifier_for=lambda audience: self.wiring.verifier_for(vault, audience),
            store=self.store, urls=urls or self.world.url, clock=self.clock, log=self.log,
            refresh=self.refresh)

    # -- sessions and agents ------------------------------------------------------
    def open_session(self, *, user: str = "alice", agent: str = "helpdesk-bot",
                     tenant: str = "acme") -> Any:
        """The platform authenticates ``user`` and opens a session for ``agent`` (logged)."""
        return self.vault.open_session(tenant=tenant, user=user, agent=agent)

    def brokered_agent(self, *, user: str = "alice", agent: str = "helpdesk-bot",
                       tenant: str = "acme", planner: Any = None) -> Any:
        """A brokered agent in a fresh session of ``user``/``agent``/``tenant``."""
        from .agent import BrokeredAgent

        session = self.open_session(user=user, agent=agent, tenant=tenant)
        return BrokeredAgent(vault=self.vault, broker=self.broker, session=session,
                             planner=planner)

    def naive_agent(self, *, tenant: str = "acme", planner: Any = None, name: str | None = None
                    ) -> Any:
        """The unsafe agent that holds the master key, in the same world."""
        from .agent import UnsafeNaiveAgent

        if name is None:
            return UnsafeNaiveAgent(self.world, tenant, planner=planner)
        return UnsafeNaiveAgent(self.world, tenant, planner=planner, name=name)

    def agent_for(self, user: str, agent: str) -> Any:
        """The agent this wiring gives a task to, acting for ``user`` in tenant acme."""
        if self.wiring.agent == "naive":
            return self.naive_agent(name=agent)
        return self.brokered_agent(user=user, agent=agent)

    # -- leak checks ----------------------------------------------------------------
    def credentials(self) -> tuple[Secret, ...]:
        """Every real credential in this world (for leak checks; never printed)."""
        out = [self.world.credential(tenant, name) for tenant in TENANTS
               for name in CREDENTIAL_NAMES if name != "oauth:client_id"]
        out += [self.store.get(tenant, "oauth:refresh") for tenant in TENANTS]  # rotated ones too
        return tuple(out)

    def leaks_in(self, text: str) -> tuple[str, ...]:
        """Names and forms of credentials found in ``text`` (never the values)."""
        found = Redactor(self.credentials(), shapes=()).find(text)
        return tuple(sorted({f"{f.name} ({f.form})" for f in found}))

    def close(self) -> None:
        if self._owns_world:
            self.world.close()

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Lab(wiring={self.wiring.name!r}, world={self.world!r}, vault={self.vault!r})"


def assemble(wiring: Wiring = HARDENED, *, seed: str = "lab", clock: Clock | None = None,
             world: World | None = None, log: AccessLog | None = None,
             grants: Iterable[Any] | None = None, require_credentials: bool = False) -> Lab:
    """Start the world (unless given one) and build ``wiring`` around it, on one clock.

    A given ``world`` brings its clock: the vault, the broker and the world must
    agree on time (expiry, revocation, OAuth tokens).

    The store holds the world's credentials (from ``seed``); the vault signs
    with keys from ``seed``; ``log`` defaults to an in-memory access log with
    :func:`log_keys`; ``grants`` (Grant objects) replace the wiring's default
    policy with a :class:`~course.policy.GrantPolicy`.
    """
    if world is not None and clock is not None and clock is not world.clock:
        raise ConfigurationError("the world and the vault must share one clock: pass one of them")
    clock = clock if clock is not None else (world.clock if world is not None else ManualClock())
    owns = world is None
    world = world if world is not None else World.start(seed=seed, clock=clock)
    try:
        store = SecretStore.from_seed(seed)
        world.provision(store)
        keys = KeyRing(clock=clock, seed=seed, max_token_ttl=wiring.max_token_ttl)
        if log is None:
            hmac_key, signing = log_keys(seed)
            redactor = wiring.log_redactor(store) if wiring.log_redactor is not None else None
            log = AccessLog(clock=clock, hmac_key=hmac_key, redactor=redactor,
                            checkpoint_key=signing)
        ids = IdFactory()
        policy = GrantPolicy(grants) if grants is not None else wiring.policy()
        vault = Vault(policy=policy, keys=keys, clock=clock, log=log, ids=ids,
                      approvals=wiring.approvals(clock, ids), max_ttl=wiring.max_token_ttl,
                      session_check=wiring.session_check, require_credentials=require_credentials)
        refresh = RefreshKeeper(store=store, token_url=world.url("oauth") + "/oauth/token",
                                clock=clock, log=log)
        # broker=None only until lab.broker is set just below: make_broker needs the Lab itself.
        lab = Lab(wiring=wiring, world=world, clock=clock, store=store, keys=keys, log=log,
                  vault=vault, broker=None, refresh=refresh, _owns_world=owns)  # type: ignore[arg-type]
        lab.broker = lab.make_broker(vault)
    except BaseException:
        if owns:
            world.close()
        raise
    return lab
