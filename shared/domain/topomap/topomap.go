// Package topomap computes the topography maps a practitioner reads from a
// corneal scan: on an n x n grid over [-extent, +extent] mm (examiner's
// view, +x to the examiner's right, +y superior), the elevation of the
// cornea above its best-fit sphere (microns) and its axial (sagittal)
// curvature in keratometric dioptres.
//
// Curvature comes from a smooth model of the surface, never from the raw,
// noisy points: the engine's biconic (cornea.Fit, placed on the map by its
// fitted apex and tilt) plus an OSA Zernike expansion of what the biconic
// leaves, fitted here over the widest disk the data cover (up to the
// grid's corners). Axial curvature at a point is index / r_axial, with
// r_axial the distance along the surface normal, in the meridional plane,
// from the point to the axis through the corneal vertex parallel to the
// map's z axis (the instrument's axis; on a Placido export the vertex is
// the map centre): r_axial = rho * sqrt(1 + s^2) / s, s the radial slope
// dz/drho. At the vertex it is the limit, the mean of the principal
// curvatures.
// The elevation is measured along z, positive where the cornea stands
// above (in front of) the best-fit sphere.
//
// Cells outside the measured area (beyond where the data reach along that
// semi-meridian, beyond the modelled disk, or with no data point near) are
// NaN in the Map and null in its JSON.
//
// The package is pure: no I/O, no logging, no global state.
package topomap

import (
	"math"
	"strconv"

	"gonum.org/v1/gonum/diff/fd"
	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"

	"github.com/lensflow/lensflow/shared/domain/cornea"
	"github.com/lensflow/lensflow/shared/domain/topo"
	"github.com/lensflow/lensflow/shared/errs"
)

// Defaults and limits of Options.
const (
	DefaultN        = 61  // grid points per side
	DefaultExtentMM = 4.5 // half-width of the grid, mm
	// DefaultNearMM is how close (mm) a data point must be for a cell to
	// count as measured: a few times the spacing of every supported format
	// (0.1 mm grids, 31 CSO rings over about 5 mm), so that a gap the size
	// of an eyelash shadow still shows as missing.
	DefaultNearMM = 0.5
	// DefaultBFSZoneDiameterMM is the zone the best-fit sphere is fitted
	// over: 8 mm, as elevation maps usually quote it.
	DefaultBFSZoneDiameterMM = cornea.DefaultZoneDiameterMM
	// DefaultZernikeOrder is the order of the expansion of the biconic's
	// residual heights.
	DefaultZernikeOrder = cornea.DefaultZernikeOrder

	MinN        = 2
	MaxN        = 401
	MinExtentMM = 0.5
)

// Options tunes Build. The zero value uses the defaults.
type Options struct {
	N        int     // grid points per side (default DefaultN, MinN..MaxN)
	ExtentMM float64 // half-width of the grid, mm (default DefaultExtentMM, MinExtentMM..topo.MaxAbsXYMM)
	NearMM   float64 // a measured cell has a data point within this distance, mm (default DefaultNearMM, at most 2)
	// BFSZoneDiameterMM is the zone of the best-fit sphere (default
	// DefaultBFSZoneDiameterMM); when the data do not support it, the
	// model's own zone is used.
	BFSZoneDiameterMM float64
	// ZernikeOrder is the order of the residual expansion (default
	// DefaultZernikeOrder); negative uses the biconic alone.
	ZernikeOrder int
}

func (o Options) withDefaults() Options {
	if o.N == 0 {
		o.N = DefaultN
	}
	if o.ExtentMM == 0 {
		o.ExtentMM = DefaultExtentMM
	}
	if o.NearMM == 0 {
		o.NearMM = DefaultNearMM
	}
	if o.BFSZoneDiameterMM == 0 {
		o.BFSZoneDiameterMM = DefaultBFSZoneDiameterMM
	}
	if o.ZernikeOrder == 0 {
		o.ZernikeOrder = DefaultZernikeOrder
	}
	return o
}

func (o Options) check(op string) error {
	switch {
	case o.N < MinN || o.N > MaxN:
		return errs.Field(op, "n", "must be %d to %d grid points per side", MinN, MaxN)
	case !(o.ExtentMM >= MinExtentMM && o.ExtentMM <= topo.MaxAbsXYMM):
		return errs.Field(op, "extentMM", "must be %g to %g mm", MinExtentMM, topo.MaxAbsXYMM)
	case !(o.NearMM > 0 && o.NearMM <= 2):
		return errs.Field(op, "nearMM", "must be more than 0 and at most 2 mm")
	case !(o.BFSZoneDiameterMM > 0 && o.BFSZoneDiameterMM <= 2*topo.MaxAbsXYMM):
		return errs.Field(op, "bfsZoneDiameterMM", "must be more than 0 and at most %g mm", 2*topo.MaxAbsXYMM)
	case o.ZernikeOrder > cornea.MaxZernikeOrder:
		return errs.Field(op, "zernikeOrder", "must be at most %d (negative uses the biconic alone)", cornea.MaxZernikeOrder)
	}
	return nil
}

// Grid is one map's values, n*n, row-major from the top-left corner (y =
// +extent, x = -extent). NaN marks a cell outside the measured area; its
// JSON is an array with null there, and numbers rounded to 0.001.
type Grid []float64

// MarshalJSON writes the grid with null for NaN cells.
func (g Grid) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 8*len(g)+2)
	b = append(b, '[')
	for i, v := range g {
		if i > 0 {
			b = append(b, ',')
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			b = append(b, "null"...)
			continue
		}
		b = strconv.AppendFloat(b, round3(v), 'f', -1, 64)
	}
	return append(b, ']'), nil
}

// Map is the topography map of one scan, in the API's words.
type Map struct {
	ScanID   string  `json:"scanId,omitempty"`
	N        int     `json:"n"`
	ExtentMM float64 `json:"extent_mm"`
	AxialD   Grid    `json:"axial_D"`
	// ElevationUM is the height above the best-fit sphere, microns.
	ElevationUM      Grid    `json:"elevation_um"`
	BFSRadiusMM      float64 `json:"bfs_radius_mm"`
	FlatMeridianDeg  float64 `json:"flat_meridian_deg"`
	SteepMeridianDeg float64 `json:"steep_meridian_deg"`
	// FlatKD and SteepKD are Sim-K (the axial power on the 3 mm ring, as
	// devices report it); ApicalFlatKD and ApicalSteepKD the fitted
	// biconic's apical curvature, steeper on a prolate cornea.
	FlatKD           float64    `json:"flat_k_D"`
	SteepKD          float64    `json:"steep_k_D"`
	ApicalFlatKD     float64    `json:"apical_flat_k_D"`
	ApicalSteepKD    float64    `json:"apical_steep_k_D"`
	AxialRangeD      [2]float64 `json:"axial_range_D"`
	ElevationRangeUM [2]float64 `json:"elevation_range_um"`
}

// At returns the grid coordinates (mm) of row i, column j of an n x n map
// over [-extent, extent]: x grows to the right, y downwards from +extent.
func At(n int, extentMM float64, i, j int) (x, y float64) {
	step := 2 * extentMM / float64(n-1)
	return -extentMM + float64(j)*step, extentMM - float64(i)*step
}

// Build computes the map of a surface from its fitted corneal model (see
// cornea.Fit; the model must be fitted to s). Errors are errs.Invalid
// saying what is missing: a nil or unfitted model, a surface that does not
// support the best-fit sphere, or a grid with no cell in the measured area.
// Bad options are errs.Invalid naming the field.
func Build(s *topo.Surface, m *cornea.Model, opts Options) (*Map, error) {
	const op = "topomap.Build"
	o := opts.withDefaults()
	if err := o.check(op); err != nil {
		return nil, err
	}
	sm, err := NewSurfaceModel(s, m, o)
	if err != nil {
		return nil, errs.Wrap(op, err)
	}
	near := newPointIndex(sm.xs, sm.ys, o.NearMM)
	out := &Map{N: o.N, ExtentMM: o.ExtentMM, AxialD: make(Grid, o.N*o.N), ElevationUM: make(Grid, o.N*o.N),
		BFSRadiusMM: sm.BFS.R0MM, FlatMeridianDeg: m.FlatAxisDeg(), SteepMeridianDeg: m.SteepAxisDeg(),
		FlatKD: m.FlatK().Dioptres, SteepKD: m.SteepK().Dioptres,
		ApicalFlatKD: m.ApicalK.Flat.Dioptres, ApicalSteepKD: m.ApicalK.Steep.Dioptres}
	measured := 0
	for i := range o.N {
		for j := range o.N {
			k := i*o.N + j
			x, y := At(o.N, o.ExtentMM, i, j)
			out.AxialD[k], out.ElevationUM[k] = math.NaN(), math.NaN()
			if !sm.Measured(x, y) || !near.has(x, y) {
				continue
			}
			a, e := sm.AxialD(x, y), sm.ElevationUM(x, y)
			if math.IsNaN(a) || math.IsNaN(e) {
				continue
			}
			out.AxialD[k], out.ElevationUM[k] = a, e
			measured++
		}
	}
	if measured == 0 {
		return nil, errs.Ef(op, errs.Invalid, "no cell of the %d x %d grid over +/-%g mm lies within the measured area", o.N, o.N, o.ExtentMM)
	}
	out.AxialRangeD = rangeOf(out.AxialD)
	out.ElevationRangeUM = rangeOf(out.ElevationUM)
	return out, nil
}

// rangeOf returns the least and greatest finite values of g, rounded.
func rangeOf(g Grid) [2]float64 {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range g {
		if !math.IsNaN(v) {
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	return [2]float64{round3(lo), round3(hi)}
}

// round3 rounds as Grid's JSON does, so every cell lies within the ranges.
func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

// SurfaceModel is the smooth model of a surface the map reads: the
// biconic, the Zernike expansion of its residual heights over a disk, and
// the best-fit sphere; all in the examiner's-view frame.
type SurfaceModel struct {
	Model *cornea.Model
	// Residual expands the heights the biconic leaves over the disk of its
	// zone; nil when the biconic is used alone.
	Residual *cornea.Zernike
	// ModelledRadiusMM bounds the disk where the model stands for the data:
	// the residual's disk, or +Inf with the biconic alone.
	ModelledRadiusMM float64
	BFS              cornea.Conic // the best-fit sphere (P = 1)

	// VertexXMM, VertexYMM locate this model's vertex on the map, about
	// which AxialD reads the curvature.
	VertexXMM, VertexYMM float64

	xs, ys []float64 // the data points, examiner's view
}

// NewSurfaceModel builds the smooth model of s from its fitted corneal
// model m. Options are those of Build (zero values take the defaults).
func NewSurfaceModel(s *topo.Surface, m *cornea.Model, opts Options) (*SurfaceModel, error) {
	const op = "topomap.NewSurfaceModel"
	o := opts.withDefaults()
	if err := o.check(op); err != nil {
		return nil, err
	}
	if s == nil || len(s.X) != len(s.Y) || len(s.X) != len(s.Z) || len(s.X) == 0 {
		return nil, errs.Ef(op, errs.Invalid, "the surface is nil, empty or its coordinate slices differ in length")
	}
	if m == nil || !(m.Biconic.FlatR0MM > 0) || !(m.Biconic.SteepR0MM > 0) || !(m.KeratometricIndex > 0) {
		return nil, errs.Ef(op, errs.Invalid, "the corneal model holds no fit; build it with cornea.Fit on the same surface")
	}
	sm := &SurfaceModel{Model: m, ModelledRadiusMM: math.Inf(1)}
	mirror := s.NasalFrame && s.Eye == topo.OS
	sm.xs, sm.ys = make([]float64, len(s.X)), make([]float64, len(s.X))
	for i := range s.X {
		sm.xs[i], sm.ys[i] = s.X[i], s.Y[i]
		if mirror {
			sm.xs[i] = -s.X[i]
		}
	}
	examiner := &topo.Surface{X: sm.xs, Y: sm.ys, Z: s.Z, Eye: s.Eye}
	bfs, err := cornea.BestFitSphere(examiner, o.BFSZoneDiameterMM)
	if err != nil && m.ZoneDiameterMM > 0 && m.ZoneDiameterMM != o.BFSZoneDiameterMM {
		bfs, err = cornea.BestFitSphere(examiner, m.ZoneDiameterMM)
	}
	if err != nil {
		return nil, errs.Wrap(op+": best-fit sphere", err)
	}
	sm.BFS = bfs
	if o.ZernikeOrder > 0 {
		sm.fitResidual(examiner, o)
	}
	sm.findVertex()
	return sm, nil
}

// findVertex finds the vertex of this smooth model, where its depth has no
// slope along the map, by Newton's method from the corneal model's vertex
// (the two models place it within microns of each other, but near the
// vertex the axial power divides the slope by the distance, so the map
// uses its own).
func (sm *SurfaceModel) findVertex() {
	x, y := sm.Model.VertexXMM, sm.Model.VertexYMM
	sm.VertexXMM, sm.VertexYMM = x, y
	f := func(p []float64) float64 { return sm.HeightMM(p[0], p[1]) }
	st := &fd.Settings{Formula: fd.Central, Step: derivativeStepMM}
	for range 8 {
		g := fd.Gradient(nil, f, []float64{x, y}, st)
		var h mat.SymDense
		fd.Hessian(&h, f, []float64{x, y}, &fd.Settings{Step: 10 * derivativeStepMM})
		a, b, d := h.At(0, 0), h.At(0, 1), h.At(1, 1)
		det := a*d - b*b
		if floats.HasNaN(g) || !(det > 0) {
			return
		}
		dx, dy := -(d*g[0]-b*g[1])/det, -(a*g[1]-b*g[0])/det
		if math.Hypot(x+dx-sm.Model.VertexXMM, y+dy-sm.Model.VertexYMM) > 0.5 {
			return
		}
		x, y = x+dx, y+dy
		if math.Abs(dx)+math.Abs(dy) < 1e-9 {
			break
		}
	}
	sm.VertexXMM, sm.VertexYMM = x, y
}

// fitResidual expands the biconic's residual heights over the widest disk
// (no wider than the grid's corners or the data's reach, no narrower than
// the model's zone) whose data pass FitZernike's coverage checks. When
// none does, the biconic stands alone.
func (sm *SurfaceModel) fitResidual(s *topo.Surface, o Options) {
	res := &topo.Surface{Eye: s.Eye}
	for i := range s.X {
		z := sm.biconicMM(s.X[i], s.Y[i])
		if math.IsNaN(z) {
			continue
		}
		res.X, res.Y, res.Z = append(res.X, s.X[i]), append(res.Y, s.Y[i]), append(res.Z, s.Z[i]-z)
	}
	corners := math.Ceil(20*math.Hypot(o.ExtentMM, o.ExtentMM)+20*derivativeStepMM) / 10
	widest := min(corners, math.Floor(20*sm.Model.Reach.MaxMM)/10, 2*topo.MaxAbsXYMM)
	narrowest := min(sm.Model.ZoneDiameterMM, widest)
	var zones []float64
	for d := widest; d > narrowest+1e-9; d -= 0.5 {
		zones = append(zones, d)
	}
	zones = append(zones, narrowest)
	for _, d := range zones {
		if z, err := cornea.FitZernike(res, cornea.ZernikeOptions{Order: o.ZernikeOrder, ZoneDiameterMM: d}); err == nil {
			sm.Residual, sm.ModelledRadiusMM = z, d/2
			return
		}
	}
}

// biconicMM is the biconic's depth (mm) at (x, y) of the map, placed by
// the model's pose (apex and tilt), NaN where it is not defined.
func (sm *SurfaceModel) biconicMM(x, y float64) float64 {
	z, ok := sm.Model.BiconicMapDepthMM(x, y)
	if !ok {
		return math.NaN()
	}
	return z
}

// derivativeStepMM is the finite-difference step of the slopes and
// curvatures: small against the surface's features, large against the
// rounding of heights of a few mm.
const derivativeStepMM = 1e-3

// HeightMM returns the model's depth (mm, positive into the eye) at (x,
// y), NaN where the model does not stand for the data (beyond the
// modelled disk, or where the biconic is undefined).
func (sm *SurfaceModel) HeightMM(x, y float64) float64 {
	z := sm.biconicMM(x, y)
	if sm.Residual == nil || math.IsNaN(z) {
		return z
	}
	r, err := sm.Residual.HeightUM(x, y)
	if err != nil {
		return math.NaN()
	}
	return z + r/1000
}

// Measured reports whether (x, y) lies in the measured area as the model
// knows it: inside the modelled disk (with room for the derivatives) and
// no further from the apex than the data reach along that semi-meridian
// (the model's reach is measured from the apex). Build also requires a
// data point nearby.
func (sm *SurfaceModel) Measured(x, y float64) bool {
	if math.Hypot(x, y)+2*derivativeStepMM > sm.ModelledRadiusMM {
		return false
	}
	dx, dy := x-sm.Model.Pose.XMM, y-sm.Model.Pose.YMM
	rho := math.Hypot(dx, dy)
	if rho == 0 {
		return true
	}
	deg := math.Atan2(dy, dx) * 180 / math.Pi
	return rho <= sm.Model.Reach.SemiMeridianMM(deg)
}

// AxialD returns the axial curvature (keratometric dioptres, the model's
// index) at (x, y), about the axis through the corneal vertex parallel to
// the map's, as Placido devices draw it (and as Sim-K and the screening
// read it; see cornea.Model.AxialPowerD): index * s / (rho * sqrt(1 +
// s^2)), rho the distance from the vertex and s the radial slope there,
// which is index / r_axial; at the vertex, index times the mean of the
// principal curvatures (the limit over every direction). NaN where the
// model is not defined.
func (sm *SurfaceModel) AxialD(x, y float64) float64 {
	f := func(p []float64) float64 { return sm.HeightMM(p[0], p[1]) }
	idx := sm.Model.KeratometricIndex
	vx, vy := sm.VertexXMM, sm.VertexYMM
	dx, dy := x-vx, y-vy
	rho := math.Hypot(dx, dy)
	if rho < derivativeStepMM {
		lap := fd.Laplacian(f, []float64{vx, vy}, &fd.Settings{Step: derivativeStepMM})
		return idx * lap / 2
	}
	g := fd.Gradient(nil, f, []float64{x, y}, &fd.Settings{Formula: fd.Central, Step: derivativeStepMM})
	if floats.HasNaN(g) {
		return math.NaN()
	}
	s := (g[0]*dx + g[1]*dy) / rho
	return idx * s / (rho * math.Sqrt(1+s*s))
}

// ElevationUM returns the height (microns) of the model above the
// best-fit sphere at (x, y), measured along z: positive where the cornea
// stands in front of the sphere. NaN where either is undefined.
func (sm *SurfaceModel) ElevationUM(x, y float64) float64 {
	r2 := x*x + y*y
	rr := sm.BFS.R0MM * sm.BFS.R0MM
	if r2 > rr {
		return math.NaN()
	}
	sphere := sm.BFS.ApexZMM + r2/(sm.BFS.R0MM+math.Sqrt(rr-r2))
	return (sphere - sm.HeightMM(x, y)) * 1000
}

// pointIndex answers "is there a data point within d of (x, y)?" with a
// bucket grid of cell size d.
type pointIndex struct {
	d       float64
	buckets map[[2]int32][]int32
	xs, ys  []float64
}

func newPointIndex(xs, ys []float64, d float64) *pointIndex {
	p := &pointIndex{d: d, buckets: map[[2]int32][]int32{}, xs: xs, ys: ys}
	for i := range xs {
		k := p.key(xs[i], ys[i])
		p.buckets[k] = append(p.buckets[k], int32(i))
	}
	return p
}

func (p *pointIndex) key(x, y float64) [2]int32 {
	return [2]int32{int32(math.Floor(x / p.d)), int32(math.Floor(y / p.d))}
}

func (p *pointIndex) has(x, y float64) bool {
	k := p.key(x, y)
	d2 := p.d * p.d
	for di := int32(-1); di <= 1; di++ {
		for dj := int32(-1); dj <= 1; dj++ {
			for _, i := range p.buckets[[2]int32{k[0] + di, k[1] + dj}] {
				dx, dy := p.xs[i]-x, p.ys[i]-y
				if dx*dx+dy*dy <= d2 {
					return true
				}
			}
		}
	}
	return false
}
