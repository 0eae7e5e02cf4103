#!/usr/bin/env bash
# Installs what Swarmdate needs on Debian 12 (idempotent, quiet) and checks the Rust toolchain.
set -euo pipefail

packages=(
  build-essential pkg-config cmake gettext   # building
  libsqlite3-dev                              # the contribution ledger (rusqlite)
  xorriso                                     # making and respinning ISO images
  rpm dnf                                     # real rpm databases and dnf transactions in test roots
  createrepo-c                                # repodata as distributions make it (createrepo_c, modifyrepo_c)
  gpg gpg-agent                               # distribution keys: rpmsign with RSA 4096 GnuPG keys
  iproute2 passwd                             # network namespaces and a second local user in tests
  xfsprogs                                    # a reflink file system (loop-mounted) in the tests
  transmission-cli aria2                      # third-party peers in the interop tests
  transmission-daemon qbittorrent-nox         # third-party seeders and leechers (interop)
  opentracker mktorrent                       # a third-party tracker and torrent maker (interop)
  strace                                      # the durability audit
  dbus-daemon                                 # a private session bus in the one-engine tests
  polkitd libxml2-utils                       # validating the polkit policy of the install helper
  systemd                                     # systemd-analyze verify of the offline-update unit
  python3                                     # another process holding rpm's lock in a test
  curl                                        # the reference in bench mirror
  lighttpd                                    # a real web server for plain repositories, its access log the judge
  libgtk-4-dev libadwaita-1-dev               # the window (GTK 4.8, libadwaita 1.2)
  xvfb xauth dbus-x11                         # the window's tests on a virtual display
  fonts-cantarell adwaita-icon-theme          # the window's fonts and icons, as on GNOME
  desktop-file-utils appstream                # validating the desktop file and the metainfo
  at-spi2-core python3-dogtail                # driving the real window through its accessibility tree
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "Installing: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

need="1.89"
if ! command -v cargo >/dev/null; then
  echo "Rust is missing: install it with rustup (https://rustup.rs), then run this again." >&2
  exit 1
fi
have=$(rustc --version | awk '{print $2}')
if [ "$(printf '%s\n%s\n' "$need" "$have" | sort -V | head -n1)" != "$need" ]; then
  echo "Rust $have is too old; Swarmdate needs $need or newer: rustup update stable" >&2
  exit 1
fi
