#!/usr/bin/awk -f
# A strict checker of the Prometheus text exposition format (0.0.4), for the
# file tardisd writes for node_exporter's textfile collector.  POSIX awk
# (mawk). Prints one line per problem and exits 1 if there is any.
#
# Checked: HELP/TYPE syntax (TYPE before the samples, once per family, HELP
# with valid escapes); metric and label names; label syntax and escapes, no
# duplicate or reserved (__) label names; values and timestamps; every
# sample belongs to a family declared with TYPE; families contiguous; no
# duplicate series; counters named *_total and never negative; histograms:
# _bucket with `le`, bounds increasing, counts cumulative, +Inf last and
# equal to _count, _sum and _count present for each label set.

function err(msg) {
	printf "line %d: %s: %s\n", NR, msg, $0
	bad++
}

function valid_name(s) { return s ~ /^[a-zA-Z_:][a-zA-Z0-9_:]*$/ }
function valid_label_name(s) { return s ~ /^[a-zA-Z_][a-zA-Z0-9_]*$/ && s !~ /^__/ }
function valid_float(s) {
	return s ~ /^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$/ ||
	       s ~ /^[+-]?Inf$/ || s == "NaN"
}
function num(s) {
	if (s ~ /^\+?Inf$/) return 1e308 * 10
	if (s == "-Inf") return -1e308 * 10
	return s + 0
}

# Escapes allowed in HELP text: \\ and \n only.
function valid_help_escapes(s,    i, c) {
	for (i = 1; i <= length(s); i++) {
		if (substr(s, i, 1) != "\\") continue
		c = substr(s, i + 1, 1)
		if (c != "\\" && c != "n") return 0
		i++
	}
	return 1
}

# Parses `{...}` at the start of s into LN[1..n], LV[1..n]; returns the
# length consumed, or -1.
function parse_labels(s,    i, c, n, name, val, seen, state) {
	NL = 0
	if (substr(s, 1, 1) != "{") return -1
	i = 2
	split("", seen)
	while (1) {
		c = substr(s, i, 1)
		if (c == "}") return i
		name = ""
		while (substr(s, i, 1) ~ /[a-zA-Z0-9_]/) { name = name substr(s, i, 1); i++ }
		if (!valid_label_name(name)) { LERR = "bad label name `" name "`"; return -1 }
		if (name in seen) { LERR = "duplicate label `" name "`"; return -1 }
		seen[name] = 1
		if (substr(s, i, 2) != "=\"") { LERR = "expected =\" after label " name; return -1 }
		i += 2
		val = ""
		while (1) {
			c = substr(s, i, 1)
			if (c == "") { LERR = "unterminated label value"; return -1 }
			if (c == "\"") break
			if (c == "\\") {
				c = substr(s, i + 1, 1)
				if (c != "\\" && c != "\"" && c != "n") { LERR = "bad escape \\" c; return -1 }
				val = val "\\" c
				i += 2
				continue
			}
			val = val c
			i++
		}
		i++
		NL++
		LN[NL] = name
		LV[NL] = val
		c = substr(s, i, 1)
		if (c == ",") { i++; continue }
		if (c == "}") return i
		LERR = "expected , or } after a label"
		return -1
	}
}

# Label set without `le`, sorted: the key of one histogram series.
function series_key(skip,    i, j, k, t, keys, n) {
	n = 0
	for (i = 1; i <= NL; i++) {
		if (LN[i] == skip) continue
		keys[++n] = LN[i] "=\"" LV[i] "\""
	}
	for (i = 2; i <= n; i++) {
		t = keys[i]
		for (j = i - 1; j >= 1 && keys[j] > t; j--) keys[j + 1] = keys[j]
		keys[j + 1] = t
	}
	k = ""
	for (i = 1; i <= n; i++) k = k (i > 1 ? "," : "") keys[i]
	return k
}

function label_value(want,    i) {
	for (i = 1; i <= NL; i++) if (LN[i] == want) return LV[i]
	return ""
}
function has_label(want,    i) {
	for (i = 1; i <= NL; i++) if (LN[i] == want) return 1
	return 0
}

# A new family starts (HELP, TYPE or first sample): the previous one ends.
function enter_family(f) {
	if (f == current) return
	if (f in closed) err("family " f " is not contiguous")
	if (current != "") closed[current] = 1
	current = f
}

BEGIN { bad = 0; current = "" }

/^$/ { err("empty line"); next }
/[ \t]$/ { err("trailing whitespace"); next }

/^#/ {
	if ($0 ~ /^# HELP /) {
		name = $3
		if (!valid_name(name)) { err("bad metric name in HELP"); next }
		text = substr($0, length("# HELP " name) + 2)
		if ($0 == "# HELP " name) text = ""
		if (text == "") err("empty HELP text")
		if (!valid_help_escapes(text)) err("bad escape in HELP")
		enter_family(name)
		if (name in help) err("second HELP for " name)
		if (name in nsamples) err("HELP after samples of " name)
		help[name] = 1
	} else if ($0 ~ /^# TYPE /) {
		name = $3
		if (NF != 4) { err("TYPE needs a name and a type"); next }
		if (!valid_name(name)) { err("bad metric name in TYPE"); next }
		if ($4 !~ /^(counter|gauge|histogram|summary|untyped)$/) { err("bad type " $4); next }
		enter_family(name)
		if (name in type) err("second TYPE for " name)
		if (name in nsamples) err("TYPE after samples of " name)
		type[name] = $4
		if ($4 == "counter" && name !~ /_total$/) err("counter " name " is not named *_total")
	} else if ($0 !~ /^# /) {
		err("comment without a space after #")
	}
	next
}

{
	line = $0
	match(line, /^[a-zA-Z_:][a-zA-Z0-9_:]*/)
	if (RSTART != 1) { err("bad metric name"); next }
	name = substr(line, 1, RLENGTH)
	rest = substr(line, RLENGTH + 1)
	NL = 0
	if (substr(rest, 1, 1) == "{") {
		LERR = ""
		n = parse_labels(rest)
		if (n < 0) { err(LERR); next }
		rest = substr(rest, n + 1)
	}
	if (substr(rest, 1, 1) != " ") { err("expected one space before the value"); next }
	rest = substr(rest, 2)
	nf = split(rest, parts, " ")
	if (nf < 1 || nf > 2 || rest ~ /  /) { err("expected VALUE [TIMESTAMP]"); next }
	value = parts[1]
	if (!valid_float(value)) { err("bad value `" value "`"); next }
	if (nf == 2 && parts[2] !~ /^-?[0-9]+$/) { err("bad timestamp"); next }

	# Which family: the name itself, or a histogram/summary's suffixed name.
	fam = name
	suffix = ""
	if (!(fam in type)) {
		if (name ~ /_bucket$/) { fam = substr(name, 1, length(name) - 7); suffix = "bucket" }
		else if (name ~ /_sum$/) { fam = substr(name, 1, length(name) - 4); suffix = "sum" }
		else if (name ~ /_count$/) { fam = substr(name, 1, length(name) - 6); suffix = "count" }
		if (!(fam in type) || (type[fam] != "histogram" && type[fam] != "summary") ||
		    (suffix == "bucket" && type[fam] != "histogram")) {
			err("sample of " name " has no TYPE")
			next
		}
	} else if (type[fam] == "histogram") {
		err("histogram " fam " sample without _bucket/_sum/_count")
		next
	}
	enter_family(fam)
	nsamples[fam]++

	key = name "{" series_key("") "}"
	if (key in series) { err("duplicate series " key); next }
	series[key] = 1

	t = type[fam]
	if (t == "counter" && (value == "NaN" || num(value) < 0)) err("counter is negative or NaN")
	if (t == "histogram") {
		sk = fam "{" series_key("le") "}"
		if (suffix == "bucket") {
			if (!has_label("le")) { err("_bucket without le"); next }
			le = label_value("le")
			if (!valid_float(le)) { err("bad le `" le "`"); next }
			if (value !~ /^[0-9]+$/) err("bucket count is not a non-negative integer")
			if (sk in inf_seen) err("bucket after +Inf in " sk)
			if ((sk in last_le) && num(le) <= last_le[sk]) err("le not increasing in " sk)
			if ((sk in last_cnt) && num(value) < last_cnt[sk]) err("buckets not cumulative in " sk)
			last_le[sk] = num(le)
			last_cnt[sk] = num(value)
			hseries[sk] = fam
			if (le ~ /^\+?Inf$/) { inf_seen[sk] = 1; inf_val[sk] = num(value) }
		} else {
			if (has_label("le")) err("_" suffix " with le")
			if (suffix == "count") {
				if (value !~ /^[0-9]+$/) err("_count is not a non-negative integer")
				count_val[sk] = num(value)
			} else {
				sum_seen[sk] = 1
			}
			hseries[sk] = fam
		}
	}
}

END {
	for (sk in hseries) {
		if (!(sk in inf_seen)) { printf "histogram %s: no le=\"+Inf\" bucket\n", sk; bad++ }
		if (!(sk in sum_seen)) { printf "histogram %s: no _sum\n", sk; bad++ }
		if (!(sk in count_val)) { printf "histogram %s: no _count\n", sk; bad++ }
		else if ((sk in inf_seen) && count_val[sk] != inf_val[sk]) {
			printf "histogram %s: _count %s != +Inf bucket %s\n", sk, count_val[sk], inf_val[sk]
			bad++
		}
	}
	for (f in type) if (!(f in nsamples)) { printf "family %s has no samples\n", f; bad++ }
	if (NR == 0) { print "empty file"; bad++ }
	exit bad ? 1 : 0
}
