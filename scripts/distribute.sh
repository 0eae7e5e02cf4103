#!/usr/bin/env bash
# A distributor's publishing pipeline (docs/distributing.md), for one repository snapshot:
#   1. createrepo_c: the repository's repodata, as dnf reads it (kept as it is with --no-createrepo);
#   2. swarmdate publish master: the repository torrent and its package index, from that repodata
#      (advisories carried along, the packages' signatures untouched);
#   3. swarmdate publish feed: the signed feed listing it beside the earlier entries in --out;
#   4. the tracker's whitelist: every info hash the feed lists, one per line (opentracker's format),
#      then --reload (e.g. "systemctl kill -s HUP opentracker") so that the tracker serves them;
#   5. with --seed ADDR:PORT: seeds the new snapshot as its origin (BEP 16 super-seeding) until
#      stopped; a systemd unit runs this step in production (docs/distributing.md).
#
# Usage: scripts/distribute.sh --repo DIR --out DIR --key SECRET.asc --tracker URL
#          [--mirror URL] [--kind updates|release] [--id ID] [--signing-key FPR]
#          [--distribution NAME] [--release VERSION]
#          [--whitelist FILE] [--reload CMD] [--seed ADDR:PORT] [--home DIR]
#          [--swarmdate BIN] [--no-createrepo]
set -euo pipefail

die() { echo "distribute.sh: $*" >&2; exit 2; }

repo= out= key= tracker= mirror= kind=updates id= signing_key= whitelist= reload= seed= home=
distribution=Swarmdate release=1
swarmdate=${SWARMDATE:-swarmdate} createrepo=1
while (($#)); do
  case $1 in
    --repo) repo=$2; shift ;;
    --out) out=$2; shift ;;
    --key) key=$2; shift ;;
    --tracker) tracker=$2; shift ;;
    --mirror) mirror=$2; shift ;;
    --kind) kind=$2; shift ;;
    --id) id=$2; shift ;;
    --signing-key) signing_key=$2; shift ;;
    --distribution) distribution=$2; shift ;;
    --release) release=$2; shift ;;
    --whitelist) whitelist=$2; shift ;;
    --reload) reload=$2; shift ;;
    --seed) seed=$2; shift ;;
    --home) home=$2; shift ;;
    --swarmdate) swarmdate=$2; shift ;;
    --no-createrepo) createrepo= ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
  shift
done
[[ -n $repo && -n $out && -n $key && -n $tracker ]] || die "--repo, --out, --key and --tracker are required (see --help)"
[[ -d $repo ]] || die "$repo is not a folder"
[[ $kind == updates || $kind == release ]] || die "--kind is updates or release, not $kind"
id=${id:-$kind-$(date -u +%Y%m%dT%H%M%S)}
whitelist=${whitelist:-$out/tracker-whitelist.txt}
home_args=()
[[ -n $home ]] && home_args=(--home "$home")
mkdir -p "$out"

if [[ -n $createrepo ]]; then
  echo "== repodata: createrepo_c $repo"
  createrepo_c --quiet --update "$repo"
fi

echo "== torrent and index: publish master ($kind, $id)"
master=(publish master "$repo" --kind "$kind" --id "$id" --tracker "$tracker" --out-dir "$out")
[[ -n $mirror ]] && master+=(--web-seed "$mirror")
[[ -n $signing_key ]] && master+=(--signing-key "$signing_key")
"$swarmdate" "${home_args[@]}" "${master[@]}"

echo "== feed: publish feed $out"
"$swarmdate" "${home_args[@]}" publish feed "$out" --key "$key" --tracker "$tracker" \
  --distribution "$distribution" --release "$release"

echo "== tracker whitelist: $whitelist"
# The feed is the one list of what may be announced; written whole, then moved into place.
grep -o '"info_hash": *"[0-9a-f]\{40\}"' "$out/feed.json" | grep -o '[0-9a-f]\{40\}' | sort -u >"$whitelist.new"
chmod 644 "$whitelist.new"
mv "$whitelist.new" "$whitelist"
echo "$(wc -l <"$whitelist") info hashes"
if [[ -n $reload ]]; then
  sh -c "$reload"
fi

# The torrent is named for the repository's folder: its data is the folder above.
data=$(dirname "$(realpath "$repo")")
if [[ -n $seed ]]; then
  echo "== seeding $out/$id.torrent from $data on $seed (super-seeding; stop with Ctrl+C)"
  exec "$swarmdate" "${home_args[@]}" --json seed --super-seed --torrent "$out/$id.torrent" --data "$data" --listen "$seed"
fi
echo "To seed it: $swarmdate seed --super-seed --torrent $out/$id.torrent --data $data"
