#!/usr/bin/env bash
# The Debian package's checks. package_test.sh STEP BUILD_DIR OUT_DIR
#   build:      cpack writes the .deb into OUT_DIR and unpacks it into OUT_DIR/root (the fixture)
#   contents:   dpkg-deb --contents lists the expected files; Depends computed by dpkg-shlibdeps
#   validate:   appstreamcli validate --no-net, desktop-file-validate on the packaged files
#   run:        the unpacked ampbench-cli --version and ampbench --version (offscreen)
#   man:        man -l renders both pages
#   completion: the packaged bash completion offers the subcommands and their flags
#   lintian:    no errors (warnings are listed in docs/PACKAGING.md)
# Exit 77 (skip) when a tool is missing; scripts/install-deps installs them all.
set -euo pipefail
step=$1
build=$2
out=$3
root=$out/root
need() { for t in "$@"; do command -v "$t" > /dev/null || { echo "SKIP: $t not installed (scripts/install-deps)"; exit 77; }; done; }
fail() { echo "FAIL: $*" >&2; exit 1; }
deb() {
  local d
  d=$(ls "$out"/ampbench_*.deb 2> /dev/null | head -n 1)
  [ -n "$d" ] || fail "no ampbench_*.deb in $out (the package_build fixture failed)"
  echo "$d"
}
version=$(sed -n 's/^set(CPACK_PACKAGE_VERSION "\(.*\)")$/\1/p' "$build/CPackConfig.cmake")
[ -n "$version" ] || fail "no CPACK_PACKAGE_VERSION in $build/CPackConfig.cmake"

case $step in
build)
  need cpack dpkg-deb dpkg-shlibdeps fakeroot
  rm -rf "$out"
  mkdir -p "$out"
  (cd "$build" && cpack -G DEB -B "$out" > "$out/cpack.log" 2>&1) || { cat "$out/cpack.log"; fail "cpack"; }
  d=$(deb)
  arch=$(dpkg --print-architecture)
  [ "$(basename "$d")" = "ampbench_${version}_${arch}.deb" ] || fail "file name $(basename "$d"), not ampbench_${version}_${arch}.deb"
  dpkg-deb -x "$d" "$root"
  echo "built $d"
  ;;
contents)
  need dpkg-deb
  d=$(deb)
  listing=$(dpkg-deb --contents "$d" | awk '{ print $6 }' | sed 's|^\./|/|')
  for f in /usr/bin/ampbench /usr/bin/ampbench-cli /usr/libexec/ampbench/ampbench-dicom-worker \
    /usr/share/applications/org.ampbench.AmpBench.desktop \
    /usr/share/metainfo/org.ampbench.AmpBench.metainfo.xml \
    /usr/share/icons/hicolor/scalable/apps/org.ampbench.AmpBench.svg \
    /usr/share/icons/hicolor/16x16/apps/org.ampbench.AmpBench.png \
    /usr/share/icons/hicolor/48x48/apps/org.ampbench.AmpBench.png \
    /usr/share/icons/hicolor/256x256/apps/org.ampbench.AmpBench.png \
    /usr/share/man/man1/ampbench.1.gz /usr/share/man/man1/ampbench-cli.1.gz \
    /usr/share/bash-completion/completions/ampbench-cli \
    /usr/share/doc/ampbench/copyright /usr/share/doc/ampbench/changelog.gz; do
    grep -qx "$f" <<< "$listing" || fail "$f missing from the package"
  done
  # Nothing from the build tree or the tests, no static library, no headers.
  if grep -E '\.a$|/include/|_tests|/lib/.*\.so' <<< "$listing"; then fail "unexpected files in the package"; fi
  png=$(file -b "$root/usr/share/icons/hicolor/48x48/apps/org.ampbench.AmpBench.png")
  grep -q '48 x 48' <<< "$png" || fail "48x48 icon is: $png"
  depends=$(dpkg-deb -f "$d" Depends)
  echo "Depends: $depends"
  for p in libc6 libqt6widgets6 libtorch1.13; do
    grep -q "\b$p\b" <<< "$depends" || fail "Depends lacks $p (dpkg-shlibdeps should compute it)"
  done
  for b in "$root/usr/bin/ampbench" "$root/usr/bin/ampbench-cli" "$root/usr/libexec/ampbench/ampbench-dicom-worker"; do
    if readelf -d "$b" | grep -E 'RPATH|RUNPATH'; then fail "$b has an RPATH"; fi
  done
  ;;
validate)
  need appstreamcli desktop-file-validate
  appstreamcli validate --no-net "$root/usr/share/metainfo/org.ampbench.AmpBench.metainfo.xml"
  grep -q "<release version=\"$version\"" "$root/usr/share/metainfo/org.ampbench.AmpBench.metainfo.xml" ||
    fail "metainfo has no release $version"
  desktop-file-validate "$root/usr/share/applications/org.ampbench.AmpBench.desktop"
  ;;
run)
  cli=$("$root/usr/bin/ampbench-cli" --version)
  gui=$(QT_QPA_PLATFORM=offscreen "$root/usr/bin/ampbench" --version)
  printf '%s\n---\n%s\n' "$cli" "$gui"
  [ "$(head -n 1 <<< "$cli")" = "ampbench-cli $version" ] || fail "ampbench-cli --version: first line not 'ampbench-cli $version'"
  [ "$(head -n 1 <<< "$gui")" = "ampbench $version" ] || fail "ampbench --version: first line not 'ampbench $version'"
  for v in "$cli" "$gui"; do
    grep -q '^revision .' <<< "$v" || fail "no revision line"
    grep -q '^LibTorch [0-9]' <<< "$v" || fail "no LibTorch version"
    grep -q '^OpenCV [0-9]' <<< "$v" || fail "no OpenCV version"
  done
  grep -q '^Qt 6\.' <<< "$gui" || fail "ampbench --version has no Qt version"
  "$root/usr/bin/ampbench-cli" info > /dev/null || fail "the packaged ampbench-cli info failed"
  ;;
man)
  need man
  for page in ampbench ampbench-cli; do
    text=$(MANWIDTH=80 man -l "$root/usr/share/man/man1/$page.1.gz" 2> "$out/man-$page.err") ||
      { cat "$out/man-$page.err"; fail "man -l $page.1.gz failed"; }
    [ ! -s "$out/man-$page.err" ] || { cat "$out/man-$page.err"; fail "man -l $page: warnings"; }
    grep -q '^NAME' <<< "$text" || fail "$page(1) has no NAME section"
    grep -q "$page $version" <<< "$text" || fail "$page(1) does not give version $version"
  done
  text=$(MANWIDTH=80 man -l "$root/usr/share/man/man1/ampbench-cli.1.gz")
  for sub in train compare evaluate predict export info report gradcam; do
    grep -qE "^ {2,}$sub\$" <<< "$text" || fail "ampbench-cli(1) has no section for '$sub'"
  done
  grep -q -- '--precision' <<< "$text" || fail "ampbench-cli(1) does not describe train's --precision"
  ;;
completion)
  # The completion as bash runs it: COMP_WORDS/COMP_CWORD set, then the function complete named.
  # shellcheck source=/dev/null
  source "$root/usr/share/bash-completion/completions/ampbench-cli"
  fn=$(complete -p ampbench-cli | sed -n 's/.*-F \([^ ]*\) .*/\1/p')
  [ -n "$fn" ] || fail "the completion does not register for ampbench-cli"
  offer() { COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMPREPLY=(); "$fn"; printf '%s\n' "${COMPREPLY[@]}"; }
  subs=$("$root/usr/bin/ampbench-cli" --help | awk '/^Subcommands:/ { on = 1; next } /^[A-Za-z]+:/ { on = 0 } on && /^  [a-z]/ { print $1 }')
  [ -n "$subs" ] || fail "no subcommands in ampbench-cli --help"
  offered=$(offer ampbench-cli "")
  for s in $subs; do grep -qx "$s" <<< "$offered" || fail "'ampbench-cli <TAB>' does not offer $s (offered: $(echo $offered))"; done
  [ "$(offer ampbench-cli tr)" = train ] || fail "'ampbench-cli tr<TAB>' is not train"
  grep -qx -- --epochs <<< "$(offer ampbench-cli train --ep)" || fail "'train --ep<TAB>' does not offer --epochs"
  grep -qx -- --modes <<< "$(offer ampbench-cli compare --data x --mo)" || fail "'compare --mo<TAB>' does not offer --modes"
  if grep -qx -- --modes <<< "$(offer ampbench-cli train --mo)"; then fail "'train --mo<TAB>' offers compare's --modes"; fi
  grep -qx -- --json <<< "$(offer ampbench-cli info --j)" || fail "'info --j<TAB>' does not offer --json"
  # A file-valued option completes file names, a number completes nothing.
  mkdir -p "$out/comp/dataset-folder"
  (cd "$out/comp" && grep -qx dataset-folder <<< "$(offer ampbench-cli train --data dat)") ||
    fail "'train --data dat<TAB>' does not complete the folder"
  [ -z "$(cd "$out/comp" && offer ampbench-cli train --epochs dat)" ] || fail "'train --epochs <TAB>' offers files"
  echo "offered: $(echo $offered)"
  ;;
lintian)
  need lintian
  d=$(deb)
  lintian --tag-display-limit 0 "$d" > "$out/lintian.txt" 2>&1 || true
  cat "$out/lintian.txt"
  if grep -q '^E:' "$out/lintian.txt"; then fail "lintian reports errors"; fi
  ;;
*)
  fail "unknown step $step"
  ;;
esac
