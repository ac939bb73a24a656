// etcd's own main package lives in the repository's root module, which replaces its sub-modules with
// local paths and so cannot be built from the module proxy; etcdmain.Main is the same entry point.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
