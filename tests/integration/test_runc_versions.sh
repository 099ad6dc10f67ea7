#!/bin/bash
# tardis-runc and the runc versions' command lines (runc_version.h): the
# real runc is asked once what it is (`--version`, `features`), cached in
# the state dir, never on a plain pass-through; runc 1.1 gets --criu, a
# runc >= 1.2 none but the configured CRIU's directory first on its PATH,
# and runc >= 1.4 never the caller's own --criu; `features` passes through
# byte for byte.  The runc is the host's (1.1.5) behind a logging wrapper
# named runc that records the argv and PATH it got, then execs it: for the
# >= 1.2 cases only the cached version entry says 1.3.6 / 1.4.3 — the real
# runc 1.3.6 run is the compat matrix's (make compat).
# shellcheck source=tests/lib/lib.sh
. "$(dirname "$0")/../lib/lib.sh"
# shellcheck source=tests/lib/bundle.sh
. "$ROOT/tests/lib/bundle.sh"

shim_env ns1 debug
REAL_RUNC=$TARDIS_RUNC
CRIU_DIR=$(dirname "$TARDIS_CRIU")
CACHE=$TARDIS_STATE_DIR/runc-info.json
CALLS=$TMP/calls
W=$TMP/wrap
mkdir -p "$W"
cat >"$W/runc" <<EOF
#!/bin/sh
{ printf 'argv:'; printf ' %s' "\$@"; printf '\nPATH=%s\n' "\$PATH"; } >>"$CALLS"
exec "$REAL_RUNC" "\$@"
EOF
chmod +x "$W/runc"
: >"$CALLS"
calls_mark() { CMARK=$(wc -l <"$CALLS"); }
new_calls() { tail -n +$((CMARK + 1)) "$CALLS"; }
# The argv line of the wrapper's call of SUBCOMMAND (the last one), its PATH.
argv_of() { new_calls | grep -E "^argv:.* $1( |$)" | tail -n 1; }
path_of() { new_calls | grep -A1 -E "^argv:.* $1( |$)" | tail -n 1 | sed 's/^PATH=//'; }
# set_cached_version V: the cache entry of the wrapper says runc V (the
# binary key tardis wrote is kept: the entry stays valid).
set_cached_version() {
	# shellcheck disable=SC2016 # $p is jq's
	jq --arg p "$W/runc" --arg v "$1" '(.runcs[] | select(.path == $p) | .version) = $v' \
		"$CACHE" >"$CACHE.new" && mv "$CACHE.new" "$CACHE"
}

# ---- features: byte for byte, no probe ------------------------------------
"$REAL_RUNC" features >"$TMP/r.out" 2>"$TMP/r.err"
a=$?
"$SHIM" features >"$TMP/t.out" 2>"$TMP/t.err"
b=$?
check "features: same status ($a/$b)" [ "$a" = "$b" ]
check "features: same stdout, byte for byte" cmp "$TMP/r.out" "$TMP/t.out"
check "features: same stderr" cmp "$TMP/r.err" "$TMP/t.err"
"$REAL_RUNC" features --nope >"$TMP/r.out" 2>"$TMP/r.err"
a=$?
"$SHIM" features --nope >"$TMP/t.out" 2>"$TMP/t.err"
b=$?
check "features --nope: runc's status ($a/$b)" [ "$a" = "$b" ]
check "features --nope: runc's stdout" cmp "$TMP/r.out" "$TMP/t.out"
check "features --nope: runc's stderr" \
	[ "$(sed 's/time="[^"]*"//' "$TMP/r.err")" = "$(sed 's/time="[^"]*"//' "$TMP/t.err")" ]

export TARDIS_RUNC=$W/runc
calls_mark
"$SHIM" features >"$TMP/t.out" 2>/dev/null
check "features through the wrapper: runc called once, as given" \
	[ "$(new_calls | grep -c '^argv:')" = 1 -a "$(argv_of features)" = "argv: features" ]
calls_mark
"$SHIM" --root "$RROOT" list >/dev/null 2>&1
check "plain pass-through (list): one runc call, no --version asked" \
	[ "$(new_calls | grep -c '^argv:')" = 1 -a -z "$(new_calls | grep -e '--version')" ]
check "plain pass-through: nothing cached" [ ! -e "$CACHE" ]

# ---- runc 1.1.5 as it is: asked once, --criu given -------------------------
lower_layer sh -c "$COUNTER_SH"
B=$TMP/b1
make_bundle "$B"
check "c1: create + start" create_start "$B" c1
check "c1: counting" wait_for 20 count_at_least "$B" 5
calls_mark
check "c1: delete --force checkpoints" shim delete --force c1
check "c1: image published" [ -s "$IMAGES/c1/manifest.json" ]
check "1.1.5: runc asked its version once" [ "$(new_calls | grep -c '^argv: --version$')" = 1 ]
check "1.1.5: and its features once" [ "$(new_calls | grep -c '^argv: features$')" = 1 ]
cached_is() { # cached_is VERSION CHECKPOINT: the wrapper's cache entry says so
	# shellcheck disable=SC2016 # $p is jq's
	jq -e --arg p "$W/runc" --arg v "$1" --argjson c "$2" \
		'.runcs[] | select(.path == $p) | .version == $v and .checkpoint == $c' "$CACHE" >/dev/null
}
check "1.1.5: cached: version and checkpoint support" cached_is 1.1.5+ds1 1
check "1.1.5: checkpoint got --criu $TARDIS_CRIU" \
	grep -q -- "--criu $TARDIS_CRIU checkpoint" <<<"$(argv_of checkpoint)"
"$BIN/tardisctl" check --no-dump --containerd-config none >"$TMP/check.out" 2>&1
check "tardisctl check: the cached runc line" \
	grep -Eq "runc as cached.*$W/runc, version 1.1.5\+ds1, checkpoint yes" "$TMP/check.out"
drop_bundle "$B"

# ---- runc 1.3.6 (cached version): no --criu, CRIU first on PATH ------------
set_cached_version 1.3.6+ds1
check "no criu on the test's PATH (only the configured one can be found)" \
	not env PATH="$PATH" sh -c 'command -v criu'
make_bundle "$B"
calls_mark
mark_log
check "c1: create (restore)" shim create --bundle "$B" --pid-file "$B/init.pid" c1
check "1.3.6: restored with the configured CRIU" in_log "create $NS/c1: restored"
check "1.3.6: no --version asked (cached)" [ -z "$(new_calls | grep -e '^argv: --version')" ]
check "1.3.6: restore got no --criu" [ -n "$(argv_of restore)" -a -z "$(argv_of restore | grep -e --criu)" ]
check "1.3.6: restore's PATH starts with $CRIU_DIR" \
	[ "${PATH_R:=$(path_of restore)}" != "${PATH_R#"$CRIU_DIR":}" ]
check "c1: start" shim start c1
check "c1: counting again" wait_for 20 count_at_least "$B" 5
rm -rf "${IMAGES:?}/c1"
calls_mark
mark_log
check "c1: delete --force checkpoints again" shim delete --force c1
check "1.3.6: image published (CRIU found on PATH)" [ -s "$IMAGES/c1/manifest.json" ]
check "1.3.6: checkpoint got no --criu" \
	[ -n "$(argv_of checkpoint)" -a -z "$(argv_of checkpoint | grep -e --criu)" ]
check "1.3.6: checkpoint's PATH starts with $CRIU_DIR" \
	[ "${PATH_C:=$(path_of checkpoint)}" != "${PATH_C#"$CRIU_DIR":}" ]
calls_mark
"$SHIM" --criu "$TARDIS_CRIU" --root "$RROOT" list >/dev/null 2>&1
check "1.3.6: the caller's --criu is kept (runc 1.2/1.3 only warn)" \
	grep -q -- "--criu $TARDIS_CRIU --root" <<<"$(argv_of list)"
drop_bundle "$B"

# ---- a CRIU not named criu (1.3.6): runc finds it through a link -------
# <state>/criu-path/<hash>/criu -> the configured file, that dir first on PATH.
mkdir -p "$TMP/other"
cp "$TARDIS_CRIU" "$TMP/other/criu-4.2.1"
make_bundle "$B"
calls_mark
mark_log
check "c1: create (restore) with TARDIS_CRIU=$TMP/other/criu-4.2.1" env TARDIS_CRIU="$TMP/other/criu-4.2.1" \
	"$SHIM" --root "$RROOT" create --bundle "$B" --pid-file "$B/init.pid" c1
check "1.3.6, CRIU not named criu: restored" in_log "create $NS/c1: restored"
L=$(path_of restore)
L=${L%%:*}
check "  ...restore's PATH starts with a link dir in the state dir ($L)" \
	[ "${L#"$TARDIS_STATE_DIR"/criu-path/}" != "$L" ]
check "  ...whose criu is the configured file" [ "$(readlink "$L/criu")" = "$TMP/other/criu-4.2.1" ]
rdelete c1
drop_bundle "$B"
make_bundle "$B"
mark_log
check "c1: create with TARDIS_CRIU=/bin/false" env TARDIS_CRIU=/bin/false \
	"$SHIM" --root "$RROOT" create --bundle "$B" --pid-file "$B/init.pid" c1
check "1.3.6, TARDIS_CRIU=/bin/false: it ran, the restore failed and fell back" \
	in_log "create $NS/c1: restore failed, starting fresh"
check "  ...a fresh container created" [ "$(status_of c1)" = created ]
rdelete c1
drop_bundle "$B"

# ---- runc 1.4.3 (cached version): the caller's --criu dropped ------------
set_cached_version 1.4.3
calls_mark
mark_log
"$SHIM" --criu "$TARDIS_CRIU" --root "$RROOT" list >"$TMP/t.out" 2>&1
check "1.4: pass-through list with --criu: answered" [ $? = 0 ]
check "1.4: runc got no --criu" [ "$(argv_of list)" = "argv: --root $RROOT list" ]
check "1.4: the drop is logged" in_log "rejects --criu.*dropped"
make_bundle "$B"
check "c1: create (restore) with the caller's --criu" \
	"$SHIM" --criu="$TARDIS_CRIU" --root "$RROOT" create --bundle "$B" --pid-file "$B/init.pid" c1
check "1.4: restored" in_log "create $NS/c1: restored"
check "1.4: no runc call got --criu" [ -z "$(new_calls | grep '^argv:' | grep -e --criu)" ]
check "1.4: restore's PATH starts with $CRIU_DIR" \
	[ "${PATH_4:=$(path_of restore)}" != "${PATH_4#"$CRIU_DIR":}" ]
rdelete c1
drop_bundle "$B"
# No image: tardis runs the original create itself (to register the init).
B2=$TMP/b2
make_bundle "$B2"
calls_mark
create_c2() {
	"$SHIM" --criu "$TARDIS_CRIU" --root "$RROOT" create --bundle "$B2" --pid-file "$B2/init.pid" c2 \
		</dev/null >/dev/null 2>&1
}
check "c2 (no image): create with the caller's --criu" create_c2
check "1.4: runc create got no --criu" [ -n "$(argv_of create)" -a -z "$(argv_of create | grep -e --criu)" ]
check "c2: created" [ "$(status_of c2)" = created ]
rdelete c2
drop_bundle "$B2"

summary
