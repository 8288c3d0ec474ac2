package orders

import (
	"context"

	"github.com/lensflow/lensflow/shared/domain/workflow"
	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/paging"
	"github.com/lensflow/lensflow/shared/ports"
)

// CensusStatuses are the job statuses the census counts: every status a
// job waits in at the lab. Dispatched and cancelled jobs only grow in
// number; their rate is the jobs.transitions metric.
var CensusStatuses = []workflow.JobStatus{workflow.JobQueued, workflow.JobCutting, workflow.JobInspection,
	workflow.JobFailed, workflow.JobRequeued}

// CensusBatch is how many jobs the census reads per query.
var CensusBatch = 500

// Census counts the lab's jobs in each of CensusStatuses, records the
// counts on the jobs.active metric and returns them. It reads each status
// in batches of CensusBatch (status ==, by id: no composite index). Like
// the other scheduled tasks it answers counts only, touches no patient
// data and writes no audit record.
func (s *Service) Census(ctx context.Context) (map[string]int, error) {
	out := make(map[string]int, len(CensusStatuses))
	for _, st := range CensusStatuses {
		n := 0
		err := paging.Batches(ctx, s.Docs, ports.Query{Collection: JobsCollection,
			Where: []ports.Where{{Field: "status", Op: "==", Value: string(st)}}}, CensusBatch,
			func(docs []ports.Doc) error { n += len(docs); return nil })
		if err != nil {
			return nil, errs.Wrap("orders.census", err)
		}
		out[string(st)] = n
	}
	s.Metrics.JobsActive(ctx, out)
	return out, nil
}
