#!/usr/bin/python3
"""Checks, through the accessibility tree, that the running `swarmdate` window shows the Open
Torrent dialog for the torrent named on the command line (handed over by a second process)."""

import os
import sys
import time

os.environ.setdefault("GTK_MODULES", "gail:atk-bridge")

from dogtail import config  # noqa: E402

config.searchCutoffCount = 60
config.searchBackoffDuration = 0.5
config.logDebugToFile = False

from dogtail.tree import root  # noqa: E402

name = sys.argv[1]
deadline = time.time() + 60
while time.time() < deadline:
    apps = [a for a in root.applications() if a.name == "swarmdate"]
    if len(apps) > 1:
        sys.exit("a second swarmdate window opened instead of the running one showing the link")
    dialogs = apps[0].findChildren(
        lambda n: n.roleName in ("frame", "window", "dialog") and n.name == "Open Torrent",
        isLambda=True,
    ) if apps else []
    if dialogs and dialogs[0].findChildren(lambda n: n.name == name, isLambda=True):
        print("opened")
        sys.exit(0)
    time.sleep(1)
sys.exit(f"the running window never showed an Open Torrent dialog for {name!r}")
