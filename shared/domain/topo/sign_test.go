package topo_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/lensflow/lensflow/shared/domain/topo"
	"github.com/lensflow/lensflow/shared/domain/topo/topotest"
)

// negateRows negates every height cell of the lines from line from (1-based)
// on that hold sep: no-data markers, empty cells and zeros are kept.
func negateRows(data []byte, sep string, from int) []byte {
	lines := strings.Split(string(data), "\n")
	for k := from - 1; k < len(lines); k++ {
		if !strings.Contains(lines[k], sep) {
			continue
		}
		cells := strings.Split(strings.TrimRight(lines[k], "\r"), sep)
		for i, c := range cells {
			switch c {
			case "", "0", "-1", "-1000":
				continue
			}
			if strings.HasPrefix(c, "-") {
				cells[i] = c[1:]
			} else {
				cells[i] = "-" + c
			}
		}
		lines[k] = strings.Join(cells, sep)
	}
	return []byte(strings.Join(lines, "\n"))
}

// TestVendorElevationSign: a vendor file written as elevations (negative
// below the apex) reads back as the same depths as its depth twin, and its
// Layout says which sign was found.
func TestVendorElevationSign(t *testing.T) {
	c := topotest.Reference()
	c.NoiseUM = 2
	tilted := c
	tilted.ApexXMM, tilted.ApexYMM, tilted.TiltXDeg, tilted.TiltYDeg = 0.5, -0.4, 1.5, -1
	tests := []struct {
		name  string
		depth []byte
		from  int // first line of heights
	}{
		{"cso", c.CSOFile(), 5},
		{"cso, rho and z blocks", c.CSOFile(topotest.RhoZBlocks()), 38},
		{"cso, decentred and tilted", tilted.CSOFile(topotest.Semicolons()), 5},
		{"pentacam apex", c.PentacamFile(), 5},
		{"pentacam apex, decentred and tilted, microns", tilted.PentacamFile(topotest.Microns(), topotest.Semicolons()), 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sep := ","
			if strings.Contains(string(tt.depth), ";") {
				sep = ";"
			}
			want, _, err := topo.Parse(tt.depth, topo.Options{})
			if err != nil {
				t.Fatal(err)
			}
			got, _, err := topo.Parse(negateRows(tt.depth, sep, tt.from), topo.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(want.Layout, topo.LayoutDepth) || !slices.Contains(got.Layout, topo.LayoutElevation) {
				t.Errorf("layouts %q and %q do not name the signs", want.Layout, got.Layout)
			}
			if got.Len() != want.Len() {
				t.Fatalf("%d points, the depth file has %d", got.Len(), want.Len())
			}
			for i := range got.Z {
				if got.X[i] != want.X[i] || got.Y[i] != want.Y[i] || abs(got.Z[i]-want.Z[i]) > 1e-12 {
					t.Fatalf("point %d: (%g, %g, %g), depth file (%g, %g, %g)", i, got.X[i], got.Y[i], got.Z[i], want.X[i], want.Y[i], want.Z[i])
				}
			}
		})
	}
}

func TestHeightSignOption(t *testing.T) {
	ref := topotest.Reference()
	depth := ref.CSOFile(topotest.NoHeader())
	elevation := negateRows(depth, ",", 1)
	// Every other meridian negated: the outer heights are half positive,
	// half negative, with a mean near zero.
	var mixed strings.Builder
	for _, l := range strings.Split(strings.TrimSpace(string(depth)), "\n") {
		cells := strings.Split(l, ",")
		for i := 1; i < len(cells); i += 2 {
			if cells[i] != "0" {
				cells[i] = "-" + cells[i]
			}
		}
		mixed.WriteString(strings.Join(cells, ",") + "\n")
	}
	near := "Rings: 2\nMeridians: 4\n0,0,0,0\n0.0026,-0.0026,0.0026,-0.0026\n"
	pentacam := ref.PentacamFile()
	bfs := ref.PentacamFile(topotest.BFS(7.9))
	ok := []struct {
		name   string
		data   []byte
		opts   topo.Options
		layout []string // the sign entries expected at the end of Layout
	}{
		{"depth, detected", depth, topo.Options{}, []string{topo.LayoutDepth}},
		{"depth, stated", depth, topo.Options{HeightSign: topo.HeightSignDepth}, []string{topo.LayoutDepth}},
		{"elevation, detected", elevation, topo.Options{}, []string{topo.LayoutElevation}},
		{"elevation, stated", elevation, topo.Options{HeightSign: topo.HeightSignElevation}, []string{topo.LayoutElevation}},
		{"ambiguous, stated depth", []byte(mixed.String()), topo.Options{HeightSign: "depth"}, []string{topo.LayoutDepth, topo.LayoutSignFromOption}},
		{"ambiguous, stated elevation", []byte(mixed.String()), topo.Options{HeightSign: "elevation"}, []string{topo.LayoutElevation, topo.LayoutSignFromOption}},
		{"near the centre only, one sign", []byte("Rings: 2\nMeridians: 4\n0,0,0,0\n0.0026,0.0026,0.0026,0.0026\n"), topo.Options{MinPoints: 1}, []string{topo.LayoutDepth}},
		{"pentacam apex, stated", pentacam, topo.Options{HeightSign: "depth"}, []string{topo.LayoutDepth}},
		{"pentacam BFS ignores the statement", bfs, topo.Options{HeightSign: "elevation"}, []string{topo.LayoutBFS(7.9)}},
	}
	for _, tt := range ok {
		t.Run(tt.name, func(t *testing.T) {
			s, _, err := topo.Parse(tt.data, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Layout) < len(tt.layout) || !slices.Equal(s.Layout[len(s.Layout)-len(tt.layout):], tt.layout) {
				t.Errorf("Layout = %q, want it to end with %q", s.Layout, tt.layout)
			}
			if s.Z[s.Len()-1] <= 0 && !slices.Contains(tt.layout, topo.LayoutSignFromOption) {
				t.Errorf("the outermost point is not below the apex: z = %g", s.Z[s.Len()-1])
			}
		})
	}

	const help = `set heightSign to "depth" (heights positive into the eye) or "elevation" (negative below the apex)`
	tests := []errCase{
		{name: "ambiguous: outer heights of both signs", data: mixed.String(), field: "heightSign",
			msg: "cannot tell the sign of the heights: the heights beyond 2 mm from the centre are of both signs, with a mean small against their spread; " + help},
		{name: "ambiguous: no data far from the centre", data: near, opts: topo.Options{MinPoints: 1}, field: "heightSign",
			msg: "cannot tell the sign of the heights: there are too few heights 2 mm or more from the centre, and those nearer it are not all of one sign; " + help},
		{name: "ambiguous pentacam", data: string(pentacamMixed(pentacam)), field: "heightSign", msg: "cannot tell the sign of the heights"},
		{name: "stated elevation contradicts depth", data: string(depth), opts: topo.Options{HeightSign: "elevation"}, field: "heightSign",
			msg: "says elevation, but the heights grow away from the centre as depths positive into the eye do"},
		{name: "stated depth contradicts elevation", data: string(elevation), opts: topo.Options{HeightSign: "depth"}, field: "heightSign",
			msg: "says depth, but the heights fall away from the centre as elevations negative below the apex do"},
		{name: "pentacam: stated elevation contradicts depth", data: string(pentacam), opts: topo.Options{HeightSign: "elevation"}, field: "heightSign", msg: "says elevation"},
		{name: "unknown value, cso", data: string(depth), opts: topo.Options{HeightSign: "up"}, field: "heightSign", msg: `must be "depth" or "elevation"`},
		{name: "unknown value, pentacam", data: string(pentacam), opts: topo.Options{HeightSign: "Depth"}, field: "heightSign", msg: `must be "depth" or "elevation"`},
		{name: "unknown value, xyz-csv", data: string(ref.CSV()), opts: topo.Options{HeightSign: "negative"}, field: "heightSign", msg: `must be "depth" or "elevation"`},
		{name: "xyz-csv is depth by definition", data: string(ref.CSV()), opts: topo.Options{HeightSign: "elevation"}, field: "heightSign",
			msg: "says elevation, but xyz-csv heights are depth below the apex plane by definition"},
		// Depths labelled as elevations above a flat 20 mm sphere.
		{name: "BFS grid whose heights fall away", data: strings.Replace(string(pentacam), "Reference: apex", "Reference: BFS 20 mm", 1),
			msg: "heights fall away from the centre once the best-fit sphere is added back"},
	}
	checkErrors(t, "", tests)
}

// pentacamMixed negates the heights of every other column of a grid.
func pentacamMixed(data []byte) []byte {
	lines := strings.Split(string(data), "\n")
	for k, l := range lines {
		if strings.Count(l, ",") < 100 {
			continue
		}
		cells := strings.Split(l, ",")
		for i := 1; i < len(cells); i += 2 {
			if cells[i] != "" && cells[i] != "0" {
				cells[i] = "-" + cells[i]
			}
		}
		lines[k] = strings.Join(cells, ",")
	}
	return []byte(strings.Join(lines, "\n"))
}

// TestLayoutExistingFormats: each reader names the variants it detected,
// and only those.
func TestLayoutExistingFormats(t *testing.T) {
	ref := topotest.Reference()
	lid := withLid(ref, 3)
	xyz := ref.CSV()
	tests := []struct {
		name string
		data []byte
		want []string
	}{
		{"xyz-csv", xyz, nil},
		{"xyz-csv, BOM and CRLF", append([]byte("\xEF\xBB\xBF"), strings.ReplaceAll(string(xyz), "\n", "\r\n")...), []string{topo.LayoutBOM, topo.LayoutCRLF}},
		{"cso", ref.CSOFile(), []string{topo.LayoutDepth}},
		{"cso, lid, -1000", lid.CSOFile(), []string{topo.LayoutMissingMinus1000, topo.LayoutDepth}},
		{"cso, lid, -1, semicolons, decimal comma, CRLF", lid.CSOFile(topotest.Missing("-1"), topotest.DecimalComma(), topotest.CRLF()),
			[]string{topo.LayoutCRLF, topo.LayoutSemicolons, topo.LayoutDecimalComma, topo.LayoutMissingMinus1, topo.LayoutDepth}},
		{"cso, rho and z, microns", ref.CSOFile(topotest.RhoZBlocks(), topotest.Microns()), []string{topo.LayoutRadiiThenHeights, topo.LayoutMicrons, topo.LayoutDepth}},
		{"pentacam", ref.PentacamFile(), []string{topo.LayoutDepth}},
		{"pentacam, BFS, microns, labels, ascending", ref.PentacamFile(topotest.BFS(7.85), topotest.Microns(), topotest.AscendingY()),
			[]string{topo.LayoutGridLabels, topo.LayoutRowsAscending, topo.LayoutMicrons, "heights above a best-fit sphere of 7.85 mm"}},
		{"pentacam, -1, decimal comma", ref.PentacamFile(topotest.Missing("-1"), topotest.DecimalComma()),
			[]string{topo.LayoutSemicolons, topo.LayoutDecimalComma, topo.LayoutMissingMinus1, topo.LayoutDepth}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _, err := topo.Parse(tt.data, topo.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(s.Layout, tt.want) {
				t.Errorf("Layout = %q, want %q", s.Layout, tt.want)
			}
		})
	}
}

func TestBFSRadiusDecimalComma(t *testing.T) {
	data := strings.Replace(string(topotest.Reference().PentacamFile(topotest.BFS(7.9), topotest.Semicolons())), "BFS radius;7.9", "BFS radius;7,9", 1)
	s, _, err := topo.Parse([]byte(data), topo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if want := topo.LayoutBFS(7.9); !slices.Contains(s.Layout, want) {
		t.Errorf("Layout = %q, want %q", s.Layout, want)
	}
}
