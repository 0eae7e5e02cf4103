#!/usr/bin/env bash
# Regenerates po/swarmdate.pot from the sources listed in po/POTFILES.in.
# xgettext 0.21 has no Rust parser; the C one reads tr("..."), trf("...") and trn("...", "...")
# calls correctly.
set -euo pipefail
cd "$(dirname "$0")/.."
grep -v '^#' po/POTFILES.in | xargs xgettext -L C --from-code=UTF-8 --keyword=tr --keyword=trf --keyword=trn:1,2 \
  --package-name=swarmdate --add-comments=TRANSLATORS -o po/swarmdate.pot
