package scans_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/lensflow/lensflow/shared/auth"
	"github.com/lensflow/lensflow/shared/domain/lens"
	"github.com/lensflow/lensflow/shared/domain/topo/topotest"
	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/ports"
	"github.com/lensflow/lensflow/shared/scans"
)

// patientDocs finds every patient, of the clinic demo-north, and answers
// any other read with errPassed (the upload got past validation); anything
// else it is asked panics (the embedded nil interface), which the fuzzer
// reports.
type patientDocs struct{ ports.Documents }

func (patientDocs) Get(_ context.Context, collection, id string, dst any) error {
	if collection != scans.PatientsCollection {
		return errPassed
	}
	*dst.(*scans.Patient) = scans.Patient{ID: id, ClinicID: "demo-north"}
	return nil
}

// smallXYZ is a valid x,y,z file of n points on a 7.8 mm sphere.
func smallXYZ(header string, n int) []byte {
	var b strings.Builder
	b.WriteString(header + "x,y,z\n")
	for i := range n {
		x, y := float64(i%10)*0.3-1.5, float64(i/10)*0.3-1.5
		fmt.Fprintf(&b, "%.4f,%.4f,%.6f\n", x, y, (x*x+y*y)/15.6)
	}
	return []byte(b.String())
}

// FuzzUpload runs Upload on any file and query parameters, up to the point
// where it stores anything: the parameters (eye, lensType, rx and vertex,
// hvid, the grid statements, heightSign and orthokOverride) and the file, whose format is detected from its content
// (topo.Parse), are validated as the route does. Nothing panics; a refusal
// is Invalid or TooLarge with a message, names a field or line when it is
// about a parameter, and never repeats the patient named in the file; an
// accepted upload has an eye, a lens type and rx/hvid/gridBfs in range.
func FuzzUpload(f *testing.F) {
	ref := topotest.Reference()
	type seed struct {
		file                                         []byte
		eye, lensType, rx, hvid, units, refName, bfs string
		vertex, sign, override                       string
	}
	for _, s := range []seed{
		{smallXYZ("# eye: OD\n# patient: ZZCANARY Person\n", 60), "OD", "rgp", "-2.5", "11.8", "", "", "", "", "", ""},
		{smallXYZ("# eye: OS\n", 60), "OD", "scleral", "", "", "", "", "", "", "", ""},
		{smallXYZ("", 60), "OS", "orthok", "NaN", "Inf", "", "", "", "", "", ""},
		{smallXYZ("", 60), "OD", "rgp", "1e400", "-0", "", "", "1e-400", "", "", ""},
		{smallXYZ("", 60), "od", "RGP", "0x1p-2", "11_8", "um", "bfs", "7.9", "", "", ""},
		{[]byte("x,y,z\n1,2,3\n4,5\n"), "OD", "rgp", "", "", "", "", "", "", "", ""},
		{[]byte("x,y,z\n1,2,3,4\n\"a\",\"b\nc\",3\n"), "OD", "rgp", "", "", "", "", "", "", "", ""},
		{[]byte("\x00\x01\x02\xff\xfe binary"), "OD", "rgp", "", "", "", "", "", "", "", ""},
		{[]byte("\xef\xbb\xbf# patient: ZZCANARY\xff\nx,y,z\n"), "OD", "rgp", "", "", "", "", "", "", "", ""},
		{[]byte(""), "OD", "rgp", "", "", "", "", "", "", "", ""},
		{[]byte("Rings: 2\nMeridians: 4\n0,0,0,0\nNaN,Inf,1e999,0x1p-2\n"), "OD", "rgp", "", "", "", "", "", "", "", ""},
		{[]byte("Units;um\nReference;BFS 7.8 mm\n;;;1,5;-1;\n"), "OD", "rgp", "", "", "mm", "apex", "99", "", "", ""},
		{ref.CSOFile(topotest.HeaderLines("Patient: ZZCANARY Person")), "OD", "scleral", "", "12", "", "", "", "", "", ""},
		{ref.PentacamFile(topotest.OmitUnits(), topotest.OmitReference()), "OD", "orthok", "-3", "", "mm", "apex", "", "", "", ""},
		{ref.PentacamFile(topotest.OmitUnits(), topotest.OmitReference(), topotest.Microns()), "OD", "orthok", "", "", "um", "bfs", "7.9", "", "", ""},
		{ref.CSORawFile(), "OD", "orthok", "-2.00/-0.75x180", "", "", "", "", "12", "", "true"},
		{ref.CSORawFile(topotest.DepthSign()), "OD", "rgp", "pl/-1.00x90", "", "", "", "", "", "elevation", ""},
		{ref.PentacamFile(topotest.TabHeader(), topotest.Missing("-1000")), "OD", "scleral", "-3 DS", "", "", "", "", "25", "depth", "yes"},
	} {
		f.Add(s.file, s.eye, s.lensType, s.rx, s.hvid, s.units, s.refName, s.bfs, s.vertex, s.sign, s.override)
	}
	svc := &scans.Service{Docs: patientDocs{}, Sealer: passSealer{}}
	actor := auth.Actor{Subject: "dr", Role: "practitioner", ClinicID: "demo-north"}
	f.Fuzz(func(t *testing.T, file []byte, eye, lensType, rx, hvid, units, refName, bfs, vertex, sign, override string) {
		in := scans.UploadInput{PatientID: "p-1", Eye: eye, LensType: lensType, Rx: rx, Vertex: vertex, HVID: hvid,
			GridUnits: units, GridReference: refName, GridBFS: bfs, HeightSign: sign, OrthoKOverride: override, File: file}
		_, err := svc.Upload(context.Background(), actor, in)
		if !errors.Is(err, errPassed) {
			if k := errs.KindOf(err); (k != errs.Invalid && k != errs.TooLarge) || errs.Message(err) == "" {
				t.Fatalf("refusal of kind %v: %v", k, err)
			}
			if strings.Contains(err.Error(), "ZZCANARY") && !strings.Contains(eye+lensType+rx+hvid+units+refName+bfs+vertex+sign+override, "ZZCANARY") {
				t.Fatalf("the refusal repeats the patient named in the file: %v", err)
			}
			return
		}
		if (eye != "OD" && eye != "OS") || (lensType != "rgp" && lensType != "orthok" && lensType != "scleral") ||
			!rxValid(rx) || !inRange(hvid, 9, 14) || !inRange(vertex, 0, 20) || vertex != "" && rx == "" ||
			sign != "" && sign != "depth" && sign != "elevation" ||
			override != "" && override != "false" && (override != "true" || lensType != "orthok") {
			t.Fatalf("accepted eye %q, lensType %q, rx %q at %q, hvid %q, heightSign %q, orthokOverride %q", eye, lensType, rx, vertex, hvid, sign, override)
		}
	})
}

// rxValid reports whether rx is absent or a refraction lens.ParseRefraction
// reads.
func rxValid(rx string) bool {
	if rx == "" {
		return true
	}
	_, err := lens.ParseRefraction(rx)
	return err == nil
}

// inRange reports whether the optional parameter v is absent or a finite
// number within [lo, hi].
func inRange(v string, lo, hi float64) bool {
	if v == "" {
		return true
	}
	x, err := strconv.ParseFloat(v, 64)
	return err == nil && !math.IsNaN(x) && x >= lo && x <= hi
}
