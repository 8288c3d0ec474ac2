// Command tasks serves the Tasks function alone, as a Cloud Run
// service that drains in-flight requests on SIGTERM. Deployed by
// scripts/deploy.sh; Cloud Scheduler calls its task routes.
package main

import (
	_ "github.com/lensflow/lensflow/functions/tasks" // registers the function
	"github.com/lensflow/lensflow/shared/platform"
)

func main() { platform.Main("Tasks") }
