// Command lenscalc is the lab's lens calculator: it reads a topography
// export, fits the cornea, designs the lens and prints the design as JSON,
// the same JSON GET /v1/scans/{id}/design returns.
//
//	go run ./scripts/lenscalc -lens scleral|orthok|rgp [-rx D] [-hvid mm] [-pupil mm]
//	    [-eye OD|OS] [-format auto|xyz|cso|pentacam] [-units mm|um] [-reference apex|bfs]
//	    [-bfs mm] [-nomograms FILE] [-lathe DIR] FILE
//
// With -lathe it also writes the DAC point files (.V5B, and .V5F where the
// design has a front optic) into DIR. Bad input prints a message naming
// the problem on stderr and exits 2.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/lensflow/lensflow/shared/engine"
	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/lens"
	"github.com/lensflow/lensflow/shared/topo"
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
	rx := fs.Float64("rx", 0, "spectacle refraction, dioptres (ortho-k: the myopia to correct)")
	hvid := fs.Float64("hvid", 0, "horizontal visible iris diameter, mm (default: the nomogram's)")
	pupil := fs.Float64("pupil", 0, "pupil diameter, mm (RGP optic zone)")
	eye := fs.String("eye", "", "OD or OS (default: from the file)")
	format := fs.String("format", "auto", "input format: auto, xyz, cso or pentacam")
	units := fs.String("units", "", "Pentacam grid units when the file does not say: mm or um")
	ref := fs.String("reference", "", "Pentacam grid reference when the file does not say: apex or bfs")
	bfs := fs.Float64("bfs", 0, "Pentacam best-fit-sphere radius, mm, for -reference bfs")
	nomos := fs.String("nomograms", "", "JSON file of nomograms replacing the defaults")
	latheDir := fs.String("lathe", "", "directory to write lathe point files into")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: lenscalc -lens scleral|orthok|rgp [flags] FILE")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	res, files, err := calculate(fs, *lensType, *rx, *hvid, *pupil, *eye, *format, *units, *ref, *bfs, *nomos, *latheDir)
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
	return errs.Message(err)
}

var formats = map[string]string{"auto": "", "xyz": topo.FormatXYZCSV, "cso": topo.FormatCSO, "pentacam": topo.FormatPentacam}

func calculate(fs *flag.FlagSet, lensType string, rx, hvid, pupil float64, eye, format, units, ref string, bfs float64, nomos, latheDir string) (*engine.Result, []string, error) {
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
	opts := topo.Options{GridUnits: units, GridReference: ref, GridBFSRadiusMM: bfs}
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
	in := engine.Inputs{LensType: t, Clinical: lens.Clinical{RefractionD: rx, HVIDMM: hvid, PupilMM: pupil}}
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
	res, err := engine.Design(s, in)
	if err != nil {
		return nil, nil, err
	}
	var written []string
	if latheDir != "" {
		files, err := engine.PointFiles(strings.TrimSuffix(filepath.Base(path), filepath.Ext(path)), res.Lens)
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
