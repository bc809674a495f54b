"""Approvals: one human yes, to one exact request, from someone who is not the requester.

Every way of spelling the requester's own name (case, width, invisible characters,
surrounding space) must still count as self-approval; names that are not names
(empty once normalised, control characters) are refused; and a token minted from
an approval is good for one call.
"""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from course import errors
from course.approvals import ApprovalBook, identity
from course.audit import AccessLog
from course.clock import ManualClock
from course.ids import IdFactory
from course.policy import AgentRequest, Grant, GrantPolicy
from course.vault import Vault

AGENT, USER = "deploy-bot", "alice"


def deploy_request(**over: object) -> AgentRequest:
    base: dict[str, object] = dict(tenant="acme", user=USER, agent=AGENT, session="sess-0001",
                                   task="release", tool="deploy:production", scopes=("deploy:write",),
                                   ttl=120, intent=(("version", "1.4.2"),))
    base.update(over)
    return AgentRequest(**base)  # type: ignore[arg-type]


@pytest.fixture
def book(clock: ManualClock) -> ApprovalBook:
    return ApprovalBook(clock=clock, ids=IdFactory())


# ---------------------------------------------------------------- self-approval, every spelling

AGENT_SPELLINGS = [
    "deploy-bot",
    "DEPLOY-BOT",
    "Deploy-Bot",
    " deploy-bot ",
    "deploy-bot\u00a0",  # no-break space
    "\u3000deploy-bot",  # ideographic space
    "deploy-bot\u200b",  # zero-width space
    "\u200bdeploy-bot",
    "deploy\u200d-bot",  # zero-width joiner
    "deploy\u200c-bot",  # zero-width non-joiner
    "\u2060deploy-bot",  # word joiner
    "deploy-bot\ufeff",  # byte order mark
    "de\u00adploy-bot",  # soft hyphen
    "\u202edeploy-bot\u202c",  # right-to-left override ... pop
    "\u200edeploy-bot",  # left-to-right mark
    "deploy-bot\U000e0020",  # tag space
    "deploy-bot\u034f",  # combining grapheme joiner (default ignorable, not Cf)
    "deploy-bot\ufe0f",  # variation selector (default ignorable, not Cf)
    "deploy-bot\u3164",  # Hangul filler (default ignorable, not Cf)
    "\uff44\uff45\uff50\uff4c\uff4f\uff59-\uff42\uff4f\uff54",  # fullwidth letters
    "\uff24\uff25\uff30\uff2c\uff2f\uff39\uff0d\uff22\uff2f\uff34",  # fullwidth capitals and hyphen
    "D\u200bE\u200bP\u200bL\u200bO\u200bY-BOT",
]
USER_SPELLINGS = ["ALICE", "Alice", "alice\u200b", "\ufeffalice", " alice", "\uff41\uff4c\uff49\uff43\uff45",
                  "a\u00adlice", "alic\u0065\u034f"]


@pytest.mark.parametrize("spelling", AGENT_SPELLINGS, ids=ascii)
def test_agent_cannot_approve_its_own_request_in_any_spelling(book: ApprovalBook, spelling: str) -> None:
    with pytest.raises(errors.AccessDenied) as err:
        book.approve(deploy_request(), approver=spelling)
    assert err.value.code == "self_approval"


@pytest.mark.parametrize("spelling", USER_SPELLINGS, ids=ascii)
def test_user_cannot_approve_the_request_made_for_them_in_any_spelling(book: ApprovalBook,
                                                                       spelling: str) -> None:
    with pytest.raises(errors.AccessDenied) as err:
        book.approve(deploy_request(), approver=spelling)
    assert err.value.code == "self_approval"


def test_requester_name_is_normalised_too(book: ApprovalBook) -> None:
    # The request's own names may carry the disguise; the plain approver name still collides.
    for over in ({"agent": "Deploy-Bot\u200b"}, {"user": "ALICE"}, {"user": "ali\u0000ce"}):
        with pytest.raises(errors.AccessDenied) as err:
            book.approve(deploy_request(**over), approver="deploy-bot" if "agent" in over else "alice")
        assert err.value.code == "self_approval"


@pytest.mark.parametrize("name", [
    "", "   ", "\u200b", "\u200b\u200d\ufeff", "\u00ad", "\u3164", "\t",
    "carol\x00", "carol\n", "car\x7fol", "carol\x1b[2J", "\x85carol", "\ud800carol",
], ids=ascii)
def test_approver_name_empty_after_normalisation_or_with_control_characters_is_refused(
        book: ApprovalBook, name: str) -> None:
    with pytest.raises(errors.InvalidRequestError) as err:
        book.approve(deploy_request(), approver=name)
    assert err.value.code == "invalid_request"
    assert not book._open  # nothing was recorded


@pytest.mark.parametrize("name", [None, 7, b"carol", ["carol"]], ids=repr)
def test_approver_that_is_not_a_string_is_refused(book: ApprovalBook, name: object) -> None:
    with pytest.raises(errors.InvalidRequestError):
        book.approve(deploy_request(), approver=name)  # type: ignore[arg-type]


def test_someone_else_may_approve_and_is_recorded_by_identity(book: ApprovalBook) -> None:
    approval = book.approve(deploy_request(), approver=" Carol\u200b")
    assert approval.approver == "carol"
    assert book.redeem(deploy_request(), approval) == approval


def test_look_alike_letters_are_not_folded() -> None:
    # Documented limit: a Cyrillic "е" is another name; confusable detection is not normalisation.
    assert identity("d\u0435ploy-bot") != identity("deploy-bot")


# ---------------------------------------------------------------- the normalisation rule itself


@pytest.mark.parametrize("spelling", AGENT_SPELLINGS, ids=ascii)
def test_every_spelling_denotes_the_same_identity(spelling: str) -> None:
    assert identity(spelling) == "deploy-bot"


@pytest.mark.parametrize(("name", "expected"), [
    ("Stra\u00dfe", "strasse"),  # casefold, not lower
    ("\ufb01le", "file"),  # compatibility ligature
    ("e\u200b\u0301", "\u00e9"),  # an invisible between letter and accent does not block composition
    ("\u2126", "\u03c9"),  # ohm sign -> omega
])
def test_identity_applies_nfkc_and_casefold(name: str, expected: str) -> None:
    assert identity(name) == expected


_NAMES = st.text(st.characters(exclude_categories=("Cc", "Cs")), max_size=12)


@settings(max_examples=300, deadline=None)
@given(_NAMES)
def test_identity_is_idempotent_and_leaves_nothing_invisible(name: str) -> None:
    try:
        folded = identity(name)
    except errors.InvalidRequestError:
        return
    assert identity(folded) == folded
    assert folded == folded.strip()
    assert not any(unicodedata.category(ch) in ("Cf", "Cc", "Cs") for ch in folded)


@settings(max_examples=300, deadline=None)
@given(_NAMES, st.integers(0, 12), st.sampled_from(["\u200b", "\u200d", "\ufeff", "\u00ad", "\u2060"]))
def test_an_inserted_invisible_character_never_changes_the_identity(name: str, at: int,
                                                                     invisible: str) -> None:
    disguised = name[:at] + invisible + name[at:]
    try:
        expected = identity(name)
    except errors.InvalidRequestError:
        with pytest.raises(errors.InvalidRequestError):
            identity(disguised)
        return
    assert identity(disguised) == expected


# ---------------------------------------------------------------- tokens minted from an approval


GRANTS = [Grant(tenant="acme", user=USER, agent=AGENT, tool="deploy:production", tasks=("release",),
                scopes=("deploy:write",), max_ttl=120, needs_approval=True)]


def test_token_minted_from_an_approval_is_single_use(clock: ManualClock) -> None:
    log = AccessLog(clock=clock, hmac_key=b"k" * 32)
    vault = Vault.lab(policy=GrantPolicy(GRANTS), clock=clock, log=log, seed="test")
    session = vault.open_session(tenant="acme", user=USER, agent=AGENT)
    approval = vault.approve(deploy_request(session=session.id), approver="carol")
    issued = vault.request(deploy_request(session=session.id), approval=approval)  # single_use not asked
    assert issued.claims.single_use is True
    verified = vault.verifier("deploy:production").verify(issued.token).claims
    assert verified.single_use is True  # signed into the token, not only on the vault's copy
