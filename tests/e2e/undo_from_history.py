#!/usr/bin/python3
"""Drives the real window of `swarmdate demo` through its accessibility tree: answers the
sharing question, prints "ready" once the updates are listed and waits for a line on its input
(the calling test reads rpm's list), installs the updates (prints "updated" and waits again),
then opens History from the main menu, presses the update's Undo…, confirms once and prints
"undone" once the dialog says the transaction is undone. The calling test judges the result
with rpm."""

import re
import sys

from window import app, buttons, nodes, press, root, wait_for

window = app()
press(wait_for("sharing question", lambda: buttons(root, lambda n: n.name.startswith("Share With Everyone")))[0])

update = wait_for("Update button", lambda: buttons(window, lambda n: n.name == "Update" and n.sensitive))[0]
print("ready", flush=True)
sys.stdin.readline()

press(update)
installed = re.compile(r"^\d+ packages installed")
wait_for("updates installed", lambda: nodes(window, lambda n: bool(installed.match(n.name or ""))), 300)
print("updated", flush=True)
sys.stdin.readline()

# History, from the main menu as a user opens it (Ctrl+H does the same).
# GTK 4.8 gives the menu button and the toggle inside it the name; only the toggle acts.
press(wait_for("main menu", lambda: buttons(window, lambda n: n.name == "Main Menu" and bool(n.actions)))[0])
item = wait_for(
    "History menu item",
    lambda: nodes(window, lambda n: n.roleName == "menu item" and n.name == "History"),
)[0]
press(item)

# The row's button is named for its transaction; the confirmation's is "Undo" alone.
undo = wait_for(
    "Undo… of the update",
    lambda: buttons(window, lambda n: n.name.startswith("Undo transaction 1: update") and n.sensitive),
)[0]
press(undo)
confirm = wait_for(
    "confirmation",
    lambda: buttons(
        root,
        lambda n: n.name.startswith("Undo")
        and not n.name.startswith("Undo transaction")
        and not n.name.startswith("Undo…")
        and "click" in n.actions,
    ),
    300,
)
said = nodes(root, lambda n: n.roleName == "label" and "will be installed" in (n.name or ""))
print("confirmation:", said[0].name if said else "(its text not found)", flush=True)
press(confirm[0])
done = re.compile(r"^Transaction 1 is undone\.")
wait_for("undo done", lambda: nodes(root, lambda n: bool(done.match(n.name or ""))), 300)
print("undone", flush=True)
