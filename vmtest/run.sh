#!/bin/bash
# `make vmtest`: tardis's integration tests on other kernels.
#
# For every line of vmtest/kernels: fetch the Debian kernel package through a
# private apt configuration (the system's apt sources are never touched),
# unpack it, build a small initramfs (busybox + the modules needed to mount
# the host's root over 9p), boot it in qemu (TCG) with the host's / shared
# read-write, and run the line's scenarios (tests/test_<s>.sh) in one boot.
# The `host` line runs the same way on this machine's own kernel, no VM.
# Ends with a table kernel x scenario -> pass/fail/skip with durations;
# exits non-zero if anything failed.
#
# Everything is cached under $OUT/vmtest/:
#   apt/                  the private apt configuration, lists and cache
#   debs/                 downloaded .debs (kernels, criu)
#   kernels/<name>/       an unpacked kernel (boot/, lib/modules/), its
#                         initramfs.cpio.gz and modules.load
#   criu/<suite>/         Debian's packaged criu of <suite>, unpacked
#   results/<name>/       console.log (serial), job, features, status,
#                         <scenario>.log, dmesg.log, done
#   report.txt            the final table
#
# Environment: VMTEST_KERNELS="6.1 host" (a subset of names),
# VMTEST_SCENARIOS="exit_monitor" (a subset of scenarios),
# VMTEST_MEM (MiB, default 2048), VMTEST_CPUS (default 2),
# VMTEST_VM_TIMEOUT (s per VM, default 1500), VMTEST_SCENARIO_TIMEOUT
# (s per scenario, default 420), VMTEST_OFFLINE=1 (use only what is cached),
# VMTEST_PANIC_RETRY=0 (a guest whose kernel panicked is not booted again),
# VMTEST_NO_HOST=1 (the VMs only: make test, whose own tests are the host
# line), VMTEST_ONLY_SCENARIOS="..." (these on every line instead of its own),
# VMTEST_CMD='...' (diagnosis: run this shell command in each selected guest,
# from the repository root, instead of the scenarios; output in
# results/<name>/cmd.log).
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1
OUT=${OUT:-build}
export OUT
VM=$ROOT/$OUT/vmtest
APT=$VM/apt
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
MIRROR=http://deb.debian.org/debian
MEM=${VMTEST_MEM:-2048}
CPUS=${VMTEST_CPUS:-2}
# Single-threaded TCG: with thread=multi the Debian 6.12 guest died of an
# "Oops: int3" in get_page_from_freelist while the kernel live-patched its
# text (static keys, text_poke_bp) -- cross-modifying code under MTTCG.
TCG_THREAD=${VMTEST_TCG_THREAD:-single}
VM_TIMEOUT=${VMTEST_VM_TIMEOUT:-1500}
export VMTEST_SCENARIO_TIMEOUT=${VMTEST_SCENARIO_TIMEOUT:-420}
# Loaded by the initramfs before the host root is mounted (plus their
# dependencies, resolved with depmod/modprobe); the rest is autoloaded
# from the kernel's own module tree once the guest runs.
INITRD_MODULES="virtio_pci virtio_rng 9pnet_virtio 9p overlay crc32c_generic libcrc32c
nfnetlink nf_tables nft_compat"
NINEP_OPTS="msize=262144,cache=loose"

# shellcheck source=vmtest/lib.sh
. "$ROOT/vmtest/lib.sh"

log() { echo "vmtest: $*" >&2; }
die() {
	log "ERROR: $*"
	exit 2
}

[ "$(id -u)" -eq 0 ] || die "must run as root (qemu 9p passthrough, BPF, runc)"
need() { # need COMMAND PACKAGE
	command -v "$1" >/dev/null 2>&1 || die "$1 not found (Debian package $2; scripts/setup.sh installs it)"
}
need qemu-system-x86_64 qemu-system-x86
need depmod kmod
need modprobe kmod
need cpio cpio
need busybox busybox-static
need dpkg-deb dpkg
need apt-get apt
need xz xz-utils
[ -r "$KEYRING" ] || die "$KEYRING missing (package debian-archive-keyring)"
for b in tardisd tardisctl tardis-runc tardis-runc-full tests/exit_scenarios tests/exit_burst; do
	[ -x "$OUT/$b" ] || die "$OUT/$b missing: run make first"
done

# The binaries under test, copied once: every row tests the same build even
# if $OUT is rebuilt meanwhile (and a guest's 9p page cache never sees a
# binary change under it).  The scenarios run with OUT=$TEST_OUT.
TEST_OUT=$OUT/vmtest/bin
rm -rf "$VM/bin.tmp"
mkdir -p "$VM/bin.tmp/tests"
cp -p "$OUT/tardisd" "$OUT/tardisctl" "$OUT/tardis-runc" "$OUT/tardis-runc-full" "$VM/bin.tmp/" &&
	find "$OUT/tests" -maxdepth 1 -type f -perm -u+x -exec cp -p {} "$VM/bin.tmp/tests/" \; ||
	die "cannot copy the binaries under test"
rm -rf "$VM/bin"
mv "$VM/bin.tmp" "$VM/bin"

# ---- the matrix ---------------------------------------------------------
NAMES=() ALL_SUITES=()
declare -A PKG SUITE CRIU_OF SCEN
while read -r name pkg suite criu scen; do
	case $name in '' | '#'*) continue ;; esac
	# every suite of the file, so that a subset does not refresh the lists
	[ "$suite" = - ] || ALL_SUITES+=("$suite")
	case ${criu%%+*} in - | built) ;; *) ALL_SUITES+=("${criu%%+*}") ;; esac
	if [ -n "${VMTEST_KERNELS:-}" ] && [[ " $VMTEST_KERNELS " != *" $name "* ]]; then
		continue
	fi
	[ "${VMTEST_NO_HOST:-0}" = 1 ] && [ "$pkg" = - ] && continue
	# VMTEST_ONLY_SCENARIOS: these on every line instead of its own
	# (`make vmtest-bpfcost`).
	[ -z "${VMTEST_ONLY_SCENARIOS:-}" ] || scen=$VMTEST_ONLY_SCENARIOS
	if [ -n "${VMTEST_SCENARIOS:-}" ]; then
		picked=
		for s in $scen; do
			[[ " $VMTEST_SCENARIOS " == *" $s "* ]] && picked="$picked $s"
		done
		scen=${picked# }
	fi
	NAMES+=("$name")
	PKG[$name]=$pkg SUITE[$name]=$suite CRIU_OF[$name]=$criu SCEN[$name]=$scen
done <"$ROOT/vmtest/kernels"
[ ${#NAMES[@]} -gt 0 ] || die "no kernel selected (VMTEST_KERNELS=${VMTEST_KERNELS:-})"

# ---- private apt -------------------------------------------------------
APT_OPTS=(-o "Dir::Etc::SourceList=$APT/sources.list"
	-o "Dir::Etc::SourceParts=$APT/sources.list.d"
	-o "Dir::State::Lists=$APT/lists"
	-o "Dir::State::status=$APT/status"
	-o "Dir::Cache=$APT/cache"
	-o "APT::Architectures::=amd64"
	-o "APT::Sandbox::User=root"
	-o "Acquire::Languages=none"
	-o "Acquire::Retries=3")
apt_() { apt-get "${APT_OPTS[@]}" "$@"; }

apt_setup() {
	local suites=("${ALL_SUITES[@]}") s want
	[ ${#suites[@]} -gt 0 ] || return 0
	mkdir -p "$APT/lists/partial" "$APT/cache/archives/partial" "$APT/sources.list.d" "$VM/debs"
	: >>"$APT/status"
	want=$(printf '%s\n' "${suites[@]}" | sort -u | while read -r s; do
		echo "deb [signed-by=$KEYRING] $MIRROR $s main"
	done)
	# Lists are refreshed when the suites change or once a day.
	if [ "$want" != "$(cat "$APT/sources.list" 2>/dev/null)" ] ||
		[ -z "$(find "$APT/lists" -maxdepth 1 -name '*_Packages*' -mmin -1440 2>/dev/null)" ]; then
		if [ "${VMTEST_OFFLINE:-0}" = 1 ]; then
			log "VMTEST_OFFLINE=1: using the cached package lists"
			return 0
		fi
		echo "$want" >"$APT/sources.list"
		log "apt-get update (private config in $APT: $(echo $(printf '%s\n' "${suites[@]}" | sort -u)))"
		apt_ -q update >"$APT/update.log" 2>&1 || {
			tail -5 "$APT/update.log" >&2
			log "private apt-get update failed; trying with what is cached"
		}
	fi
}

# resolve GLOB: the highest version of the packages whose name matches.
resolve() {
	local glob=$1 n best=
	# shellcheck disable=SC2053
	best=$(apt-cache "${APT_OPTS[@]}" pkgnames "${glob%%[*?[]*}" 2>/dev/null | while read -r n; do
		[[ $n == $glob ]] || continue
		case $n in *-cloud-* | *-rt-* | *-dbg | *-unsigned) continue ;; esac
		echo "$n"
	done | sort -V | tail -1)
	if [ -z "$best" ]; then # offline: the newest cached .deb
		best=$(cd "$VM/debs" 2>/dev/null && ls ./*.deb 2>/dev/null | sed 's|^\./||; s/_.*//' |
			while read -r n; do [[ $n == $glob ]] && echo "$n"; done | sort -V | tail -1)
	fi
	echo "$best"
}

# fetch PACKAGE[/SUITE]: path of the cached .deb, downloading it if needed.
fetch() {
	local spec=$1 name=${1%%/*} deb
	deb=$(ls "$VM/debs/${name}_"*.deb 2>/dev/null | sort -V | tail -1)
	if [ -z "$deb" ]; then
		log "apt-get download $spec"
		(cd "$VM/debs" && apt_ -q download "$spec") >"$VM/debs/$name.download.log" 2>&1 || {
			tail -3 "$VM/debs/$name.download.log" >&2
			return 1
		}
		deb=$(ls "$VM/debs/${name}_"*.deb 2>/dev/null | sort -V | tail -1)
	fi
	[ -n "$deb" ] && echo "$deb"
}

# ---- a kernel: unpack, depmod, initramfs -------------------------------
prepare_kernel() { # prepare_kernel NAME -> sets KDIR KVER
	local n=$1 pkg deb kd tmp m mods p key
	pkg=$(resolve "${PKG[$n]}")
	[ -n "$pkg" ] || {
		log "$n: no package matches ${PKG[$n]} in ${SUITE[$n]}"
		return 1
	}
	deb=$(fetch "$pkg") || {
		log "$n: cannot download $pkg"
		return 1
	}
	kd=$VM/kernels/$n
	if [ "$(cat "$kd/.deb" 2>/dev/null)" != "$(basename "$deb")" ]; then
		log "$n: unpacking $(basename "$deb")"
		rm -rf "$kd" "$kd.tmp"
		mkdir -p "$kd.tmp"
		dpkg-deb -x "$deb" "$kd.tmp" || return 1
		# trixie ships modules under /usr/lib/modules (merged /usr)
		if [ ! -d "$kd.tmp/lib/modules" ] && [ -d "$kd.tmp/usr/lib/modules" ]; then
			mkdir -p "$kd.tmp/lib"
			mv "$kd.tmp/usr/lib/modules" "$kd.tmp/lib/modules"
		fi
		KVER=$(ls "$kd.tmp/lib/modules" | head -1)
		depmod -b "$kd.tmp" "$KVER" || return 1
		basename "$deb" >"$kd.tmp/.deb"
		mv "$kd.tmp" "$kd"
	fi
	KDIR=$kd
	KVER=$(ls "$kd/lib/modules" | head -1)
	[ -f "$kd/boot/vmlinuz-$KVER" ] || {
		log "$n: no boot/vmlinuz-$KVER in $(basename "$deb")"
		return 1
	}
	key=$(cat "$kd/.deb" "$ROOT/vmtest/initramfs-init" /bin/busybox | sha256sum | cut -c1-16)-$(echo "$INITRD_MODULES" | sha256sum | cut -c1-8)
	[ "$(cat "$kd/initramfs.key" 2>/dev/null)" = "$key" ] && return 0
	log "$n: building the initramfs"
	tmp=$kd/initramfs.tmp
	rm -rf "$tmp"
	mkdir -p "$tmp/bin" "$tmp/lib/modules" "$tmp/proc" "$tmp/sys" "$tmp/dev" "$tmp/newroot"
	cp /bin/busybox "$tmp/bin/busybox"
	cp "$ROOT/vmtest/initramfs-init" "$tmp/init"
	chmod 0755 "$tmp/init"
	: >"$tmp/modules.load"
	: >"$kd/modules.load"
	for m in $INITRD_MODULES; do
		mods=$(modprobe -d "$kd" -S "$KVER" --show-depends "$m" 2>&1) || {
			log "$n: module $m: not available in this kernel ($mods)"
			continue
		}
		while read -r w p; do
			[ "$w" = insmod ] || continue
			b=$(basename "$p")
			b=${b%.xz}
			b=${b%.zst}
			b=${b%.gz}
			grep -qx "$b" "$tmp/modules.load" && continue
			case $p in
			*.xz) xz -dc "$p" >"$tmp/lib/modules/$b" ;;
			*.zst) zstd -qdc "$p" >"$tmp/lib/modules/$b" ;;
			*.gz) gzip -dc "$p" >"$tmp/lib/modules/$b" ;;
			*) cp "$p" "$tmp/lib/modules/$b" ;;
			esac
			echo "$b" >>"$tmp/modules.load"
		done <<<"$mods"
	done
	cp "$tmp/modules.load" "$kd/modules.load"
	(cd "$tmp" && find . | cpio -o -H newc --quiet | gzip -1) >"$kd/initramfs.cpio.gz" || return 1
	rm -rf "$tmp"
	echo "$key" >"$kd/initramfs.key"
}

# ---- Debian's packaged criu of a suite, unpacked (never installed) -----
prepare_criu() { # prepare_criu SUITE -> prints the criu path
	local suite=$1 deb d missing
	deb=$(fetch "criu/$suite") || {
		log "cannot download criu/$suite"
		return 1
	}
	d=$VM/criu/$suite
	if [ "$(cat "$d/.deb" 2>/dev/null)" != "$(basename "$deb")" ]; then
		rm -rf "$d"
		mkdir -p "$d"
		dpkg-deb -x "$deb" "$d" || return 1
		basename "$deb" >"$d/.deb"
	fi
	[ -x "$d/usr/sbin/criu" ] || {
		log "criu/$suite: no usr/sbin/criu in $(basename "$deb")"
		return 1
	}
	missing=$(ldd "$d/usr/sbin/criu" 2>&1 | awk '/not found/ {print $1}')
	if [ -n "$missing" ]; then
		log "criu/$suite: missing runtime libraries on this host: $missing" \
			"(its Depends: $(dpkg-deb -f "$deb" Depends))"
		return 1
	fi
	echo "$d/usr/sbin/criu"
}

# ---- running ------------------------------------------------------------
# line_criu NAME RESULTS: sets the caller's criu and criu_old from the
# line's criu column (MAIN[+OLDER]: OLDER a version scripts/build-criu.sh
# builds, given to criu_versions as TARDIS_CRIU_OLD).
line_criu() {
	local c=${CRIU_OF[$1]}
	case ${c%%+*} in
	-) ;;
	built) criu=$("$ROOT/scripts/build-criu.sh" 2>"$2/build-criu.log") || criu= ;;
	*) criu=$(prepare_criu "${c%%+*}") || criu= ;;
	esac
	[[ $c == *+* ]] || return 0
	criu_old=$("$ROOT/scripts/build-criu.sh" "${c#*+}" 2>"$2/build-criu-${c#*+}.log") || criu_old=
}

write_job() { # write_job NAME RESULTS MODULES CRIU CRIU_OLD
	{
		printf 'NAME=%q\n' "$1"
		printf 'ROOT=%q\n' "$ROOT"
		printf 'OUT=%q\n' "$TEST_OUT"
		printf 'RESULTS=%q\n' "$2"
		printf 'MODULES=%q\n' "$3"
		printf 'SCENARIOS=%q\n' "${SCEN[$1]}"
		printf 'CRIU=%q\n' "$4"
		printf 'CRIU_OLD=%q\n' "$5"
		printf 'VMTEST_SERVER_CASES=%q\n' "${VMTEST_SERVER_CASES:-}"
		printf 'VMTEST_SCENARIO_TIMEOUT=%q\n' "$VMTEST_SCENARIO_TIMEOUT"
		printf 'CMD=%q\n' "${VMTEST_CMD:-}"
	} >"$2/job"
}

run_host() {
	local n=$1 res=$VM/results/$1 t0 criu= criu_old=
	rm -rf "$res"
	mkdir -p "$res"
	log "$n: $(uname -r), scenarios: ${SCEN[$n]}"
	line_criu "$n" "$res"
	t0=$(date +%s)
	: >"$res/status"
	(
		OUT=$TEST_OUT
		[ -z "$criu" ] || export TARDIS_CRIU=$criu
		[ -z "$criu_old" ] || export TARDIS_CRIU_OLD=$criu_old
		vm_features "$res"
		# shellcheck disable=SC2086
		vm_run_scenarios "$res" ${SCEN[$n]}
	)
	echo "done" >"$res/done"
	echo "host $(uname -r), $(($(date +%s) - t0)) s" >"$res/vmstate"
}

# prepare_vm NAME: kernel, initramfs, CRIU and the job file, before any
# VM boots (downloads stay sequential).
prepare_vm() {
	local n=$1 res=$VM/results/$1 criu= criu_old=
	rm -rf "$res"
	mkdir -p "$res"
	if ! prepare_kernel "$n"; then
		echo "kernel not prepared (see above)" >"$res/vmstate"
		return 1
	fi
	line_criu "$n" "$res"
	write_job "$n" "$res" "$KDIR/lib/modules" "$criu" "$criu_old"
	echo "$KDIR $KVER" >"$res/kernel"
}

# boot_vm NAME: boot_once; a guest whose kernel panicked (seen once under
# TCG: a double fault in 9p, unrelated to any scenario) boots once more
# (VMTEST_PANIC_RETRY=0: never), the first console kept as
# console.panic.log and named in the table's run column.
boot_vm() {
	local n=$1 res=$VM/results/$1 first
	boot_once "$n"
	[ ! -f "$res/done" ] && [ "${VMTEST_PANIC_RETRY:-1}" != 0 ] &&
		grep -q 'Kernel panic' "$res/console.log" 2>/dev/null || return 0
	first=$(grep -m1 -E 'Kernel panic|Oops:|BUG:' "$res/console.log")
	mv "$res/console.log" "$res/console.panic.log"
	rm -f "$res/status" "$res/done" "$res"/*.log.partial
	log "$n: the guest kernel panicked ($first): booting it once more"
	boot_once "$n"
	echo "$(cat "$res/vmstate"); booted twice: the first boot's kernel panicked ($first; console.panic.log)" \
		>"$res/vmstate"
}

# boot_once NAME: one boot, every scenario of the line; the guest's progress
# lines are echoed as they come; the outcome goes to results/NAME/vmstate.
boot_once() {
	local n=$1 res=$VM/results/$1 kdir kver qpid rc cmdline t0 wall
	read -r kdir kver <"$res/kernel"
	cmdline="console=ttyS0 panic=-1 oops=panic random.trust_cpu=on"
	cmdline+=" tardis.init=$ROOT/vmtest/guest.sh tardis.job=$res/job tardis.9p=$NINEP_OPTS"
	log "$n: booting $kver (qemu TCG, ${CPUS} cpus, ${MEM} MiB), scenarios: ${SCEN[$n]}"
	: >"$res/console.log"
	t0=$(date +%s)
	timeout -k 10 "$VM_TIMEOUT" qemu-system-x86_64 \
		-nodefaults -no-user-config -display none -no-reboot \
		-machine pc -accel "tcg,thread=$TCG_THREAD" -cpu max -smp "$CPUS" -m "$MEM" \
		-kernel "$kdir/boot/vmlinuz-$kver" -initrd "$kdir/initramfs.cpio.gz" \
		-append "$cmdline" \
		-virtfs local,path=/,mount_tag=hostroot,security_model=passthrough,multidevs=remap \
		-device virtio-rng-pci \
		-chardev "file,id=con,path=$res/console.log" -serial chardev:con \
		</dev/null >"$res/qemu.log" 2>&1 &
	qpid=$!
	# ends by itself once qemu (its timeout wrapper) is gone
	tail --pid="$qpid" -n +1 -F "$res/console.log" 2>/dev/null |
		sed -un "s/^\(vmtest[a-z-]*: \)/\1[$n] /p" >&2 &
	wait "$qpid"
	rc=$?
	wait
	wall=$(($(date +%s) - t0))
	[ -z "${VMTEST_CMD:-}" ] || sed "s/^/[$n] /" "$res/cmd.log" 2>/dev/null
	if [ -f "$res/done" ]; then
		echo "VM $kver, ${wall} s" >"$res/vmstate"
	elif [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		echo "VM timed out after $VM_TIMEOUT s (console: $res/console.log)" >"$res/vmstate"
	else
		echo "VM ended without results, qemu rc=$rc: $(grep -E 'vmtest-init: FATAL|Kernel panic' "$res/console.log" | head -1) (console: $res/console.log)" >"$res/vmstate"
	fi
	log "$n: $(cat "$res/vmstate")"
}

# ---- main ---------------------------------------------------------------
T0=$(date +%s)
mkdir -p "$VM/results"
VMS=()
for n in "${NAMES[@]}"; do
	[ "${PKG[$n]}" = - ] || VMS+=("$n")
done
[ ${#VMS[@]} -eq 0 ] || apt_setup
for n in "${NAMES[@]}"; do
	[ "${PKG[$n]}" = - ] && run_host "$n"
done
READY=()
for n in "${VMS[@]}"; do
	prepare_vm "$n" && READY+=("$n")
done
# Up to VMTEST_JOBS VMs at once (a TCG guest leaves the host's cores idle
# whenever it waits), the lines with the most scenarios first.
JOBS=${VMTEST_JOBS:-2}
if [ ${#READY[@]} -gt 0 ]; then
	mapfile -t READY < <(for n in "${READY[@]}"; do
		echo "$(wc -w <<<"${SCEN[$n]}") $n"
	done | sort -s -k1,1nr | cut -d' ' -f2)
fi
for n in "${READY[@]}"; do
	while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n; done
	boot_vm "$n" &
	sleep 1
done
wait

# ---- the table ----------------------------------------------------------
# criu_cell NAME: the CRIU version a line ran and where it came from
# ("3.17.1 bookworm": Debian's package of that suite; "4.2.1 built":
# scripts/build-criu.sh), from its features file.
criu_cell() {
	local v
	v=$(sed -n 's/^criu: .*(Version: \([^)]*\)).*/\1/p' "$VM/results/$1/features" 2>/dev/null | head -1)
	if [ -n "$v" ]; then echo "$v ${CRIU_OF[$1]}"; else echo none; fi
}

report() {
	local n s all=() cell line verdict dur p f note w=23
	for n in "${NAMES[@]}"; do
		for s in ${SCEN[$n]}; do
			[[ " ${all[*]} " == *" $s "* ]] || all+=("$s")
		done
	done
	printf '%-8s%-19s' kernel criu
	for s in "${all[@]}"; do printf "%-${w}s " "$s"; done
	printf '%s\n' "run"
	for n in "${NAMES[@]}"; do
		printf '%-8s%-19s' "$n" "$(criu_cell "$n")"
		for s in "${all[@]}"; do
			cell=-
			if [[ " ${SCEN[$n]} " == *" $s "* ]]; then
				line=$(awk -v s="$s" '$1 == s' "$VM/results/$n/status" 2>/dev/null | tail -1)
				if [ -n "$line" ]; then
					read -r _ verdict dur p f note <<<"$line"
					case $verdict in
					skip) cell="skip" ;;
					*) cell="$verdict ${dur}s ($p/$((p + f)))" ;;
					esac
					[[ $note =~ ([0-9]+)\ skipped: ]] && cell+=" +${BASH_REMATCH[1]} skip"
					[ "$verdict" = fail ] && FAILS=$((FAILS + 1))
					[ "$verdict" = pass ] && PASSES=$((PASSES + 1))
				else
					cell="not run"
					FAILS=$((FAILS + 1))
				fi
			fi
			printf "%-${w}s " "$cell"
		done
		cat "$VM/results/$n/vmstate" 2>/dev/null || echo
	done
	echo
	for n in "${NAMES[@]}"; do
		echo "$n:"
		sed 's/^/    /' "$VM/results/$n/features" 2>/dev/null
		awk '$2 != "pass" || NF > 5 { $3 = $3 "s"; print "    " $0 }' "$VM/results/$n/status" 2>/dev/null
		for s in ${SCEN[$n]}; do
			[ -f "$VM/results/$n/$s.log" ] || continue
			grep -E '^FAIL' "$VM/results/$n/$s.log" | head -5 | sed "s/^/    $s: /"
		done
	done
	echo
	echo "vmtest: ${#NAMES[@]} kernels in $(($(date +%s) - T0)) s; results in $VM/results"
	echo "vmtest: $PASSES passed, $FAILS failed (kernel x scenario)"
}
FAILS=0
PASSES=0
report >"$VM/report.txt"
cat "$VM/report.txt"
[ "$FAILS" -eq 0 ]
