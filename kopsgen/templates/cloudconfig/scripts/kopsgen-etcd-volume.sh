#!/bin/bash
# Finds this member's etcd data volume, creates an ext4 filesystem on it ONLY if it holds no
# filesystem or partition table at all, and mounts it at /var/lib/etcd. The volume outlives
# the instance and holds the cluster's data: an existing filesystem is never touched.
set -euo pipefail

mnt=/var/lib/etcd
if mountpoint -q "${mnt}"; then
  exit 0
fi

find_volume() {
  # Xen instances (and udev rules that name NVMe EBS disks) show the requested device name.
  local dev
  for dev in /dev/xvdf /dev/sdf; do
    if [ -b "${dev}" ]; then
      readlink -f "${dev}"
      return 0
    fi
  done
  # On Nitro instances EBS volumes are NVMe disks in attachment order: take the one EBS
  # disk that is neither the root disk nor partitioned.
  local root_part root_disk name model found="" count=0
  root_part=$(findmnt -no SOURCE /)
  root_disk=/dev/$(lsblk -no PKNAME "${root_part}" | head -n 1)
  while read -r name model; do
    [ "${name}" = "${root_disk}" ] && continue
    case "${model}" in
      "Amazon Elastic Block Store"*) ;;
      *) continue ;;
    esac
    [ "$(lsblk -nro NAME "${name}" | wc -l)" -eq 1 ] || continue
    found="${found:+${found} }${name}"
    count=$((count + 1))
  done < <(lsblk -dnpo NAME,MODEL)
  if [ "${count}" -eq 1 ]; then
    echo "${found}"
    return 0
  fi
  if [ "${count}" -gt 1 ]; then
    echo "kopsgen-etcd-volume: several candidate volumes (${found}); not guessing" >&2
  fi
  return 1
}

if ! dev=$(find_volume); then
  echo "kopsgen-etcd-volume: the etcd data volume (/dev/xvdf) is not attached yet" >&2
  exit 1
fi

# blkid -p exits 2 when it finds no filesystem or partition table; any other failure
# means the device could not be read, and then nothing is formatted.
rc=0
blkid -p "${dev}" > /dev/null 2>&1 || rc=$?
case "${rc}" in
  0) echo "kopsgen-etcd-volume: ${dev} already has a filesystem; mounting it" ;;
  2)
    echo "kopsgen-etcd-volume: ${dev} is blank; creating an ext4 filesystem"
    mkfs.ext4 -L etcd-data "${dev}"
    ;;
  *)
    echo "kopsgen-etcd-volume: cannot probe ${dev} (blkid exit ${rc})" >&2
    exit 1
    ;;
esac

mkdir -p "${mnt}"
mount -o noatime "${dev}" "${mnt}"
mkdir -p "${mnt}/data"
chmod 0700 "${mnt}/data"
