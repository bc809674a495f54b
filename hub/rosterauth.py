"""Roster accounts with first-login passwords and the instructor's approval.

Only a roster name can log in. A name's first login sets its password; the hub stores only an
scrypt hash (random salt) in a 0600 file in its private state folder, never the password, and
never logs one. A learner whose password is set waits for the instructor's approval
(`/hub/roster`, admins only) before the first server starts, so someone who claims another's
name first is caught by the instructor at the door; the instructor can also reset a forgotten
or mistyped password there (the next login sets a new one). The instructor's own account is
approved at its first login: claim it before opening the hub to the room (it binds 127.0.0.1
until you say otherwise, see hub/README.md).
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import html
import json
import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jupyterhub.auth import Authenticator
from jupyterhub.handlers import BaseHandler
from tornado import web
from traitlets import Bool, Integer, Unicode

SCRYPT_N, SCRYPT_R, SCRYPT_P, SCRYPT_LEN = 2**14, 8, 1, 32
PENDING_MESSAGE = ("Your password is set. The instructor has not approved this account yet; "
                   "log in again once they have.")


def hash_password(password: str) -> str:
    """`scrypt$N$r$p$salt$hash` for `password` (base64 parts, fresh 16-byte salt)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P,
                            dklen=SCRYPT_LEN)
    b64 = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    """True only if `password` hashes to `stored`; a malformed record verifies nothing."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest, validate=True)
        got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt, validate=True),
                             n=int(n), r=int(r), p=int(p), dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


@dataclass(frozen=True, slots=True, kw_only=True)
class Account:
    """One stored account: its password hash and whether an admin approved it."""

    hash: str
    approved: bool

    def __repr__(self) -> str:  # the hash stays out of logs and tracebacks
        return f"Account(approved={self.approved})"


class PasswordFile:
    """The hashes, in a JSON file only its owner can read or write (0600, written atomically)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def load(self) -> dict[str, Account]:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        return {name: Account(hash=rec["hash"], approved=bool(rec["approved"])) for name, rec in raw.items()}

    def save(self, accounts: dict[str, Account]) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({n: {"hash": a.hash, "approved": a.approved} for n, a in accounts.items()}, fh)
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)

    def update(self, name: str, account: Account | None) -> None:
        with self._lock:
            accounts = self.load()
            if account is None:
                accounts.pop(name, None)
            else:
                accounts[name] = account
            self.save(accounts)

    def claim(self, name: str, account: Account) -> Account:
        """Store `account` for `name` unless one is already stored; returns the stored one
        (two first logins at once: the first wins, the second must match its password)."""
        with self._lock:
            accounts = self.load()
            if name in accounts:
                return accounts[name]
            accounts[name] = account
            self.save(accounts)
            return account


class RosterAuthenticator(Authenticator):
    """Roster names only; first login sets the password; learners wait for approval.

    Refuses: a name not on the roster, a wrong password, a first password shorter than
    `min_password_length`, and (with `require_approval`) an unapproved learner.
    """

    password_file = Unicode("", help="0600 JSON file of scrypt hashes (in the hub's state folder)"
                            ).tag(config=True)
    require_approval = Bool(True, help="learners wait for an admin's approval after setting a password"
                            ).tag(config=True)
    min_password_length = Integer(8, help="shortest first password accepted").tag(config=True)

    _store: PasswordFile | None = None

    @property
    def store(self) -> PasswordFile:
        """One store (one lock) per authenticator."""
        if self._store is None or self._store.path != Path(self.password_file):
            self._store = PasswordFile(Path(self.password_file))
        return self._store

    async def authenticate(self, handler: Any, data: dict[str, str]) -> dict[str, Any] | None:
        name = self.normalize_username(data.get("username", ""))
        password = data.get("password", "")
        if name not in self.allowed_users and name not in self.admin_users:
            return None
        account = self.store.load().get(name)
        if account is None:
            if len(password) < self.min_password_length:
                raise web.HTTPError(403, f"First login: choose a password of at least "
                                         f"{self.min_password_length} characters.")
            # scrypt takes a tenth of a second: off the hub's event loop.
            fresh = Account(hash=await asyncio.to_thread(hash_password, password),
                            approved=name in self.admin_users or not self.require_approval)
            account = self.store.claim(name, fresh)
            if account is fresh:
                self.log.info("first login of %s: password set%s", name,
                              "" if account.approved else ", waiting for approval")
        if not await asyncio.to_thread(verify_password, password, account.hash):
            return None
        if not account.approved:
            raise web.HTTPError(403, PENDING_MESSAGE)
        return {"name": name, "admin": name in self.admin_users}

    def approve(self, name: str) -> bool:
        account = self.store.load().get(name)
        if account is None:
            return False
        self.store.update(name, Account(hash=account.hash, approved=True))
        self.log.info("%s approved", name)
        return True

    def reset(self, name: str) -> None:
        self.store.update(name, None)
        self.log.info("%s password reset: the next login sets a new one", name)

    def get_handlers(self, app: Any) -> list[tuple[str, type]]:
        return [*super().get_handlers(app), ("/roster", RosterHandler)]


class RosterHandler(BaseHandler):
    """`/hub/roster`: the instructor approves learners and resets passwords (admins only)."""

    def _authenticator(self) -> RosterAuthenticator:
        user = self.current_user
        if user is None:
            raise web.HTTPError(403)
        if not user.admin:
            raise web.HTTPError(403, "Only the instructor can approve accounts.")
        return self.authenticator  # type: ignore[no-any-return]

    @web.authenticated
    async def get(self) -> None:
        auth = self._authenticator()
        accounts = auth.store.load()
        rows = []
        for name in sorted(auth.allowed_users | auth.admin_users):
            account = accounts.get(name)
            state = ("no password yet" if account is None
                     else "approved" if account.approved else "waiting for approval")
            buttons = []
            if account is not None and not account.approved:
                buttons.append(self._button("approve", name))
            if account is not None and name not in auth.admin_users:
                buttons.append(self._button("reset", name))
            rows.append(f"<tr><td>{html.escape(name)}</td><td class='state'>{state}</td>"
                        f"<td>{''.join(buttons)}</td></tr>")
        self.finish(f"""<!doctype html><html><head><title>Roster</title>
<style>body{{font-family:sans-serif;margin:2rem}}td{{padding:.3rem .8rem}}</style></head><body>
<h1>Vault Lab roster</h1><p>Approve a learner once they have set their password in the room.
Reset lets them choose a new one at their next login.</p>
<table id="roster">{''.join(rows)}</table><p><a href="{self.hub.base_url}home">Home</a></p></body></html>""")

    def _button(self, action: str, name: str) -> str:
        return (f"<form method='post' style='display:inline'>{self.xsrf_form_html()}"
                f"<input type='hidden' name='name' value='{html.escape(name, quote=True)}'>"
                f"<button name='action' value='{action}' data-user='{html.escape(name, quote=True)}'>"
                f"{action}</button></form>")

    @web.authenticated
    async def post(self) -> None:
        auth = self._authenticator()
        name = self.get_body_argument("name", "")
        action = self.get_body_argument("action", "")
        if name not in auth.allowed_users or name in auth.admin_users:
            raise web.HTTPError(400, "not a learner on the roster")
        if action == "approve":
            auth.approve(name)
        elif action == "reset":
            auth.reset(name)
        else:
            raise web.HTTPError(400, "unknown action")
        self.redirect(self.request.path)
