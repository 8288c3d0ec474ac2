package scans

import (
	"context"
	"encoding/json"
	"time"

	"github.com/lensflow/lensflow/shared/audit"
	"github.com/lensflow/lensflow/shared/auth"
	"github.com/lensflow/lensflow/shared/domain/cornea"
	"github.com/lensflow/lensflow/shared/domain/topomap"
	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/paging"
	"github.com/lensflow/lensflow/shared/ports"
	"github.com/lensflow/lensflow/shared/servicekit"
)

// PatientView is a patient as its own clinic sees it: the name and birth
// date decrypted.
type PatientView struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	BirthDate string    `json:"birthDate"`
	Created   time.Time `json:"created"`
}

// AssociatedDataForPatient is the associated data a patient's details are
// sealed with: its clinic and id.
func AssociatedDataForPatient(p Patient) []byte {
	return ports.AssociatedData("patient", p.ClinicID, p.ID)
}

// ListPatients returns one page of the actor's clinic's patients, newest
// first (by created, then id), with their names and birth dates
// decrypted, and the next page's token ("" on the last page). The request
// leaves one audit record (patient.list). The query filters by the
// token's clinic and orders by created (composite index clinicId, created
// desc), so it reads one page.
func (s *Service) ListPatients(ctx context.Context, a auth.Actor, pr paging.Request) ([]PatientView, string, error) {
	const op = "patients.list"
	if a.ClinicID == "" {
		return nil, "", errs.Ef(op, errs.Permission, "no clinic in the token")
	}
	docs, next, err := paging.Query(ctx, s.Docs, ports.Query{Collection: PatientsCollection,
		Where: []ports.Where{{Field: "clinicId", Op: "==", Value: a.ClinicID}}, OrderBy: "created", Desc: true},
		pr, paging.NewScope(op, a.ClinicID))
	if err != nil {
		return nil, "", err
	}
	out := make([]PatientView, 0, len(docs))
	for _, d := range docs {
		var p Patient
		if err := d.Decode(&p); err != nil {
			return nil, "", errs.E(op+": decode", errs.Other, err)
		}
		if p.ClinicID != a.ClinicID { // belt and braces over the query
			continue
		}
		plain, err := s.Sealer.Decrypt(p.Sealed, AssociatedDataForPatient(p))
		if err != nil {
			return nil, "", errs.E(op+": unseal", errs.Other, err)
		}
		var pd PatientDetails
		if err := json.Unmarshal(plain, &pd); err != nil {
			return nil, "", errs.E(op+": decode", errs.Other, err)
		}
		out = append(out, PatientView{ID: p.ID, Name: pd.Name, BirthDate: pd.BirthDate, Created: p.Created.UTC()})
	}
	return out, next, s.Audit(ctx, a, "patient.list", "patients", audit.Success)
}

// PatientScans returns one page of the scans of a patient of the actor's
// clinic, newest first (by received, then id), and the next page's token
// ("" on the last page). The query is clinicId == and patientId ==,
// ordered by received (composite index clinicId, patientId, received
// desc). Another clinic's patient is errs.NotFound, audited as denied;
// otherwise the request leaves one scan.list record.
func (s *Service) PatientScans(ctx context.Context, a auth.Actor, patientID string, pr paging.Request) ([]Scan, string, error) {
	const op = "scans.list"
	resource := "patients/" + servicekit.SafeID(patientID) + "/scans"
	p, err := s.patient(ctx, a, patientID)
	if err != nil {
		if errs.Is(errs.NotFound, err) {
			_ = s.Audit(ctx, a, "scan.list", resource, audit.Denied)
		}
		return nil, "", err
	}
	docs, next, err := paging.Query(ctx, s.Docs, ports.Query{Collection: ScansCollection, Where: []ports.Where{
		{Field: "clinicId", Op: "==", Value: a.ClinicID}, {Field: "patientId", Op: "==", Value: p.ID}},
		OrderBy: "received", Desc: true}, pr, paging.NewScope(op, a.ClinicID, p.ID))
	if err != nil {
		return nil, "", err
	}
	out := make([]Scan, 0, len(docs))
	for _, d := range docs {
		var sc Scan
		if err := d.Decode(&sc); err != nil {
			return nil, "", errs.E(op+": decode", errs.Other, err)
		}
		if sc.ClinicID == a.ClinicID && sc.PatientID == p.ID {
			out = append(out, sc)
		}
	}
	return out, next, s.Audit(ctx, a, "scan.list", resource, audit.Success)
}

// Map returns the topography map of a scan of the actor's clinic, computed
// from its stored surface (see storedSurface) and the engine's corneal
// fit: it does not wait for the
// design. Another clinic's scan is errs.NotFound, audited as denied; a
// scan read leaves one scan.map.read record, a failure if no map could be
// made (errs.Unprocessable saying why: a scan the engine cannot fit). The
// fit takes the memory a design does, from the same budget.
func (s *Service) Map(ctx context.Context, a auth.Actor, scanID string) (*topomap.Map, error) {
	const op = "scans.map"
	sc, err := s.scan(ctx, a, scanID)
	if err != nil {
		if errs.Is(errs.NotFound, err) {
			_ = s.Audit(ctx, a, "scan.map.read", "scans/"+servicekit.SafeID(scanID)+"/map", audit.Denied)
		}
		return nil, err
	}
	outcome := audit.Failure
	defer func() {
		if outcome != "" {
			_ = s.Audit(ctx, a, "scan.map.read", "scans/"+sc.ID+"/map", outcome)
		}
	}()
	surf, release, err := s.storedSurface(ctx, op, sc)
	if err != nil {
		return nil, err
	}
	defer release()
	m, err := cornea.Fit(surf, cornea.ModelOptions{})
	if err == nil {
		var mp *topomap.Map
		if mp, err = topomap.Build(surf, m, topomap.Options{}); err == nil {
			mp.ScanID = sc.ID
			outcome = ""
			return mp, s.Audit(ctx, a, "scan.map.read", "scans/"+sc.ID+"/map", audit.Success)
		}
	}
	if errs.Is(errs.Invalid, err) {
		return nil, errs.Ef(op, errs.Unprocessable, "the scan cannot be mapped: %s", errs.Message(err))
	}
	return nil, errs.E(op, errs.Other, err)
}
