#!/bin/bash
# The state store and images as an attack surface:
#   1. modes: after a real flow (create, checkpoint with CRIU through
#      `delete --force`, restore, exit) every directory of the state dir and
#      of the image dirs is root's and 0700, every file root's and 0600;
#   2. symlinks planted under them (containers/<ns>, state.json, exit.json,
#      pids/, the image dir and its parent, the restore/work scratch dirs)
#      are never followed: the outside target stays untouched, tardis errs
#      or falls back to plain runc;
#   3. ids with '/', '..', control characters, 1 KiB are refused before
#      any path is built: nothing is created anywhere, nothing forged in the
#      log;
#   4. tardis never runs a shell: the enabled flow under strace, every
#      program a tardis process executes is runc or tardisd (CRIU is run by
#      runc), and tardisd executes nothing.
# shellcheck source=tests/lib/lib.sh
. "$(dirname "$0")/../lib/lib.sh"
# shellcheck source=tests/lib/bundle.sh
. "$ROOT/tests/lib/bundle.sh"

shim_env sec debug
command -v strace >/dev/null || { fail "strace is not installed (scripts/setup.sh)"; summary; exit 1; }
STATE=$TARDIS_STATE_DIR
HOSTIMG=$TMP/host-images   # TARDIS_CHECKPOINT_HOST_PATH of one container
OUTSIDE=$TMP/outside       # where planted symlinks point

# ---- bundles: overlay rootfs over busybox, as containerd makes them -------
lower_layer sh -c 'i=0; while :; do i=$((i + 1)); echo $i > /data/count; sleep 0.1; done'

# Every tardis-runc call of the flow runs under strace: -b execve detaches
# from a process at its execve, so the trace holds exactly what tardis-runc
# and the processes it forked executed (runc's own children are runc's).
NTRACE=0
# The container inherits create's stdio: /dev/null, as CRIU cannot dump an
# fd on a file outside the container (the test's own output).
# Each of these calls is one tardis-runc-full handles (the front, a static
# binary, execs it for them and checks nothing else: section 4 asserts
# what the front executes), so the whole program is what runs under strace.
traced() { # traced ARGS...: tardis-runc-full ARGS under strace
	NTRACE=$((NTRACE + 1))
	strace -f -b execve -qq -e trace=execve,execveat -e signal=none \
		-o "$TMP/strace.$NTRACE" "$BIN/tardis-runc-full" --root "$RROOT" "$@" </dev/null >/dev/null 2>&1
}
create() { # create BUNDLE ID
	"$SHIM" --root "$RROOT" create --bundle "$1" --pid-file "$1/init.pid" "$2" </dev/null >/dev/null 2>&1
}

# ---- 1. a real flow; then the modes ---------------------------------------
B=$TMP/b1
make_bundle "$B"
check "flow: create (agent started on demand)" traced create --bundle "$B" --pid-file "$B/init.pid" c1
check "flow: start" traced start c1
check "flow: counting" wait_for 20 count_at_least "$B" 5
check "flow: delete --force checkpoints it with CRIU" traced delete --force c1
check "flow: an image was published" [ -s "$IMAGES/c1/manifest.json" ]
# From here on the agent runs under strace: it must execute nothing.
apid=$(cat "$STATE/tardisd.pid" 2>/dev/null)
check "flow: tardis-runc started the agent" [ "$(cat "/proc/$apid/comm" 2>/dev/null)" = tardisd ]
kill "$apid" 2>/dev/null
wait_for 10 bash -c '! kill -0 "$1" 2>/dev/null' _ "$apid"
strace -f -qq -e trace=execve,execveat -e signal=none -o "$TMP/strace.agent" \
	"$BIN/tardisd" --log-file "$TMP/tardisd.log" &
AGENT_PID=$!
check "flow: agent restarted (under strace)" wait_for 20 grep -q "tardisd [0-9]* running" "$TMP/tardisd.log"
check "flow: the exit was recorded" wait_for 10 test -s "$STATE/containers/$NS/c1/exit.json"
drop_bundle "$B"
make_bundle "$B"
check "flow: create again = restore" traced create --bundle "$B" --pid-file "$B/init.pid" c1
check "flow: restored" grep -q "create $NS/c1: restored" "$TARDIS_LOG_FILE"
check "flow: start answered" traced start c1
check "flow: running" [ "$(status_of c1)" = running ]
# (runc's stderr: cgroup v1 removal retries after CRIU killed the task)
check "flow: checkpoint (containerd's)" traced checkpoint --image-path "$TMP/ctr-img" --work-path "$TMP/ctr-work" --leave-running c1 2>"$TMP/ckpt.err"
check "flow: resume answered" traced resume c1
traced delete c1 2>/dev/null # runc: the checkpoint removed it already
check "flow: c1 gone" gone c1
# A second container whose images live outside the state dir.
B2=$TMP/b2
make_bundle "$B2" ".process.env += [\"TARDIS_CHECKPOINT_HOST_PATH=$HOSTIMG\"]"
check "flow: c2 (CHECKPOINT_HOST_PATH) create + start" traced create --bundle "$B2" --pid-file "$B2/init.pid" c2
traced start c2
check "flow: c2 counting" wait_for 20 count_at_least "$B2" 3
check "flow: c2 delete --force" traced delete --force c2
check "flow: c2's image is under CHECKPOINT_HOST_PATH" [ -s "$HOSTIMG/$NS/c2/manifest.json" ]
drop_bundle "$B2"

modes_ok() { # modes_ok DIR [find exclusions...]: dirs 0700, files 0600, root's
	local d=$1 bad
	shift
	bad=$(find "$d" "$@" \( \( -type d \! -perm 700 \) -o \( -type f \! -perm 600 \) -o \
		\! \( -type d -o -type f \) -o \! -user root -o \! -group root \) -printf '%y %m %u:%g %p\n')
	[ -z "$bad" ] && return 0
	echo "$bad" | head -10 | sed 's/^/# /'
	return 1
}
ls -la "$STATE" | sed 's/^/# /'
# metrics.prom is 0644 by design (a node_exporter textfile), in the 0700 dir.
check "modes: the state dir: dirs 0700, files 0600, all root's" \
	modes_ok "$STATE" \! -path "$STATE/metrics.prom"
check "modes: the image dir (CRIU's files, files.tar, manifest)" modes_ok "$IMAGES/c1"
check "modes: an image under CHECKPOINT_HOST_PATH, with the dirs tardis made" modes_ok "$HOSTIMG"
check "modes: the image holds CRIU's files" [ -s "$IMAGES/c1/inventory.img" -a -s "$IMAGES/c1/descriptors.json" ]

# ---- 4. no shell ------------------------------------------------------------
# Every execve/execveat attempt in the traces: the first of each is strace
# starting tardis-runc; the rest is what tardis executed.
execs=$(for f in "$TMP"/strace.[0-9]*; do
	sed -n 's/^[0-9]* *execve\(at\)\?(\(AT_FDCWD, \)\?"\([^"]*\)".*/\3/p' "$f" | tail -n +2
done | sort | uniq -c)
echo "$execs" | sed 's/^/# executed by tardis-runc: /'
# CRIU itself only for `criu --version` before a restore (its config file
# needs CRIU >= 4).
others=$(echo "$execs" | awk '{print $2}' | grep -v -e '/runc$' -e '/tardisd$' -e '/criu$' -e '^$')
check "tardis-runc executed only runc, criu and tardisd ($NTRACE calls traced)" [ -z "$others" ]
check "tardis-runc executed runc and tardisd at all (the trace works)" \
	bash -c 'grep -q "/runc$" <<<"$1" && grep -q "/tardisd$" <<<"$1"' _ "$execs"
grep -q "/runc$" <<<"$execs" || { ls -la "$TMP"/strace.* | sed 's/^/# /'; head -3 "$TMP"/strace.1 | sed 's/^/# /'; }
shells=$(cat "$TMP"/strace.[0-9]* | grep -cE 'execve(at)?\(.*"[^"]*/(sh|bash|dash|busybox|ash|zsh)"' || true)
check "no shell executed by a tardis process ($shells)" [ "$shells" -eq 0 ]
check "the binaries import no system/popen/posix_spawn/wordexp" \
	bash -c '! nm -D --undefined-only "$@" | grep -wE "system|popen|posix_spawnp?|wordexp"' _ "$BIN/tardis-runc-full" "$BIN/tardisd"
check "the front (static) links in no system/popen/posix_spawn/wordexp" \
	bash -c '! nm "$1" | grep -wE "[TtWw] (system|popen|posix_spawnp?|wordexp)"' _ "$SHIM"
# The front executes one program per call: runc for a call tardis has no
# part in, tardis-runc-full for one it may handle.
front_exec() { # front_exec ARGS...: what the front executed
	strace -b execve -qq -e trace=execve -e signal=none -o "$TMP/front.strace" \
		"$SHIM" --root "$RROOT" "$@" </dev/null >/dev/null 2>&1
	sed -n 's/^[0-9]* *execve("\([^"]*\)".*/\1/p' "$TMP/front.strace" | tail -n +2
}
check "front: state goes to runc ($(front_exec state c9))" [ "$(front_exec state c9)" = "$(command -v runc)" ]
check "front: ps goes to runc" [ "$(front_exec ps c9)" = "$(command -v runc)" ]
check "front: delete goes to tardis-runc-full ($(front_exec delete c9))" [ "$(front_exec delete c9)" = "$BIN/tardis-runc-full" ]
check "front: --criu goes to tardis-runc-full" [ "$(front_exec --criu /x state c9)" = "$BIN/tardis-runc-full" ]

# ---- 2. symlinks planted under the state and image dirs ---------------------
# The outside world: a canary dir and file.  Its listing with checksums must
# not change, whatever tardis does with the links pointing at it.
mkdir -p "$OUTSIDE/dir/$NS/x" "$OUTSIDE/img"
echo canary >"$OUTSIDE/file"
echo canary >"$OUTSIDE/dir/canary"
echo canary >"$OUTSIDE/dir/$NS/x/canary"
cp -a "$IMAGES/c1/." "$OUTSIDE/img/" 2>/dev/null
snapshot() { (cd "$OUTSIDE" && find . -printf '%y %m %s %p\n' | sort && find . -type f -exec sha256sum {} + | sort); }
OUT0=$(snapshot)
untouched() { [ "$(snapshot)" = "$OUT0" ]; }

# A valid image of container "rs" to restore from, and its state wiped.
B=$TMP/rs
make_bundle "$B"
create "$B" rs </dev/null >/dev/null 2>&1 && shim start rs
wait_for 20 count_at_least "$B" 3
shim delete --force rs
cp -a "$IMAGES/rs" "$TMP/rs-image"
check "symlinks: a valid image of rs to restore from" [ -s "$TMP/rs-image/manifest.json" ]
reset_rs() { # no container, no state, the good image back in place
	runc --root "$RROOT" delete -f rs >/dev/null 2>&1
	for d in containers restore work; do rm -rf "${STATE:?}/$d/$NS/rs"; done
	rm -rf "${IMAGES:?}/rs" "$IMAGES"/.rs.*
	for d in containers restore work; do
		[ -L "$STATE/$d/$NS" ] && rm -f "$STATE/$d/$NS"
		[ -L "$STATE/$d" ] && rm -f "$STATE/$d"
	done
	[ -L "$STATE/pids" ] && rm -f "$STATE/pids"
	[ -L "$IMAGES" ] && rm -f "$IMAGES"
	mkdir -p "$IMAGES"
	cp -a "$TMP/rs-image" "$IMAGES/rs"
	make_bundle "$B"
}
# plant WHAT LINK: a symlink at LINK (relative to the state dir) -> WHAT
plant() { mkdir -p "$(dirname "$STATE/$2")"; rm -rf "${STATE:?}/$2"; ln -s "$1" "$STATE/$2"; }
created_plain() { [ "$(status_of rs)" = created ]; }
log_mark() { wc -l <"$TARDIS_LOG_FILE"; }
logged_since() { tail -n +"$(($1 + 1))" "$TARDIS_LOG_FILE" | grep -qE "$2"; }

# containers/<ns> -> outside: the state store refuses it; plain create.
reset_rs
plant "$OUTSIDE/dir" "containers/$NS"
m=$(log_mark)
check "containers/<ns> link: create falls back to plain runc" create "$B" rs
check "containers/<ns> link: the container was created" created_plain
check "containers/<ns> link: tardis said why" logged_since "$m" "create $NS/rs: state: .*(Too many levels|Not a directory)"
check "containers/<ns> link: start/kill/delete fall back to runc" \
	bash -c '"$@" start rs && "$@" kill rs KILL && sleep 0.5 && "$@" delete -f rs' _ "$SHIM" --root "$RROOT"
check "containers/<ns> link: outside untouched" untouched

# state.json -> an outside file: read refused, replaced by rename (the
# link, not its target); start falls back while it is a link.
reset_rs
mkdir -p "$STATE/containers/$NS/rs" && chmod 700 "$STATE/containers/$NS" "$STATE/containers/$NS/rs"
plant "$OUTSIDE/file" "containers/$NS/rs/state.json"
check "start with state.json a link: runc's answer (no such container)" \
	bash -c '! "$@" start rs 2>/dev/null' _ "$SHIM" --root "$RROOT"
m=$(log_mark)
check "state.json link: create goes on" create "$B" rs
check "state.json link: warned, not followed" logged_since "$m" "state.json: .*Too many levels"
check "state.json link: now a regular file of tardis's" [ -f "$STATE/containers/$NS/rs/state.json" -a ! -L "$STATE/containers/$NS/rs/state.json" ]
check "state.json link: outside untouched" untouched

# exit.json -> an outside file, planted while rs runs: the agent's record
# replaces the link; delete never reads through it.
shim start rs
plant "$OUTSIDE/file" "containers/$NS/rs/exit.json"
runc --root "$RROOT" kill rs KILL
check "exit.json link: the agent recorded the exit in place of the link" \
	wait_for 10 bash -c '[ -f "$1" -a ! -L "$1" ] && grep -q "\"exit_status\":137" "$1"' _ "$STATE/containers/$NS/rs/exit.json"
plant "$OUTSIDE/file" "containers/$NS/rs/exit.json"
check "exit.json link: delete still works" shim delete rs
check "exit.json link: outside untouched" untouched

# pids/ -> outside: registration refused (logged), create still succeeds.
reset_rs
rm -rf "${STATE:?}/pids"
plant "$OUTSIDE/dir" "pids"
rm -rf "${IMAGES:?}/rs" # a fresh create this time
m=$(log_mark)
check "pids link: create succeeds" create "$B" rs
check "pids link: registration refused, logged" logged_since "$m" "register pid .*(Too many levels|Not a directory)"
check "pids link: outside untouched" untouched
runc --root "$RROOT" delete -f rs >/dev/null 2>&1
rm -f "$STATE/pids"

# The image dir itself -> outside (holding a valid image): not restored from.
reset_rs
rm -rf "${IMAGES:?}/rs"
ln -s "$OUTSIDE/img" "$IMAGES/rs"
m=$(log_mark)
check "image dir link: create starts fresh" create "$B" rs
check "image dir link: created plainly, not restored" created_plain
check "image dir link: invalid (not followed), kept" logged_since "$m" "image .* is invalid \(manifest: open image: (Too many levels|Not a directory)"
check "image dir link: outside untouched" untouched
# ... and a checkpoint publishes its image in place of the link.
shim start rs
wait_for 20 count_at_least "$B" 2
check "image dir link: delete --force checkpoints" shim delete --force rs
check "image dir link: the new image replaced the link" [ -d "$IMAGES/rs" -a ! -L "$IMAGES/rs" -a -s "$IMAGES/rs/manifest.json" ]
check "image dir link: outside untouched after the checkpoint" untouched

# The image dir's parent (checkpoints/<ns>) -> outside: refused.
reset_rs
rm -rf "${IMAGES:?}"
ln -s "$OUTSIDE/dir/$NS" "$IMAGES"
ln -s "$OUTSIDE/img" "$OUTSIDE/dir/$NS/rs" 2>/dev/null
OUT0=$(snapshot)
m=$(log_mark)
check "checkpoints/<ns> link: create starts fresh" create "$B" rs
check "checkpoints/<ns> link: not restored" created_plain
check "checkpoints/<ns> link: refused, logged" logged_since "$m" "image directory .*(Too many levels|Not a directory)"
shim start rs
wait_for 20 count_at_least "$B" 2
m=$(log_mark)
check "checkpoints/<ns> link: delete --force still deletes" shim delete --force rs
check "checkpoints/<ns> link: the checkpoint was refused" logged_since "$m" "checkpoint failed; deleting anyway"
check "checkpoints/<ns> link: outside untouched" untouched
rm -f "$IMAGES" "$OUTSIDE/dir/$NS/rs"
OUT0=$(snapshot)

# The restore and work scratch dirs (and their parents) -> outside: the
# restore is refused before anything is applied; a fresh create instead.
for link in "restore/$NS/rs" "work/$NS/rs" "restore/$NS" "work/$NS" "restore" "work"; do
	reset_rs
	rm -rf "${STATE:?}/$link"
	plant "$OUTSIDE/dir" "$link"
	m=$(log_mark)
	check "$link link: create falls back to a fresh start" create "$B" rs
	check "$link link: not restored" created_plain
	check "$link link: refused, logged" logged_since "$m" "((restore|work) dir|lock): .*(Too many levels|Not a directory)"
	check "$link link: the image is kept" [ -s "$IMAGES/rs/manifest.json" ]
	check "$link link: outside untouched" untouched
	runc --root "$RROOT" delete -f rs >/dev/null 2>&1
	rm -f "$STATE/$link"
done

# An exit-0 delete cleans up the scratch dirs: through a planted link it
# must remove the link's name at most, never what it points to.
for link in "work/$NS" "restore/$NS"; do
	reset_rs
	rm -rf "${IMAGES:?}/rs"
	make_bundle "$B" '.process.args = ["sh", "-c", "exit 0"]'
	create "$B" rs && shim start rs
	wait_for 10 bash -c '[ "$(runc --root "$1" state rs 2>/dev/null | jq -r .status)" = stopped ]' _ "$RROOT"
	wait_for 10 test -s "$STATE/containers/$NS/rs/exit.json"
	rm -rf "${STATE:?}/$link"
	plant "$OUTSIDE/dir" "$link" # holds $NS/x and canary; rs would be "$link"/rs
	mkdir -p "$OUTSIDE/dir/rs" && echo canary >"$OUTSIDE/dir/rs/canary"
	OUT0=$(snapshot)
	check "exit 0 with $link a link: delete" shim delete rs
	check "exit 0 with $link a link: state removed" [ ! -e "$STATE/containers/$NS/rs" ]
	check "exit 0 with $link a link: outside untouched ($OUTSIDE/dir/rs kept)" untouched
	rm -f "$STATE/$link"
	rm -rf "$OUTSIDE/dir/rs"
	OUT0=$(snapshot)
done

# tardisctl gc of a gone container: its scratch dirs and image are removed
# through the store's walk, never through a planted link.
reset_rs
rm -rf "${IMAGES:?}/rs" # a fresh create; the image comes back after its exit
make_bundle "$B" '.process.args = ["sh", "-c", "exit 3"]'
create "$B" rs && shim start rs
wait_for 10 bash -c '[ "$(runc --root "$1" state rs 2>/dev/null | jq -r .status)" = stopped ]' _ "$RROOT"
wait_for 10 test -s "$STATE/containers/$NS/rs/exit.json"
shim delete rs
cp -a "$TMP/rs-image" "$IMAGES/rs"
check "gc: a gone container with its image kept (exit 3)" [ -d "$STATE/containers/$NS/rs" -a -s "$IMAGES/rs/manifest.json" ]
for d in work restore; do
	rm -rf "${STATE:?}/$d/$NS"
	mkdir -p "$OUTSIDE/$d/rs" && echo canary >"$OUTSIDE/$d/rs/canary"
	ln -s "$OUTSIDE/$d" "$STATE/$d/$NS"
done
mv "$IMAGES" "$STATE/checkpoints/real"
ln -s "$STATE/checkpoints/real" "$IMAGES" # the image's parent: a link (inside, even)
OUT0=$(snapshot)
"$BIN/tardisctl" gc --older-than 1h --now $(($(date +%s) + 86400)) >"$TMP/gc.out" 2>&1
sed 's/^/# /' "$TMP/gc.out"
check "gc: the image behind a linked parent is not removed" [ -s "$STATE/checkpoints/real/rs/manifest.json" ]
check "gc: outside untouched (scratch links not followed)" untouched
rm -f "$IMAGES"
mv "$STATE/checkpoints/real" "$IMAGES"
"$BIN/tardisctl" gc --older-than 1h --now $(($(date +%s) + 86400)) >"$TMP/gc.out" 2>&1
sed 's/^/# /' "$TMP/gc.out"
check "gc: with a plain image parent, rs is collected" [ ! -e "$STATE/containers/$NS/rs" -a ! -e "$IMAGES/rs" ]
check "gc: outside untouched (its scratch dirs were links)" untouched
rm -f "$STATE/work/$NS" "$STATE/restore/$NS"
rm -rf "$OUTSIDE/work" "$OUTSIDE/restore"
OUT0=$(snapshot)
drop_bundle "$B"

# ---- 3. bad ids ------------------------------------------------------------
B=$TMP/bad
make_bundle "$B" ".process.env += [\"TARDIS_NETWORKFS_HOST_PATH=$TMP/nfs\", \"TARDIS_WORKDIR_CONTAINER_PATH=/work\"]"
mkdir -p "$TMP/nfs"
touch "$TMP/t.out" "$TMP/t.err" "$TMP/r.out" "$TMP/r.err"
# The agent's atomic writes (metrics.prom, records) pass through a
# transient .NAME.PID.N.tmp: not something tardis-runc created.
listing() { find "$STATE" "$TMP/nfs" "$HOSTIMG" | grep -v '/\.[^/]*\.tmp$' | sort; ls -A "$TMP"; }
# new_since LISTING: what listing shows now that LISTING did not.
new_since() { comm -13 <(sort <<<"$1") <(listing | sort); }
long=$(printf 'a%.0s' $(seq 1 1024))
nl=$'a\nb'
esc=$'a\e[31mred'
forge=$'x\n2099-01-01T00:00:00.000000Z tardis-runc[1] info: FORGED'
tab=$'a\tb'
cfg_before=$(sha256sum <"$B/config.json")
before=$(listing)
m=$(log_mark)
nbad=0
for id in "a/b" "../x" ".." "." "/abs" "x/../../y" "$nl" "$esc" "$forge" "$tab" "$long" "a b"; do
	for cmd in create start kill checkpoint delete; do
		case $cmd in
		create) args=(create --bundle "$B" --pid-file "$B/init.pid" "$id") ;;
		kill) args=(kill "$id" KILL) ;;
		checkpoint) args=(checkpoint --image-path "$TMP/ci" "$id") ;;
		delete) args=(delete --force "$id") ;;
		*) args=("$cmd" "$id") ;;
		esac
		"$SHIM" --root "$RROOT" "${args[@]}" </dev/null >"$TMP/t.out" 2>"$TMP/t.err"
		t=$?
		runc --root "$RROOT" "${args[@]}" </dev/null >"$TMP/r.out" 2>"$TMP/r.err"
		r=$?
		[ "$t" = "$r" ] || { nbad=$((nbad + 1)); echo "# $cmd '$(printf %q "$id" | head -c 60)': tardis-runc $t, runc $r"; }
	done
done
check "bad ids: every call answered as runc answers it ($nbad differ)" [ "$nbad" -eq 0 ]
# Created: what is there now and was not (the agent may meanwhile sweep
# what an earlier step left in forgotten/).
created=$(new_since "$before")
check "bad ids: nothing created in the state dir, image dirs or network fs" [ -z "$created" ]
[ -z "$created" ] || sed 's/^/# created: /' <<<"$created"
check "bad ids: the bundle's config.json untouched (no workdir mount added)" [ "$cfg_before" = "$(sha256sum <"$B/config.json")" ]
check "bad ids: refused, logged" logged_since "$m" "refusing namespace/id"
check "bad ids: no control character reached the log" \
	bash -c '! LC_ALL=C grep -q "[[:cntrl:]]" "$1"' _ "$TARDIS_LOG_FILE"
check "bad ids: no forged log line" bash -c '! grep -q "^2099-01-01T00:00:00.000000Z tardis-runc\[1\] info: FORGED" "$1"' _ "$TARDIS_LOG_FILE"
# A bad namespace (the last component of --root).
for root in "$TMP/runc/a b" "$TMP/runc/$nl" "$TMP/runc/.."; do
	before=$(listing)
	"$SHIM" --root "$root" create --bundle "$B" --pid-file "$B/init.pid" nsx </dev/null >/dev/null 2>&1
	runc --root "$root" delete -f nsx >/dev/null 2>&1
	check "bad namespace $(printf %q "$(basename "$root")"): nothing created in the state dir" \
		[ -z "$(new_since "$before")" ]
done
check "the store refuses bad ids at every entry point (library)" "$BIN/tests/concurrency" --bad-ids
drop_bundle "$B"

# ---- the agent executed nothing ---------------------------------------------
apid=$(cat "$STATE/tardisd.pid" 2>/dev/null)
[ -n "$apid" ] && kill "$apid" 2>/dev/null
wait "$AGENT_PID" # strace ends with it
AGENT_PID=
agent_execs=$(grep -cE '^[0-9]+ +execve' "$TMP/strace.agent")
check "tardisd executed nothing but itself ($agent_execs execve)" [ "$agent_execs" -eq 1 ]
[ "$agent_execs" -eq 1 ] || head -3 "$TMP/strace.agent" | sed 's/^/# /'

summary
