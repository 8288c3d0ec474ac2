package cornea

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"

	"github.com/lensflow/lensflow/shared/domain/topo"
	"github.com/lensflow/lensflow/shared/errs"
)

// Zernike fitting follows OSA/ANSI Z80.28:
//
//   - single index j = (n(n+2) + m) / 2, n the radial order, m the angular
//     frequency (-n <= m <= n, n - m even);
//   - Z_j(rho, theta) = N_nm R_n^|m|(rho) cos(m theta) for m >= 0 and
//     N_nm R_n^|m|(rho) sin(|m| theta) for m < 0, with the normalisation
//     N_nm = sqrt(2(n+1) / (1 + delta_m0)), so that the mean of Z_j Z_k
//     over the unit disk is delta_jk;
//   - rho = r / r_fit, r measured from the map centre (x = y = 0), theta
//     counterclockwise from +x in the examiner's view for both eyes (the
//     observer's view of Z80.28; a left eye is never mirrored).
//
// The surface expanded is the height z itself (depth below the apex
// tangent plane, positive into the eye, as topo.Surface stores it), so the
// defocus term Z4 of a cornea is large and positive. Coefficients are in
// microns.

// Zernike limits and defaults.
const (
	// DefaultZernikeOrder is the radial order fitted when none is given:
	// 8 (45 terms), within the handbook's 8-12 that describes a normal
	// anterior cornea.
	DefaultZernikeOrder = 8
	// MaxZernikeOrder is the highest radial order accepted: 12 (91
	// terms). Higher orders chase measurement noise, and their monomial
	// coefficients grow past what the fast moment-based fit keeps exact.
	MaxZernikeOrder = 12
	// DefaultZernikeZoneDiameterMM is the zone expanded when none is
	// given: 8 mm, the handbook's fitting zone, which normal scans cover
	// even with an upper lid.
	DefaultZernikeZoneDiameterMM = 8.0
)

// ZernikeTerms returns the number of OSA terms up to and including a radial
// order: (order+1)(order+2)/2 (45 for order 8).
func ZernikeTerms(order int) int { return (order + 1) * (order + 2) / 2 }

// ZernikeIndex returns the OSA/ANSI single index j = (n(n+2) + m) / 2 of
// the term with radial order n and angular frequency m, or -1 when (n, m)
// is not a Zernike term (n < 0, |m| > n, or n - m odd).
func ZernikeIndex(n, m int) int {
	if n < 0 || m < -n || m > n || (n-m)%2 != 0 {
		return -1
	}
	return (n*(n+2) + m) / 2
}

// ZernikeNM returns the radial order n and angular frequency m of the OSA
// single index j (j >= 0): n = ceil((-3 + sqrt(9 + 8j)) / 2), m = 2j - n(n+2).
// It returns (-1, 0) for a negative j.
func ZernikeNM(j int) (n, m int) {
	if j < 0 {
		return -1, 0
	}
	n = int(math.Ceil((-3 + math.Sqrt(float64(9+8*j))) / 2))
	// Guard against rounding of the square root at exact triangular numbers.
	for n*(n+1)/2 > j {
		n--
	}
	for (n+1)*(n+2)/2 <= j {
		n++
	}
	return n, 2*j - n*(n+2)
}

// ZernikeNorm returns the OSA normalisation sqrt(2(n+1) / (1 + delta_m0)).
func ZernikeNorm(n, m int) float64 {
	if m == 0 {
		return math.Sqrt(float64(n + 1))
	}
	return math.Sqrt(float64(2 * (n + 1)))
}

// ZernikeRadial returns the radial polynomial R_n^|m|(rho), computed by the
// three-term recurrence R_n^m = rho (R_{n-1}^{|m-1|} + R_{n-1}^{m+1}) -
// R_{n-2}^m from R_n^n = rho^n. It returns 0 when (n, m) is not a term.
func ZernikeRadial(n, m int, rho float64) float64 {
	if ZernikeIndex(n, m) < 0 {
		return 0
	}
	r := make([]float64, (n+1)*(n+1))
	radialTable(r, n, rho)
	if m < 0 {
		m = -m
	}
	return r[n*(n+1)+m]
}

// ZernikeValue returns the normalised OSA term Z_j at polar coordinates
// (rho, theta) on the unit disk, theta in radians. It returns 0 for j < 0.
func ZernikeValue(j int, rho, theta float64) float64 {
	n, m := ZernikeNM(j)
	if n < 0 {
		return 0
	}
	v := ZernikeNorm(n, m) * ZernikeRadial(n, m, rho)
	if m < 0 {
		return v * math.Sin(float64(-m)*theta)
	}
	return v * math.Cos(float64(m)*theta)
}

// radialTable fills r[n*(order+1)+m] with R_n^m(rho) for 0 <= m <= n <=
// order, n - m even (other entries are left at zero), by the recurrence.
func radialTable(r []float64, order int, rho float64) {
	w := order + 1
	clear(r[:w*w])
	r[0] = 1
	if order == 0 {
		return
	}
	r[w+1] = rho
	for n := 2; n <= order; n++ {
		r[n*w+n] = rho * r[(n-1)*w+n-1]
		for m := n - 2; m >= 0; m -= 2 {
			lo := m - 1
			if lo < 0 {
				lo = -lo
			}
			r[n*w+m] = rho*(r[(n-1)*w+lo]+r[(n-1)*w+m+1]) - r[(n-2)*w+m]
		}
	}
}

// zernikeBasis holds, for one order, each term's radial polynomial as
// normalised monomial coefficients so that
//
//	Z_j = Re (or Im for m < 0) of  sum_k coef[j][k] t^k w^|m|,
//	t = rho^2, w = rho e^(i theta) = (x + i y) / r_fit,
//
// and the layout of the moments sum_i t_i^a w_i^q that the fit gathers.
// The Gram matrix and right-hand side of the least squares problem are
// linear in those moments, which cost far less per point (81 complex sums
// at order 8, no trigonometry) than the 1,035 products of the direct
// normal equations.
type zernikeBasis struct {
	order int
	n, m  []int
	coef  [][]float64
	// gram moments: q = 0..2*order, a = 0..(2*order-q)/2, at gOff[q]+a;
	// data moments: q = 0..order, a = 0..(order-q)/2, at dOff[q]+a.
	gOff, gCnt, dOff, dCnt []int
	nGram, nData           int
}

var zernikeBases [MaxZernikeOrder + 1]*zernikeBasis

func init() {
	for o := range zernikeBases {
		zernikeBases[o] = newZernikeBasis(o)
	}
}

func newZernikeBasis(order int) *zernikeBasis {
	b := &zernikeBasis{order: order}
	fact := func(k int) float64 {
		f := 1.0
		for i := 2; i <= k; i++ {
			f *= float64(i)
		}
		return f
	}
	for j := range ZernikeTerms(order) {
		n, m := ZernikeNM(j)
		am := m
		if am < 0 {
			am = -am
		}
		norm := ZernikeNorm(n, m)
		kmax := (n - am) / 2
		c := make([]float64, kmax+1)
		// R_n^m = sum_s (-1)^s (n-s)! / (s! ((n+m)/2-s)! ((n-m)/2-s)!) rho^(n-2s);
		// rho^(n-2s) = t^k rho^m with k = (n-m)/2 - s.
		for s := 0; s <= kmax; s++ {
			v := fact(n-s) / (fact(s) * fact((n+am)/2-s) * fact((n-am)/2-s))
			if s%2 == 1 {
				v = -v
			}
			c[kmax-s] = norm * v
		}
		b.n, b.m, b.coef = append(b.n, n), append(b.m, m), append(b.coef, c)
	}
	for q := 0; q <= 2*order; q++ {
		b.gOff, b.gCnt = append(b.gOff, b.nGram), append(b.gCnt, (2*order-q)/2+1)
		b.nGram += (2*order-q)/2 + 1
	}
	for q := 0; q <= order; q++ {
		b.dOff, b.dCnt = append(b.dOff, b.nData), append(b.dCnt, (order-q)/2+1)
		b.nData += (order-q)/2 + 1
	}
	return b
}

// zernikeMoments are the sums the fit needs over the points of its zone.
type zernikeMoments struct {
	gr, gi []float64 // sum t^a w^q, real and imaginary parts
	dr, di []float64 // sum z t^a w^q
	sz2    float64   // sum z^2
	n      int
}

// momentBlock is the number of points whose powers are tabulated at once:
// small enough for the tables to stay in the L2 cache.
const momentBlock = 256

// moments gathers the sums over the points (x, y in mm, z in mm) with
// coordinates scaled by 1/rFit. The caller has kept only points within the
// zone. This is the cost of a fit, with no trigonometry: for each block of
// points, tables of t^a, w^q and z w^q, then each moment as one dot
// product over the block (gonum's assembly kernel).
func (b *zernikeBasis) moments(xs, ys, zs []float64, rFit float64) zernikeMoments {
	return b.momentsWith(new(zernikeWork), xs, ys, zs, rFit)
}

// zernikeWork holds a Zernike fit's buffers, reused from fit to fit (see
// fitWork): the moments, their tables, the normal equations and their
// factorisation.
type zernikeWork struct {
	mom, tables []float64
	gram, rhs   []float64
	sym         mat.SymDense
	rhsVec, sol mat.VecDense
	chol        mat.Cholesky
}

// momentsWith is moments with its buffers taken from w: the moments
// returned live in w until its next use.
func (b *zernikeBasis) momentsWith(w *zernikeWork, xs, ys, zs []float64, rFit float64) zernikeMoments {
	w.mom = grow(w.mom, 2*b.nGram+2*b.nData)
	clear(w.mom)
	mo := zernikeMoments{
		gr: w.mom[:b.nGram], gi: w.mom[b.nGram : 2*b.nGram],
		dr: w.mom[2*b.nGram : 2*b.nGram+b.nData], di: w.mom[2*b.nGram+b.nData:],
		n: len(xs),
	}
	o := b.order
	inv := 1 / rFit
	ys, zs = ys[:len(xs)], zs[:len(xs)]
	nb := min(len(xs), momentBlock)
	// Tables, each nb long: t^a (a = 0..o), Re/Im w^q (q = 0..2o), Re/Im z w^q (q = 0..o).
	w.tables = grow(w.tables, nb*((o+1)+2*(2*o+1)+2*(o+1)))
	buf := w.tables
	tab := func(k int) []float64 { return buf[k*nb : (k+1)*nb] }
	tp := func(a int) []float64 { return tab(a) }
	wr := func(q int) []float64 { return tab(o + 1 + q) }
	wi := func(q int) []float64 { return tab(o + 1 + 2*o + 1 + q) }
	zr := func(q int) []float64 { return tab(o + 1 + 2*(2*o+1) + q) }
	zi := func(q int) []float64 { return tab(o + 1 + 2*(2*o+1) + o + 1 + q) }
	for start := 0; start < len(xs); start += nb {
		end := min(start+nb, len(xs))
		m := end - start
		t0, t1 := tp(0)[:m], tp(1)[:m]
		w1r, w1i := wr(1)[:m], wi(1)[:m]
		z0r, z0i := zr(0)[:m], zi(0)[:m]
		w0r, w0i := wr(0)[:m], wi(0)[:m]
		for i := range m {
			x, y, z := xs[start+i]*inv, ys[start+i]*inv, zs[start+i]
			t0[i], t1[i] = 1, x*x+y*y
			w0r[i], w0i[i], w1r[i], w1i[i] = 1, 0, x, y
			z0r[i], z0i[i] = z, 0
			mo.sz2 += z * z
		}
		for a := 2; a <= o; a++ {
			prev, cur := tp(a - 1)[:m], tp(a)[:m]
			prev, t := prev[:len(cur)], t1[:len(cur)]
			for i := range cur {
				cur[i] = prev[i] * t[i]
			}
		}
		for q := 2; q <= 2*o; q++ {
			pr, pi, cr, ci := wr(q - 1)[:m], wi(q - 1)[:m], wr(q)[:m], wi(q)[:m]
			pi, ci, ar, ai := pi[:len(pr)], ci[:len(pr)], w1r[:len(pr)], w1i[:len(pr)]
			cr = cr[:len(pr)]
			for i := range pr {
				cr[i], ci[i] = pr[i]*ar[i]-pi[i]*ai[i], pr[i]*ai[i]+pi[i]*ar[i]
			}
		}
		for q := 1; q <= o; q++ {
			pr, pi, cr, ci := wr(q)[:m], wi(q)[:m], zr(q)[:m], zi(q)[:m]
			pi, cr, ci, zz := pi[:len(pr)], cr[:len(pr)], ci[:len(pr)], z0r[:len(pr)]
			for i := range pr {
				cr[i], ci[i] = pr[i]*zz[i], pi[i]*zz[i]
			}
		}
		for q := 0; q <= 2*o; q++ {
			r, im := wr(q)[:m], wi(q)[:m]
			for a := range b.gCnt[q] {
				ta := tp(a)[:m]
				mo.gr[b.gOff[q]+a] += floats.Dot(ta, r)
				if q > 0 {
					mo.gi[b.gOff[q]+a] += floats.Dot(ta, im)
				}
			}
		}
		for q := 0; q <= o; q++ {
			r, im := zr(q)[:m], zi(q)[:m]
			for a := range b.dCnt[q] {
				ta := tp(a)[:m]
				mo.dr[b.dOff[q]+a] += floats.Dot(ta, r)
				if q > 0 {
					mo.di[b.dOff[q]+a] += floats.Dot(ta, im)
				}
			}
		}
	}
	return mo
}

// normal builds the Gram matrix (upper triangle, row major, J by J) and
// the right-hand side of the least squares problem from the moments.
func (b *zernikeBasis) normal(mo *zernikeMoments) (gram, rhs []float64) {
	nt := len(b.n)
	return b.normalInto(mo, make([]float64, nt*nt), make([]float64, nt))
}

// normalInto is normal writing into gram (nt*nt) and rhs (nt).
func (b *zernikeBasis) normalInto(mo *zernikeMoments, gram, rhs []float64) ([]float64, []float64) {
	nt := len(b.n)
	abs := func(v int) int {
		if v < 0 {
			return -v
		}
		return v
	}
	for j := range nt {
		mj := abs(b.m[j])
		cj := b.coef[j]
		var sr, si float64
		for k, c := range cj {
			sr += c * mo.dr[b.dOff[mj]+k]
			si += c * mo.di[b.dOff[mj]+k]
		}
		if b.m[j] < 0 {
			rhs[j] = si
		} else {
			rhs[j] = sr
		}
		for l := j; l < nt; l++ {
			ml := abs(b.m[l])
			cl := b.coef[l]
			// P_j P_l and P_j conj(P_l), summed over the points.
			var abR, abI, acR, acI float64
			for k1, c1 := range cj {
				for k2, c2 := range cl {
					cc := c1 * c2
					idx := b.gOff[mj+ml] + k1 + k2
					abR += cc * mo.gr[idx]
					abI += cc * mo.gi[idx]
					if mj >= ml {
						idx = b.gOff[mj-ml] + k1 + k2 + ml
						acR += cc * mo.gr[idx]
						acI += cc * mo.gi[idx]
					} else {
						idx = b.gOff[ml-mj] + k1 + k2 + mj
						acR += cc * mo.gr[idx]
						acI -= cc * mo.gi[idx]
					}
				}
			}
			var v float64
			switch {
			case b.m[j] >= 0 && b.m[l] >= 0:
				v = (abR + acR) / 2
			case b.m[j] < 0 && b.m[l] < 0:
				v = (acR - abR) / 2
			case b.m[j] >= 0: // Re P_j * Im P_l
				v = (abI - acI) / 2
			default: // Im P_j * Re P_l
				v = (abI + acI) / 2
			}
			gram[j*nt+l] = v
		}
	}
	return gram, rhs
}

// ZernikeOptions tunes FitZernike. The zero value uses the defaults.
type ZernikeOptions struct {
	// Order is the highest radial order fitted (default
	// DefaultZernikeOrder, at most MaxZernikeOrder).
	Order int
	// ZoneDiameterMM is the diameter of the disk expanded, centred on the
	// map's x = y = 0 (default DefaultZernikeZoneDiameterMM); r_fit is half
	// of it.
	ZoneDiameterMM float64
	// MinCoverage and MinPoints are as in ConicOptions (defaults
	// DefaultMinCoverage and DefaultMinPoints).
	MinCoverage float64
	MinPoints   int
}

func (o ZernikeOptions) withDefaults() ZernikeOptions {
	if o.Order == 0 {
		o.Order = DefaultZernikeOrder
	}
	if o.ZoneDiameterMM == 0 {
		o.ZoneDiameterMM = DefaultZernikeZoneDiameterMM
	}
	if o.MinCoverage == 0 {
		o.MinCoverage = DefaultMinCoverage
	}
	if o.MinPoints == 0 {
		o.MinPoints = DefaultMinPoints
	}
	return o
}

func (o ZernikeOptions) check(op string) error {
	if o.Order < 1 || o.Order > MaxZernikeOrder {
		return errs.Field(op, "zernikeOrder", "must be from 1 to %d", MaxZernikeOrder)
	}
	if !(o.ZoneDiameterMM > 0 && o.ZoneDiameterMM <= 2*topo.MaxAbsXYMM) {
		return errs.Field(op, "zernikeZoneDiameterMM", "must be more than 0 and at most %g mm", 2*topo.MaxAbsXYMM)
	}
	if !(o.MinCoverage > 0 && o.MinCoverage <= 1) {
		return errs.Field(op, "minCoverage", "must be more than 0 and at most 1")
	}
	return nil
}

// Zernike is a Zernike expansion of the corneal height over a disk centred
// on the map's x = y = 0 (see the OSA/ANSI conventions above).
type Zernike struct {
	Order          int       // highest radial order
	ZoneDiameterMM float64   // diameter of the disk expanded; r_fit is half of it
	CoefficientsUM []float64 // coefficient of Z_j in microns, by OSA index j
	ResidualRMSUM  float64   // root mean square of the height residuals, microns
	Points         int       // number of points used
	Coverage       float64   // fraction (0..1) of the disk's area that holds data
	MaxRadiusMM    float64   // distance from the centre of the furthest point used
}

// FitZernike expands the surface's heights inside the zone in OSA Zernike
// terms up to the given order, by linear least squares (normal equations
// built from polar moments of the points, solved by Cholesky with gonum).
// It refuses, with an errs.Invalid error saying what is missing, when the
// zone has too few points, data do not reach its edge, too little of it
// holds data, or the data do not determine every term.
func FitZernike(s *topo.Surface, opts ZernikeOptions) (*Zernike, error) {
	const op = "cornea.FitZernike"
	o := opts.withDefaults()
	if err := o.check(op); err != nil {
		return nil, err
	}
	if s == nil || len(s.X) != len(s.Y) || len(s.X) != len(s.Z) {
		return nil, errs.Ef(op, errs.Invalid, "surface is nil or its coordinate slices differ in length")
	}
	zr := o.ZoneDiameterMM / 2
	var cov coverage
	cov.init(zr)
	var xs, ys, zs []float64
	for i := range s.X {
		x, y := s.X[i], s.Y[i]
		if s.NasalFrame && s.Eye == topo.OS {
			x = -x // back to the examiner's view
		}
		if x*x+y*y <= zr*zr {
			if !finite(s.Z[i]) {
				return nil, errs.Ef(op, errs.Invalid, "point %d has no finite height", i)
			}
			xs, ys, zs = append(xs, x), append(ys, y), append(zs, s.Z[i])
			cov.add(x, y)
		}
	}
	return fitZernikePoints(op, new(zernikeWork), xs, ys, zs, &cov, o)
}

// fitZernikePoints fits the points of the zone, whose coverage has been
// gathered but not checked.
func fitZernikePoints(op string, w *zernikeWork, xs, ys, zs []float64, cov *coverage, o ZernikeOptions) (*Zernike, error) {
	b := zernikeBases[o.Order]
	nt := len(b.n)
	if len(xs) < max(o.MinPoints, 2*nt) {
		return nil, errs.Ef(op, errs.Invalid, "only %d valid points within the %s Zernike zone; order %d needs at least %d",
			len(xs), mmString(o.ZoneDiameterMM), o.Order, max(o.MinPoints, 2*nt))
	}
	if err := cov.check(op, ConicOptions{ZoneDiameterMM: o.ZoneDiameterMM, MinCoverage: o.MinCoverage}); err != nil {
		return nil, err
	}
	mo := b.momentsWith(w, xs, ys, zs, o.ZoneDiameterMM/2)
	w.gram, w.rhs = grow(w.gram, nt*nt), grow(w.rhs, nt)
	gram, rhs := b.normalInto(&mo, w.gram, w.rhs)
	sym, chol := &w.sym, &w.chol
	sym.Reset()
	sym.ReuseAsSym(nt)
	for r := range nt {
		for c := r; c < nt; c++ {
			sym.SetSym(r, c, gram[r*nt+c])
		}
	}
	if !chol.Factorize(sym) || chol.Cond() > 1e12 {
		return nil, errs.Ef(op, errs.Invalid,
			"the data in the %s zone do not determine the Zernike terms to order %d (gaps too large); fit a lower order or a smaller zone",
			mmString(o.ZoneDiameterMM), o.Order)
	}
	sol, rv := &w.sol, &w.rhsVec
	sol.Reset()
	rv.Reset()
	rv.ReuseAsVec(nt)
	for j := range nt {
		rv.SetVec(j, rhs[j])
	}
	if err := chol.SolveVecTo(sol, rv); err != nil {
		return nil, errs.E(op, errs.Invalid, err)
	}
	c := sol.RawVector().Data
	// At the least squares solution, SSR = sum z^2 - c . (A'z).
	ssr := mo.sz2
	for j := range nt {
		ssr -= c[j] * rhs[j]
	}
	ssr = max(ssr, 0)
	coef := make([]float64, nt)
	for j := range nt {
		coef[j] = c[j] * 1000
	}
	return &Zernike{
		Order: o.Order, ZoneDiameterMM: o.ZoneDiameterMM, CoefficientsUM: coef,
		ResidualRMSUM: math.Sqrt(ssr/float64(len(xs))) * 1000,
		Points:        len(xs), Coverage: cov.fraction(), MaxRadiusMM: cov.maxR,
	}, nil
}

// Coefficient returns the coefficient (microns) of the term with radial
// order n and angular frequency m, or 0 when the expansion does not hold
// that term.
func (z *Zernike) Coefficient(n, m int) float64 {
	j := ZernikeIndex(n, m)
	if j < 0 || j >= len(z.CoefficientsUM) {
		return 0
	}
	return z.CoefficientsUM[j]
}

// HeightUM evaluates the expansion (microns) at a point (mm) in the
// examiner's-view frame. Points outside the fitted disk are an
// errs.Invalid error: the polynomials there are not an estimate of the
// cornea.
func (z *Zernike) HeightUM(xMM, yMM float64) (float64, error) {
	const op = "cornea.Zernike.HeightUM"
	rFit := z.ZoneDiameterMM / 2
	if !finite(xMM) || !finite(yMM) {
		return 0, errs.Ef(op, errs.Invalid, "the point must be finite")
	}
	r := math.Hypot(xMM, yMM)
	if r > rFit*(1+1e-9) {
		return 0, errs.Ef(op, errs.Invalid, "the point is %.2f mm from the centre, outside the %s Zernike zone", r, mmString(z.ZoneDiameterMM))
	}
	if z.Order < 0 || z.Order > MaxZernikeOrder || len(z.CoefficientsUM) != ZernikeTerms(z.Order) {
		return 0, errs.Ef(op, errs.Invalid, "the expansion holds %d coefficients, not the %d of order %d",
			len(z.CoefficientsUM), ZernikeTerms(z.Order), z.Order)
	}
	return zernikeSum(z.CoefficientsUM, z.Order, xMM/rFit, yMM/rFit), nil
}

// zernikeSum evaluates sum_j c_j Z_j at the unit-disk point (x, y), with
// radial polynomials and cos/sin(m theta) by recurrence.
func zernikeSum(c []float64, order int, x, y float64) float64 {
	var rt [(MaxZernikeOrder + 1) * (MaxZernikeOrder + 1)]float64
	rho := math.Hypot(x, y)
	radialTable(rt[:], order, rho)
	c1, s1 := 1.0, 0.0
	if rho > 0 {
		c1, s1 = x/rho, y/rho
	}
	var cm, sm [MaxZernikeOrder + 1]float64
	cm[0] = 1
	for m := 1; m <= order; m++ {
		cm[m] = cm[m-1]*c1 - sm[m-1]*s1
		sm[m] = sm[m-1]*c1 + cm[m-1]*s1
	}
	w := order + 1
	var sum float64
	for j, cj := range c {
		n, m := ZernikeNM(j)
		if m < 0 {
			sum += cj * ZernikeNorm(n, m) * rt[n*w-m] * sm[-m]
		} else {
			sum += cj * ZernikeNorm(n, m) * rt[n*w+m] * cm[m]
		}
	}
	return sum
}

// String summarises the expansion.
func (z *Zernike) String() string {
	return fmt.Sprintf("Zernike order %d over %s: %d terms, residual %.2f microns RMS",
		z.Order, mmString(z.ZoneDiameterMM), len(z.CoefficientsUM), z.ResidualRMSUM)
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
