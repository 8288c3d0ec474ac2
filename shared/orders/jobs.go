package orders

import (
	"context"
	"fmt"
	"strings"

	"github.com/lensflow/lensflow/shared/audit"
	"github.com/lensflow/lensflow/shared/auth"
	"github.com/lensflow/lensflow/shared/domain/pipeline"
	"github.com/lensflow/lensflow/shared/domain/workflow"
	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/outbox"
	"github.com/lensflow/lensflow/shared/paging"
	"github.com/lensflow/lensflow/shared/ports"
	"github.com/lensflow/lensflow/shared/servicekit"
)

// serviceActor is the manufacturing function acting on an event.
func serviceActor(clinicID, requestID string) auth.Actor {
	return auth.Actor{Subject: "manufacturing-function", Role: auth.RoleService, ClinicID: clinicID, RequestID: requestID}
}

// AssociatedDataForJobFile binds a point file's ciphertext to its job and name.
func AssociatedDataForJobFile(j Job, name string) []byte {
	return ports.AssociatedData("job-file", j.ClinicID, j.ID, name)
}

// CreateJob turns an order-placed event into a manufacturing job: the
// lathe point files of the ordered design version, stored encrypted, and
// a job-queued event on the manufacturing-jobs topic. Redelivered events
// have one effect (the order records its job). A delivery that makes the
// job has one audit record, job.create (reading the design is part of it).
func (s *Service) CreateJob(ctx context.Context, ev OrderPlaced, requestID string) error {
	const op = "orders.createJob"
	a := serviceActor(ev.ClinicID, requestID)
	o, err := s.order(ctx, ev.ClinicID, ev.OrderID)
	if errs.Is(errs.NotFound, err) {
		return nil // the event outlived its order
	}
	if err != nil {
		return err
	}
	if o.JobID != "" || o.Status != workflow.OrderPlaced {
		return nil
	}
	_, design, err := s.Scans.Design(ctx, o.ClinicID, o.DesignID)
	if err != nil {
		return err
	}
	now := s.Now()
	j := Job{ID: s.NewID(), OrderID: o.ID, ClinicID: o.ClinicID, DesignID: o.DesignID, LensType: o.LensType,
		Quantity: o.Quantity, State: workflow.NewJob(), Created: now, Updated: now}
	j.Status = j.State.Status
	// The design has been read: whatever happens next, the delivery leaves
	// its one record, a failure unless the job is stored.
	outcome := audit.Failure
	defer func() {
		if outcome != "" {
			_ = s.Audit(ctx, a, "job.create", "jobs/"+j.ID, outcome)
		}
	}()
	files, err := pipeline.PointFiles(j.ID, design.Lens)
	if err != nil {
		return errs.Wrap(op, err)
	}
	for _, f := range files {
		jf := JobFile{Name: f.Name, Object: "jobs/" + j.ID + "/" + f.Name, Side: strings.ToLower(f.Side.String()), Points: f.Points, Bytes: len(f.Data)}
		sealed, err := s.Sealer.Encrypt(f.Data, AssociatedDataForJobFile(j, f.Name))
		if err != nil {
			return errs.E(op+": seal", errs.Unavailable, err)
		}
		if err := s.Blobs.Put(ctx, jf.Object, sealed, ports.PutOptions{ContentType: "application/octet-stream"}); err != nil {
			return err
		}
		j.Files = append(j.Files, jf)
	}
	if j.Timeline, err = workflow.Append[workflow.JobStatus](nil, now, "", workflow.JobQueued, string(a.Role), "order="+o.ID); err != nil {
		return err
	}
	ev2 := event(s.NewID(), TypeJobQueued, "jobs/"+j.ID, now, JobEvent{JobID: j.ID, OrderID: o.ID, ClinicID: o.ClinicID, Status: string(j.Status), Order: string(o.Status)})
	created := false
	err = s.Docs.RunTransaction(ctx, func(ctx context.Context, tx ports.Tx) error {
		created = false
		var cur Order
		if err := tx.Get(OrdersCollection, o.ID, &cur); err != nil {
			return err
		}
		if cur.JobID != "" || cur.Status != workflow.OrderPlaced {
			return nil // another delivery got there first
		}
		cur.JobID = j.ID
		if err := tx.Set(OrdersCollection, cur.ID, cur); err != nil {
			return err
		}
		if err := tx.Create(JobsCollection, j.ID, j); err != nil {
			return err
		}
		created = true
		return outbox.Add(ctx, tx, TopicManufacturingJobs, ev2)
	})
	if err != nil || !created {
		// Files of a job that was not recorded are removed (nothing half-written).
		for _, f := range j.Files {
			_ = s.Blobs.Delete(context.WithoutCancel(ctx), f.Object)
		}
		return err
	}
	outcome = ""
	s.Metrics.JobEntered(ctx, string(j.Status))
	if err := s.Audit(ctx, a, "job.create", "jobs/"+j.ID, audit.Success); err != nil {
		return err
	}
	s.send(ctx, ev2.ID)
	return nil
}

// Jobs lists one page of the lab's jobs, optionally of one status, oldest
// first (by created, then id), and the next page's token ("" on the last
// page). With a status the query is status == ordered by created
// (composite index status, created). The listing is audited (it spans
// clinics, so the record names none).
func (s *Service) Jobs(ctx context.Context, a auth.Actor, status string, pr paging.Request) ([]Job, string, error) {
	q := ports.Query{Collection: JobsCollection, OrderBy: "created"}
	if status != "" {
		st, err := workflow.ParseJobStatus(status)
		if err != nil {
			return nil, "", errs.E("orders.jobs", errs.Invalid, err) // names the field "status"
		}
		q.Where = []ports.Where{{Field: "status", Op: "==", Value: string(st)}}
	}
	docs, next, err := paging.Query(ctx, s.Docs, q, pr, paging.NewScope("jobs.list", a.ClinicID, status))
	if err != nil {
		return nil, "", err
	}
	out := make([]Job, 0, len(docs))
	for _, d := range docs {
		var j Job
		if err := d.Decode(&j); err != nil {
			return nil, "", errs.E("orders.jobs: decode", errs.Other, err)
		}
		out = append(out, j)
	}
	return out, next, s.Audit(ctx, a, "job.list", "jobs", audit.Success)
}

// Job returns one job (lab) or, for a clinic, its own clinic's job.
func (s *Service) Job(ctx context.Context, a auth.Actor, id string) (Job, error) {
	var j Job
	if !servicekit.ValidID(id) {
		return j, errs.Ef("orders.job", errs.NotFound, "job not found")
	}
	err := s.Docs.Get(ctx, JobsCollection, id, &j)
	if errs.Is(errs.NotFound, err) || (err == nil && a.Role != auth.RoleLab && j.ClinicID != a.ClinicID) {
		return Job{}, errs.Ef("orders.job", errs.NotFound, "job not found")
	}
	return j, err
}

// File returns a job's point file, decrypted, for the lathe cell. Every
// read is audited.
func (s *Service) File(ctx context.Context, a auth.Actor, jobID, name string) (JobFile, []byte, error) {
	j, err := s.Job(ctx, a, jobID)
	if err != nil {
		return JobFile{}, nil, err
	}
	for _, f := range j.Files {
		if f.Name != name {
			continue
		}
		sealed, err := s.Blobs.Get(ctx, f.Object)
		if err != nil {
			return JobFile{}, nil, err
		}
		data, err := s.Sealer.Decrypt(sealed, AssociatedDataForJobFile(j, f.Name))
		if err != nil {
			_ = s.Audit(ctx, onJob(a, j), "job.file.read", "jobs/"+j.ID+"/files/"+f.Name, audit.Failure)
			return JobFile{}, nil, errs.E("orders.file: unseal", errs.Other, err)
		}
		return f, data, s.Audit(ctx, onJob(a, j), "job.file.read", "jobs/"+j.ID+"/files/"+f.Name, audit.Success)
	}
	return JobFile{}, nil, errs.Ef("orders.file", errs.NotFound, "job %s has no file %q", j.ID, safeName(name))
}

// onJob is actor a as the audit record of an action on job j names it:
// lab staff act for no clinic, so the record names the job's.
func onJob(a auth.Actor, j Job) auth.Actor {
	if a.ClinicID == "" {
		a.ClinicID = j.ClinicID
	}
	return a
}

func safeName(n string) string {
	if len(n) > 64 || strings.ContainsAny(n, "/\\\x00") {
		return "(invalid name)"
	}
	return n
}

// StatusInput is the body of POST /v1/lab/jobs/{id}/status.
type StatusInput struct {
	Status string `json:"status"`
}

// SetStatus moves a job to a new status (lab only). Illegal transitions
// are errs.Conflict (409) naming both states; repeating the current status
// is a conflict too, so a retried request can tell it already happened.
// The order follows its job (in production, needs attention, dispatched)
// in the same transaction, its timeline records both, and a
// job-status-changed event is emitted for notifications.
func (s *Service) SetStatus(ctx context.Context, a auth.Actor, jobID string, in StatusInput) (Job, error) {
	const op = "orders.setStatus"
	to, err := workflow.ParseJobStatus(in.Status)
	if err != nil {
		return Job{}, errs.E(op, errs.Invalid, err) // names the field "status"
	}
	if _, err := s.Job(ctx, a, jobID); err != nil {
		return Job{}, err
	}
	var out Job
	var evID string
	err = s.Docs.RunTransaction(ctx, func(ctx context.Context, tx ports.Tx) error {
		var j Job
		if err := tx.Get(JobsCollection, jobID, &j); err != nil {
			return err
		}
		var o Order
		if err := tx.Get(OrdersCollection, j.OrderID, &o); err != nil {
			return err
		}
		now := s.Now()
		next, err := j.State.Step(to)
		if err != nil {
			return err
		}
		if j.Timeline, err = workflow.Append(j.Timeline, now, j.Status, to, string(a.Role), ""); err != nil {
			return err
		}
		j.State, j.Status, j.Updated = next, next.Status, now
		orderChanged := false
		if target, ok := next.OrderStatus(); ok && o.JobID == j.ID {
			steps, err := workflow.AdvanceOrder(o.Status, target)
			if err != nil && !workflow.Ackable(err) {
				return err
			}
			for _, st := range steps {
				if o.Timeline, err = workflow.Append(o.Timeline, now, o.Status, st, string(a.Role), "job="+j.ID); err != nil {
					return err
				}
				o.Status = st
				orderChanged = true
			}
			if o.Status == workflow.OrderDispatched && o.Dispatched == nil {
				t := now
				o.Dispatched = &t
			}
			if err := tx.Set(OrdersCollection, o.ID, o); err != nil {
				return err
			}
		}
		if err := tx.Set(JobsCollection, j.ID, j); err != nil {
			return err
		}
		ev := event(s.NewID(), TypeJobStatusChanged, "jobs/"+j.ID, now,
			JobEvent{JobID: j.ID, OrderID: o.ID, ClinicID: o.ClinicID, Status: string(j.Status), Order: string(o.Status), OrderChanged: orderChanged})
		evID = ev.ID
		out = j
		return outbox.Add(ctx, tx, TopicJobStatus, ev)
	})
	if err != nil {
		return Job{}, err
	}
	s.Metrics.JobEntered(ctx, string(out.Status))
	if err := s.Audit(ctx, onJob(a, out), "job.status", fmt.Sprintf("jobs/%s", out.ID), audit.Success); err != nil {
		return Job{}, err
	}
	s.send(ctx, evID)
	return out, nil
}
