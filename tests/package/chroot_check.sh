#!/usr/bin/env bash
# The package on a clean Debian 12 (docs/PACKAGING.md): a debootstrap chroot in which
# `apt-get install ./ampbench_*.deb` must pull every dependency, then ampbench-cli compare runs on
# real data and ampbench --screenshot works under Xvfb. Not a CTest test: it downloads ~1 GB.
#   chroot_check.sh CHROOT_DIR DEB DATA_DIR OUT_DIR
# CHROOT_DIR is created with debootstrap when missing (never inside the repository). DATA_DIR is
# bind-mounted read-only. OUT_DIR receives the logs and the screenshot.
set -euo pipefail
root=$1
deb=$2
data=$3
out=$4
mirror=${AMPBENCH_DEBIAN_MIRROR:-http://deb.debian.org/debian}
mkdir -p "$out"
out=$(cd "$out" && pwd)
if [ ! -x "$root/usr/bin/apt-get" ]; then
  start=$(date +%s)
  debootstrap --variant=minbase bookworm "$root" "$mirror" > "$out/debootstrap.log" 2>&1
  echo "debootstrap: $(($(date +%s) - start)) s, $(du -sh "$root" | cut -f1)" | tee "$out/times.txt"
fi
cat > "$root/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
EOF
cp /etc/resolv.conf "$root/etc/resolv.conf"
mounts=()
cleanup() { for ((i = ${#mounts[@]} - 1; i >= 0; --i)); do umount -l "${mounts[i]}" || true; done; }
trap cleanup EXIT
trap 'exit 143' TERM INT
for fs in proc sys dev dev/pts; do
  mkdir -p "$root/$fs"
  mount --bind "/$fs" "$root/$fs"
  mounts+=("$root/$fs")
done
mkdir -p "$root/data"
mount --bind "$data" "$root/data"
mount -o remount,bind,ro "$root/data"
mounts+=("$root/data")

cp "$deb" "$root/tmp/"
name=$(basename "$deb")
inside() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"; }
start=$(date +%s)
inside apt-get update > "$out/apt-update.log" 2>&1
before=$(du -sm "$root" --exclude="$root/data" --exclude="$root/proc" --exclude="$root/sys" --exclude="$root/dev" | cut -f1)
inside env DEBIAN_FRONTEND=noninteractive apt-get install -y "/tmp/$name" > "$out/apt-install.log" 2>&1
after=$(du -sm "$root" --exclude="$root/data" --exclude="$root/proc" --exclude="$root/sys" --exclude="$root/dev" | cut -f1)
echo "apt-get install ./$name: $(($(date +%s) - start)) s, $((after - before)) MB more in the chroot" | tee -a "$out/times.txt"
grep -E '^(The following NEW packages|[0-9]+ upgraded)' -A0 "$out/apt-install.log" | tee -a "$out/times.txt"

inside ampbench-cli --version | tee "$out/version.txt"
inside ampbench-cli info > "$out/info.txt"
start=$(date +%s)
inside ampbench-cli compare --data /data --limit 400 --epochs 2 \
  --image-size 28 --modes fp32,fp16 --out /tmp/cmp --quiet > "$out/compare.txt" 2>&1
echo "ampbench-cli compare: $(($(date +%s) - start)) s" | tee -a "$out/times.txt"
cat "$out/compare.txt"
# Xvfb is the test's, not the package's: the package needs no X server.
inside env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends xvfb xauth > "$out/apt-xvfb.log" 2>&1
inside env QT_QPA_PLATFORM=xcb xvfb-run -a -s '-screen 0 1600x1000x24' ampbench --open /tmp/cmp --show comparison \
  --screenshot /tmp/ampbench-chroot.png --exit-when-done --window-size 1440x900 > "$out/screenshot.log" 2>&1
cp "$root/tmp/ampbench-chroot.png" "$out/"
echo "screenshot: $out/ampbench-chroot.png"
