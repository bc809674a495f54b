"""Loaded by nbgrader wherever the labs run (make lab / make instructor put jupyter/ on
JUPYTER_CONFIG_PATH): the kernels nbgrader starts for Validate and autograding get
CurveZMQ keys from their kernel manager, so their traffic to the server is encrypted (and
ipykernel stops warning "Kernel is running over TCP without encryption")."""
c = get_config()  # noqa: F821 - injected by traitlets' config loader
c.KernelManager.transport_encryption = "auto"
c.FormgradeExtension.debug = False  # the config dump panel; nbgrader's Config is not JSON
