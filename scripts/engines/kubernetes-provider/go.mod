// Tools module: builds pulumi-resource-kubernetes (scripts/build-engines.sh). The module proxy serves
// exactly one version of provider/v4: the pseudo-version below (commit f47bc2d6f199, 2026-01-15);
// 4.34.2 (the pinned SDK) is refused. See scripts/build-engines.sh for the version it is installed as.
module pipeworks.local/engines/kubernetes-provider

go 1.26.6

require github.com/pulumi/pulumi-kubernetes/provider/v4 v4.0.0-20260115033456-f47bc2d6f199

tool github.com/pulumi/pulumi-kubernetes/provider/v4/cmd/pulumi-resource-kubernetes
