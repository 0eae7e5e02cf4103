#!/usr/bin/python3
"""Drives the real window of `swarmdate demo` through its accessibility tree: answers the
sharing question, installs the updates (prints "updated" and waits for a line on its input),
then on the Versions page searches the installed packages for the one named on the command
line, picks it from the list, presses Downgrade…, confirms once and prints "downgraded" once
the page says the older build is installed. The calling test judges the result with rpm."""

import re
import sys

from window import app, buttons, nodes, press, root, wait_for

package = sys.argv[1]

window = app()
press(wait_for("sharing question", lambda: buttons(root, lambda n: n.name.startswith("Share With Everyone")))[0])

# First the updates, so that the installed builds have older ones in the feed.
update = wait_for("Update button", lambda: buttons(window, lambda n: n.name == "Update" and n.sensitive))[0]
press(update)
installed = re.compile(r"^\d+ packages installed")
wait_for("updates installed", lambda: nodes(window, lambda n: bool(installed.match(n.name or ""))), 300)
# The calling test reads rpm's list meanwhile.
print("updated", flush=True)
sys.stdin.readline()

tabs = nodes(window, lambda n: n.roleName == "page tab" and n.name == "Versions")
if tabs and tabs[0].actions:
    tabs[0].doActionNamed(list(tabs[0].actions)[0])

# The search, typed into as a user would.
search = wait_for(
    "package search",
    lambda: nodes(window, lambda n: n.name == "Search installed packages" and n.roleName != "label"),
)[0]
search.text = package
# The search narrows the list to the package's row; choosing the row (as a screen reader
# selects an item of a list) shows the builds it can go to and plans the first.
row = wait_for(
    f"{package} alone in the list",
    lambda: [
        r
        for r in [nodes(window, lambda n: n.roleName == "list item" and package in (n.name or ""))]
        if len(r) == 1
    ],
)[0][0]
row.select()

# The panel's button is "Downgrade…" (with the ellipsis); the image rows' are "Downgrade".
downgrade = wait_for(
    "Downgrade… button available",
    lambda: buttons(window, lambda n: n.name.startswith("Downgrade…") and n.sensitive),
)[0]
press(downgrade)
# The confirmation's button says Downgrade too; the image rows' describe the switch.
confirm = wait_for(
    "confirmation",
    lambda: buttons(
        root,
        lambda n: n.name.startswith("Downgrade")
        and not n.name.startswith("Downgrade…")
        and "click" in n.actions
        and not (n.description or "").startswith("Switch the image to"),
    ),
)
print("confirmation:", confirm[0].name, flush=True)
press(confirm[0])
done = re.compile(r"^1 package installed")
wait_for("downgrade done", lambda: nodes(window, lambda n: bool(done.match(n.name or ""))), 300)
print("downgraded", flush=True)
