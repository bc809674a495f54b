"""JupyterHub for a Vault Lab workshop room (`make hub`): read after `python hub/room.py setup`.

Every value a room changes comes from the environment (hub/README.md):
  VAULTLAB_HUB_STATE   the room's state folder (default /srv/vaultlab-hub, made by room.py)
  VAULTLAB_HUB_URL     public address (default http://127.0.0.1:8000, this machine only);
                       e.g. https://0.0.0.0:443 for the room's network, with:
  VAULTLAB_HUB_CERT, VAULTLAB_HUB_KEY   TLS certificate and key files (PEM)
  VAULTLAB_HUB_IDLE    seconds without activity before a server stops itself (default 3600)
"""
import logging
import os
import sys
from pathlib import Path
from urllib.parse import urlparse

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from room import Room  # noqa: E402
from rosterauth import RosterAuthenticator  # noqa: E402

c = get_config()  # noqa: F821 - injected by traitlets' config loader
room = Room.load(Path(os.environ.get("VAULTLAB_HUB_STATE", "/srv/vaultlab-hub")))
state = Path(room.state_dir)
venv_bin = Path(room.venv) / "bin"

# Network: this machine only unless the room says otherwise; TLS when a cert is given.
c.JupyterHub.bind_url = os.environ.get("VAULTLAB_HUB_URL", "http://127.0.0.1:8000")
if os.environ.get("VAULTLAB_HUB_CERT"):
    c.JupyterHub.ssl_cert = os.environ["VAULTLAB_HUB_CERT"]
    c.JupyterHub.ssl_key = os.environ.get("VAULTLAB_HUB_KEY", "")
elif urlparse(c.JupyterHub.bind_url).hostname in ("127.0.0.1", "localhost", "::1"):
    # Loopback only: plain HTTP never leaves the machine, so the hub's "without SSL" warning is noise.
    logging.getLogger("JupyterHub").addFilter(lambda record: "without SSL" not in record.getMessage())
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = int(os.environ.get("VAULTLAB_HUB_PORT", "8081"))
c.ConfigurableHTTPProxy.api_url = os.environ.get("VAULTLAB_PROXY_API", "http://127.0.0.1:8001")
c.ConfigurableHTTPProxy.command = [str(Path(room.repo) / "node_modules" / ".bin" / "configurable-http-proxy")]
c.ConfigurableHTTPProxy.auth_token = (state / "proxy_token").read_text().strip()
c.ConfigurableHTTPProxy.pid_file = str(state / "proxy.pid")
c.ConfigurableHTTPProxy.log_level = "error"

# State: private to root, never in the working directory.
c.JupyterHub.db_url = f"sqlite:///{state / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(state / "cookie_secret")
c.JupyterHub.pid_file = str(state / "jupyterhub.pid")
# Quiet start: warnings, and the one line saying where the hub is running (VAULTLAB_HUB_LOG=INFO: all).
c.JupyterHub.log_level = "INFO"
if os.environ.get("VAULTLAB_HUB_LOG", "WARN").upper() != "INFO":
    def _quiet(record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or "is now running at" in record.getMessage()

    # The hub's own logger, tornado's (JupyterHub renames them to its own) and the database's.
    for name in ("JupyterHub", "tornado.application", "tornado.access", "tornado.general",
                 "alembic.runtime.migration"):
        logging.getLogger(name).addFilter(_quiet)
c.JupyterHub.shutdown_on_logout = False
c.JupyterHub.cleanup_servers = True

# Accounts: the roster, first-login passwords, the instructor approves learners.
c.JupyterHub.authenticator_class = RosterAuthenticator
c.RosterAuthenticator.password_file = str(state / "passwords.json")
c.Authenticator.allowed_users = set(room.learners)
c.Authenticator.admin_users = {room.instructor}

# Servers: each user's own Unix account (LocalProcessSpawner setuids), home as root folder.
c.Spawner.cmd = [str(venv_bin / "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
c.Spawner.notebook_dir = "~"
shipped = Path(room.repo) / "jupyter"  # the labs' shipped settings (make lab / make instructor)
c.Spawner.environment = {
    "PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin",
    # nbgrader finds the room's exchange and course in the room's config (learners and
    # instructor alike); the shipped one adds encrypted kernel transport.
    "JUPYTER_CONFIG_PATH": f"{room.config_dir}:{shipped}",
    "PYTHONDONTWRITEBYTECODE": "1",
}


def _per_role(spawner) -> None:  # noqa: ANN001 - JupyterHub's Spawner
    """Each role's shipped JupyterLab settings; learners also read the learner config first
    (no instructor tools in their JupyterLab or their server)."""
    role = "instructor" if spawner.user.name == room.instructor else "learner"
    # Rebuilt from scratch: the hub keeps a user's Spawner across restarts of their server.
    setting = "--LabApp.app_settings_dir="
    spawner.args = [*(a for a in spawner.args if not a.startswith(setting)),
                    f"{setting}{shipped / role / 'settings'}"]
    path = f"{room.config_dir}:{shipped}"
    if role == "learner":
        path = f"{Path(room.config_dir) / 'learner'}:{path}"
    spawner.environment = {**spawner.environment, "JUPYTER_CONFIG_PATH": path}


c.Spawner.pre_spawn_hook = _per_role
idle = int(os.environ.get("VAULTLAB_HUB_IDLE", "3600"))
# Idle culling with JupyterHub's and Jupyter Server's own timeouts (no extra package): idle
# kernels and terminals are stopped, then a server with no activity stops itself.
c.Spawner.args = [
    f"--ServerApp.shutdown_no_activity_timeout={idle}",
    f"--MappingKernelManager.cull_idle_timeout={idle // 2}",
    "--MappingKernelManager.cull_interval=300",
    "--MappingKernelManager.cull_connected=False",
    f"--TerminalManager.cull_inactive_timeout={idle // 2}",
    "--TerminalManager.cull_interval=300",
    "--ServerApp.log_level=WARN",
    "--LabApp.news_url=None",
]
c.Spawner.start_timeout = 60
c.Spawner.http_timeout = 60
