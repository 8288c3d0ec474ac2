// Command followups serves the FollowUps function alone, as a Cloud Run
// service that drains in-flight requests on SIGTERM. Deployed by
// scripts/deploy.sh; Cloud Scheduler calls it daily.
package main

import (
	_ "github.com/lensflow/lensflow/functions/followups" // registers the function
	"github.com/lensflow/lensflow/shared/platform"
)

func main() { platform.Main("FollowUps") }
