"""The controllers: count and scaling, instances, and the API load balancer's subnets."""

from __future__ import annotations

from kopsgen.spec import rules
from kopsgen.spec.builder.context import DEFAULT_ROOT_GIB, BuildContext
from kopsgen.spec.model import Controller, Subnet


class ControllerPart(BuildContext):
    """The controllers (kube-aws's controller* keys and the controller block)."""

    def controller(self, subnets: list[Subnet]) -> Controller:
        r = self.raw
        c = r.controller
        count = self.either("controllerCount", ("controller", "count"), r.controllerCount,
                            c.count if c else None)
        count_path = ("controller", "count") if c and c.count is not None else ("controllerCount",)
        itype = self.either("controllerInstanceType", ("controller", "instanceType"),
                            r.controllerInstanceType, c.instanceType if c else None)
        itype_path = (("controller", "instanceType") if c and c.instanceType
                      else ("controllerInstanceType",))
        tenancy = self.either("controllerTenancy", ("controller", "tenancy"),
                              r.controllerTenancy, c.tenancy if c else None)
        scaling = self.scaling(("controller",), count, c.autoScalingGroup if c else None,
                               default=2, role="controller", count_path=count_path)
        if scaling.max_size == 1:
            self.warn(count_path, "a single controller is not highly available; use 2 or more")
        private_lb = bool(c and c.loadBalancer and c.loadBalancer.private)
        placement = self.placement(c.subnets if c else None, subnets)
        public = [s.name for s in subnets if not s.private]
        priv = [s.name for s in subnets if s.private]
        if private_lb:
            lb_subnets = tuple(priv)
            if subnets and not priv:
                self.err(("controller", "loadBalancer", "private"), "an internal load balancer "
                         "needs private subnets; mark some subnets `private: true`")
        else:
            lb_subnets = tuple(public)
            if subnets and not public:
                self.err(("subnets",), "an internet-facing API load balancer needs at least one "
                         "public subnet (or set controller.loadBalancer.private: true)")
        return Controller(
            instance_type=self.instance_type(itype_path, itype, "controller"),
            root_volume=self.volume(
                [(("controller", "rootVolume"), c.rootVolume if c else None),
                 ((), self._flat(r, "controllerRootVolume"))],
                default_size=DEFAULT_ROOT_GIB),
            tenancy=self.tenancy(tenancy),
            scaling=scaling,
            private_load_balancer=private_lb,
            subnets=placement,
            load_balancer_subnets=lb_subnets,
            security_group_ids=self.ids(("controller", "securityGroupIds"),
                                        c.securityGroupIds if c else None, rules.SG_RE,
                                        "a security group ID (sg-...)"),
        )
