"""The etcd members: their count, instances and (always encrypted) data volumes."""

from __future__ import annotations

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
        )
