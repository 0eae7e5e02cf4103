#!/usr/bin/python3
"""Walks the running `swarmdate` window's whole accessibility tree, every page (GTK 4.8 keeps
pages that are not shown in the tree too), and fails listing each control a screen reader would
announce without a name. Prints how many controls it checked."""

import os
import re
import sys
import time

os.environ.setdefault("GTK_MODULES", "gail:atk-bridge")

from dogtail import config  # noqa: E402

config.searchCutoffCount = 60
config.searchBackoffDuration = 0.5
config.logDebugToFile = False

from dogtail.tree import root  # noqa: E402

# Roles a user operates; each must say what it does.
CONTROLS = {
    "push button",
    "toggle button",
    "check box",
    "radio button",
    "combo box",
    "spin button",
    "slider",
    "switch",
    "text",
    "entry",
    "password text",
    "menu item",
    "link",
    "page tab",
}

deadline = time.time() + 60
apps = []
while time.time() < deadline and not apps:
    apps = [a for a in root.applications() if a.name == "swarmdate"]
    time.sleep(0.5)
if not apps:
    sys.exit("no swarmdate window on the accessibility bus")

checked, unnamed = 0, []


def walk(node, path):
    global checked
    try:
        role, name, children = node.roleName, (node.name or "").strip(), node.children
    except Exception:  # a node that went away while walking
        return
    here = f"{path}/{role}"
    if os.environ.get("WALK_DEBUG"):
        print(here, repr(name))
    if role in CONTROLS:
        checked += 1
        # With no name of its own GTK gives the class name ("GtkSwitch"), which says nothing.
        if not name or re.fullmatch(r"(Gtk|Adw)[A-Z]\w*", name):
            unnamed.append(f"{here} {name!r}")
    for c in children:
        walk(c, here)


walk(apps[0], "swarmdate")
if unnamed:
    sys.exit(f"{len(unnamed)} of {checked} controls have no accessible name:\n" + "\n".join(unnamed))
if checked < 10:
    sys.exit(f"only {checked} controls found: the walk did not see the window")
print(f"{checked} controls, each named")
