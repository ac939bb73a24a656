"""EC2 prices for `pipeworks capacity` and the cost lines of summary.md and `pipeworks diff`.

On-demand: AWS's public list prices per hour, Linux, region us-east-1, shared tenancy
(https://aws.amazon.com/ec2/pricing/on-demand/), transcribed on PRICES_DATE. Stacks in other regions are
priced as us-east-1 and say so. EKS adds $0.10/h per cluster (not per pool) and EBS root volumes cost
extra; both are left out: the figures compare pool sizes, they are no bill.

Spot: prices move hourly per zone, so no quote is kept here. Spot cost is on-demand times the
family's SPOT_FACTOR, an assumption in the range AWS's Spot Instance Advisor shows as "savings over
on-demand" (60-70% for general purpose and storage families, less for GPU families). Replace a factor
with `aws ec2 describe-spot-price-history` figures when they matter.

Refresh: edit ON_DEMAND and PRICES_DATE together; tests check that every instance type of the
capacity table (policies/rules/instances.py) has a price.
"""

from __future__ import annotations

PRICES_DATE = "2026-12-01"
PRICES_REGION = "us-east-1"
PRICES_SOURCE = "https://aws.amazon.com/ec2/pricing/on-demand/ (Linux, us-east-1, shared tenancy)"
HOURS_PER_MONTH = 730  # AWS's own monthly convention (24 * 365 / 12)

# USD per instance-hour, on demand.
ON_DEMAND: dict[str, float] = {
    "t3.medium": 0.0416, "t3.large": 0.0832, "t3.xlarge": 0.1664, "t3.2xlarge": 0.3328,
    "t4g.medium": 0.0336, "t4g.large": 0.0672,
    "m5.large": 0.096, "m5.xlarge": 0.192, "m5.2xlarge": 0.384, "m5.4xlarge": 0.768, "m5.8xlarge": 1.536,
    "m5d.large": 0.113, "m5d.xlarge": 0.226, "m5d.2xlarge": 0.452,
    "m6i.large": 0.096, "m6i.xlarge": 0.192, "m6i.2xlarge": 0.384, "m6i.4xlarge": 0.768, "m6i.8xlarge": 1.536,
    "m6i.12xlarge": 2.304,
    "m6id.large": 0.1187, "m6id.xlarge": 0.2373, "m6id.2xlarge": 0.4746, "m6id.4xlarge": 0.9492,
    "m7i.large": 0.1008, "m7i.xlarge": 0.2016, "m7i.2xlarge": 0.4032, "m7i.4xlarge": 0.8064,
    "m6g.large": 0.077, "m6g.xlarge": 0.154, "m6g.2xlarge": 0.308,
    "c5.large": 0.085, "c5.xlarge": 0.17, "c5.2xlarge": 0.34, "c5.4xlarge": 0.68,
    "c6i.large": 0.085, "c6i.xlarge": 0.17, "c6i.2xlarge": 0.34, "c6i.4xlarge": 0.68,
    "c6id.xlarge": 0.2016, "c6id.2xlarge": 0.4032,
    "c6g.xlarge": 0.136,
    "r5.large": 0.126, "r5.xlarge": 0.252, "r5.2xlarge": 0.504, "r5.4xlarge": 1.008,
    "r6i.large": 0.126, "r6i.xlarge": 0.252, "r6i.2xlarge": 0.504, "r6i.4xlarge": 1.008,
    "r6id.xlarge": 0.3024, "r6id.2xlarge": 0.6048,
    "i3.large": 0.156, "i3.xlarge": 0.312, "i3.2xlarge": 0.624, "i3.4xlarge": 1.248,
    "i3en.large": 0.226, "i3en.xlarge": 0.452, "i3en.2xlarge": 0.904, "i3en.3xlarge": 1.356,
    "i4i.large": 0.172, "i4i.xlarge": 0.343, "i4i.2xlarge": 0.686, "i4i.4xlarge": 1.373, "i4i.8xlarge": 2.746,
    "g4dn.xlarge": 0.526, "g4dn.2xlarge": 0.752, "g4dn.4xlarge": 1.204, "g4dn.8xlarge": 2.176,
    "g4dn.12xlarge": 3.912,
    "g5.xlarge": 1.006, "g5.2xlarge": 1.212, "g5.4xlarge": 1.624, "g5.8xlarge": 2.448, "g5.12xlarge": 5.672,
    "g5.48xlarge": 16.288,
    "g6.xlarge": 0.8048, "g6.2xlarge": 0.9776, "g6.4xlarge": 1.3232, "g6.12xlarge": 4.6016,
    "p3.2xlarge": 3.06, "p3.8xlarge": 12.24,
    "p4d.24xlarge": 32.7726,
}

# Spot price as a fraction of on-demand, per instance family (an assumption, see the module docstring).
SPOT_FACTOR: dict[str, float] = {"default": 0.35, "g4dn": 0.45, "g5": 0.45, "g6": 0.45, "p3": 0.5, "p4d": 0.55}


def on_demand(instance_type: str) -> float | None:
    return ON_DEMAND.get(instance_type)


def spot(instance_type: str) -> float | None:
    od = ON_DEMAND.get(instance_type)
    if od is None:
        return None
    family = instance_type.split(".", 1)[0]
    return round(od * SPOT_FACTOR.get(family, SPOT_FACTOR["default"]), 4)


def money(x: float | None) -> str:
    """A dollar amount as the capacity table and the diff's cost line print it; "n/a" where there is no price."""
    return "n/a" if x is None else f"${x:,.2f}"
