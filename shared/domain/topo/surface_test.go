package topo_test

import (
	"math"
	"testing"

	"github.com/lensflow/lensflow/shared/domain/topo"
	"github.com/lensflow/lensflow/shared/errs"
)

func TestNasal(t *testing.T) {
	base := topo.Surface{X: []float64{1, -2}, Y: []float64{3, 4}, Z: []float64{0.1, 0.2}}
	tests := []struct {
		eye   topo.Eye
		wantX []float64
	}{
		{topo.OD, []float64{1, -2}},
		{topo.OS, []float64{-1, 2}},
	}
	for _, tt := range tests {
		t.Run(string(tt.eye), func(t *testing.T) {
			s := base.Clone()
			s.Eye = tt.eye
			n, err := s.Nasal()
			if err != nil {
				t.Fatal(err)
			}
			if !n.NasalFrame || n.X[0] != tt.wantX[0] || n.X[1] != tt.wantX[1] || n.Y[0] != 3 || n.Z[1] != 0.2 {
				t.Errorf("Nasal = %+v", n)
			}
			if s.X[0] != 1 || s.NasalFrame {
				t.Error("Nasal changed its receiver")
			}
			again, err := n.Nasal()
			if err != nil || again.X[0] != tt.wantX[0] {
				t.Errorf("Nasal of a nasal-frame surface mirrored again: %v %v", again.X, err)
			}
		})
	}
	if _, err := base.Nasal(); !errs.Is(errs.Invalid, err) {
		t.Errorf("Nasal of unknown eye = %v, want invalid", err)
	}
}

func TestValidate(t *testing.T) {
	nan := 0.0
	nan = nan / nan
	tests := []struct {
		name string
		s    *topo.Surface
		ok   bool
	}{
		{"ok", &topo.Surface{X: []float64{1}, Y: []float64{1}, Z: []float64{0}, Eye: topo.OS}, true},
		{"empty is valid", &topo.Surface{}, true},
		{"nil", nil, false},
		{"lengths", &topo.Surface{X: []float64{1}, Y: []float64{1}}, false},
		{"NaN", &topo.Surface{X: []float64{nan}, Y: []float64{1}, Z: []float64{0}}, false},
		{"eye", &topo.Surface{Eye: "OU"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.s.Validate()
			if (err == nil) != tt.ok || (err != nil && !errs.Is(errs.Invalid, err)) {
				t.Errorf("Validate = %v", err)
			}
		})
	}
}

func TestCloneDeepCopiesMetadata(t *testing.T) {
	s := &topo.Surface{X: []float64{1}, Y: []float64{2}, Z: []float64{0.1}, Layout: []string{topo.LayoutCRLF},
		Measurements: &topo.DeviceMeasurements{CornealDiameterMM: 11.8,
			SimK:       &topo.DeviceSimK{FlatKD: 42, SteepKD: 43, FlatAxisDeg: 180, SteepAxisDeg: 90},
			Refraction: &topo.DeviceRefraction{SphereD: -2, CylinderD: -0.5, AxisDeg: 10, VertexMM: 12}}}
	c := s.Clone()
	c.Layout[0] = "changed"
	c.Measurements.CornealDiameterMM = 1
	c.Measurements.SimK.FlatKD = 1
	c.Measurements.Refraction.SphereD = 1
	if s.Layout[0] != topo.LayoutCRLF || s.Measurements.CornealDiameterMM != 11.8 || s.Measurements.SimK.FlatKD != 42 || s.Measurements.Refraction.SphereD != -2 {
		t.Errorf("Clone shares metadata with its source: %+v %+v %+v", s.Layout, *s.Measurements.SimK, *s.Measurements.Refraction)
	}
	if n := (&topo.Surface{}).Clone(); n.Layout != nil || n.Measurements != nil {
		t.Errorf("Clone of an empty surface = %+v", n)
	}
	bad := s.Clone()
	bad.Measurements.SimK.SteepKD = math.Inf(1)
	if err := bad.Validate(); !errs.Is(errs.Invalid, err) {
		t.Errorf("Validate with an infinite Sim-K = %v", err)
	}
}
