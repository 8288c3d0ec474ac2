// Package allfunctions imports every function package, so that programs
// serving or describing all of them (the local stack, the function list
// for deploys) have one list to keep complete.
package allfunctions

import (
	_ "github.com/lensflow/lensflow/functions/clinic"        // a clinic's own settings (notification channels)
	_ "github.com/lensflow/lensflow/functions/clinics"       // GET /v1/clinics (public locator)
	_ "github.com/lensflow/lensflow/functions/design"        // scan-received -> design
	_ "github.com/lensflow/lensflow/functions/lab"           // lab queue
	_ "github.com/lensflow/lensflow/functions/manufacturing" // order-placed -> job
	_ "github.com/lensflow/lensflow/functions/notifications" // job status, follow-ups, comments -> webhook and email
	_ "github.com/lensflow/lensflow/functions/orders"        // orders
	_ "github.com/lensflow/lensflow/functions/patients"      // patients
	_ "github.com/lensflow/lensflow/functions/portal"        // the clinic portal's static page
	_ "github.com/lensflow/lensflow/functions/scans"         // scan upload and reads
	_ "github.com/lensflow/lensflow/functions/tasks"         // scheduled tasks: follow-ups, notification retries
	_ "github.com/lensflow/lensflow/functions/timeline"      // comment-posted -> the order's timeline
)
