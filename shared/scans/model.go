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
	ID        string     `json:"id"`
	ClinicID  string     `json:"clinicId"`
	PatientID string     `json:"patientId"`
	Eye       string     `json:"eye"`
	LensType  string     `json:"lensType"`
	RxD       *float64   `json:"rxD,omitempty"`
	HVIDMM    *float64   `json:"hvidMM,omitempty"`
	Format    string     `json:"format"`
	Points    int        `json:"points"`
	Object    string     `json:"object"` // blob name of the encrypted file
	Bytes     int        `json:"bytes"`
	Status    string     `json:"status"`
	Reason    string     `json:"reason,omitempty"`
	Received  time.Time  `json:"received"`
	Designed  *time.Time `json:"designed,omitempty"`
	// SealedIdentifiers holds identifiers found in the file header
	// (name, birth date, chart id, device serial), encrypted; nil if none.
	SealedIdentifiers []byte `json:"sealedIdentifiers,omitempty"`
}

// designDoc is how a design is stored: sealed, since it is tied to a patient.
type designDoc struct {
	ScanID   string    `json:"scanId"`
	ClinicID string    `json:"clinicId"`
	Sealed   []byte    `json:"sealed"`
	Created  time.Time `json:"created"`
}

// ScanReceived is the data of a scan-received event: ids only.
type ScanReceived struct {
	ScanID    string `json:"scanId"`
	ClinicID  string `json:"clinicId"`
	PatientID string `json:"patientId"`
}

// Design is the result of the design step for one scan.
type Design struct {
	ScanID   string         `json:"scanId"`
	LensType string         `json:"lensType"`
	Eye      string         `json:"eye"`
	Engine   string         `json:"engine"` // design engine version
	Created  time.Time      `json:"created"`
	Surface  CornealSurface `json:"surface"`
}

// CornealSurface is the fitted anterior corneal surface.
type CornealSurface struct {
	Model          string             `json:"model"` // "conic"
	ApicalRadiusMM float64            `json:"apicalRadiusMM"`
	ShapeFactorP   float64            `json:"shapeFactorP"`
	Eccentricity   float64            `json:"eccentricity"`
	AsphericityQ   float64            `json:"asphericityQ"`
	FlatKMM        float64            `json:"flatKMM"`
	FlatKD         float64            `json:"flatKD"`
	KIndex         float64            `json:"keratometricIndexConstant"`
	SagMM          map[string]float64 `json:"sagMM"` // by chord diameter in mm, e.g. "8", "10"
	// SagSource says, per chord, whether the sag lies within the measured
	// data or was extrapolated with the fitted conic.
	SagSource map[string]string `json:"sagSource"`
	ZoneMM    float64           `json:"zoneDiameterMM"`
	RMSUM     float64           `json:"residualRmsUM"`
	Points    int               `json:"pointsUsed"`
	Coverage  float64           `json:"coverage"`
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
