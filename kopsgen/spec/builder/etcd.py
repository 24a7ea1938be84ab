"""The etcd members: their count, instances and (always encrypted) data volumes."""

from __future__ import annotations

import re

from kopsgen.spec.builder.context import DEFAULT_ETCD_DATA_GIB, DEFAULT_ROOT_GIB, BuildContext
from kopsgen.spec.model import Etcd, Subnet


class EtcdPart(BuildContext):
    """The etcd members (kube-aws's etcd* keys and the etcd block)."""

    def etcd(self, subnets: list[Subnet]) -> Etcd:
        r = self.raw
        e = r.etcd
        count = self.either("etcdCount", ("etcd", "count"), r.etcdCount, e.count if e else None)
        count_path = ("etcd", "count") if e and e.count is not None else ("etcdCount",)
        if count is None:
            count = 3
        if count < 1:
            self.err(count_path, f"must be at least 1 (got {count})")
            count = 1
        elif count > 9:
            self.err(count_path, f"{count} members is more than etcd supports well; use 3, 5 "
                     "or 7")
        elif count == 1:
            self.warn(count_path, "a single etcd member is not highly available; use 3 or 5")
        elif count % 2 == 0:
            self.warn(count_path, f"an even number of etcd members ({count}) tolerates no more "
                      f"failures than {count - 1}; use an odd number")
        itype = self.either("etcdInstanceType", ("etcd", "instanceType"), r.etcdInstanceType,
                            e.instanceType if e else None)
        itype_path = ("etcd", "instanceType") if e and e.instanceType else ("etcdInstanceType",)
        tenancy = self.either("etcdTenancy", ("etcd", "tenancy"), r.etcdTenancy,
                              e.tenancy if e else None)
        dv = e.dataVolume if e else None
        encrypted = self.either("etcdDataVolumeEncrypted", ("etcd", "dataVolume", "encrypted"),
                                r.etcdDataVolumeEncrypted, dv.encrypted if dv else None)
        if encrypted is False:
            path = (("etcd", "dataVolume", "encrypted") if dv and dv.encrypted is not None
                    else ("etcdDataVolumeEncrypted",))
            self.err(path, "etcd data (every Secret of the cluster) must be encrypted; remove "
                     "this key or set it to true")
        return Etcd(
            count=count,
            instance_type=self.instance_type(itype_path, itype, "etcd"),
            root_volume=self.volume(
                [(("etcd", "rootVolume"), e.rootVolume if e else None),
                 ((), self._flat(r, "etcdRootVolume"))],
                default_size=DEFAULT_ROOT_GIB),
            data_volume=self.volume(
                [(("etcd", "dataVolume"), dv), ((), self._flat(r, "etcdDataVolume"))],
                default_size=DEFAULT_ETCD_DATA_GIB, data=True),
            tenancy=self.tenancy(tenancy),
            subnets=self.placement(e.subnets if e else None, subnets),
            backup_schedule=self.backup_schedule(e.backup.interval if e and e.backup else None),
            backup_retention_days=self.backup_retention(
                e.backup.retentionDays if e and e.backup else None),
            restore_snapshot=self.restore_snapshot(
                e.restore.snapshot if e and e.restore else None),
        )

    def backup_schedule(self, value: str | None) -> tuple[str, str]:
        path = ("etcd", "backup", "interval")
        if value is None:
            return ("calendar", "hourly")
        kind = schedule_kind(value)
        if kind is None:
            self.err(path, f"{value!r} is neither a systemd calendar event (hourly, daily, "
                     "*-*-* 00/6:00:00) nor a time span (30min, 6h)")
            return ("calendar", "hourly")
        if kind == "span" and span_seconds(value) < 300:
            self.err(path, f"{value!r} is less than 5 minutes: a snapshot of a large database "
                     "takes longer than that; use 5min or more")
        return (kind, value.strip())

    def backup_retention(self, value: int | None) -> int:
        if value is None:
            return 30
        if value < 1:
            self.err(("etcd", "backup", "retentionDays"), f"must be at least 1 (got {value})")
            return 30
        return value

    def restore_snapshot(self, value: str | None) -> str | None:
        if value is None:
            return None
        if not SNAPSHOT_KEY_RE.fullmatch(value):
            self.err(("etcd", "restore", "snapshot"),
                     f"{value!r} is not a snapshot key as `kopsgen etcd backups` lists it "
                     "(backups/etcd/<time>-<member>-<sha256>.db)")
            return None
        return value


#: A backup's key below the cluster prefix: kopsgen-etcd-backup names each snapshot by its
#: time, the member that took it and its SHA-256, which the restore checks.
SNAPSHOT_KEY_RE = re.compile(r"backups/etcd/\d{8}T\d{6}Z-[a-z0-9]+-[0-9a-f]{64}\.db")

#: systemd.time(7): the shorthands of calendar events.
CALENDAR_SHORTHANDS = frozenset((
    "minutely", "hourly", "daily", "monthly", "weekly", "yearly", "annually", "quarterly",
    "semiannually"))
_DAY = r"(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*"
_CALENDAR_RE = re.compile(
    rf"(?:{_DAY}(?:(?:\.\.|,){_DAY})*\s+)?"  # weekdays: Mon, Mon..Fri, Sat,Sun
    r"(?:[0-9*][0-9*.,/~-]*\s+)?"  # date: *-*-*, 2026-*-01, *-*~03
    r"[0-9*][0-9*.,/]*:[0-9*][0-9*.,/]*(?::[0-9*][0-9*.,/]*)?"  # time: 00/6:00, *:0/15:00
    r"(?:\s+(?:UTC|utc))?", re.IGNORECASE)
#: systemd.time(7): time span units, in seconds.
_SPAN_UNITS = {
    **dict.fromkeys(("usec", "us", "\u00b5s"), 1e-6), **dict.fromkeys(("msec", "ms"), 1e-3),
    **dict.fromkeys(("seconds", "second", "sec", "s"), 1),
    **dict.fromkeys(("minutes", "minute", "min", "m"), 60),
    **dict.fromkeys(("hours", "hour", "hr", "h"), 3600),
    **dict.fromkeys(("days", "day", "d"), 86400), **dict.fromkeys(("weeks", "week", "w"), 604800),
    **dict.fromkeys(("months", "month", "M"), 2629800),
    **dict.fromkeys(("years", "year", "y"), 31557600)}
_SPAN_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(" + "|".join(
    sorted(map(re.escape, _SPAN_UNITS), key=len, reverse=True)) + r")(?![A-Za-z])")


def span_seconds(value: str) -> float:
    """A systemd time span (``1h 30min``) in seconds; -1 if it is not one."""
    pos, total, text = 0, 0.0, value.strip()
    if not text:
        return -1
    while pos < len(text):
        m = _SPAN_PART.match(text, pos)
        if m is None:
            return -1
        total += float(m.group(1)) * _SPAN_UNITS[m.group(2)]
        pos = m.end()
    return total


def schedule_kind(value: str) -> str | None:
    """"calendar" (OnCalendar=), "span" (OnUnitActiveSec=) or None for neither."""
    text = value.strip()
    if text.lower() in CALENDAR_SHORTHANDS or _CALENDAR_RE.fullmatch(text):
        return "calendar"
    if span_seconds(text) > 0:
        return "span"
    return None
