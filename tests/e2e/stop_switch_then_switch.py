#!/usr/bin/python3
"""Drives the real window of `swarmdate demo` (downloads held to a slow rate) through its
accessibility tree: answers the sharing question, opens the Versions page, switches the image
to the version named on the command line, presses Stop while it downloads, and prints
"stopped"; then waits for a line on its input (the calling test hashes the image meanwhile),
switches to the same version again and prints "switched" once the page says so."""

import re
import sys

from window import app, buttons, press, root, wait_for

version = sys.argv[1]


def switch_to(window):
    # The row's button says Upgrade or Downgrade; its tooltip (the description) names the version.
    row_button = wait_for(
        f"button to switch to {version}",
        lambda: buttons(window, lambda n: (n.description or "") == f"Switch the image to {version}"),
    )[0]
    press(row_button)
    verb = row_button.name
    # The confirmation's button carries the same verb; the row's own is in the window.
    confirm = wait_for(
        "confirmation",
        lambda: [
            b
            for b in buttons(root, lambda n: n.name.startswith(verb) and "click" in n.actions)
            if not (b.description or "").startswith("Switch the image to")
        ],
    )
    press(confirm[0])


window = app()
press(wait_for("sharing question", lambda: buttons(root, lambda n: n.name.startswith("Share With Everyone")))[0])
# The Versions tab, as a user would pick it (GTK 4.8 keeps every page in the tree, so the buttons
# below are found either way).
tabs = window.findChildren(lambda n: n.roleName == "page tab" and n.name == "Versions", isLambda=True)
if tabs and tabs[0].actions:
    tabs[0].doActionNamed(list(tabs[0].actions)[0])
switch_to(window)
stop = wait_for("Stop button", lambda: buttons(window, lambda n: n.name == "Stop" and n.sensitive))[0]
press(stop)
said = wait_for(
    "page saying the switch stopped",
    lambda: window.findChildren(lambda n: (n.name or "").startswith("Stopped"), isLambda=True),
)
print("stopped:", said[0].name, flush=True)
sys.stdin.readline()
switch_to(window)
done = re.compile(rf"^Switched to {re.escape(version)}")
wait_for(
    "page saying the switch is done",
    lambda: window.findChildren(lambda n: bool(done.match(n.name or "")), isLambda=True),
    300,
)
print("switched", flush=True)
