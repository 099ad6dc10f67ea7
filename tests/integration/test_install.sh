#!/bin/bash
# `make install DESTDIR=...`: the binaries, the systemd unit (verified with
# systemd-analyze where it exists), the default config (which parses, and
# is never overwritten), the README.
# shellcheck source=tests/lib/lib.sh
. "$(dirname "$0")/../lib/lib.sh"

D=$TMP/root
PREFIX=/usr/local
log=$TMP/install.log

make -C "$ROOT" --no-print-directory OUT="$OUT" install DESTDIR="$D" PREFIX="$PREFIX" >"$log" 2>&1
rc=$?
check "make install DESTDIR=... PREFIX=$PREFIX: rc 0" [ "$rc" = 0 ]
[ "$rc" = 0 ] || sed 's/^/  | /' "$log"
for b in tardisd tardisctl tardis-runc; do
	check "$PREFIX/bin/$b installed, mode 755" [ "$(stat -c %a "$D$PREFIX/bin/$b" 2>/dev/null)" = 755 ]
	check "  ...it is the built one" cmp -s "$BIN/$b" "$D$PREFIX/bin/$b"
done
U=$D/lib/systemd/system/tardisd.service
check "unit installed, mode 644" [ "$(stat -c %a "$U" 2>/dev/null)" = 644 ]
check "unit: ExecStart names the installed tardisd" grep -qx "ExecStart=$PREFIX/bin/tardisd --foreground --log-file syslog" "$U"
check "unit: no @PLACEHOLDER@ left" bash -c '! grep -q @ "$1"' _ "$U"
check "unit: Documentation points at the installed README" \
	bash -c 'f=$(sed -n "s|^Documentation=file://||p" "$1") && [ -s "$2$f" ]' _ "$U" "$D"
C=$D/etc/tardis/tardis.conf
check "default config installed, mode 644" [ "$(stat -c %a "$C" 2>/dev/null)" = 644 ]
check "default config parses (tardisctl log reads it)" \
	bash -c '[ "$(TARDIS_CONFIG=$1 "$2" log 2>/dev/null | head -1)" = "log_level = info" ]' _ "$C" "$BIN/tardisctl"
check "default config: tardisd accepts it" bash -c 'TARDIS_CONFIG=$1 "$2" --help >/dev/null' _ "$C" "$BIN/tardisd"
echo "log_level = debug # mine" >"$C"
make -C "$ROOT" --no-print-directory OUT="$OUT" install DESTDIR="$D" PREFIX="$PREFIX" >"$log" 2>&1
check "a second install keeps the operator's config" grep -qx "log_level = debug # mine" "$C"

# systemd-analyze verify resolves ExecStart on the real root: verify a copy
# whose paths point into DESTDIR.
if command -v systemd-analyze >/dev/null; then
	mkdir -p "$TMP/verify"
	sed "s|$PREFIX/bin/|$D$PREFIX/bin/|g" "$U" >"$TMP/verify/tardisd.service"
	out=$(systemd-analyze verify "$TMP/verify/tardisd.service" 2>&1)
	rc=$?
	check "systemd-analyze verify tardisd.service: rc 0, no complaints" [ "$rc" = 0 -a -z "$out" ]
	[ -z "$out" ] || sed 's/^/  | /' <<<"$out"
else
	echo "# systemd-analyze not installed: unit verification skipped"
fi
summary
