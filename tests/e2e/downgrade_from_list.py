#!/usr/bin/python3
"""Downgrades a package in the running `swarmdate` window through its accessibility tree: types
the name given on the command line into the Versions page's package search, picks its row, leaves
the newest older build chosen, presses Downgrade… and confirms once, then waits until the page
reports the transaction. The calling test judges the result with rpm."""

import os
import re
import sys
import time

os.environ.setdefault("GTK_MODULES", "gail:atk-bridge")

from dogtail import config  # noqa: E402

config.searchCutoffCount = 120
config.searchBackoffDuration = 0.5
config.defaultDelay = 0.2
config.logDebugToFile = False

from dogtail.tree import root  # noqa: E402

name = sys.argv[1]


def wait_for(what, find, within=120):
    deadline = time.time() + within
    while time.time() < deadline:
        found = find()
        if found:
            return found
        time.sleep(0.5)
    sys.exit(f"no {what} after {within} s")


window = wait_for("swarmdate window", lambda: [a for a in root.applications() if a.name == "swarmdate"])[0]
done = re.compile(r"^\d+ packages? installed")
before = {n.name for n in window.findChildren(lambda n: bool(done.match(n.name or "")), isLambda=True)}

search = wait_for(
    "package search",
    lambda: window.findChildren(
        lambda n: n.roleName in ("text", "entry") and n.sensitive
        and "Search installed packages" in ((n.name or "") + (n.description or "")),
        isLambda=True,
    ),
)[0]
search.text = name
# The list keeps the rows that match; the package's row is named by the package.
row = wait_for(
    f"row of {name}",
    lambda: [
        r for r in window.findChildren(lambda n: n.roleName == "list item", isLambda=True)
        if r.name == name or r.findChildren(lambda n: n.roleName == "label" and n.name == name, isLambda=True)
    ],
)[0]
# Picked as a screen reader picks a row: through the list's selection, else the row's own action.
try:
    row.select()
except Exception:
    row.doActionNamed(list(row.actions)[0])
button = wait_for(
    "Downgrade… button",
    lambda: window.findChildren(
        lambda n: n.roleName == "push button" and n.name.startswith("Downgrade…") and n.sensitive,
        isLambda=True,
    ),
    180,
)[0]
button.doActionNamed("click")
confirm = wait_for(
    "confirmation",
    lambda: root.findChildren(
        lambda n: n.roleName == "push button" and n.name.startswith("Downgrade") and not n.name.startswith("Downgrade…")
        and not (n.description or "").startswith("Switch the image to")
        and n.sensitive and "click" in n.actions,
        isLambda=True,
    ),
)
confirm[0].doActionNamed("click")
said = wait_for(
    "result",
    lambda: [
        n for n in window.findChildren(lambda n: bool(done.match(n.name or "")), isLambda=True)
        if n.name not in before
    ],
    300,
)
print("downgraded:", said[0].name, flush=True)
