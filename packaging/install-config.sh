#!/bin/sh
# install-config.sh TEMPLATE DEST INSTALLED-CRIU CRIU-PATH: the default
# config at DEST (mode 644).  When the system's criu is missing or fails
# `criu check` and make install put a CRIU at INSTALLED-CRIU, the config
# names it (as CRIU-PATH, its path on the installed system).
set -eu
template=$1 dest=$2 installed=$3 path=$4

system_criu_works() {
	criu=$(command -v criu) || return 1
	"$criu" check >/dev/null 2>&1
}

install -m 0644 "$template" "$dest"
if [ -x "$installed" ] && ! system_criu_works; then
	sed -i "s|^# criu = .*|criu = $path|" "$dest"
	echo "install-config: the system's criu is missing or fails \`criu check\`:" \
		"$dest names $path" >&2
fi
