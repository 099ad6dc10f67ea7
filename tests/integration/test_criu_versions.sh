#!/bin/bash
# Images across CRIU versions: 4.2.1 and an older CRIU, Debian 12's
# packaged 3.17.1 (unpacked under build/; it cannot dump on this kernel,
# nor can 4.1.1).  The manifest
# records the version that dumped it (not a path); an image of 4.2.1 is
# not given to the older CRIU: the container starts fresh, the reason in
# the log and in `tardisctl show`, the image kept; each CRIU's version is
# asked once, then read from the state dir's cache.
# shellcheck source=tests/lib/lib.sh
. "$(dirname "$0")/../lib/lib.sh"
# shellcheck source=tests/lib/bundle.sh
. "$ROOT/tests/lib/bundle.sh"

C421=$ROOT/build/criu/criu-4.2.1/criu/criu
need_criu
[ -x "$C421" ] || C421=$TARDIS_CRIU
# The older CRIU: TARDIS_CRIU_OLD (vmtest's 6.12 line: 4.1.1 built by
# scripts/build-criu.sh 4.1.1), else the one given (vmtest's 6.1 line
# gives Debian 12's), else Debian 12's packaged 3.17.1, unpacked under build/.
D=$ROOT/build/criu/deb-bookworm
OLD=$D/usr/sbin/criu
if [ -n "${TARDIS_CRIU_OLD:-}" ]; then
	OLD=$TARDIS_CRIU_OLD
elif [ "$TARDIS_CRIU" != "$C421" ]; then
	OLD=$TARDIS_CRIU
elif [ ! -x "$OLD" ]; then
	(cd "$TMP" && apt-get download criu >/dev/null 2>&1) &&
		dpkg-deb -x "$TMP"/criu_*.deb "$D.tmp" && rm -rf "$D" && mv "$D.tmp" "$D"
fi
OLDV=$("$OLD" --version 2>/dev/null | sed -n 's/^Version: //p')
NEWV=$("$C421" --version 2>/dev/null | sed -n 's/^Version: //p')
check "two CRIUs: $OLDV ($OLD), $NEWV ($C421)" [ -n "$OLDV" -a -n "$NEWV" -a "$OLDV" != "$NEWV" ]
shim_env cv debug
check "tardisd starts" start_agent
lower_layer sh -c "$COUNTER_SH"
B=$TMP/b
manifest_criu() { jq -r .criu_version "$IMAGES/ck/manifest.json" 2>/dev/null; }
re() { sed 's/\./\\./g' <<<"$1"; }

# CRIU 4.1.1 does not finish a dump on 6.18 (it hangs until the checkpoint
# timeout): its image restored by 4.2.1 is vmtest's 6.12 line.
export TARDIS_CRIU=$C421
make_bundle "$B"
check "$NEWV: ck runs" create_start "$B" ck
check "$NEWV: counting" wait_for 20 count_at_least "$B" 15

# ---- the newer dumps, the older refuses ----------------------------------
check "$NEWV: delete --force checkpoints" shim delete --force ck
check "the manifest records CRIU $NEWV ($(manifest_criu))" [ "$(manifest_criu)" = "$NEWV" ]
RV=$(runc --version | sed -n 's/^runc version //p')
check "the manifest records runc $RV" [ "$(jq -r .runc_version "$IMAGES/ck/manifest.json")" = "$RV" ]
drop_bundle "$B"
export TARDIS_CRIU=$OLD
make_bundle "$B"
mark_log
check "$OLDV: create" shim create --bundle "$B" --pid-file "$B/init.pid" ck </dev/null
check "$OLDV: not restored" not in_log "create $NS/ck: restored from"
check "$OLDV: the log says why" \
	in_log "restore failed, starting fresh: image made by CRIU $(re "$NEWV"), newer than this node's CRIU $(re "$OLDV")"
new_log | grep "restore failed" | sed 's/^/  | /'
check "tardisctl show: a failed restore, and why" bash -c \
	'"$1" show --json "$2" | jq -r .last_restore_failure.reason | grep -qF "newer than this node'"'"'s CRIU $3"' \
	_ "$BIN/tardisctl" "$NS/ck" "$OLDV"
check "$OLDV: start, fresh" shim start ck
check "$OLDV: counting from 1" wait_for 10 count_at_least "$B" 3
check "the image of $NEWV is kept" [ "$(manifest_criu)" = "$NEWV" ]
rdelete ck

# ---- the older dumps, the newer restores ----------------------------------
# Where the older CRIU works on this kernel (vmtest's 6.1 guest: Debian 12's
# 3.17.1; on 6.18 its `criu check` fails): its image, restored by the newer
# CRIU, counts on.
if "$OLD" check >/dev/null 2>&1; then
	U=$TMP/u
	export TARDIS_CRIU=$OLD
	make_bundle "$U"
	check "$OLDV: up runs" create_start "$U" up
	check "$OLDV: counting" wait_for 30 count_at_least "$U" 15
	check "$OLDV: delete --force checkpoints" shim delete --force up
	check "the manifest records CRIU $OLDV" \
		[ "$(jq -r .criu_version "$IMAGES/up/manifest.json" 2>/dev/null)" = "$OLDV" ]
	c_up=$(count_in "$U")
	drop_bundle "$U"
	export TARDIS_CRIU=$C421
	make_bundle "$U"
	mark_log
	check "$NEWV: create" shim create --bundle "$U" --pid-file "$U/init.pid" up </dev/null
	check "$NEWV: restored the image of $OLDV" in_log "create $NS/up: restored from"
	new_log | grep -E "restored from|restore failed" | sed 's/^/  | /'
	check "$NEWV: start" shim start up
	# Its first count after the start: c_up + 1 on (memory restored), 1 on a fresh start.
	moved() { [ "$(count_in "$U")" != "$c_up" ]; }
	wait_for 20 moved
	c_next=$(count_in "$U")
	check "$NEWV: counts on from $OLDV's count ($c_up -> $c_next)" [ "$c_next" -gt "$c_up" ]
	rdelete up
	drop_bundle "$U"
else
	echo "# $OLDV cannot run here (\`criu check\` fails): an image of it restored by $NEWV is vmtest's 6.1 line"
fi

# ---- the version cache ---------------------------------------------------
n=$(find "$TARDIS_STATE_DIR/cache" -name 'criu-*' 2>/dev/null | wc -l)
check "the state dir caches both CRIUs' versions ($n entries)" [ "$n" = 2 ]
check "  ...$OLDV and $NEWV" bash -c '[ "$(for f in "$1"/cache/criu-*; do cat "$f"; echo; done | sort | tr "\n" " ")" = "$2 $3 " ]' \
	_ "$TARDIS_STATE_DIR" "$OLDV" "$NEWV"
summary
