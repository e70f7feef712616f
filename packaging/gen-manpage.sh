#!/usr/bin/env bash
# gen-manpage.sh PROGRAM "ONE-LINE DESCRIPTION" OUT.1.gz: the man page from the program's own
# --help and --version (help2man), run by name so the page says "ampbench-cli", not a build
# path; stderr is left out (Qt's warnings there are not help). For a program with CLI11
# subcommands, each subcommand's --help becomes a section.
# gzip -n: no timestamp in the archive, so the package is reproducible.
set -euo pipefail
prog=$1
description=$2
out=$3
name=$(basename "$prog")
export PATH="$(cd "$(dirname "$prog")" && pwd):$PATH"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

include="$work/include.h2m"
: > "$include"
subs=$("$name" --help | awk '/^Subcommands:/ { on = 1; next } /^[A-Za-z]+:/ { on = 0 } on && /^  [a-z]/ { print $1 }')
if [ -n "$subs" ]; then
  {
    echo "[COMMANDS]"
    for s in $subs; do
      echo ".SS $s"
      echo ".nf"
      # roff: a leading dot or quote would be a request; backslashes are escapes.
      "$name" "$s" --help | sed -e 's/\\/\\e/g' -e "s/^\([.']\)/\\\\\&\1/"
      echo ".fi"
    done
  } >> "$include"
fi
cat >> "$include" <<'EOF'
[FILES]
.TP
.I ~/.config/AmpBench/AmpBench.conf
Settings of the workbench (recent data folders, the runs folder, window layout).
.TP
.I ~/.local/share/AmpBench/AmpBench/runs
The workbench's runs folder unless another one is chosen (\fB$XDG_DATA_HOME\fR is honoured).
[SEE ALSO]
.BR ampbench (1),
.BR ampbench-cli (1)
EOF

help2man --no-info --name="$description" --include="$include" --output="$work/$name.1" "$name"
gzip -9n -c "$work/$name.1" > "$out.tmp"
mv "$out.tmp" "$out"
