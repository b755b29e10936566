#!/usr/bin/env bash
# The main job end to end, in a throwaway store: import a root filesystem,
# save it in both formats, remove it, and load it back under new names.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bale() {
  echo "\$ bale $*" | sed "s|$work/||g"
  node --import tsx src/cli.ts --root "$work/store" "$@"
}

tar -cf "$work/rootfs.tar" -C src .
bale import "$work/rootfs.tar" demo/app:1
bale tag demo/app:1 demo/app:latest
bale save -o "$work/app-docker.tar" demo/app:1
bale save -o "$work/mix-oci.tar" -f oci -r demo/app:1=hello -r demo/app:latest=world demo/app:1 demo/app:latest
bale rmi demo/app:1 demo/app:latest
bale load -i "$work/mix-oci.tar" -r demo/app:2=hello -r demo/other:test=world
bale load -i "$work/app-docker.tar"
bale images
bale verify
