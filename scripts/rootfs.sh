#!/bin/sh
# An OCI bundle for tests and the demo: a busybox rootfs and a config.json
# from `runc spec` whose process runs the given command line.
# Usage: scripts/rootfs.sh BUNDLE_DIR ARG...
set -eu
bundle=$1
shift
mkdir -p "$bundle/rootfs/bin" "$bundle/rootfs/proc" "$bundle/rootfs/dev" \
	"$bundle/rootfs/sys" "$bundle/rootfs/tmp" "$bundle/rootfs/data"
cp /bin/busybox "$bundle/rootfs/bin/busybox"
for a in sh sleep cat echo ls seq mv; do
	ln -sf busybox "$bundle/rootfs/bin/$a"
done
(cd "$bundle" && rm -f config.json && runc spec)
# Each argument becomes a JSON string on its own (jq 1.6 would take "-c"
# for one of its options if they were passed with --args).
args=""
for a in "$@"; do
	args="$args${args:+,}$(jq -n --arg v "$a" '$v')"
done
jq ".process.terminal = false | .process.args = [$args]" \
	<"$bundle/config.json" >"$bundle/config.json.new"
mv "$bundle/config.json.new" "$bundle/config.json"
