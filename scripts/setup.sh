#!/usr/bin/env bash
# Installs every Debian 12 package that Strata's build and tests need.
# Packages already present are skipped, so running it twice costs nothing.
set -euo pipefail

packages=(
    # build
    cmake ninja-build ccache g++ pkg-config
    libhalide14-0-dev llvm-14-dev libboost-program-options-dev nlohmann-json3-dev
    # tests; the ARM libraries are linked and run under qemu
    catch2 qemu-user gcc-aarch64-linux-gnu libc6-dev-arm64-cross
    # ground truth for tests and the weights exporter
    python3 python3-numpy python3-torch python3-torchvision
)

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "setup: all ${#packages[@]} packages present"
    exit 0
fi

echo "setup: installing ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
    sudo_cmd=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
