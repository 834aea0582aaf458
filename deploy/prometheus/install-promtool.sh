#!/usr/bin/env bash
# Put Debian's promtool (from the `prometheus` package) at TARGET (default var/tools/promtool)
# without installing or starting a Prometheus server: download the .deb with apt and extract the
# one binary. Idempotent; the alert-rule tests find it there (or on PATH, or via BGR_PROMTOOL).
set -euo pipefail
target="${1:-var/tools/promtool}"
[ -x "$target" ] && exit 0
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
apt-get download prometheus >/dev/null 2>&1 || { apt-get update -qq && apt-get download prometheus >/dev/null; }
cd - >/dev/null
mkdir -p "$(dirname "$target")"
dpkg-deb --fsys-tarfile "$work"/prometheus_*.deb | tar -xO ./usr/bin/promtool >"$target.partial"
chmod +x "$target.partial"
mv "$target.partial" "$target"
"$target" --version | head -n 1
