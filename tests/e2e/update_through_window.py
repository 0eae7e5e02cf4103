#!/usr/bin/python3
"""Drives the real window of `swarmdate demo` through its accessibility tree (dogtail): answers
the sharing question, clicks Update on the Updates page and waits until the page says the
updates are installed. The calling test judges the result with rpm."""

import os
import re
import sys
import time

# GTK 4 speaks AT-SPI by itself; this tells dogtail so without touching the user's dconf.
os.environ.setdefault("GTK_MODULES", "gail:atk-bridge")

from dogtail import config  # noqa: E402

config.searchCutoffCount = 120
config.searchBackoffDuration = 0.5
config.defaultDelay = 0.2
config.logDebugToFile = False

from dogtail.tree import root  # noqa: E402


def app_named(name, within):
    deadline = time.time() + within
    while time.time() < deadline:
        for a in root.applications():
            if a.name == name:
                return a
        time.sleep(1)
    sys.exit(f"no application {name!r} on the accessibility bus after {within} s")


def button(label, within=120):
    """The push button labelled `label` (libadwaita 1.2 repeats a dialog button's label in its
    accessible name, so the name starts with it)."""
    deadline = time.time() + within
    while time.time() < deadline:
        found = root.findChildren(
            lambda n: n.roleName == "push button"
            and n.name.startswith(label)
            and "click" in n.actions,
            isLambda=True,
        )
        if found:
            return found[0]
        time.sleep(0.5)
    sys.exit(f"no button {label!r} after {within} s")


def press(node):
    # The button's own action, as a screen reader would press it.
    node.doActionNamed("click")


app = app_named("swarmdate", 240)
press(button("Share With Everyone"))
update = button("Update")
deadline = time.time() + 120
while not update.sensitive:
    if time.time() > deadline:
        sys.exit("the Update button never became available")
    time.sleep(0.5)
press(update)
# Every page of the window is in the tree, shown or not (GTK 4.8 reports no SHOWING state):
# the result is the sentence the page writes once the transaction is done.
done = re.compile(r"^\d+ packages installed")
deadline = time.time() + 300
while not app.findChildren(lambda n: bool(done.match(n.name or "")), isLambda=True):
    if time.time() > deadline:
        sys.exit("the window never said the updates were installed")
    time.sleep(1)
print("installed")
