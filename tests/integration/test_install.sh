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
for b in tardisd tardisctl tardis-runc tardis-runc-full; do
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
# The CRIU setup.sh built, installed and named when the system's fails.
CB=$ROOT/build/criu/criu-$(sed -n 's/^CRIU_VERSION=//p' "$ROOT/scripts/build-criu.sh")/criu/criu
LC=$PREFIX/libexec/tardis/criu
if [ -x "$CB" ]; then
	check "$LC installed, mode 755, the built one" \
		bash -c '[ "$(stat -c %a "$1")" = 755 ] && cmp -s "$1" "$2"' _ "$D$LC" "$CB"
	check "  ...it passes criu check" bash -c '"$1" check >/dev/null 2>&1' _ "$D$LC"
	if command -v criu >/dev/null && criu check >/dev/null 2>&1; then
		check "the system's criu works: the config leaves criu unset" grep -qx "# criu = .*" "$C"
	else
		check "the system's criu is missing or fails criu check: the config names $LC" \
			grep -qx "criu = $LC" "$C"
		# The named path as it lies under DESTDIR: tardisctl check's criu lines.
		sed "s|^criu = |criu = $D|" "$C" >"$TMP/criu.conf"
		TARDIS_CONFIG=$TMP/criu.conf "$BIN/tardisctl" check >"$TMP/check.out" 2>&1
		check "  ...tardisctl check: criu found, criu check and a socket dump ok" \
			bash -c 'grep -q "^ok  *criu: $2, version" "$1" && grep -q "^ok  *criu check:" "$1" &&
				grep -q "^ok  *criu dump:" "$1"' _ "$TMP/check.out" "$D$LC"
	fi
else
	echo "# no CRIU built by setup.sh: its install is not tested"
fi
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
