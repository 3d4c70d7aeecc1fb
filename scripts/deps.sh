#!/bin/sh
# Installs the Debian packages modelfs needs to build, test and demo, when missing.
# Runs as root (apt-get); does nothing when everything is already there.
set -e
PKGS="gcc make pkg-config libfuse3-dev fuse3 zlib1g-dev libcjson-dev libzip-dev liblzma-dev
libbz2-dev liblz4-dev libcmocka-dev clang python3 python3-sklearn python3-joblib python3-numpy
python3-scipy python3-pandas python3-cloudpickle python3-lz4 python3-pytest time
libarchive-dev libarchive-tools python3-torch squashfs-tools squashfuse libdeflate-dev"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends $missing
