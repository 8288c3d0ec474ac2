// Package scans is the scan lifecycle as the lab runs it: patients, the
// upload of a topography scan (validated, envelope-encrypted, recorded, and
// announced by an event), and the design step that fits the cornea and
// stores the result. It is the application layer between the thin functions
// and the pure domain packages (topo, cornea); it reaches storage only
// through the ports.
package scans

import (
	"encoding/json"
	"time"

	"github.com/lensflow/lensflow/shared/domain/lens"
	"github.com/lensflow/lensflow/shared/domain/topo"
)

// Collections used by this package.
const (
	PatientsCollection = "patients"
	ScansCollection    = "scans"
	DesignsCollection  = "designs"
)

// Topics and event types.
const (
	TopicScanReceived = "scan-received"
	TypeScanReceived  = "com.lensflow.scan.received.v1"
	EventSource       = "/lensflow/scans"
)

// Scan statuses.
const (
	StatusReceived = "received"
	StatusDesigned = "designed"
	StatusFailed   = "failed"
)

// Lens types a scan can be uploaded for.
var LensTypes = []string{"scleral", "orthok", "rgp"}

// Patient is a clinic's patient. Identifying fields exist only sealed.
type Patient struct {
	ID       string    `json:"id"`
	ClinicID string    `json:"clinicId"`
	Sealed   []byte    `json:"sealed"` // envelope-encrypted PatientDetails
	Created  time.Time `json:"created"`
}

// PatientDetails are the identifying fields, stored only encrypted.
type PatientDetails struct {
	Name      string `json:"name"`
	BirthDate string `json:"birthDate"`
}

// Scan is the record of one uploaded topography scan.
type Scan struct {
	ID        string `json:"id"`
	ClinicID  string `json:"clinicId"`
	PatientID string `json:"patientId"`
	Eye       string `json:"eye"`
	LensType  string `json:"lensType"`
	// RxD is the refraction's sphere and Rx the whole refraction as given
	// (sphere / cylinder x axis at a vertex distance); nil when none.
	RxD    *float64         `json:"rxD,omitempty"`
	Rx     *lens.Refraction `json:"rx,omitempty"`
	HVIDMM *float64         `json:"hvidMM,omitempty"`
	Format string           `json:"format"`
	// Layout names the variants of the file's layout its reader found.
	Layout []string     `json:"layout,omitempty"`
	Grid   *GridOptions `json:"grid,omitempty"`
	// OrthoKOverride records the practitioner's explicit request to design
	// ortho-k on a cornea the screening contraindicates (audited as
	// orthok.override).
	OrthoKOverride bool   `json:"orthokOverride,omitempty"`
	Points         int    `json:"points"`
	Object         string `json:"object"` // blob name of the encrypted file
	Bytes          int    `json:"bytes"`
	// Surface is where the surface parsed at upload is stored; nil for a
	// scan uploaded before surfaces were stored, whose file is parsed
	// again whenever it is read.
	Surface  *StoredSurface `json:"surface,omitempty"`
	Status   string         `json:"status"`
	Reason   string         `json:"reason,omitempty"`
	Received time.Time      `json:"received"`
	Designed *time.Time     `json:"designed,omitempty"`
	// DesignID and DesignVersion name the current design (the latest
	// version); empty until the scan is designed.
	DesignID      string `json:"designId,omitempty"`
	DesignVersion int    `json:"designVersion,omitempty"`
	// SealedIdentifiers holds identifiers found in the file header
	// (name, birth date, chart id, device serial), encrypted; nil if none.
	SealedIdentifiers []byte `json:"sealedIdentifiers,omitempty"`
}

// StoredSurface names a scan's parsed surface, stored beside its file in
// topo's binary form, sealed with AssociatedDataForSurface, so the steps
// after the upload read the points without parsing the file again.
type StoredSurface struct {
	Object  string `json:"object"`  // blob name
	Version int    `json:"version"` // topo.BinaryVersion it was written in
	Bytes   int    `json:"bytes"`   // size of the binary form, before sealing
}

// Object name prefixes. A scan's file is stored as "scans/<scan id>" and
// its surface as "surfaces/<scan id>": names that hold nothing but the
// scan's opaque id, under prefixes of their own so that listing one kind
// never finds the other.
const (
	fileObjectPrefix    = "scans/"
	surfaceObjectPrefix = "surfaces/"
)

// objects returns the names of the objects stored for sc.
func (sc Scan) objects() []string {
	names := []string{sc.Object}
	if sc.Surface != nil {
		names = append(names, sc.Surface.Object)
	}
	return names
}

// readsSurface reports whether sc's stored surface is one this build
// reads; when not (a scan uploaded before surfaces were stored, or a
// surface of another version), its file is parsed instead.
func (sc Scan) readsSurface() bool {
	return sc.Surface != nil && sc.Surface.Version == topo.BinaryVersion
}

// DesignRecord is one version of a scan's design, stored sealed since it is
// tied to a patient. Designs have their own opaque ids: an order names the
// exact version it was placed for, and a revision (after an assessment) is
// a new record that becomes the scan's current design.
type DesignRecord struct {
	ID        string    `json:"id"`
	ScanID    string    `json:"scanId"`
	ClinicID  string    `json:"clinicId"`
	PatientID string    `json:"patientId"`
	Version   int       `json:"version"`
	Reason    string    `json:"reason"` // why this version exists, in the lab's words; no PHI
	Sealed    []byte    `json:"sealed"` // envelope-encrypted pipeline.Result
	Created   time.Time `json:"created"`
	// Traceparent is the W3C trace context of the span that made this
	// version (random ids only), so an order placed later, in a trace of
	// its own, can link back to it.
	Traceparent string `json:"traceparent,omitempty"`
}

// ScanReceived is the data of a scan-received event: ids only.
// Its JSON Schema is generated from this struct and its field comments
// (shared/eventschema).
type ScanReceived struct {
	// The uploaded scan (GET /v1/scans/{scanId}).
	ScanID string `json:"scanId"`
	// The clinic that uploaded it.
	ClinicID string `json:"clinicId"`
	// The patient's opaque id, never a name.
	PatientID string `json:"patientId"`
}

// GridOptions are the upload's statements about a file's heights when its
// content does not make them (see topo.Options): a grid's units, reference
// and best-fit sphere, and the sign of the heights.
type GridOptions struct {
	Units       string  `json:"units,omitempty"`
	Reference   string  `json:"reference,omitempty"`
	BFSRadiusMM float64 `json:"bfsRadiusMM,omitempty"`
	HeightSign  string  `json:"heightSign,omitempty"`
}

func (g GridOptions) topo() topo.Options {
	return topo.Options{GridUnits: g.Units, GridReference: g.Reference, GridBFSRadiusMM: g.BFSRadiusMM, HeightSign: g.HeightSign}
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
