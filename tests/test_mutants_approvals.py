"""Approvals: redeeming one, exactly once, for exactly its request (issue 14).

Mutation testing found ``ApprovalBook.redeem`` pinned by no test of its own module: a forged
approval carrying a known id, a replay, the expiry second and every refusal's reason code
could all change unnoticed. Each refusal is asserted by its code, the key a log and a grader
read.
"""

from __future__ import annotations

import dataclasses

import pytest

from course import errors
from course.approvals import Approval, ApprovalBook
from course.clock import ManualClock
from course.ids import IdFactory
from course.policy import AgentRequest
from tests.test_approvals import deploy_request  # the suite's own helper


@pytest.fixture
def book(clock: ManualClock) -> ApprovalBook:
    return ApprovalBook(clock=clock, ids=IdFactory(), ttl=900)


def _refused(book: ApprovalBook, request: AgentRequest, approval: Approval) -> str:
    with pytest.raises(errors.AccessDenied) as err:
        book.redeem(request, approval)
    return err.value.code


def test_a_fresh_approval_redeems_once_for_its_request(book: ApprovalBook) -> None:
    request = deploy_request()
    approval = book.approve(request, approver="carol")
    assert book.redeem(request, approval) == approval
    assert _refused(book, request, approval) == "approval_replayed"
    assert _refused(book, request, approval) == "approval_replayed"


def test_an_approval_the_book_never_issued_is_unknown(book: ApprovalBook, clock: ManualClock) -> None:
    made_up = Approval(id="appr-9999", request_digest=deploy_request().digest(), approver="carol",
                       approved_at=clock.now(), expires_at=clock.now() + 900)
    assert _refused(book, deploy_request(), made_up) == "approval_unknown"


@pytest.mark.parametrize("change", [
    {"request_digest": "0" * 64}, {"expires_at": 10**10}, {"approver": "mallory"}, {"approved_at": 0},
], ids=["digest", "expiry", "approver", "approved-at"])
def test_a_forged_approval_with_a_known_id_is_unknown(book: ApprovalBook, change: dict[str, object]) -> None:
    request = deploy_request()
    genuine = book.approve(request, approver="carol")
    forged = dataclasses.replace(genuine, **change)  # type: ignore[arg-type]
    assert _refused(book, request, forged) == "approval_unknown"
    assert book.redeem(request, genuine) == genuine  # the forgery spent nothing


def test_an_approval_expires_at_its_expiry_second(book: ApprovalBook, clock: ManualClock) -> None:
    request = deploy_request()
    approval = book.approve(request, approver="carol")
    assert approval.expires_at == clock.now() + 900
    clock.advance(899)
    assert book.redeem(request, approval) == approval
    late = book.approve(request, approver="carol")
    clock.advance(900)
    assert _refused(book, request, late) == "approval_expired"


def test_an_approval_for_another_request_is_a_mismatch_and_stays_usable(book: ApprovalBook) -> None:
    approved = deploy_request()
    approval = book.approve(approved, approver="carol")
    other = deploy_request(intent=(("version", "6.6.6"),))
    assert _refused(book, other, approval) == "approval_mismatch"
    assert book.redeem(approved, approval) == approval


def test_refusals_say_why_in_words_too(book: ApprovalBook) -> None:
    request = deploy_request()
    approval = book.approve(request, approver="carol")
    with pytest.raises(errors.AccessDenied) as err:
        book.redeem(deploy_request(ttl=60), approval)
    assert err.value.reason and isinstance(err.value.reason, str)


def test_each_refusal_carries_the_reason_the_vaults_decision_line_shows(book: ApprovalBook,
                                                                         clock: ManualClock) -> None:
    """The vault logs a refused redemption with ``detail=reason``: on-call reads these words."""
    request = deploy_request()
    reasons = {}
    made_up = Approval(id="appr-9999", request_digest=request.digest(), approver="carol",
                       approved_at=clock.now(), expires_at=clock.now() + 900)
    spent = book.approve(request, approver="carol")
    book.redeem(request, spent)
    mismatched = book.approve(request, approver="carol")
    late = book.approve(request, approver="carol")
    for name, req, approval in [("unknown", request, made_up), ("replayed", request, spent),
                                ("mismatch", deploy_request(intent=(("version", "6.6.6"),)), mismatched)]:
        with pytest.raises(errors.AccessDenied) as err:
            book.redeem(req, approval)
        reasons[name] = (err.value.code, err.value.reason)
    clock.advance(900)
    with pytest.raises(errors.AccessDenied) as err:
        book.redeem(request, late)
    reasons["expired"] = (err.value.code, err.value.reason)
    assert reasons == {
        "unknown": ("approval_unknown", "this approval was not issued by the vault"),
        "replayed": ("approval_replayed", "this approval has already been used"),
        "mismatch": ("approval_mismatch", "the request differs from the one that was approved"),
        "expired": ("approval_expired", "this approval has expired"),
    }
