#!/bin/sh
# Writes `runc --help` and `runc <cmd> --help` of one runc binary as the
# flag-table fixtures of the unit tests (tests/unit/unit_runc_help.c):
#
#   scripts/runc-help-fixtures.sh [-o DIR] RUNC [ARG...]
#   scripts/runc-help-fixtures.sh [-o DIR] --source GITDIR TAG
#
# RUNC [ARG...] is how to run that runc: a path, or a loader and its
# arguments in front of one, e.g. a newer Debian's runc on Debian 12:
#   L=/tmp/sid/usr/lib/x86_64-linux-gnu
#   scripts/runc-help-fixtures.sh $L/ld-linux-x86-64.so.2 --library-path $L /tmp/sid/usr/sbin/runc
# The files go to DIR/<version>/ (DIR defaults to
# tests/unit/fixtures/runc-help; <version> is `runc --version`'s, without a
# +ds1-style suffix): global.txt, one <cmd>.txt per subcommand the runc
# lists, and version.txt.  --source renders the same files from runc's Go
# source at TAG (a runc git directory, e.g. the one `git clone
# --bare https://github.com/opencontainers/runc` makes) for a runc there is no
# binary of: the OPTIONS lines of each command's cli.*Flag definitions,
# hidden flags left out as runc's help leaves them out.  A new runc's flags then show up as failing unit
# tests until the parser (shim/runc_args.c) knows them.
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
out=$here/tests/unit/fixtures/runc-help
if [ "${1:-}" = "-o" ]; then
	out=$2
	shift 2
fi
if [ $# -lt 1 ]; then
	echo "usage: $0 [-o DIR] RUNC [ARG...]" >&2
	exit 2
fi

if [ "$1" = "--source" ]; then
	[ $# -eq 3 ] || { echo "usage: $0 [-o DIR] --source GITDIR TAG" >&2; exit 2; }
	version=$(echo "$3" | sed 's/^v//')
	exec python3 - "$2" "$3" "$out/$version" <<'PY'
import os, re, subprocess, sys
git, tag, out = sys.argv[1:4]
def git_out(*args):
    return subprocess.run(["git", "--git-dir=" + git] + list(args), check=True,
                          capture_output=True, text=True).stdout
def show(path):
    return git_out("show", tag + ":" + path)
flag_re = re.compile(r'cli\.(\w+)Flag\{(.*?)\n?\s*\}', re.S)
def options(block):
    lines = []
    for kind, body in flag_re.findall(block):
        name = re.search(r'Name:\s*"([^"]*)"', body).group(1)
        usage = re.search(r'Usage:\s*"((?:\\.|[^"\\])*)"', body)
        if re.search(r'Hidden:\s*true', body):
            continue
        names = [n.strip() for n in name.split(",")]
        val = "" if kind == "Bool" else " value"
        shown = ", ".join(("--" if len(n) > 1 else "-") + n + val for n in names)
        lines.append("   %-30s %s" % (shown, usage.group(1) if usage else ""))
    return lines
def braced(text, j):
    """text[j] is "{": the text up to its matching "}"."""
    depth = 0
    for k in range(j, len(text)):
        depth += {"{": 1, "}": -1}.get(text[k], 0)
        if depth == 0:
            return text[j:k + 1]
    return text[j:]
def flags_block(text, start):
    body = braced(text, text.index("{", start))
    i = body.find("Flags: []cli.Flag{")
    return braced(body, i + len("Flags: []cli.Flag")) if i >= 0 else ""
os.makedirs(out, exist_ok=True)
commit = git_out("rev-parse", tag + "^{commit}").strip()
# Every top-level .go file: a command's definition is not always in <cmd>.go.
top = "".join(show(f) for f in git_out("ls-tree", "--name-only", tag).split() if f.endswith(".go"))
main = show("main.go")
with open(os.path.join(out, "version.txt"), "w") as f:
    f.write("runc version %s\ncommit: %s\n(rendered from source by scripts/runc-help-fixtures.sh --source)\n" % (tag.lstrip("v"), commit))
app = main[main.index("app.Flags = []cli.Flag{"):]
glob = options(braced(app, app.index("{"))) + [
    "   %-30s %s" % ("--help, -h", "show help"), "   %-30s %s" % ("--version, -v", "print the version")]
cmds = re.findall(r'(\w+)Command,', main[main.index("app.Commands"):])
with open(os.path.join(out, "global.txt"), "w") as f:
    f.write("COMMANDS:\n" + "".join("   %s\n" % c for c in cmds) + "\nGLOBAL OPTIONS:\n" + "\n".join(glob) + "\n")
for c in cmds:
    text = top
    m = re.search(r'var \w+Command = cli\.Command\{\s*Name:\s*"' + c + '"', text)
    with open(os.path.join(out, c + ".txt"), "w") as f:
        f.write("NAME:\n   runc %s\n\nOPTIONS:\n" % c + "".join(l + "\n" for l in options(flags_block(text, m.start()))))
print("%s: %d subcommands of runc %s (from source)" % (out, len(cmds), tag), file=sys.stderr)
PY
fi

version=$("$@" --version | sed -n 's/^runc version \([0-9][0-9.]*\).*/\1/p' | head -n 1)
if [ -z "$version" ]; then
	echo "$0: \`$* --version\` does not say runc's version" >&2
	exit 1
fi
dir=$out/$version
mkdir -p "$dir"
rm -f "$dir"/*.txt
"$@" --version >"$dir/version.txt"
"$@" --help >"$dir/global.txt"
# COMMANDS: "   name[, alias]  description" lines up to the next section.
cmds=$(sed -n '/^COMMANDS:/,/^[A-Z ]*:$/p' "$dir/global.txt" |
	sed -n 's/^   \([a-z][a-z-]*\)[, ].*/\1/p' | grep -vx help)
for c in $cmds; do
	"$@" "$c" --help >"$dir/$c.txt"
done
echo "$dir: $(echo "$cmds" | wc -w) subcommands of runc $version" >&2
