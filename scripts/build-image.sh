#!/usr/bin/env bash
# Builds the KubeMom container image (Containerfile) with buildah.
#
#   scripts/build-image.sh [--tag IMAGE] [--local-bases] [--storage DIR] [--cache DIR]
#
#   --tag IMAGE     the image name (default localhost/kubemom:dev)
#   --local-bases   build where no registry is reachable: the base images are made here from Debian packages
#                   (runtime: libc6, libgcc-s1, libstdc++6 via apt-get download; build: debootstrap with g++,
#                   make and python3) plus the node, npm and node headers that run this script; npm ci runs
#                   offline from this machine's npm cache (run `npm ci` here first)
#   --storage DIR   buildah's storage under DIR (default: buildah's own, /var/lib/containers)
#   --cache DIR     where the downloaded .deb files and base root filesystems are kept (default .cache/image)
#
# Environment: STORAGE_DRIVER (default vfs: works everywhere, no kernel overlay needed), BUILDAH_ISOLATION
# (default chroot: works inside a container sandbox without user namespaces).
#
# The runtime base is not a debootstrap: it needs glibc and libstdc++ only (as distroless' cc image). The build base
# is one, for the C toolchain node-gyp needs. Not Debian's nodejs: Debian 12 ships Node 18 and KubeMom requires
# Node >= 20.19 (package.json engines), so the bases carry the node binary that runs the tests here, the same one
# the tests prove the code against. Needs: buildah, debootstrap, apt-get, dpkg-deb.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
tag="localhost/kubemom:dev"
local_bases=0
storage=""
cache="$repo/.cache/image"

while [ $# -gt 0 ]; do
  case "$1" in
    --tag) tag="$2"; shift 2 ;;
    --local-bases) local_bases=1; shift ;;
    --storage) storage="$2"; shift 2 ;;
    --cache) cache="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-image.sh: unknown argument \"$1\"; accepted: --tag IMAGE, --local-bases, --storage DIR, --cache DIR" >&2; exit 2 ;;
  esac
done

export BUILDAH_ISOLATION="${BUILDAH_ISOLATION:-chroot}"
bh() {
  if [ -n "$storage" ]; then
    buildah --storage-driver "${STORAGE_DRIVER:-vfs}" --root "$storage/root" --runroot "$storage/run" "$@"
  else
    buildah --storage-driver "${STORAGE_DRIVER:-vfs}" "$@"
  fi
}
image_exists() { bh inspect --type image "$1" >/dev/null 2>&1; }

build_args=()
volumes=()
if [ "$local_bases" = 1 ]; then
  mkdir -p "$cache"
  node_bin="$(readlink -f "$(command -v node)")"
  npm_dir="$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")"
  [ -f "$npm_dir/bin/npm-cli.js" ] || { echo "build-image.sh: npm not found next to $(command -v npm)" >&2; exit 1; }

  # The runtime base: the files of Debian's C and C++ runtime packages, nothing else.
  debs="$cache/debs"
  if [ ! -f "$debs/.complete" ]; then
    rm -rf "$debs"; mkdir -p "$debs"
    (cd "$debs" && apt-get download -q libc6 libgcc-s1 libstdc++6 gcc-12-base)
    touch "$debs/.complete"
  fi
  key="$( { ls "$debs"; sha256sum "$node_bin"; cat "$npm_dir/package.json"; echo build-base-v2; } | sha256sum | cut -c1-16)"
  runtime_base="localhost/kubemom-base-runtime:$key"
  build_base="localhost/kubemom-base-build:$key"

  if ! image_exists "$runtime_base"; then
    rootfs="$cache/rootfs-runtime"
    rm -rf "$rootfs"; mkdir -p "$rootfs"
    for deb in "$debs"/*.deb; do dpkg-deb -x "$deb" "$rootfs"; done
    rm -rf "$rootfs/usr/share/doc" "$rootfs/usr/share/lintian" "$rootfs/usr/share/locale" "$rootfs/usr/share/gdb"
    mkdir -p "$rootfs/tmp" "$rootfs/etc" "$rootfs/usr/local/bin"
    chmod 1777 "$rootfs/tmp"
    # Named users for tools that look them up: root, qemu (KubeVirt's uid 107), distroless' nonroot.
    printf 'root:x:0:0:root:/root:/sbin/nologin\nqemu:x:107:107:qemu:/:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > "$rootfs/etc/passwd"
    printf 'root:x:0:\nqemu:x:107:\nnonroot:x:65532:\n' > "$rootfs/etc/group"
    ctr="$(bh from scratch)"
    bh copy "$ctr" "$rootfs/" / >/dev/null
    bh config --env PATH=/usr/local/bin:/usr/bin:/bin "$ctr"
    bh commit -q "$ctr" "$runtime_base" >/dev/null
    bh rm "$ctr" >/dev/null
    rm -rf "$rootfs"
  fi
  if ! image_exists "$build_base"; then
    # The build base: a minimal Debian with a C toolchain and python3 (node-gyp builds the shim's PSI trigger
    # addon), from the Debian mirror apt is configured with here, plus the node, npm and node headers that run
    # this script, where the official node image has them (/usr/local).
    suite="$(. /etc/os-release && echo "$VERSION_CODENAME")"
    mirror="$(apt-cache policy | awk -v s="$suite/main" '$3 == s && $4 ~ /amd64|arm64/ && $5 == "Packages" { print $2; exit }')"
    [ -n "$mirror" ] || { echo "build-image.sh: no Debian $suite/main mirror in apt's configuration (run apt-get update)" >&2; exit 1; }
    rootfs="$cache/rootfs-build"
    rm -rf "$rootfs"
    debootstrap --variant=minbase --include=g++,make,python3 "$suite" "$rootfs" "$mirror" > "$cache/debootstrap.log" 2>&1 ||
      { tail -20 "$cache/debootstrap.log" >&2; exit 1; }
    rm -rf "$rootfs/var/cache/apt/archives"/*.deb "$rootfs/var/lib/apt/lists"/* "$rootfs/usr/share/doc" \
      "$rootfs/usr/share/man" "$rootfs/usr/share/locale" "$rootfs/usr/share/info"
    node_headers="$(dirname "$(dirname "$node_bin")")/include/node"
    [ -f "$node_headers/node_api.h" ] || { echo "build-image.sh: no node headers at $node_headers" >&2; exit 1; }
    mkdir -p "$rootfs/usr/local/bin" "$rootfs/usr/local/lib/node_modules" "$rootfs/usr/local/include"
    cp "$node_bin" "$rootfs/usr/local/bin/node"
    cp -a "$npm_dir" "$rootfs/usr/local/lib/node_modules/npm"
    cp -a "$node_headers" "$rootfs/usr/local/include/node"
    ctr="$(bh from scratch)"
    bh copy "$ctr" "$rootfs/" / >/dev/null
    bh config --env PATH=/usr/local/bin:/usr/bin:/bin --workingdir /root "$ctr"
    bh commit -q "$ctr" "$build_base" >/dev/null
    bh rm "$ctr" >/dev/null
    rm -rf "$rootfs"
  fi

  # Bases made for another node or other packages are not used again.
  for old in $(bh images --format '{{.Name}}:{{.Tag}}' | grep -E '^localhost/kubemom-base-(runtime|build):' | grep -v ":$key\$" || true); do
    bh rmi -f "$old" >/dev/null 2>&1 || true
  done

  npm_cache="$(npm config get cache 2>/dev/null)"
  build_args+=(--build-arg "BUILD_BASE=$build_base" --build-arg "RUNTIME_BASE=$runtime_base"
               --build-arg npm_config_offline=true --build-arg npm_config_cache=/npm-cache --pull=never)
  volumes+=(-v "$npm_cache:/npm-cache")
fi

bh bud --layers=false -f "$repo/Containerfile" -t "$tag" "${build_args[@]}" "${volumes[@]}" "$repo"
