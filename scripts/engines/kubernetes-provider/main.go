// pulumi-resource-kubernetes, built from the provider module. The module's own main package embeds
// schema-embed.json and terraform-mapping-embed.json, which upstream's Makefile generates and the module zip
// does not carry; scripts/build-engines.sh generates them (the module's schema.json with its version set,
// and its terraform-mapping.json) beside this file in a build directory under the engine cache.
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

//go:embed schema-embed.json
var pulumiSchema []byte

//go:embed terraform-mapping-embed.json
var terraformMapping []byte

func main() {
	provider.Serve("kubernetes", version.Version, pulumiSchema, terraformMapping)
}
