#!/usr/bin/env bash
# gen-completion.sh PROGRAM OUT: writes a bash completion for PROGRAM (ampbench-cli) from its
# own --help and each subcommand's --help (CLI11's layout), so it cannot drift from the flags.
# Options whose value is TEXT complete file names; INT/FLOAT/UINT values complete nothing.
set -euo pipefail
prog=$1
out=$2
name=$(basename "$prog")
fn=_$(printf %s "$name" | tr -c 'A-Za-z0-9_\n' _)

# "  -h,--help  ..." / "  --data TEXT REQUIRED  ..." -> "NAME KIND" (KIND: flag, file, value)
options() {
  awk '/^Options:/ { on = 1; next } /^[A-Za-z]+:/ { on = 0 }
       on && /^  -/ {
         kind = "flag"
         if ($2 ~ /^TEXT/) kind = "file"; else if ($2 ~ /^(INT|UINT|FLOAT)/) kind = "value"
         n = split($1, names, ",")
         for (i = 1; i <= n; ++i) print names[i], kind
       }'
}
positionals() { awk '/^Positionals:/ { on = 1; next } /^[A-Za-z]+:/ { on = 0 } on && /^  [a-z]/ { print $1 }'; }

top_help=$("$prog" --help)
subs=$(printf '%s\n' "$top_help" | awk '/^Subcommands:/ { on = 1; next } /^[A-Za-z]+:/ { on = 0 } on && /^  [a-z]/ { print $1 }')
[ -n "$subs" ] || { echo "gen-completion: no subcommands in '$prog --help'" >&2; exit 1; }

{
  echo "# bash completion for $name: generated from its --help by packaging/gen-completion.sh."
  echo "$fn() {"
  echo '  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} sub="" i'
  echo "  local subs=\"$(echo $subs)\""
  echo '  for ((i = 1; i < COMP_CWORD; ++i)); do'
  echo '    case " $subs " in *" ${COMP_WORDS[i]} "*) sub=${COMP_WORDS[i]}; break ;; esac'
  echo '  done'
  echo '  local opts files values positional=""'
  echo '  case $sub in'
  emit() {  # emit LABEL HELP-TEXT
    local table
    table=$(printf '%s\n' "$2" | options)
    printf '    %s)\n' "$1"
    printf '      opts="%s"\n' "$(echo $(printf '%s\n' "$table" | awk '{ print $1 }'))"
    printf '      files="%s"\n' "$(echo $(printf '%s\n' "$table" | awk '$2 == "file" { print $1 }'))"
    printf '      values="%s"\n' "$(echo $(printf '%s\n' "$table" | awk '$2 == "value" { print $1 }'))"
    if [ -n "$(printf '%s\n' "$2" | positionals)" ]; then printf '      positional=1\n'; fi
    printf '      ;;\n'
  }
  emit '""' "$top_help"
  for s in $subs; do emit "$s" "$("$prog" "$s" --help)"; done
  echo '  esac'
  echo '  if [[ -z $sub && $cur != -* ]]; then'
  echo '    mapfile -t COMPREPLY < <(compgen -W "$subs" -- "$cur"); return'
  echo '  fi'
  echo '  if [[ " $files " == *" $prev "* ]]; then'
  echo '    compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -f -- "$cur"); return'
  echo '  fi'
  echo '  [[ " $values " == *" $prev "* ]] && return'
  echo '  if [[ $cur == -* || -z $positional ]]; then'
  echo '    mapfile -t COMPREPLY < <(compgen -W "$opts" -- "$cur"); return'
  echo '  fi'
  echo '  compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -f -- "$cur")'
  echo '}'
  echo "complete -F $fn $name"
} > "$out.tmp"
mv "$out.tmp" "$out"
