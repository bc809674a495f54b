"""The workshop room (`make hub`) end to end, in a real JupyterHub with real Unix accounts.

A temporary roster (two learners and an instructor, unique test names, deleted afterwards with
their homes) is set up by hub/room.py; the hub runs on free ports. The learners log in in
Chromium (first login sets the password, the instructor approves them at /hub/roster), fetch
and submit through nbgrader's Assignment List API of their own servers; the instructor
releases, collects, grades with `python -m autograde` and releases feedback as their own Unix
account; each learner fetches and sees only their own feedback. The negative tests prove that
learner A reaches neither learner B's work, nor the source notebooks, nor the gradebook:
through the hub in the browser, and as A's Unix account (what a kernel or terminal runs as).
"""
from __future__ import annotations

import importlib.util
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
PROXY = REPO / "node_modules" / ".bin" / "configurable-http-proxy"
CHROMIUM = Path("/usr/bin/chromium")
ASSIGNMENT, NOTEBOOK, EXERCISE = "00-checkout-desk", "checkout-desk", "first-refusal"
COURSE = "vault-lab"
SOURCE_NB = REPO / "notebooks" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"


def _why_skip() -> str | None:
    if sys.platform != "linux" or os.geteuid() != 0:
        return "the hub test runs as root (it creates Unix accounts for the learners)"
    for tool in ("useradd", "userdel", "runuser"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (Debian: passwd / util-linux)"
    if not CHROMIUM.exists():
        return "no /usr/bin/chromium (make sysdeps installs Debian's chromium)"
    if not PROXY.exists():
        return "no node_modules/.bin/configurable-http-proxy (make nodedeps runs npm ci; needs npm)"
    if importlib.util.find_spec("playwright") is None:
        return "playwright is not installed in the venv"
    return None


def _load(name: str) -> Any:
    """hub/<name>.py (the hub's folder is not a package: JupyterHub loads it by path)."""
    spec = importlib.util.spec_from_file_location(f"vaultlab_hub_{name}", REPO / "hub" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


room = _load("room")
rosterauth = _load("rosterauth")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True, slots=True, kw_only=True)
class Hub:
    url: str
    room: Any
    base: Path
    instructor: str
    a: str
    b: str
    passwords: dict[str, str]
    started: float

    @property
    def venv_bin(self) -> Path:
        return Path(self.room.venv) / "bin"

    def as_user(self, user: str, *argv: str, cwd: str | None = None,
                timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """`argv` run as `user` (what their terminal or kernel would run), with the hub's env."""
        home = f"/home/{user}"
        env = ["env", "-i", f"HOME={home}", f"USER={user}", "LANG=C.UTF-8",
               f"PATH={self.venv_bin}:/usr/bin:/bin", f"JUPYTER_CONFIG_PATH={self.room.config_dir}"]
        return subprocess.run(["runuser", "-u", user, "--", *env, *argv], cwd=cwd or home,
                              capture_output=True, text=True, timeout=timeout, check=False)

    def instructor_run(self, *argv: str) -> str:
        done = self.as_user(self.instructor, *argv, cwd=self.room.course_root, timeout=150)
        assert done.returncode == 0, f"{argv}: {done.stdout[-1500:]}\n{done.stderr[-3000:]}"
        return done.stdout


@pytest.fixture
def hub() -> Iterator[Hub]:
    reason = _why_skip()
    if reason is not None:
        pytest.skip(reason)
    started = time.monotonic()
    room_mod = _load("room")
    base = Path(tempfile.mkdtemp(prefix="vaultlab-hub-test-", dir="/tmp"))
    base.chmod(0o755)  # learners reach the room's config and venv below it
    prefix = "vlt" + secrets.token_hex(3)
    names = {"instructor": f"{prefix}-t", "a": f"{prefix}-a", "b": f"{prefix}-b"}
    roster = base / "roster.csv"
    roster.write_text(f"username,role\n{names['instructor']},instructor\n{names['a']},learner\n"
                      f"{names['b']},learner\n")
    proc = None
    try:
        room = room_mod.setup(roster_path=roster, state_dir=base / "state", shared=base / "shared")
        ports = [_free_port() for _ in range(3)]
        url = f"http://127.0.0.1:{ports[0]}"
        env = {**os.environ, "VAULTLAB_HUB_STATE": str(base / "state"), "VAULTLAB_HUB_URL": url,
               "VAULTLAB_HUB_PORT": str(ports[1]), "VAULTLAB_PROXY_API": f"http://127.0.0.1:{ports[2]}",
               "VAULTLAB_HUB_LOG": "INFO"}
        with (base / "hub.log").open("w") as log:
            proc = subprocess.Popen([str(REPO / ".venv" / "bin" / "jupyterhub"), "-f",
                                     str(REPO / "hub" / "jupyterhub_config.py")],
                                    cwd=base, env=env, stdout=log, stderr=subprocess.STDOUT)
        the_hub = Hub(url=url, room=room, base=base, instructor=names["instructor"], a=names["a"],
                      b=names["b"], passwords={n: secrets.token_urlsafe(12) for n in names.values()},
                      started=started)
        # The instructor releases while the hub starts (autograde release publishes to the exchange).
        the_hub.instructor_run("python", "-m", "autograde", "--root", ".", "release", ASSIGNMENT)
        assert (Path(room.exchange_root) / COURSE / "outbound" / ASSIGNMENT / f"{NOTEBOOK}.ipynb").is_file()
        _step(the_hub, "room set up, assignment released")
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/hub/login", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            assert proc.poll() is None, (base / "hub.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the hub did not answer within 60 s"
            time.sleep(0.3)
        _step(the_hub, "hub answers")
        yield the_hub
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        room_mod.remove_accounts(tuple(names.values()))
        shutil.rmtree(base, ignore_errors=True)


def _step(hub: Hub, what: str) -> None:
    """Elapsed seconds per step, kept beside the hub's log (the 3-minute budget is watched)."""
    with (hub.base / "timings.txt").open("a") as fh:
        fh.write(f"{time.monotonic() - hub.started:6.1f}s {what}\n")


def _login(page: Any, hub: Hub, user: str) -> None:
    page.goto(f"{hub.url}/hub/login")
    page.fill("#username_input", user)
    page.fill("#password_input", hub.passwords[user])
    page.click("#login_submit")


def _xsrf(context: Any) -> dict[str, str]:
    token = next(c["value"] for c in context.cookies() if c["name"] == "_xsrf")
    return {"X-XSRFToken": token}


def _action(page: Any, hub: Hub, user: str, action: str) -> Any:
    """nbgrader's Assignment List call in `user`'s own server (what its Fetch/Submit button does)."""
    resp = page.request.post(f"{hub.url}/user/{user}/assignments/{action}",
                             form={"course_id": COURSE, "assignment_id": ASSIGNMENT},
                             headers=_xsrf(page.context), timeout=90_000)
    assert resp.status == 200, f"{action}: {resp.status} {resp.text()[:500]}"
    return json.loads(resp.text())


def _answer(grade_id: str) -> str:
    source = json.loads(SOURCE_NB.read_text())
    cell = next(c for c in source["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == grade_id)
    lines = [line for line in "".join(cell["source"]).splitlines(keepends=True)
             if "BEGIN SOLUTION" not in line and "END SOLUTION" not in line]
    return "".join(lines)


@dataclass(frozen=True, slots=True, kw_only=True)
class Story:
    feedback: dict[str, str]
    pending_message: str
    wrong_password_page: str
    instructor_view: str
    formgrader: str
    learner_view: str
    kernel_output: str
    a_page: Any


@pytest.fixture
def story(hub: Hub) -> Iterator[Story]:
    from playwright.sync_api import sync_playwright

    shots = hub.base / "shots"
    shots.mkdir()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        pages = {}
        for user in (hub.a, hub.b, hub.instructor):
            context = browser.new_context(viewport={"width": 1280, "height": 800})
            context.set_default_timeout(60_000)
            pages[user] = context.new_page()
        # First login: the learners choose their passwords and wait for approval.
        for user in (hub.a, hub.b):
            _login(pages[user], hub, user)
        pending = pages[hub.a].content()
        # The instructor's first login is approved at once; they approve both learners.
        teacher = pages[hub.instructor]
        _login(teacher, hub, hub.instructor)
        teacher.wait_for_url("**/hub/spawn**")  # logged in; the server starts meanwhile
        _step(hub, "instructor logged in")
        teacher.goto(f"{hub.url}/hub/roster")
        for user in (hub.a, hub.b):
            teacher.click(f"button[value=approve][data-user='{user}']")
            teacher.wait_for_load_state()
        # The instructor's notebook view: the course root's source notebook in their own server.
        _step(hub, "learners approved")
        for user in (hub.a, hub.b):
            _login(pages[user], hub, user)
        teacher.goto(f"{hub.url}/user/{hub.instructor}/lab/tree/course/notebooks/{ASSIGNMENT}/{NOTEBOOK}.ipynb",
                     timeout=90_000)
        solution_cell = teacher.locator(".jp-Cell", has_text="def first_refusal").first
        solution_cell.wait_for(timeout=90_000)
        solution_cell.scroll_into_view_if_needed()
        solution_cell.screenshot(path=str(shots / "instructor-source-cell.png"))
        instructor_view = solution_cell.inner_text()
        graders = teacher.request.get(f"{hub.url}/user/{hub.instructor}/formgrader/api/assignments")
        formgrader = graders.text() if graders.status == 200 else f"HTTP {graders.status}"
        _step(hub, "instructor's source notebook shown")
        intruder = browser.new_context().new_page()
        intruder.goto(f"{hub.url}/hub/login")  # hub.b's password is already set: this one is wrong
        intruder.fill("#username_input", hub.b)
        intruder.fill("#password_input", "not-" + hub.passwords[hub.b])
        with intruder.expect_navigation():
            intruder.click("#login_submit")
        wrong = intruder.content()
        for user in (hub.a, hub.b):
            pages[user].wait_for_url(f"**/user/{user}/lab**", timeout=90_000)
            _action(pages[user], hub, user, "fetch")
        # Learner A answers the first exercise through their server's contents API; B does not.
        a = pages[hub.a]
        path = f"{COURSE}/{ASSIGNMENT}/{NOTEBOOK}.ipynb"
        api = f"{hub.url}/user/{hub.a}/api/contents/{path}"
        model = json.loads(a.request.get(api).text())
        cells = model["content"]["cells"]
        cell = next(c for c in cells if c["metadata"].get("nbgrader", {}).get("grade_id") == EXERCISE)
        cell["source"] = _answer(EXERCISE)
        put = a.request.put(api, data=json.dumps({"type": "notebook", "format": "json",
                                                  "content": model["content"]}),
                            headers={**_xsrf(a.context), "Content-Type": "application/json"})
        assert put.status == 200, put.text()[:300]
        a.goto(f"{hub.url}/user/{hub.a}/lab/tree/{path}")
        stub_cell = a.locator(".jp-Cell", has_text="def must_reach").first  # not answered yet
        stub_cell.wait_for(timeout=90_000)
        stub_cell.scroll_into_view_if_needed()
        stub_cell.screenshot(path=str(shots / "learner-a-stub-cell.png"))
        # A's kernel runs, as A, with the kit importable: one cell run in the browser.
        run_cell = a.locator(".jp-CodeCell", has_text="for key, meaning in taxonomy.SOURCES.items()").first
        run_cell.locator(".jp-InputArea-editor").click()
        a.keyboard.press("Shift+Enter")
        output = run_cell.locator(".jp-OutputArea-output")
        output.first.wait_for(timeout=90_000)
        kernel_output = output.first.inner_text()
        a.screenshot(path=str(shots / "learner-a-notebook.png"))
        learner_view = stub_cell.inner_text()
        _step(hub, "learners fetched; A answered and sees the student version")
        for user in (hub.a, hub.b):
            _action(pages[user], hub, user, "submit")
        _step(hub, "learners submitted")
        # The instructor's pipeline, as the instructor's own Unix account in the course root.
        hub.instructor_run("python", "-m", "autograde", "--root", ".", "collect", ASSIGNMENT)
        _step(hub, "collected")
        hub.instructor_run("python", "-m", "autograde", "--root", ".", "grade", "--quiet", ASSIGNMENT)
        _step(hub, "graded")
        hub.instructor_run("python", "-m", "autograde", "--root", ".", "feedback", ASSIGNMENT)
        hub.instructor_run("python", str(REPO / "hub" / "room.py"), "release-feedback", ASSIGNMENT)
        _step(hub, "feedback released")
        feedback = {}
        for user in (hub.a, hub.b):
            page = pages[user]
            _action(page, hub, user, "fetch_feedback")
            folder = f"{COURSE}/{ASSIGNMENT}/feedback"
            listing = json.loads(page.request.get(f"{hub.url}/user/{user}/api/contents/{folder}").text())
            stamp = listing["content"][0]["name"]
            page.goto(f"{hub.url}/user/{user}/files/{folder}/{stamp}/{NOTEBOOK}.html")
            page.screenshot(path=str(shots / f"feedback-{user}.png"), full_page=False)
            feedback[user] = page.inner_text("body")
        _step(hub, "learners read their feedback")
        yield Story(feedback=feedback, pending_message=pending, wrong_password_page=wrong,
                    instructor_view=instructor_view, formgrader=formgrader, learner_view=learner_view,
                    kernel_output=kernel_output,
                    a_page=a)
        browser.close()
    kept = Path(os.environ.get("VAULTLAB_HUB_SHOTS", "/tmp/vaultlab-hub-shots"))
    shutil.copytree(shots, kept, dirs_exist_ok=True)
    shutil.copy(hub.base / "timings.txt", kept / "timings.txt")


def _learner_waits_for_approval_after_choosing_a_password(story: Story) -> None:
    assert "has not approved this account yet" in story.pending_message


def _each_learner_sees_their_own_graded_feedback(story: Story, hub: Hub) -> None:
    a, b = story.feedback[hub.a], story.feedback[hub.b]
    first = "first_refusal stops each trick at the first hop holding a trusted copy of the fact"
    assert f"Student: {hub.a}" in a and hub.b not in a
    assert f"Student: {hub.b}" in b and hub.a not in b
    assert f"{first}: passed" in a and ": 4 / 11" in a
    assert f"{first}: not attempted" in b and ": 0 / 11" in b
    assert "BEGIN HIDDEN TESTS" not in a + b and "BEGIN SOLUTION" not in a + b


def _instructors_formgrader_lists_the_released_assignment(story: Story) -> None:
    assert ASSIGNMENT in story.formgrader, story.formgrader[:300]


def _instructor_sees_the_source_and_the_learner_only_the_student_version(story: Story) -> None:
    assert "BEGIN SOLUTION" in story.instructor_view
    assert "BEGIN SOLUTION" not in story.learner_view and "YOUR CODE HERE" in story.learner_view


def _learners_kernel_runs_the_kit(story: Story) -> None:
    assert "session" in story.kernel_output and "Error" not in story.kernel_output, story.kernel_output


def _refused_in_the_browser(story: Story, hub: Hub) -> None:
    urls = {
        "b_home": f"/user/{hub.b}/lab",
        "b_notebook": f"/user/{hub.b}/files/{COURSE}/{ASSIGNMENT}/{NOTEBOOK}.ipynb",
        "instructor_course": f"/user/{hub.instructor}/api/contents/course/notebooks",
        "gradebook": f"/user/{hub.instructor}/files/course/gradebook.db",
        "own_formgrader": f"/user/{hub.a}/formgrader",  # instructor tools are not in a learner's server
        # Through A's own server: the repository's source notebook is outside A's root.
        "source_nb": f"/user/{hub.a}/files/..%2F..%2F{str(SOURCE_NB.relative_to('/')).replace('/', '%2F')}",
    }
    for target, url in urls.items():
        # Another user's server sends A through the hub's OAuth, which refuses A; redirects followed.
        resp = story.a_page.request.get(hub.url + url)
        assert resp.status in (400, 403, 404), f"{target}: {resp.status} at {resp.url}"
        assert "BEGIN SOLUTION" not in resp.text() and "SQLite format" not in resp.text(), target


def _learner_account_cannot_read_others_files(story: Story, hub: Hub) -> None:
    course = Path(hub.room.course_root)
    targets = [
        Path(f"/home/{hub.b}") / COURSE / ASSIGNMENT / f"{NOTEBOOK}.ipynb",
        SOURCE_NB,
        course / "gradebook.db",
        course / "notebooks" / ASSIGNMENT / f"{NOTEBOOK}.ipynb",
        Path(hub.room.state_dir) / "passwords.json",
        REPO / ".git" / "HEAD",
    ]
    for target in targets:
        assert target.exists(), target
        done = hub.as_user(hub.a, "cat", str(target))
        assert done.returncode != 0 and "Permission denied" in done.stderr, target
    listing = hub.as_user(hub.a, "ls", str(Path(hub.room.exchange_root) / COURSE / "inbound"))
    assert listing.returncode != 0 and "Permission denied" in listing.stderr


def _password_file_holds_hashes_only_and_only_root_reads_it(story: Story, hub: Hub) -> None:
    path = Path(hub.room.state_dir) / "passwords.json"
    assert path.stat().st_mode & 0o777 == 0o600 and path.stat().st_uid == 0
    text = path.read_text() + (hub.base / "hub.log").read_text()
    for password in hub.passwords.values():
        assert password not in text
    assert all(rec["hash"].startswith("scrypt$") for rec in json.loads(path.read_text()).values())


def _wrong_password_is_refused(story: Story) -> None:
    assert "Invalid username or password" in story.wrong_password_page


def test_workshop_room_learners_work_alone_and_each_gets_their_own_feedback(story: Story, hub: Hub) -> None:
    """The whole round in one hub (one test: a second hub on another xdist worker would double
    the cost). Each check below names the behaviour it proves; the negative ones come last."""
    _learner_waits_for_approval_after_choosing_a_password(story)
    _wrong_password_is_refused(story)
    _instructors_formgrader_lists_the_released_assignment(story)
    _instructor_sees_the_source_and_the_learner_only_the_student_version(story)
    _each_learner_sees_their_own_graded_feedback(story, hub)
    _learners_kernel_runs_the_kit(story)
    # Negative: learner A reaches neither B's work, nor the source notebooks, nor the gradebook.
    _refused_in_the_browser(story, hub)
    _learner_account_cannot_read_others_files(story, hub)
    _password_file_holds_hashes_only_and_only_root_reads_it(story, hub)


# ---- without a hub: the pieces' own refusals (no root needed) ----

def test_password_hash_verifies_only_its_password_and_holds_no_copy_of_it() -> None:
    stored = rosterauth.hash_password("correct horse battery")
    assert stored.startswith("scrypt$") and "correct horse" not in stored
    assert rosterauth.verify_password("correct horse battery", stored)
    assert not rosterauth.verify_password("correct horse batterx", stored)
    assert stored != rosterauth.hash_password("correct horse battery")  # a fresh salt each time


@pytest.mark.parametrize("stored", ["", "plain", "md5$1$1$1$AA==$AA==", "scrypt$x$8$1$AA==$AA==",
                                    "scrypt$16384$8$1$!!$AA=="])
def test_malformed_password_record_verifies_nothing(stored: str) -> None:
    assert not rosterauth.verify_password("", stored)
    assert not rosterauth.verify_password("anything", stored)


def _authenticator(tmp_path: Path) -> Any:
    return rosterauth.RosterAuthenticator(password_file=str(tmp_path / "passwords.json"),
                                          allowed_users={"ada", "grace"}, admin_users={"teacher"})


def _login_as(auth: Any, name: str, password: str) -> Any:
    """The authenticator's answer, on a loop of its own (Playwright's may be running here)."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, auth.authenticate(None, {"username": name, "password": password})
                           ).result()


def test_first_login_sets_password_and_learner_waits_for_approval(tmp_path: Path) -> None:
    from tornado import web

    auth = _authenticator(tmp_path)
    with pytest.raises(web.HTTPError) as pending:
        _login_as(auth, "ada", "ada-chose-this")
    assert pending.value.status_code == 403 and "approved" in pending.value.log_message
    assert _login_as(auth, "ada", "someone-else-guess") is None  # the first password holds
    auth.approve("ada")
    assert _login_as(auth, "ada", "ada-chose-this") == {"name": "ada", "admin": False}
    path = tmp_path / "passwords.json"
    assert path.stat().st_mode & 0o777 == 0o600 and "ada-chose-this" not in path.read_text()


def test_login_refuses_names_off_the_roster_and_short_first_passwords(tmp_path: Path) -> None:
    from tornado import web

    auth = _authenticator(tmp_path)
    assert _login_as(auth, "mallory", "long-enough-password") is None
    with pytest.raises(web.HTTPError):
        _login_as(auth, "grace", "short")
    assert auth.store.load() == {}


def test_instructor_is_admin_at_first_login_and_reset_lets_a_learner_choose_again(tmp_path: Path) -> None:
    from tornado import web

    auth = _authenticator(tmp_path)
    assert _login_as(auth, "teacher", "teacher-password") == {"name": "teacher", "admin": True}
    with pytest.raises(web.HTTPError):
        _login_as(auth, "grace", "typo-password")
    auth.reset("grace")
    with pytest.raises(web.HTTPError):
        _login_as(auth, "grace", "meant-password")
    auth.approve("grace")
    assert _login_as(auth, "grace", "meant-password") == {"name": "grace", "admin": False}
    assert _login_as(auth, "grace", "typo-password") is None


@pytest.mark.parametrize("text", [
    "name,role\nteacher,instructor\n",                       # header
    "username,role\nada,learner\n",                           # no instructor
    "username,role\nt1,instructor\nt2,instructor\n",         # two instructors
    "username,role\nteacher,instructor\nRoot!,learner\n",     # not a Unix name
    "username,role\nteacher,instructor\n../x,learner\n",
    "username,role\nteacher,instructor\nada,learner\nada,learner\n",
    "username,role\nteacher,instructor\nada,admin\n",        # unknown role
    "username,role\nteacher,instructor\nada\n",
])
def test_roster_is_refused_with_a_reason(tmp_path: Path, text: str) -> None:
    path = tmp_path / "roster.csv"
    path.write_text(text)
    with pytest.raises(room.RoomError):
        room.read_roster(path)


def test_roster_example_is_valid() -> None:
    roster = room.read_roster(REPO / "hub" / "roster.example.csv")
    assert roster.instructor == "teacher" and roster.learners == ("ada", "grace")


def test_close_repository_closes_everything_but_what_kernels_import(tmp_path: Path) -> None:
    for name in ("notebooks", ".git", "authoring", "course", ".venv", "newfolder", "jupyter"):
        (tmp_path / name).mkdir(mode=0o755)
        (tmp_path / name).chmod(0o750 if name == "jupyter" else 0o755)  # closed by an older list
    (tmp_path / "gradebook.db").write_text("")
    (tmp_path / "gradebook.db").chmod(0o644)
    room.close_repository(tmp_path)
    others = {p.name: p.stat().st_mode & 0o007 for p in tmp_path.iterdir()}
    assert others == {"notebooks": 0, ".git": 0, "authoring": 0, "newfolder": 0, "gradebook.db": 0,
                      "course": 0o005, ".venv": 0o005, "jupyter": 0o005}
