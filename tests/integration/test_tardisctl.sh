#!/bin/bash
# tardisctl against a state directory made by real runs: a private
# containerd, enabled containers through tardis-runc, CRIU, our own tardisd.
# Every command: list/show (against `ctr task ls`), wait (exit codes,
# --timeout), validate (each kind of corruption names its check), finalize
# (checkpointed, stopped, restorable), gc (only what is old enough), log
# (config edited in place), exits/counters/register, --help and misuse;
# and tardisd's metrics file through a strict Prometheus format checker.
# shellcheck source=tests/lib/lib.sh
. "$(dirname "$0")/../lib/lib.sh"
# shellcheck source=tests/lib/containerd.sh
. "$ROOT/tests/lib/containerd.sh"

CTL=$BIN/tardisctl
PROM_CHECK=$ROOT/tests/lib/prom_check.awk
SHIM=$BIN/tardis-runc
NFS=$TMP/nfs
STATE=$TARDIS_STATE_DIR
mkdir -p "$NFS"


rc_of() { "$@" >/dev/null 2>&1; echo $?; }
ctl_rc_is() { # ctl_rc_is WANT ARGS...: tardisctl ARGS exits WANT
	local want=$1 rc
	shift
	"$CTL" "$@" >"$TMP/out" 2>"$TMP/err"
	rc=$?
	[ "$rc" = "$want" ] || { echo "  tardisctl $*: rc $rc, want $want"; sed 's/^/  | /' "$TMP/err"; return 1; }
}

# ---- --help and misuse need no containers ---------------------------------
check "tardisctl --help: rc 0, lists the commands" \
	bash -c '"$1" --help | grep -q "^  finalize "' _ "$CTL"
for cmd in list show wait exits counters validate finalize gc log register; do
	out=$("$CTL" "$cmd" --help 2>&1)
	rc=$?
	check "$cmd --help: rc 0 and its usage" [ "$rc" = 0 -a "${out#usage: tardisctl "$cmd"}" != "$out" ]
done
while read -r args; do
	# shellcheck disable=SC2086
	check "misuse, rc 2: tardisctl $args" ctl_rc_is 2 $args
done <<-'EOF'

	bogus
	--state-dir
	list --bogus
	list extra
	list -n a/b
	show
	show noslash
	show default/..
	show default/a default/b
	wait
	wait --timeout 5x default/a
	wait --timeout
	exits extra
	counters extra
	validate
	validate a b
	finalize extra
	finalize --namespace ../x
	gc
	gc --older-than 7x
	gc --older-than
	gc --older-than 7d extra
	gc --older-than 7d --now yesterday
	log --level loud
	log --file relative/path
	log extra
	register default/x notapid
	register default/x 0
	help bogus
EOF
check "show of a container that does not exist: rc 1" ctl_rc_is 1 show default/nothing
check "  ...and says so" grep -q "no such container" "$TMP/err"
check "wait for a container that does not exist: rc 1" ctl_rc_is 1 wait default/nothing
check "validate of a missing directory: rc 1" ctl_rc_is 1 validate "$TMP/no-image"
check "list of an empty store: header only" \
	bash -c '[ "$("$1" list | wc -l)" = 1 ] && [ "$("$1" list --json | jq length)" = 0 ]' _ "$CTL"

# ---- the real thing --------------------------------------------------------
need_criu
TARDIS_RUNC=$(command -v runc)
export TARDIS_RUNC
export TARDIS_LOG_FILE=$TMP/tardis-runc.log
export TARDIS_LOG_LEVEL=debug

check "tardisd starts" start_agent
ctd_start || { fail "containerd"; summary; exit 1; }
ctd_image || { fail "image"; summary; exit 1; }

js() { # js ID JQ-FILTER: a field of the container in `list --json`
	"$CTL" list --json | jq -r --arg id "$1" ".[] | select(.namespace == \"default\" and .id == \$id) | $2"
}
ctr_checkpoint() { # a checkpoint by containerd, as a user makes one
	ctr_ c checkpoint --task "$1" "localhost/ckpt-$1:1" >/dev/null 2>&1
	ctr_ image rm "localhost/ckpt-$1:1" >/dev/null 2>&1
	wait_for 10 task_is "$1" STOPPED
}

# ---- wait: the exit code, --timeout ----------------------------------------
run_enabled w3
check "w3: running and counting" wait_for 20 count_at_least w3 3
check "list --json: w3 running" [ "$(js w3 .state)" = running ]
check "list --json: w3's init pid is containerd's task pid" [ "$(js w3 .init_pid)" = "$(task_pid w3)" ]
t0=$(date +%s%N)
check "wait --timeout 1s on a running container: rc 124" ctl_rc_is 124 wait --timeout 1s default/w3
t1=$(date +%s%N)
# It waited (at least the second asked for); how much longer is load.
check "  ...not before the second was up ($(((t1 - t0) / 1000000)) ms)" [ $(((t1 - t0) / 1000000)) -ge 900 ]
"$CTL" wait default/w3 >"$TMP/wait.out" 2>&1 &
waiter=$!
sleep 0.5
check "wait blocks while the container runs" kill -0 $waiter
exit_with w3 3
wait $waiter
rc=$?
check "wait returns the container's exit code: 3 (got $rc)" [ "$rc" = 3 ]
check "  ...and says so ($(cat "$TMP/wait.out"))" grep -q "default/w3 exited: exit status 3" "$TMP/wait.out"
check "w3: containerd says STOPPED" wait_for 10 task_is w3 STOPPED
check "wait on a recorded exit returns at once: rc 3" ctl_rc_is 3 wait --timeout 2s default/w3
check "list --json: w3 exited, exit_status 3" [ "$(js w3 '"\(.state) \(.exit_status)"')" = "exited 3" ]
check "list --json: w3 has no image" [ "$(js w3 .image.present)" = false ]
remove_container w3

# Exit 0: tardis-runc's delete removes the state; the waiter still gets 0.
run_enabled w0
check "w0: counting" wait_for 20 count_at_least w0 2
"$CTL" wait default/w0 >"$TMP/wait.out" 2>&1 &
waiter=$!
exit_with w0 0
wait_for 10 task_is w0 STOPPED
remove_container w0
wait $waiter
rc=$?
check "wait on a container that exits 0 and is cleaned up: rc 0 (got $rc: $(cat "$TMP/wait.out"))" [ "$rc" = 0 ]
check "  ...its state is gone" [ ! -e "$STATE/containers/default/w0" ]

# ---- finalize: every enabled running container checkpointed and stopped -----
run_enabled f1
run_enabled f2
ctr_ run -d localhost/bb:latest plain sh -c 'while :; do sleep 1; done' >/dev/null
check "f1, f2: counting" wait_for 20 bash -c "[ \$(cat $NFS/work/default/f1/count 2>/dev/null || echo 0) -ge 3 ] && [ \$(cat $NFS/work/default/f2/count 2>/dev/null || echo 0) -ge 3 ]"
check "the plain container is not in the state store" [ -z "$(js plain .id)" ]

list_matches_ctr() { # every container of the store: running <=> containerd's RUNNING
	local ok=0 ns id state pid
	while read -r ns id state pid; do
		[ "$ns" = default ] || continue
		if [ "$state" = running ]; then
			task_is "$id" RUNNING && [ "$(task_pid "$id")" = "$pid" ] ||
				{ echo "  $id: tardisctl running (pid $pid), ctr $(task_status "$id") $(task_pid "$id")"; ok=1; }
		else
			! task_is "$id" RUNNING || { echo "  $id: tardisctl $state, ctr RUNNING"; ok=1; }
		fi
	done < <("$CTL" list --json | jq -r '.[] | "\(.namespace) \(.id) \(.state) \(.init_pid)"')
	return $ok
}
check "list --json matches ctr task ls (running)" list_matches_ctr
"$CTL" list | sed 's/^/# /'

out=$("$CTL" finalize --dry-run --address "$CTD_SOCK")
check "finalize --dry-run: would checkpoint 2, touches nothing ($(tail -1 <<<"$out"))" \
	bash -c '[[ $1 == *"would checkpoint 2, failed 0"* ]] && [ "$2" = RUNNING ]' _ "$out" "$(task_status f1)"
c1=$(count_of f1)
# ctr as containerd 1.6 sometimes answers (seen here once): f2's task
# checkpointed, then the content store fails on the empty layer f1's
# checkpoint wrote a moment before, and ctr leaves no image.
cat >"$TMP/ctr-late-fail" <<'CTR'
#!/bin/bash
ctr "$@" || exit
if [ "${6:-}" = checkpoint ] && [ "${8:-}" = f2 ]; then
	ctr -a "$2" -n "$4" images rm "$9" >/dev/null
	echo "ctr: content sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef: already exists: unknown" >&2
	exit 1
fi
CTR
chmod +x "$TMP/ctr-late-fail"
"$CTL" finalize --address "$CTD_SOCK" --ctr "$TMP/ctr-late-fail" >"$TMP/finalize.out" 2>&1
rc=$?
sed 's/^/# /' "$TMP/finalize.out"
check "finalize: rc 0" [ "$rc" = 0 ]
check "finalize: summary says checkpointed 2, failed 0" grep -q "^finalize: checkpointed 2, failed 0" "$TMP/finalize.out"
check "finalize: f2 checkpointed by tardis though ctr failed after it, and it says so" \
	grep -q "default/f2: checkpointed by tardis, though ctr failed: .*already exists" "$TMP/finalize.out"
for id in f1 f2; do
	check "finalize: $id stopped (containerd: $(task_status $id))" task_is $id STOPPED
	check "finalize: $id checkpointed, image valid" \
		[ "$(js $id '"\(.state) \(.image.valid)"')" = "checkpointed true" ]
	check "finalize: $id validates" ctl_rc_is 0 validate "$(image_of $id)"
done
check "finalize: the plain container still runs" task_is plain RUNNING
check "finalize: containerd keeps no checkpoint image of ours" \
	bash -c '! ctr -a "$1" image ls -q | grep -q tardis-finalize' _ "$CTD_SOCK"
check "list --json matches ctr task ls (after finalize)" list_matches_ctr
check "list --json: f1 last_checkpoint has when, duration, size" \
	[ "$(js f1 '.last_checkpoint | "\(.at != null) \(.duration_ms >= 0) \(.size > 0)"')" = "true true true" ]
check "list --json: f1 image size is the checkpoint's" [ "$(js f1 .image.size)" = "$(js f1 .last_checkpoint.size)" ]
"$CTL" list | sed 's/^/# /'
check "list (table): columns aligned" bash -c '"$1" list | awk "NR == 1 { p = index(\$0, \"STATE\") } NR > 1 && substr(\$0, p - 2, 2) != \"  \" { bad = 1 } END { exit bad }"' _ "$CTL"
cp -a "$(image_of f1)" "$TMP/img"

for id in f1 f2; do
	remove_container $id
	run_enabled $id
	check "after finalize: $id created again -> restored" grep -q "create default/$id: restored" "$TARDIS_LOG_FILE"
done
sleep 0.5
check "f1: the count continues ($c1 -> $(count_of f1))" [ "$(count_of f1)" -gt "$c1" ]
check "list --json: f1 running, 1 restore, last restore restored" \
	[ "$(js f1 '"\(.state) \(.restores) \(.last_restore.result)"')" = "running 1 restored" ]
check "list --json matches ctr task ls (after restore)" list_matches_ctr

# A running container the store knows but containerd does not: finalize
# fails on it, names it, and says why.
sleep 1000 &
ghost=$!
on_cleanup "kill $ghost 2>/dev/null"
"$CTL" register fake/ghost $ghost
"$CTL" finalize --address "$CTD_SOCK" --namespace fake >"$TMP/finalize.out" 2>&1
rc=$?
sed 's/^/# /' "$TMP/finalize.out"
check "finalize of a container containerd does not know: rc 1" [ "$rc" = 1 ]
check "  ...summary: checkpointed 0, failed 1" grep -q "^finalize: checkpointed 0, failed 1" "$TMP/finalize.out"
check "  ...the failure names it and ctr's reason" grep -q "^fake/ghost: FAILED: ctr checkpoint failed" "$TMP/finalize.out"
check "finalize --namespace: the other namespaces untouched" task_is f1 RUNNING
kill $ghost
wait $ghost 2>/dev/null

# ---- why a restore fell back: show, list, the log --------------------------
run_enabled fb
check "fb: counting" wait_for 20 count_at_least fb 2
ctr_checkpoint fb
pages=$(ls "$(image_of fb)"/pages-*.img | head -1)
truncate -s -1 "$pages"
remove_container fb
run_enabled fb
check "fb (truncated image): started fresh" wait_for 10 task_is fb RUNNING
check "list --json: fb last restore fell back, reason names the files check" \
	bash -c '[[ $("$1" list --json | jq -r ".[] | select(.id == \"fb\") | .last_restore | \"\(.result)|\(.reason)\"") == "fell back|files: pages-"* ]]' _ "$CTL"
check "list --json: fb image invalid" [ "$(js fb '"\(.image.present) \(.image.valid)"')" = "true false" ]
check "list: the table says why" bash -c '"$1" list | grep -qE "^default +fb +- +running .*INVALID.*fell back: files: pages-"' _ "$CTL"
"$CTL" show default/fb >"$TMP/show" 2>&1
sed 's/^/# /' "$TMP/show"
check "show: human readable state line" grep -qE "^  state +running$" "$TMP/show"
check "show: the image's failed check" grep -qE "^ +FAIL files +pages-" "$TMP/show"
check "show: why the restore fell back" grep -q "fell back to a fresh start after .*: files: pages-" "$TMP/show"
check "show: the failed restore is counted, with its reason" grep -qE "^  failed restores +1; last .*: files: pages-" "$TMP/show"
check "list --json: fb restore_failures 1, last_restore_failure names the files check" \
	[ "$(js fb '"\(.restore_failures) \(.last_restore_failure.reason | startswith("files: pages-"))"')" = "1 true" ]
check "metrics: the failed restore counted" \
	wait_for 5 awk '$1 == "tardis_restore_failures_total" && $2 >= 1 { ok = 1 } END { exit !ok }' "$STATE/metrics.prom"
check "the log says so too" grep -q "create default/fb: image .* is invalid (files: pages-" "$TARDIS_LOG_FILE"
check "show --json parses, names the image checks" \
	[ "$("$CTL" show --json default/fb | jq -r '[.image.checks[] | select(.ok | not) | .name] | join(",")')" = files ]
check "show --json of an exited container: .exit is the exit record" \
	bash -c 'ctr -a "$1" task kill -s KILL f1 >/dev/null; for _ in $(seq 100); do [ "$("$2" show --json default/f1 | jq -r .exit.exit_status)" = 137 ] && exit 0; sleep 0.1; done; exit 1' _ "$CTD_SOCK" "$CTL"
check "  ...state exited, exit_status 137" [ "$(js f1 '"\(.state) \(.exit_status)"')" = "exited 137" ]

# ---- validate: every kind of corruption names its check ---------------------
check "validate a good image: rc 0" ctl_rc_is 0 validate "$TMP/img"
check "  ...six checks, all pass" [ "$(grep -c '^pass ' "$TMP/out")" = 6 ]
check "validate --json: valid, six checks" \
	[ "$("$CTL" validate --json "$TMP/img" | jq -r '"\(.valid) \([.checks[] | select(.result == "pass")] | length)"')" = "true 6" ]
check "the image is of format 3: every file's sum is XXH3-128, as xxhsum -H2 computes it" \
	bash -c 'cd "$1" && [ "$(jq .format_version manifest.json)" = 3 ] &&
		[ "$(jq -r ".files[] | \"\(.xxh128)  \(.name)\"" manifest.json | sort)" = "$(jq -r ".files[].name" manifest.json | xargs xxhsum -H2 | sort)" ]' _ "$TMP/img"
# An image of format 2 (written by tardis before 2026-11-27): SHA-256 sums.
as_format2() {
	local f
	cp manifest.json m.json
	for f in $(jq -r '.files[].name' m.json); do
		jq --arg n "$f" --arg s "$(sha256sum <"$f" | cut -d' ' -f1)" \
			'.files |= map(if .name == $n then del(.xxh128) + { sha256: $s } else . end)' m.json >m2.json &&
			mv m2.json m.json
	done
	jq '.format_version = 2' m.json >manifest.json && rm m.json
}
cp -a "$TMP/img" "$TMP/img-v2"
(cd "$TMP/img-v2" && as_format2)
v2_valid() {
	ctl_rc_is 0 validate "$TMP/img-v2" && [ "$(grep -c "^pass " "$TMP/out")" = 6 ] &&
		grep -q "format_version 2" "$TMP/out"
}
v2_changed_fails() {
	local f
	f=$(jq -r ".files[0].name" "$TMP/img-v2/manifest.json")
	printf '\xff\xfe' | dd of="$TMP/img-v2/$f" bs=1 seek=10 conv=notrunc status=none
	ctl_rc_is 1 validate "$TMP/img-v2" && grep -qE "^FAIL +files .*checksum mismatch" "$TMP/out"
}
check "validate an image of format 2 (SHA-256 sums): rc 0, all six checks pass" v2_valid
check "validate: format 2, a byte changed -> files: checksum mismatch" v2_changed_fails
corrupt() { # corrupt NAME WANT_CHECK COMMAND...: COMMAND runs in a copy
	local name=$1 want=$2 d=$TMP/bad-$1
	shift 2
	cp -a "$TMP/img" "$d"
	(cd "$d" && "$@")
	ctl_rc_is 1 validate "$d" || return 1
	grep -qE "^FAIL +$want " "$TMP/out" || { sed 's/^/  | /' "$TMP/out"; return 1; }
	[ "$("$CTL" validate --json "$d" | jq -r "[.checks[] | select(.result == \"fail\") | .name] | index(\"$want\") != null")" = true ]
}
first_pages() { ls pages-*.img | head -1; }
check "validate: truncated pages file -> files" corrupt trunc files bash -c 'truncate -s -1 "$(ls pages-*.img | head -1)"'
check "validate: missing manifest -> manifest" corrupt nomanifest manifest rm manifest.json
check "validate: checksum mismatch -> files" corrupt checksum files \
	bash -c 'f=$(ls pages-*.img | head -1); printf "\xff\xfe" | dd of="$f" bs=1 seek=100 conv=notrunc status=none'
check "  ...says checksum mismatch" grep -q "checksum mismatch" "$TMP/out"
check "validate: dump.log without its success line -> dump_log" corrupt dumplog dump_log \
	sed -i '/Dumping finished successfully/d' dump.log
check "validate: missing descriptors.json -> descriptors" corrupt nodesc descriptors rm descriptors.json
check "validate: bad inventory magic -> inventory" corrupt magic inventory \
	dd if=/dev/zero of=inventory.img bs=1 count=8 conv=notrunc status=none
check "validate: unsupported format -> format" corrupt format format \
	sed -i 's/"format_version":[[:space:]]*[0-9]*/"format_version": 99/' manifest.json

# ---- exits, counters, register ---------------------------------------------
w3pid=$(jq -r .pid "$STATE/containers/default/w3/exit.json")
check "exits --json: every line parses" bash -c '"$1" exits --json | jq -e . >/dev/null' _ "$CTL"
check "exits --json: holds w3's init ($w3pid, status 3)" \
	bash -c '"$1" exits --json | jq -se "any(.pid == $2 and .exit_status == 3)" >/dev/null' _ "$CTL" "$w3pid"
check "exits: table with a header" bash -c '"$1" exits | head -1 | grep -q "^PID "' _ "$CTL"
check "counters: JSON, captured > 0" bash -c '[ "$("$1" counters | jq .captured)" -gt 0 ]' _ "$CTL"
sleep 1000 &
reg=$!
check "register NS/ID PID" "$CTL" register other/reg1 $reg
check "  ...list shows it running with that pid" \
	[ "$("$CTL" list --json -n other | jq -r '.[0] | "\(.id) \(.state) \(.init_pid)"')" = "reg1 running $reg" ]
{ kill -9 $reg && wait $reg; } 2>/dev/null
check "wait on it: 137 (SIGKILL)" ctl_rc_is 137 wait --timeout 10s other/reg1

# ---- gc: only what is old enough --------------------------------------------
run_enabled gold
run_enabled gnew
check "gold, gnew: counting" wait_for 20 bash -c "[ \$(cat $NFS/work/default/gold/count 2>/dev/null || echo 0) -ge 2 ] && [ \$(cat $NFS/work/default/gnew/count 2>/dev/null || echo 0) -ge 2 ]"
ctr_checkpoint gold
ctr_checkpoint gnew
remove_container gold
remove_container gnew
check "gold, gnew: checkpointed" [ "$(js gold .state) $(js gnew .state)" = "checkpointed checkpointed" ]
age() { # age ID DATE: the container's files and image look that old
	touch -h -d "$2" "$STATE/containers/default/$1"/* "$(image_of "$1")" "$(image_of "$1")"/*
}
age gold "10 days ago"
age f2 "10 days ago" # running: never collected
ls "$STATE/containers/default" >"$TMP/before"
"$CTL" gc --older-than 7d --dry-run >"$TMP/gc.out" 2>&1
sed 's/^/# /' "$TMP/gc.out"
check "gc --dry-run: would remove gold only" \
	bash -c '[ "$(grep -c "would remove (" "$1")" = 1 ] && grep -q "^default/gold: would remove (checkpointed" "$1"' _ "$TMP/gc.out"
check "gc --dry-run: removes nothing" bash -c 'ls "$1" | cmp -s - "$2" && [ -d "$3" ]' _ \
	"$STATE/containers/default" "$TMP/before" "$(image_of gold)"
"$CTL" gc --older-than 7d >"$TMP/gc.out" 2>&1
rc=$?
sed 's/^/# /' "$TMP/gc.out"
check "gc --older-than 7d: rc 0, removed 1" bash -c '[ "$1" = 0 ] && grep -q "^gc: removed 1 " "$2"' _ "$rc" "$TMP/gc.out"
check "gc: gold's state and image are gone" [ ! -e "$STATE/containers/default/gold" -a ! -e "$(image_of gold)" ]
check "gc: gold's work dir (its data) is kept" [ -d "$NFS/work/default/gold" ]
check "gc: gnew (recent), w3 (recent), f2 (running, old) are kept" \
	[ -d "$STATE/containers/default/gnew" -a -d "$STATE/containers/default/w3" -a -d "$STATE/containers/default/f2" -a -d "$(image_of gnew)" ]
later=$(($(date +%s) + 86400))
"$CTL" gc --older-than 12h --now "$later" >"$TMP/gc.out" 2>&1
sed 's/^/# /' "$TMP/gc.out"
check "gc --older-than 12h a day later: gnew, w3, f1 (exited) removed" \
	[ ! -e "$STATE/containers/default/gnew" -a ! -e "$(image_of gnew)" -a ! -e "$STATE/containers/default/w3" -a ! -e "$STATE/containers/default/f1" ]
check "  ...f2 (running) kept" [ -d "$STATE/containers/default/f2" ]
check "  ...f2 still restorable later: its image is kept" [ -d "$(image_of f2)" ]

# ---- log: the config file edited in place ------------------------------------
conf=$TMP/etc/tardis.conf
mkdir -p "$TMP/etc"
cat >"$conf" <<-'EOF'
	# tardis test config
	restore_timeout = 61   # keep me
	log_level = info

	# the end
EOF
check "log --level debug --file F: rc 0" \
	bash -c 'TARDIS_CONFIG=$1 "$2" log --level debug --file "$3" | sed "s/^/# /"; exit ${PIPESTATUS[0]}' _ "$conf" "$CTL" "$TMP/new.log"
check "  ...log_level and log_file set, everything else kept" diff -u - "$conf" <<-EOF
	# tardis test config
	restore_timeout = 61   # keep me
	log_level = debug

	# the end
	log_file = $TMP/new.log
EOF
check "log (no options) prints the file's values" \
	bash -c '[ "$(TARDIS_CONFIG=$1 "$2" log 2>/dev/null)" = "$(printf "log_level = debug\nlog_file = %s" "$3")" ]' _ "$conf" "$CTL" "$TMP/new.log"
# `delete` is a call tardis may handle, so it opens its log (`state` goes
# straight to runc without one).
env -u TARDIS_LOG_FILE -u TARDIS_LOG_LEVEL TARDIS_CONFIG="$conf" "$SHIM" delete no-such-container >/dev/null 2>&1
check "tardis-runc follows the new log_file" [ -e "$TMP/new.log" ]
cp "$conf" "$TMP/conf.before"
check "log --level loud: rc 2" bash -c '[ "$(TARDIS_CONFIG=$1 "$2" log --level loud >/dev/null 2>&1; echo $?)" = 2 ]' _ "$conf" "$CTL"
check "  ...the file is unchanged" cmp -s "$conf" "$TMP/conf.before"
ln -s "$conf" "$TMP/etc/link.conf"
check "log through a symlinked config: rc 0" \
	bash -c 'TARDIS_CONFIG=$1 "$2" log --level warn | sed "s/^/# /"; exit ${PIPESTATUS[0]}' _ "$TMP/etc/link.conf" "$CTL"
check "  ...the link stays a link, its target changed" \
	bash -c '[ -L "$1" ] && grep -qx "log_level = warn" "$2"' _ "$TMP/etc/link.conf" "$conf"
check "log into a config that does not exist yet creates it" \
	bash -c 'TARDIS_CONFIG=$1/new/tardis.conf "$2" log --file syslog >/dev/null && [ "$(cat "$1/new/tardis.conf")" = "log_file = syslog" ]' _ "$TMP/etc" "$CTL"
check "tardisd was told to reload" grep -q "configuration reloaded" "$TMP/tardisd.log"
check "  ...and kept its command-line log settings" grep -q "configuration reloaded: log_level=info log_file=$TMP/tardisd.log" "$TMP/tardisd.log"

# ---- tardisd's metrics: valid Prometheus text -------------------------------
M=$STATE/metrics.prom
check "metrics file exists, mode 0644" [ "$(stat -c %a "$M" 2>/dev/null)" = 644 ]
check "metrics file ends with a newline" [ -z "$(tail -c 1 "$M")" ]
check "metrics pass the strict checker" awk -f "$PROM_CHECK" "$M"
metric() { awk -v n="$1" '$1 == n { print $2 }' "$M"; }
check "metrics: exits recorded ($(metric tardis_exits_recorded_total)) >= 5" [ "$(metric tardis_exits_recorded_total)" -ge 5 ]
check "metrics: latency histogram counted the ring buffer's records" \
	[ "$(metric 'tardis_exit_record_latency_seconds_count{source="bpf"}')" -ge 5 ]
check "metrics: kernel drop counter present" [ -n "$(metric tardis_ring_buffer_drops_total)" ]
sed -n '/^tardis_exit_record_latency_seconds_bucket{source="bpf",le="0.001"}/p;/^tardis_exit_record_latency_seconds_count/p;/^tardis[a-z_]*_total /p' "$M" | sed 's/^/# /'
# The checker is strict: it refuses broken variants of the same file.
refuses() { sed "$1" "$M" >"$TMP/bad.prom"; ! awk -f "$PROM_CHECK" "$TMP/bad.prom" >/dev/null; }
check "checker refuses a non-cumulative histogram" \
	refuses 's/^\(tardis_exit_record_latency_seconds_bucket{source="bpf",le="10"}\) .*/\1 0/'
check "checker refuses a histogram without +Inf" refuses '/le="+Inf"/d'
check "checker refuses a bad metric name" refuses 's/^tardis_exits_recorded_total /tardis-exits 1/'
check "checker refuses a sample without TYPE" refuses '/^# TYPE tardis_exits_unknown_total/d'
check "checker refuses bad label syntax" refuses 's/source="bpf"/source=bpf/'
stop_agent TERM
check "metrics checked again after the agent stopped" awk -f "$PROM_CHECK" "$M"

# ---- exits --json: a name the process chose is escaped ----------------------
# comm is the executable's name: a copy of sleep called a"b, registered as an
# init; the pinned monitor records its exit with or without the agent.
qbin=$TMP/'a"b'
cp "$(command -v sleep)" "$qbin"
"$qbin" 1000 &
qpid=$!
on_cleanup "kill $qpid 2>/dev/null"
check "a process named a\"b runs" wait_for 5 bash -c '[ "$(cat "/proc/$1/comm")" = "a\"b" ]' _ "$qpid"
check "register it" "$CTL" register other/quote "$qpid"
{ kill -9 "$qpid" && wait "$qpid"; } 2>/dev/null
exits_has_quote() { # the exit of pid $1, named a"b, in exits --json, which parses
	"$CTL" exits --json | jq -se --argjson pid "$1" 'any(.pid == $pid and .comm == "a\"b" and .exit_status == 137)' >/dev/null
}
check "exits --json: the exit of a\"b is there, its comm escaped" wait_for 5 exits_has_quote "$qpid"
check "exits --json: every line parses" bash -c '"$1" exits --json | jq -e . >/dev/null' _ "$CTL"
check "exits: the table names it too" bash -c '"$1" exits | grep -q "^$2 .* a\"b"' _ "$CTL" "$qpid"

summary
