"""Refresh the dated AWS facts in infra/data/ from the deploying account (needs AWS credentials and boto3):

    python scripts/eks_versions.py --region us-east-1 --kubernetes-version 1.34

- eks-addon-versions.json: for each add-on the stacks install, the version `describe-addon-versions`
  marks as the default for the Kubernetes minor;
- instance-type-offerings.json: for the region, per zone NAME of this account, which of the instance
  types already in the table (plus --instance-type ones) the zone offers.

Zone names map to physical zones per account, so run it with the account `pulumi up` deploys into.
"""

from __future__ import annotations

import argparse
import datetime
import json
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "infra" / "data"
ADDONS = ("vpc-cni", "kube-proxy", "eks-pod-identity-agent", "coredns", "aws-ebs-csi-driver", "metrics-server")


def default_addon_version(eks, addon: str, kubernetes_version: str) -> str:
    pages = eks.get_paginator("describe_addon_versions").paginate(addonName=addon, kubernetesVersion=kubernetes_version)
    for page in pages:
        for a in page["addons"]:
            for v in a["addonVersions"]:
                if any(c.get("defaultVersion") for c in v.get("compatibilities", [])):
                    return v["addonVersion"]
    raise SystemExit(f"no default version of {addon} for Kubernetes {kubernetes_version}")


def offerings(ec2, types: list[str]) -> dict[str, list[str]]:
    zones: dict[str, set[str]] = {}
    pages = ec2.get_paginator("describe_instance_type_offerings").paginate(
        LocationType="availability-zone", Filters=[{"Name": "instance-type", "Values": types}])
    for page in pages:
        for o in page["InstanceTypeOfferings"]:
            zones.setdefault(o["Location"], set()).add(o["InstanceType"])
    return {z: sorted(t) for z, t in sorted(zones.items())}


def main() -> None:
    import boto3

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--region", required=True)
    ap.add_argument("--kubernetes-version", action="append", required=True)
    ap.add_argument("--instance-type", action="append", default=[])
    args = ap.parse_args()
    today = datetime.date.today().isoformat()

    path = DATA / "eks-addon-versions.json"
    doc = json.loads(path.read_text())
    eks = boto3.client("eks", region_name=args.region)
    for kv in args.kubernetes_version:
        doc["versions"][kv] = {a: default_addon_version(eks, a, kv) for a in ADDONS}
    doc["retrieved"] = today
    doc["source"] = "aws eks describe-addon-versions (defaultVersion per Kubernetes minor), scripts/eks_versions.py"
    path.write_text(json.dumps(doc, indent=2) + "\n")

    path = DATA / "instance-type-offerings.json"
    doc = json.loads(path.read_text())
    known = {t for zones in doc["regions"].values() for types in zones.values() for t in types}
    types = sorted(known | set(args.instance_type))
    ec2 = boto3.client("ec2", region_name=args.region)
    found: dict[str, list[str]] = {}
    for i in range(0, len(types), 100):  # the API filters on at most 100 values
        for zone, ts in offerings(ec2, types[i:i + 100]).items():
            found.setdefault(zone, []).extend(ts)
    doc["regions"][args.region] = {z: sorted(ts) for z, ts in sorted(found.items())}
    doc["retrieved"] = today
    doc["source"] = ("aws ec2 describe-instance-type-offerings --location-type availability-zone, "
                     "scripts/eks_versions.py, from the deploying account")
    path.write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    main()
