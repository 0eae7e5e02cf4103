"""What the end-to-end scripts share: dogtail set up for GTK 4 on a private session, and finding
and pressing things in the running window of `swarmdate demo` as a screen reader would."""

import os
import sys
import time

# GTK 4 speaks AT-SPI by itself; this tells dogtail so without touching the user's dconf.
os.environ.setdefault("GTK_MODULES", "gail:atk-bridge")

from dogtail import config  # noqa: E402

config.searchCutoffCount = 120
config.searchBackoffDuration = 0.5
config.defaultDelay = 0.2
config.logDebugToFile = False

from dogtail.tree import root  # noqa: E402, F401  (the scripts use it)


def wait_for(what, find, within=120):
    """The first true value `find` returns; ends the script naming `what` after `within` s."""
    deadline = time.time() + within
    while time.time() < deadline:
        found = find()
        if found:
            return found
        time.sleep(0.5)
    sys.exit(f"no {what} after {within} s")


def app():
    """The running swarmdate application."""
    return wait_for(
        "swarmdate window",
        lambda: [a for a in root.applications() if a.name == "swarmdate"],
        240,
    )[0]


def nodes(within, test):
    """Every node below `within` that passes `test`."""
    return within.findChildren(test, isLambda=True)


def buttons(within, test):
    """Every push or toggle button below `within` that passes `test`."""
    return nodes(within, lambda n: n.roleName in ("push button", "toggle button") and test(n))


def press(node):
    """The node's own action, as a screen reader would press it."""
    node.doActionNamed("click" if "click" in node.actions else list(node.actions)[0])
