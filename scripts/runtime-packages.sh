#!/usr/bin/env bash
# Prints, one per line and sorted, the Debian packages holding every shared library the given
# programs load (ldd lists them transitively; dpkg -S names each file's package). The container
# image's runtime stage installs exactly this list, so it carries no compiler or headers and lacks
# no library, on Debian and on the Ubuntu base of the CUDA variant alike (where package names
# differ). Fails when a library is missing or belongs to no package, except the NVIDIA driver's
# libraries, which the NVIDIA container runtime mounts into GPU containers when they start, and
# libraries below a folder of RUNTIME_PACKAGES_BASE_DIRS (colon-separated): those come with the
# base image instead (a CUDA toolkit installed without packages, as on some build machines, whose
# libraries the NVIDIA CUDA runtime image provides); they are named on stderr.
#   [RUNTIME_PACKAGES_BASE_DIRS=DIR:...] scripts/runtime-packages.sh PROGRAM...
set -euo pipefail
[ "$#" -gt 0 ] || { echo "usage: $0 PROGRAM..." >&2; exit 2; }
for prog in "$@"; do
  ldd "$prog" > /dev/null || { echo "runtime-packages: $prog is not a dynamic program" >&2; exit 1; }
done

# Library paths as ldd prints them: "name => /path (addr)", "/lib64/ld-linux... (addr)".
mapfile -t libs < <(
  for prog in "$@"; do
    ldd "$prog" | awk '$2 == "=>" && $3 == "not" { print "missing:" $1; next }
                       $2 == "=>" { print $3; next }
                       $1 ~ /^\// { print $1 }'
  done | sort -u)

# With merged /usr, ldd may print /lib/... while dpkg recorded /usr/lib/... (or the reverse),
# and a soname link may be recorded only as its target: every spelling of a library's path.
spellings() {
  local p
  for p in "$1" "$(readlink -f "$1")"; do
    printf '%s\n' "$p" "${p#/usr}" "/usr${p#/usr}"
  done
}

status=0
found_libs=()
candidates=()
for lib in "${libs[@]}"; do
  case "$lib" in
    missing:libcuda.so.*|missing:libnvidia-*) continue ;;  # the GPU node's driver provides these
    missing:*) echo "runtime-packages: ${lib#missing:} not found (ldd)" >&2; status=1; continue ;;
  esac
  found_libs+=("$lib")
  mapfile -t -O "${#candidates[@]}" candidates < <(spellings "$lib")
done

# One dpkg call for all paths (it reads its whole database each time). Lines are
# "pkg[:arch][, pkg2[:arch]]: /path"; paths no package owns are simply absent.
declare -A owner=()
while IFS= read -r line; do
  path=${line#*: }
  pkg=${line%%: *}
  pkg=${pkg%%,*}
  owner["$path"]=${pkg%%:*}
done < <(dpkg -S "${candidates[@]}" 2>/dev/null || true)

declare -A packages=()
for lib in "${found_libs[@]}"; do
  found=""
  while read -r c; do
    if [ -n "${owner[$c]:-}" ]; then found=${owner[$c]}; break; fi
  done < <(spellings "$lib")
  if [ -z "$found" ]; then
    real=$(readlink -f "$lib")
    IFS=: read -r -a base_dirs <<< "${RUNTIME_PACKAGES_BASE_DIRS:-}"
    for d in "${base_dirs[@]}"; do
      if [ -n "$d" ] && [[ "$real" == "$(readlink -f "$d")"/* ]]; then found=base; break; fi
    done
    if [ "$found" = base ]; then
      echo "runtime-packages: $lib comes with the base image ($real)" >&2
    else
      echo "runtime-packages: $lib belongs to no Debian package" >&2
      status=1
    fi
  else
    packages["$found"]=1
  fi
done
[ "$status" -eq 0 ] || exit 1
printf '%s\n' "${!packages[@]}" | sort
