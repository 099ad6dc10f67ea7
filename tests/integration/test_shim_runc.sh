#!/bin/bash
# tardis-runc driven directly, as containerd-shim-runc-v2's cleanup path and
# direct runc users do: exact pass-through, delete --force of a running
# enabled container saves it, corrupted images fall back, a failed restore
# undoes exactly the files it applied, bad input keeps runc's behaviour.
# shellcheck source=tests/lib/lib.sh
. "$(dirname "$0")/../lib/lib.sh"
# shellcheck source=tests/lib/bundle.sh
. "$ROOT/tests/lib/bundle.sh"

shim_env ns1 debug
# Overlay bundles over busybox, as containerd makes them; the counter.
lower_layer sh -c "echo first > /marker; $COUNTER_SH"
echo "from the image" >"$LOWER/rootfs/keep"

# ---- a running enabled container --------------------------------------
B=$TMP/b1
make_bundle "$B"
check "c1: create + start" create_start "$B" c1
check "c1: counting" wait_for 20 count_at_least "$B" 10

# ---- pass-through is exact ---------------------------------------------
same() { # same DESCRIPTION ARGS...: stdout, stderr, status equal to runc's
	local what=$1 a b
	shift
	runc --root "$RROOT" "$@" >"$TMP/r.out" 2>"$TMP/r.err"
	a=$?
	"$SHIM" --root "$RROOT" "$@" >"$TMP/t.out" 2>"$TMP/t.err"
	b=$?
	# runc's error lines carry time="..." to the second: the two runs may
	# straddle a second, so that field is left out of the comparison.
	check "pass-through $what: same status ($a/$b)" [ "$a" = "$b" ]
	check "pass-through $what: same stdout" cmp -s "$TMP/r.out" "$TMP/t.out"
	check "pass-through $what: same stderr" \
		[ "$(sed 's/time="[^"]*"//' "$TMP/r.err")" = "$(sed 's/time="[^"]*"//' "$TMP/t.err")" ]
}
same "state" state c1
same "state of a missing container" state nope
same "list" list
same "list --format json" list --format json
same "features" features
same "--version" --version
# ps of a container whose process forks nothing (the counter's sleeps come
# and go between two calls).
"$ROOT/scripts/rootfs.sh" "$TMP/quiet" sleep 100000 >/dev/null
runc --root "$RROOT" run -d --bundle "$TMP/quiet" quiet </dev/null >/dev/null 2>&1
same "ps --format json" ps --format json quiet
runc --root "$RROOT" delete -f quiet
same "an unknown subcommand" frobnicate c1
check "no tardis output on stdout for enabled calls" [ ! -s "$TMP/t.out" -o "$(cat "$TMP/t.out")" = "" ]

# ---- delete --force of the running container checkpoints it first -----
c1=$(count_in "$B")
check "c1: delete --force" shim delete --force c1
check "c1: an image was published first" [ -s "$IMAGES/c1/manifest.json" ]
check "c1: the container is gone" [ -z "$(status_of c1)" ]
check "c1: killed by the checkpoint -> exit 137 recorded, image kept" \
	wait_for 5 grep -q '"exit_status":137' "$TARDIS_STATE_DIR/containers/$NS/c1/exit.json"
c1=$(count_in "$B")
cp -a "$IMAGES/c1" "$TMP/good-image"
drop_bundle "$B"

# The same id created again (a fresh rootfs, as on another node): restored.
make_bundle "$B"
check "c1: create again" shim create --bundle "$B" --pid-file "$B/init.pid" c1
check "c1: restored" grep -q "create $NS/c1: restored" "$TARDIS_LOG_FILE"
check "c1: start answered 0" shim start c1
check "c1: running" [ "$(status_of c1)" = running ]
sleep 0.5
c2=$(count_in "$B")
check "c1: count continues ($c1 -> $c2)" [ "$c2" -gt "$c1" ]
check "c1: /marker is back" [ "$(cat "$B/rootfs/marker")" = first ]
# A second checkpoint replaces the image: the replaced one is handed to
# the agent (forgotten/), which removes it a second later.
m1=$(sha256sum <"$IMAGES/c1/manifest.json")
check "c1: delete --force again (its checkpoint replaces the image)" shim delete --force c1
check "c1: a new image replaced the first" [ "$(sha256sum <"$IMAGES/c1/manifest.json")" != "$m1" ]
check "c1: nothing left beside the image" [ -z "$(ls -A "$IMAGES" | grep -v '^c1$')" ]
forgotten_empty() { [ -z "$(ls -A "$TARDIS_STATE_DIR/forgotten" 2>/dev/null)" ]; }
check "c1: the replaced image removed by the agent" wait_for 30 forgotten_empty
runc --root "$RROOT" delete -f c1 2>/dev/null
drop_bundle "$B"

# ---- each corrupted image: fresh start, image kept, reason logged ------
corrupt_case() { # corrupt_case NAME REASON-REGEX COMMAND-ON-IMAGE-DIR
	local name=$1 reason=$2 cmd=$3 id=bad-$1 before after
	rm -rf "${IMAGES:?}/$id"
	mkdir -p "$IMAGES"
	cp -a "$TMP/good-image" "$IMAGES/$id"
	(cd "$IMAGES/$id" && eval "$cmd")
	before=$(cd "$IMAGES/$id" && find . -type f -exec sha256sum {} + | sort)
	make_bundle "$TMP/$id"
	check "$name: create falls back to a fresh start" create_start "$TMP/$id" "$id"
	check "$name: the container runs, from the start" wait_for 10 count_at_least "$TMP/$id" 1
	check "$name: the count started afresh" [ "$(count_in "$TMP/$id")" -lt "$c1" ]
	after=$(cd "$IMAGES/$id" && find . -type f -exec sha256sum {} + | sort)
	check "$name: the bad image is kept as it was" [ "$before" = "$after" ]
	check "$name: the log names the reason" grep -Eq "create $NS/$id: image .* is invalid \($reason" "$TARDIS_LOG_FILE"
	runc --root "$RROOT" delete -f "$id"
	drop_bundle "$TMP/$id"
}
corrupt_case truncated "files: pages-1.img: size" 'truncate -s 100 pages-1.img'
corrupt_case nomanifest "manifest:" 'rm manifest.json'
corrupt_case checksum "files: .*checksum mismatch" 'printf X | dd of=pstree.img bs=1 seek=20 conv=notrunc 2>/dev/null'
corrupt_case dumplog "dump_log: does not end" 'sed -i "s/Dumping finished successfully/Dumping failed/" dump.log'

# ---- a restore that fails after the files were applied -----------------
rm -rf "${IMAGES:?}/c9"
cp -a "$TMP/good-image" "$IMAGES/c9"
# The same image, as c9's (the manifest is not among its checksummed files).
jq '.id = "c9"' "$TMP/good-image/manifest.json" >"$IMAGES/c9/manifest.json"
B=$TMP/b9
make_bundle "$B"
echo "preexisting" >"$B/rootfs/data/count" # the image has its own /data/count
echo "untouched" >"$B/rootfs/other"
before=$(cd "$B/rootfs" && find . -xdev \( -type f -o -type l \) -exec sha256sum {} + 2>/dev/null | sort)
check "c9: create with a CRIU that fails" env TARDIS_CRIU=/bin/false \
	"$SHIM" --root "$RROOT" create --bundle "$B" --pid-file "$B/init.pid" c9
check "c9: the restore failed and fell back" grep -q "create $NS/c9: restore failed, starting fresh" "$TARDIS_LOG_FILE"
after=$(cd "$B/rootfs" && find . -xdev \( -type f -o -type l \) -exec sha256sum {} + 2>/dev/null | sort)
check "c9: exactly the applied files were undone (rootfs as before)" [ "$before" = "$after" ]
check "c9: /marker from the image is not there" [ ! -e "$B/rootfs/marker" ]
check "c9: the file the image replaced has its content back" [ "$(cat "$B/rootfs/data/count")" = preexisting ]
check "c9: no half-restored container left; a fresh one is created" [ "$(status_of c9)" = created ]
check "c9: it starts fresh" shim start c9
check "c9: and runs" wait_for 10 grep -q "^[0-9]" "$B/rootfs/data/count"
runc --root "$RROOT" delete -f c9
drop_bundle "$B"

# ---- bad input keeps runc's own behaviour ------------------------------
compare_create() { # compare_create DESCRIPTION BUNDLE ID
	local what=$1 b=$2 id=$3 a t
	runc --root "$TMP/runc-ref" create --bundle "$b" "$id" </dev/null >"$TMP/r.out" 2>"$TMP/r.err"
	a=$?
	runc --root "$TMP/runc-ref" delete -f "$id" >/dev/null 2>&1
	"$SHIM" --root "$TMP/runc-cmp" create --bundle "$b" "$id" </dev/null >"$TMP/t.out" 2>"$TMP/t.err"
	t=$?
	runc --root "$TMP/runc-cmp" delete -f "$id" >/dev/null 2>&1
	check "$what: same exit status as runc ($a/$t)" [ "$a" = "$t" ]
	check "$what: same stdout" cmp -s "$TMP/r.out" "$TMP/t.out"
	check "$what: same error from runc ($(head -c 100 "$TMP/t.err"))" \
		[ "$(sed 's/time="[^"]*"//' "$TMP/r.err")" = "$(sed 's/time="[^"]*"//' "$TMP/t.err")" ]
}
mkdir -p "$TMP/badcfg/rootfs"
printf '{"process": {"env": ["TARDIS_ENABLE=1"], ' >"$TMP/badcfg/config.json"
compare_create "malformed config.json" "$TMP/badcfg" bc1
check "malformed config.json: a clear log line" grep -q "create bc1: .*config.json" "$TARDIS_LOG_FILE"
compare_create "missing bundle" "$TMP/no-such-bundle" mb1
check "missing bundle: a clear log line" grep -q "create mb1: .*no-such-bundle" "$TARDIS_LOG_FILE"
B=$TMP/b-evil
make_bundle "$B"
compare_create "container id ../../etc" "$B" "../../etc"
check "id ../../etc: a clear log line" grep -q "refusing namespace/id" "$TARDIS_LOG_FILE"
check "id ../../etc: nothing written for it" [ -z "$(find "$TARDIS_STATE_DIR" -name etc)" ]
check "id ../../etc: nothing next to the state dir" [ ! -e "$TARDIS_STATE_DIR/../etc" -a ! -e "$TMP/etc" ]
drop_bundle "$B"
out=$(TARDIS_RUNC=/nonexistent/runc "$SHIM" --version 2>&1)
rc=$?
check "missing runc: clear error ($out), exit 127" [ "$rc" = 127 ]
check "missing runc: named in the message" grep -q "not executable" <<<"$out"
out=$(TARDIS_RUNC=$SHIM "$SHIM" --version 2>&1)
check "runc = tardis-runc itself is refused ($out)" grep -q "itself" <<<"$out"
out=$(TARDIS_RUNC=$BIN/tardis-runc-full "$SHIM" delete x 2>&1)
check "runc = tardis-runc-full is refused too ($out)" grep -q "itself" <<<"$out"
# The front alone (tardis-runc-full missing): runc does every call, the
# log says why.
mkdir -p "$TMP/lone" && cp "$SHIM" "$TMP/lone/tardis-runc"
untimed() { sed 's/time="[^"]*" //'; }
out=$("$TMP/lone/tardis-runc" --root "$RROOT" delete no-such-ctr 2>&1 | untimed; exit "${PIPESTATUS[0]}")
rc=$?
ref=$(runc --root "$RROOT" delete no-such-ctr 2>&1 | untimed)
check "front alone: runc answers delete (rc $rc: $out)" [ "$rc" = 1 -a "$out" = "$ref" ]
check "front alone: the log names the missing tardis-runc-full" \
	grep -q "lone/tardis-runc-full: No such file or directory: runc runs this call without tardis" "$TARDIS_LOG_FILE"

# A missing CRIU: delete --force still deletes (the checkpoint is a warning).
B=$TMP/b10
make_bundle "$B"
create_start "$B" c10
wait_for 10 count_at_least "$B" 2
check "no CRIU: delete --force still deletes" env TARDIS_CRIU=/nonexistent/criu \
	"$SHIM" --root "$RROOT" delete --force c10
check "no CRIU: the container is gone" [ -z "$(status_of c10)" ]
check "no CRIU: a warning names the failed checkpoint" grep -q "delete $NS/c10: checkpoint failed; deleting anyway" "$TARDIS_LOG_FILE"
check "no CRIU: no image published" [ ! -e "$IMAGES/c10" ]
drop_bundle "$B"

summary
