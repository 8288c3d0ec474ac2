package screening

import (
	"fmt"
	"math"
	"slices"

	"github.com/lensflow/lensflow/shared/domain/cornea"
)

// verticalComaJ is the OSA index of vertical coma, Z(3, -1).
const verticalComaJ = 7

// termNames name the higher-order terms people talk about, by (n, m) in
// the OSA/ANSI convention (m < 0 the sine terms).
var termNames = map[[2]int]string{
	{3, -3}: "vertical trefoil",
	{3, -1}: "vertical coma",
	{3, 1}:  "horizontal coma",
	{3, 3}:  "oblique trefoil",
	{4, -4}: "oblique quadrafoil",
	{4, -2}: "oblique secondary astigmatism",
	{4, 0}:  "spherical aberration",
	{4, 2}:  "vertical secondary astigmatism",
	{4, 4}:  "vertical quadrafoil",
	{5, -1}: "secondary vertical coma",
	{5, 1}:  "secondary horizontal coma",
	{6, 0}:  "secondary spherical aberration",
}

// TermName names the Zernike term of radial order n and angular frequency
// m: its usual name, or "Z(n,m)" for terms without one.
func TermName(n, m int) string {
	if s, ok := termNames[[2]int{n, m}]; ok {
		return s
	}
	return fmt.Sprintf("Z(%d,%d)", n, m)
}

// dominantTerms returns the higher-order (n >= 3) terms of c with the
// largest |coefficient|, largest first (ties by index), at most
// MaxDominantTerms; terms that are exactly zero are left out.
func dominantTerms(c []float64) []Term {
	top := make([]int, 0, MaxDominantTerms+1) // indices, by decreasing |c|
	for j := cornea.ZernikeIndex(3, -3); j < len(c); j++ {
		if c[j] == 0 {
			continue
		}
		k := len(top)
		for k > 0 && math.Abs(c[j]) > math.Abs(c[top[k-1]]) {
			k--
		}
		if k < MaxDominantTerms {
			top = slices.Insert(top, k, j)
			top = top[:min(len(top), MaxDominantTerms)]
		}
	}
	ts := make([]Term, len(top))
	for i, j := range top {
		n, m := cornea.ZernikeNM(j)
		ts[i] = Term{J: j, N: n, M: m, Name: TermName(n, m), CoefficientUM: c[j]}
	}
	return ts
}
