#!/bin/bash
# The layout's limits (issue 9): no source file over 700 lines and no
# function over 100 lines outside tests; the library never includes a
# program's header (dependencies point one way: programs -> user/lib ->
# include/).
# shellcheck source=tests/lib/lib.sh
. "$(dirname "$0")/../lib/lib.sh"
cd "$ROOT" || exit 1

SRCS=$(git ls-files 'bpf/*.c' 'include/*.h' 'user/*.c' 'user/*.h' 'shim/*.c' 'shim/*.h' 2>/dev/null)
[ -n "$SRCS" ] || SRCS=$(find bpf include user shim -name '*.[ch]')

long_files=$(for f in $SRCS; do
	n=$(wc -l <"$f")
	[ "$n" -le 700 ] || echo "$f:$n"
done)
[ -z "$long_files" ] || printf '# over 700 lines: %s\n' $long_files
check "no source file over 700 lines" [ -z "$long_files" ]

# Kernel style: a function's body opens with "{" and closes with "}" at
# column 0.
long_funcs=$(for f in $SRCS; do
	awk -v f="$f" '
		/^[A-Za-z_].*\(/ { name = $0 }
		/^\{/ { start = NR; fn = name }
		/^\}/ && start { if (NR - start - 1 > 100) printf "%s:%d %s (%d lines)\n", f, start, fn, NR - start - 1; start = 0 }
	' "$f"
done)
[ -z "$long_funcs" ] || printf '%s\n' "$long_funcs" | sed 's/^/# over 100 lines: /'
check "no function over 100 lines" [ -z "$long_funcs" ]

up=$(grep -l '#include "\(runc_args\|runc_exec\|shim\|tardisctl\)\.h"' user/lib/*.[ch] 2>/dev/null)
check "the library includes no program's header${up:+ ($up)}" [ -z "$up" ]

summary
