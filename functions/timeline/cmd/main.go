// Command timeline serves the Timeline function alone, as a Cloud Run
// service that drains in-flight requests on SIGTERM. Deployed by
// scripts/deploy.sh.
package main

import (
	_ "github.com/lensflow/lensflow/functions/timeline" // registers the function
	"github.com/lensflow/lensflow/shared/platform"
)

func main() { platform.Main("Timeline") }
