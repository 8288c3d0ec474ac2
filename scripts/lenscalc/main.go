// Command lenscalc is the lab's lens calculator: it reads a topography
// export, fits the cornea, designs the lens and prints the design as JSON,
// the same JSON GET /v1/scans/{id}/design returns.
//
//	go run ./scripts/lenscalc -lens scleral|orthok|rgp [-rx S/CxA] [-vertex mm] [-hvid mm] [-pupil mm]
//	    [-eye OD|OS] [-format auto|xyz|cso|cso-raw|pentacam] [-units mm|um] [-reference apex|bfs]
//	    [-bfs mm] [-sign depth|elevation] [-orthok-override] [-nomograms FILE] [-lathe DIR]
//	    [-tear-layer FILE.png [-decentration X,Y]] FILE
//
// The refraction is written as practitioners write it, "-3.00/-1.25x180"
// (a bare sphere is valid). With -lathe it also writes the DAC point files
// (.V5B, and .V5F where the design has a front optic) into DIR; with
// -tear-layer, the simulated fluorescein pattern of the lens resting on the
// eye, as a PNG with its thickness scale. Bad input,
// and a lens the screening refuses, print a message naming the problem
// (and the flag that settles it, where one does) on stderr and exit 2.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/lensflow/lensflow/shared/domain/cornea"
	"github.com/lensflow/lensflow/shared/domain/fluorescein"
	"github.com/lensflow/lensflow/shared/domain/lens"
	"github.com/lensflow/lensflow/shared/domain/pipeline"
	"github.com/lensflow/lensflow/shared/domain/topo"
	"github.com/lensflow/lensflow/shared/errs"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// usageError is bad input from the user: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("lenscalc", flag.ContinueOnError)
	fs.SetOutput(stderr)
	lensType := fs.String("lens", "", "lens type: scleral, orthok or rgp (required)")
	rx := fs.String("rx", "", `spectacle refraction, sphere / cylinder x axis, e.g. "-3.00/-1.25x180" (ortho-k: the myopia to correct)`)
	vertex := fs.Float64("vertex", 0, "vertex distance of the refraction, mm (default: the nomogram's)")
	hvid := fs.Float64("hvid", 0, "horizontal visible iris diameter, mm (default: the nomogram's)")
	pupil := fs.Float64("pupil", 0, "pupil diameter, mm (RGP optic zone)")
	eye := fs.String("eye", "", "OD or OS (default: from the file)")
	format := fs.String("format", "auto", "input format: auto, xyz, cso, cso-raw or pentacam")
	units := fs.String("units", "", "Pentacam grid units when the file does not say: mm or um")
	ref := fs.String("reference", "", "Pentacam grid reference when the file does not say: apex or bfs")
	bfs := fs.Float64("bfs", 0, "Pentacam best-fit-sphere radius, mm, for -reference bfs")
	sign := fs.String("sign", "", "sign of the heights when the file cannot tell: depth (positive into the eye) or elevation (negative below the apex)")
	override := fs.Bool("orthok-override", false, "design ortho-k even on a cornea the screening contraindicates (keratoconus, irregular): your clinical decision, recorded in the design")
	nomos := fs.String("nomograms", "", "JSON file of nomograms replacing the defaults")
	latheDir := fs.String("lathe", "", "directory to write lathe point files into")
	tearLayer := fs.String("tear-layer", "", "PNG file to write the simulated fluorescein pattern of the lens resting on the eye into")
	decentre := fs.String("decentration", "", "with -tear-layer: the lens centre moved from the corneal apex, X,Y in mm (examiner's view, +x right, +y up)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: lenscalc -lens scleral|orthok|rgp [flags] FILE")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	res, files, err := calculate(fs, calcInputs{lensType: *lensType, rx: *rx, vertex: *vertex, hvid: *hvid, pupil: *pupil, eye: *eye,
		format: *format, units: *units, ref: *ref, bfs: *bfs, sign: *sign, override: *override, nomos: *nomos, latheDir: *latheDir, tearLayer: *tearLayer, decentration: *decentre})
	if err != nil {
		fmt.Fprintln(stderr, "lenscalc:", message(err))
		var ue usageError
		if errors.As(err, &ue) || errs.KindOf(err) == errs.Invalid || errs.KindOf(err) == errs.TooLarge {
			return 2
		}
		return 1
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(res); err != nil {
		fmt.Fprintln(stderr, "lenscalc:", err)
		return 1
	}
	for _, f := range files {
		fmt.Fprintln(stderr, "wrote", f)
	}
	return 0
}

func message(err error) string {
	var ue usageError
	if errors.As(err, &ue) {
		return ue.msg
	}
	return flagWords(errs.Message(err))
}

// optionFlags are the engine's options as its messages name them (the
// upload's query parameters, which set them through the API) and the
// calculator's flags that set the same options.
var optionFlags = map[string]string{
	"gridUnits": "-units", "gridReference": "-reference", "gridBfs": "-bfs", "heightSign": "-sign",
	"orthokOverride=true": "-orthok-override", "orthokOverride": "-orthok-override",
	"rx": "-rx", "vertex": "-vertex", "hvid": "-hvid", "pupil": "-pupil",
}

// optionWords finds them: the parameter names wherever they stand, and the
// plain-word ones (rx, vertex, ...) only as a message's field ("rx: ..."),
// since "vertex" or "pupil" in a sentence is the word, not the option.
var optionWords = regexp.MustCompile(`\b(?:gridUnits|gridReference|gridBfs|heightSign|orthokOverride(?:=true)?)\b|(?:^|: )(?:rx|vertex|hvid|pupil):`)

// flagWords rewrites an engine message for the calculator's user, who sets
// options with flags, not query parameters.
func flagWords(msg string) string {
	return optionWords.ReplaceAllStringFunc(msg, func(w string) string {
		if f, ok := optionFlags[w]; ok {
			return f
		}
		lead, name := "", strings.TrimSuffix(w, ":")
		if strings.HasPrefix(name, ": ") {
			lead, name = ": ", name[2:]
		}
		return lead + optionFlags[name] + ":"
	})
}

var formats = map[string]string{"auto": "", "xyz": topo.FormatXYZCSV, "cso": topo.FormatCSO, "cso-raw": topo.FormatCSORaw,
	"pentacam": topo.FormatPentacam}

// calcInputs are the calculator's flags.
type calcInputs struct {
	lensType, rx            string
	vertex, hvid, pupil     float64
	eye, format, units, ref string
	bfs                     float64
	sign                    string
	override                bool
	nomos, latheDir         string
	tearLayer               string
	decentration            string
}

func calculate(fs *flag.FlagSet, ci calcInputs) (*pipeline.Result, []string, error) {
	lensType, eye, format, nomos, latheDir := ci.lensType, ci.eye, ci.format, ci.nomos, ci.latheDir
	t, err := lens.ParseType(lensType)
	if err != nil || lensType == "" {
		return nil, nil, usageError{"-lens must be scleral, orthok or rgp"}
	}
	if fs.NArg() != 1 {
		return nil, nil, usageError{"give exactly one scan file (see -h)"}
	}
	fmtName, ok := formats[strings.ToLower(format)]
	if !ok {
		return nil, nil, usageError{"-format must be auto, xyz, cso or pentacam"}
	}
	if eye != "" && eye != "OD" && eye != "OS" {
		return nil, nil, usageError{"-eye must be OD or OS"}
	}
	path := fs.Arg(0)
	info, err := os.Stat(path)
	if err != nil {
		return nil, nil, usageError{err.Error()}
	}
	if info.Size() > 64<<20 {
		return nil, nil, usageError{fmt.Sprintf("%s: %d bytes is larger than any topography export (64 MiB limit)", path, info.Size())}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, usageError{err.Error()}
	}
	clin := lens.Clinical{HVIDMM: ci.hvid, PupilMM: ci.pupil}
	if ci.rx != "" {
		r, err := lens.ParseRefraction(ci.rx)
		if err != nil {
			return nil, nil, usageError{flagWords(errs.Message(err))}
		}
		r.VertexMM = ci.vertex
		clin = clin.WithRefraction(r)
	} else if ci.vertex != 0 {
		return nil, nil, usageError{"-vertex is given without -rx"}
	}
	opts := topo.Options{GridUnits: ci.units, GridReference: ci.ref, GridBFSRadiusMM: ci.bfs, HeightSign: ci.sign}
	var s *topo.Surface
	if fmtName == "" {
		s, _, err = topo.Parse(data, opts)
	} else {
		s, _, err = topo.ParseAs(fmtName, data, opts)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	switch {
	case eye != "" && s.Eye != "" && string(s.Eye) != eye:
		return nil, nil, usageError{fmt.Sprintf("-eye %s contradicts the file, which says %s", eye, s.Eye)}
	case eye != "":
		s.Eye = topo.Eye(eye)
	}
	in := pipeline.Inputs{LensType: t, Clinical: clin, OrthoKOverride: ci.override}
	if nomos != "" {
		f, err := os.Open(nomos)
		if err != nil {
			return nil, nil, usageError{err.Error()}
		}
		set, err := lens.ParseNomograms(f)
		f.Close()
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", filepath.Base(nomos), err)
		}
		in.Nomograms = &set
	}
	m, err := cornea.Fit(s, cornea.ModelOptions{})
	if err != nil {
		return nil, nil, err
	}
	res, err := pipeline.DesignModel(m, s, in)
	if err != nil {
		return nil, nil, err
	}
	var written []string
	if ci.tearLayer != "" {
		dx, dy, err := parseDecentration(ci.decentration)
		if err != nil {
			return nil, nil, err
		}
		tl, err := pipeline.TearLayerModel(m, res, dx, dy)
		if err != nil {
			return nil, nil, err
		}
		var buf bytes.Buffer
		model := lens.DefaultFluorescein()
		if err := fluorescein.PNG(&buf, tl, model); err != nil {
			return nil, nil, err
		}
		if err := os.WriteFile(ci.tearLayer, buf.Bytes(), 0o644); err != nil {
			return nil, nil, usageError{err.Error()}
		}
		written = append(written, fmt.Sprintf("%s (tear film %.0f-%.0f microns, %.0f at the centre; %s; %s)", ci.tearLayer, tl.MinUM, tl.MaxUM,
			tl.Rest.ApexClearanceUM, tl.Rest.Method, model.Version))
	}
	if latheDir != "" {
		files, err := pipeline.PointFiles(strings.TrimSuffix(filepath.Base(path), filepath.Ext(path)), res.Lens)
		if err != nil {
			return nil, nil, err
		}
		if err := os.MkdirAll(latheDir, 0o755); err != nil {
			return nil, nil, usageError{err.Error()}
		}
		for _, f := range files {
			p := filepath.Join(latheDir, f.Name)
			if err := os.WriteFile(p, f.Data, 0o644); err != nil {
				return nil, nil, usageError{err.Error()}
			}
			written = append(written, fmt.Sprintf("%s (%d points per meridian)", p, f.Points))
		}
	}
	return res, written, nil
}

// parseDecentration reads -decentration X,Y (mm); empty is centred.
func parseDecentration(v string) (x, y float64, err error) {
	if v == "" {
		return 0, 0, nil
	}
	xs, ys, ok := strings.Cut(v, ",")
	if ok {
		if x, err = strconv.ParseFloat(strings.TrimSpace(xs), 64); err == nil {
			y, err = strconv.ParseFloat(strings.TrimSpace(ys), 64)
		}
	}
	if !ok || err != nil || math.IsNaN(x) || math.IsNaN(y) {
		return 0, 0, usageError{fmt.Sprintf("-decentration must be X,Y in millimetres (for example 0.5,-0.3), not %q", v)}
	}
	return x, y, nil
}
