package main

// Bad input (security.md, "Input"): hostile requests against the real
// routes of the running stack. Each is answered 4xx with an RFC 9457
// problem+json body whose detail names the field, line or problem, never
// 5xx, and the stack still answers afterwards. The hostile files are a
// checked-in corpus in testdata/hostile/ (json/ for request bodies, scans/
// for uploads); every file there must have a row below.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lensflow/lensflow/shared/httpkit"
	"github.com/lensflow/lensflow/shared/scans"
)

const hostileDir = "testdata/hostile"

// hostileCase is one hostile request and the answer it must get.
type hostileCase struct {
	name   string
	method string
	path   string // relative to the stack's URL; {patient} is replaced
	token  string // "north", "lab", "service" or "" (none)
	body   []byte
	hdr    []string // header name, value, ...
	status int
	detail string // a substring of the problem's detail
}

// hostileStack is the stack under attack and what the cases need of it.
type hostileStack struct {
	base    string
	tokens  map[string]string
	patient string
	http    *http.Client
}

// hostileCorpus reads a corpus file.
func hostileCorpus(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(hostileDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// hostileJSONCases are the request bodies of json/: each file, the route it
// is sent to and the answer.
func hostileJSONCases(t *testing.T) []hostileCase {
	const patients, orders, settings, status = "POST /v1/patients", "POST /v1/orders", "PUT /v1/clinic/notifications",
		"POST /v1/lab/jobs/0b9e2c4a-1f6d-4c1e-9a57-3d2f8e6b7a10/status"
	rows := []struct {
		file, route string
		status      int
		detail      string
	}{
		{"unknown-key.json", patients, 400, "chartNumber: unknown field"},
		{"duplicate-key.json", patients, 400, "name: duplicate key"},
		{"duplicate-key-case.json", orders, 400, "Quantity: duplicate key"},
		{"trailing-data.json", status, 400, "body: unexpected data after the JSON object"},
		{"trailing-garbage.json", settings, 400, "body: unexpected data after the JSON object"},
		{"nan.json", orders, 400, "body: malformed JSON at byte 30: invalid character 'N'"},
		{"infinity.json", orders, 400, "body: malformed JSON at byte 31: invalid character 'I'"},
		{"huge-exponent.json", orders, 400, "quantity: expected a whole number in range"},
		{"huge-integer.json", orders, 400, "quantity: expected a whole number in range"},
		{"fraction.json", orders, 400, "quantity: expected a whole number in range"},
		{"out-of-range.json", orders, 400, "quantity: must be 1 to 10"},
		{"wrong-type.json", patients, 400, "name: expected a string, got number"},
		{"not-an-object.json", patients, 400, "body: expected a JSON object"},
		{"null.json", patients, 400, "body: expected a JSON object"},
		{"empty.json", patients, 400, "body: empty body"},
		{"truncated.json", patients, 400, "body: invalid JSON: unexpected EOF"},
		{"control-chars.json", patients, 400, "name: contains control characters"},
		{"future-birth.json", patients, 400, "birthDate: is in the future"},
		{"bad-date.json", patients, 400, "birthDate: not a date in the form YYYY-MM-DD"},
		{"ssrf-webhook.json", settings, 400, "webhookUrl: must not be a private, loopback, link-local or reserved address"},
		{"email-injection.json", settings, 400, "emails: entry 1 is not a plain email address"},
		{"unknown-status.json", status, 400, "status: unknown job status (want one of queued, cutting"},
		{"notes-control.json", orders, 400, "notes: contains control characters"},
		// Text encoding/json would quietly turn into U+FFFD.
		{"lone-surrogate.json", patients, 400, "name: contains a lone UTF-16 surrogate escape"},
		{"lone-low-surrogate.json", orders, 400, "notes: contains a lone UTF-16 surrogate escape"},
		{"invalid-utf8.json", patients, 400, "name: is not valid UTF-8"},
		// PUT replaces the settings: every field but rotateSecret is required.
		{"settings-missing-emails.json", settings, 400, "emails: is required"},
		{"settings-null-webhook.json", settings, 400, "webhookUrl: is required"},
	}
	files := map[string]bool{}
	for _, r := range rows {
		files[r.file] = true
	}
	hostileCoverage(t, "json", files)
	var out []hostileCase
	for _, r := range rows {
		method, path, _ := strings.Cut(r.route, " ")
		token := "north"
		if strings.HasPrefix(path, "/v1/lab/") {
			token = "lab"
		}
		out = append(out, hostileCase{name: "json/" + r.file, method: method, path: path, token: token,
			body: hostileCorpus(t, "json/"+r.file), hdr: []string{"Content-Type", "application/json"}, status: r.status, detail: r.detail})
	}
	return out
}

// hostileScanCases are the uploads of scans/: each file and the answer.
func hostileScanCases(t *testing.T) []hostileCase {
	rows := map[string]string{
		"ragged.csv":            "line 3: expected 3 values, got 2",
		"extra-column.csv":      "line 2: expected 3 values, got 4",
		"nan-point.csv":         "line 3: column 1 (x) is not a finite number",
		"huge-number.csv":       "line 2: column 3 (z) is not a finite number",
		"header-only.csv":       "no points",
		"empty.csv":             "empty file",
		"blank.csv":             "empty file",
		"quoted-multiline.csv":  "line 2: column 1 (x) is not a number",
		"cso-huge-header.csv":   "line 1: rings must be a whole number",
		"pentacam-no-units.csv": "gridUnits: the file does not state its height units",
		"nul-bytes.csv":         "not a text file",
		"invalid-utf8.csv":      "not a text file",
		"random.bin":            "not a text file",
		// Degenerate point clouds: no fit can use them, whatever the heights.
		"one-position.csv":              "all 120 points are at one (x, y) position",
		"no-extent-in-x.csv":            "every point has the same x: the points have no extent in x",
		"one-line.csv":                  "the points lie on one straight line",
		"few-positions.csv":             "only 60 distinct (x, y) positions among 200 points; a fit needs at least 90",
		"fewer-points-than-the-fit.csv": "only 60 points; at least 90 are needed",
	}
	files := map[string]bool{}
	for f := range rows {
		files[f] = true
	}
	hostileCoverage(t, "scans", files)
	var out []hostileCase
	for _, f := range slices.Sorted(maps.Keys(rows)) {
		out = append(out, hostileCase{name: "scans/" + f, method: "POST", path: "/v1/patients/{patient}/scans?eye=OD&lensType=rgp",
			token: "north", body: hostileCorpus(t, "scans/"+f), hdr: []string{"Content-Type", "text/csv"}, status: 400, detail: rows[f]})
	}
	return out
}

// hostileCoverage fails if a corpus file of dir has no row.
func hostileCoverage(t *testing.T, dir string, has map[string]bool) {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(hostileDir, dir))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !has[e.Name()] {
			t.Errorf("%s/%s has no row in the hostile table", dir, e.Name())
		}
	}
}

// hostileOtherCases are the hostile requests made in code: sizes, content
// types, numbers in query parameters, ids in paths, headers.
func hostileOtherCases() []hostileCase {
	upload := "/v1/patients/{patient}/scans?eye=OD&lensType=rgp"
	ok := `{"name":"Ada Example","birthDate":"1984-03-02"}`
	longID := strings.Repeat("a", 10000)
	return []hostileCase{
		// Sizes.
		{name: "json over the limit", method: "POST", path: "/v1/patients", token: "north", status: 413, detail: "request body exceeds 65536 bytes",
			body: []byte(`{"name":"` + strings.Repeat("a", httpkit.MaxJSONBytes) + `","birthDate":"1984-03-02"}`), hdr: []string{"Content-Type", "application/json"}},
		{name: "scan over the limit", method: "POST", path: upload, token: "north", status: 413, detail: "request body exceeds 16777216 bytes",
			body: bytes.Repeat([]byte("0.1,0.2,0.003\n"), scans.MaxScanBytes/14+1), hdr: []string{"Content-Type", "text/csv"}},
		{name: "deeply nested json", method: "PUT", path: "/v1/clinic/notifications", token: "north", status: 400, detail: "exceeded max depth",
			body: []byte(`{"emails":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`), hdr: []string{"Content-Type", "application/json"}},
		// Content types.
		{name: "json as text/plain", method: "POST", path: "/v1/patients", token: "north", body: []byte(ok),
			hdr: []string{"Content-Type", "text/plain"}, status: 400, detail: `Content-Type: expected application/json, got "text/plain"`},
		{name: "json as form", method: "PUT", path: "/v1/clinic/notifications", token: "north", body: []byte(`emails=a@b.example`),
			hdr: []string{"Content-Type", "application/x-www-form-urlencoded"}, status: 400, detail: "Content-Type: expected application/json"},
		{name: "content type bomb", method: "POST", path: "/v1/patients", token: "north", body: []byte(ok),
			hdr: []string{"Content-Type", "text/" + strings.Repeat("x", 30000)}, status: 400, detail: "Content-Type: expected application/json"},
		// Numbers in query parameters.
		{name: "rx NaN", method: "POST", path: upload + "&rx=NaN", token: "north", status: 400, detail: "rx: is not a refraction"},
		{name: "rx Inf", method: "POST", path: upload + "&rx=-Inf", token: "north", status: 400, detail: "rx: is not a refraction"},
		{name: "rx 1e400", method: "POST", path: upload + "&rx=1e400", token: "north", status: 400, detail: "rx: is not a refraction"},
		{name: "rx hex", method: "POST", path: upload + "&rx=0x1p-2junk", token: "north", status: 400, detail: "rx: an axis follows the sphere"},
		{name: "rx cylinder without axis", method: "POST", path: upload + "&rx=-2/-1.25", token: "north", status: 400, detail: "rx: the -1.25 D cylinder has no axis"},
		{name: "vertex without rx", method: "POST", path: upload + "&vertex=12", token: "north", status: 400, detail: "vertex: is given without a refraction"},
		{name: "heightSign unknown", method: "POST", path: upload + "&heightSign=up", token: "north", status: 400, detail: "heightSign: must be"},
		{name: "orthokOverride on rgp", method: "POST", path: upload + "&orthokOverride=true", token: "north", status: 400, detail: "orthokOverride: applies to ortho-k only"},
		{name: "hvid huge integer", method: "POST", path: upload + "&hvid=123456789012345678901234567890", token: "north", status: 400, detail: "hvid: out of range"},
		{name: "hvid negative zero", method: "POST", path: upload + "&hvid=-0", token: "north", status: 400, detail: "hvid: out of range"},
		{name: "gridBfs NaN", method: "POST", path: upload + "&gridBfs=NaN", token: "north", status: 400, detail: "gridBfs: not a number"},
		{name: "gridBfs 1e400", method: "POST", path: upload + "&gridBfs=1e400", token: "north", status: 400, detail: "gridBfs: not a number"},
		{name: "gridBfs 1e-400", method: "POST", path: upload + "&gridBfs=1e-400", token: "north", status: 400, detail: "gridBfs: out of range"},
		{name: "eye with NUL", method: "POST", path: "/v1/patients/{patient}/scans?eye=OD%00&lensType=rgp", token: "north", status: 400, detail: "eye: must be OD or OS"},
		{name: "locator NaN", method: "GET", path: "/v1/clinics?near=NaN,NaN", status: 400, detail: "near"},
		{name: "locator radius 1e400", method: "GET", path: "/v1/clinics?near=51.5,-0.14&radiusKm=1e400", status: 400, detail: "radiusKm"},
		{name: "locator huge limit", method: "GET", path: "/v1/clinics?near=51.5,-0.14&limit=123456789012345678901234567890", status: 400, detail: "limit"},
		{name: "lab jobs of an unknown status", method: "GET", path: "/v1/lab/jobs?status=%00", token: "lab", status: 400, detail: "status: unknown job status"},
		{name: "task asOf garbage", method: "POST", path: "/v1/tasks/follow-ups?asOf=NaN", token: "service", status: 400, detail: "asOf: not an RFC 3339 time"},
		// Ids in path segments.
		{name: "encoded NUL id", method: "GET", path: "/v1/scans/%00", token: "north", status: 404, detail: "scan not found"},
		{name: "overlong scan id", method: "GET", path: "/v1/scans/" + longID, token: "north", status: 404, detail: "scan not found"},
		{name: "overlong order id", method: "GET", path: "/v1/orders/" + longID, token: "north", status: 404, detail: "order not found"},
		{name: "overlong patient id", method: "POST", path: "/v1/patients/" + longID + "/scans?eye=OD&lensType=rgp", token: "north",
			body: []byte("x,y,z\n"), status: 404, detail: "patient not found"},
		{name: "encoded traversal id", method: "GET", path: "/v1/scans/..%2f..%2fpatients", token: "north", status: 404, detail: "scan not found"},
		{name: "encoded traversal design", method: "GET", path: "/v1/scans/..%2F..%2F..%2Fetc%2Fpasswd/design", token: "north", status: 404, detail: "scan not found"},
		{name: "encoded traversal file name", method: "GET", path: "/v1/lab/jobs/0b9e2c4a-1f6d-4c1e-9a57-3d2f8e6b7a10/files/..%2f..%2fkek.json",
			token: "lab", status: 404, detail: "not found"},
		{name: "assessment of a traversal order", method: "POST", path: "/v1/orders/..%2f..%2fx/assessments", token: "north",
			body: []byte(`{"visitKey":"week-1","outcome":"continue"}`), hdr: []string{"Content-Type", "application/json"}, status: 404, detail: "order not found"},
		// Headers.
		{name: "authorization bomb", method: "GET", path: "/v1/scans/x", hdr: []string{"Authorization", "Bearer " + strings.Repeat("A", 60000)},
			status: 401, detail: "malformed"},
		{name: "authorization with two schemes", method: "GET", path: "/v1/scans/x", hdr: []string{"Authorization", "Basic Bearer x"},
			status: 401, detail: "malformed"},
		{name: "idempotency key too long", method: "POST", path: "/v1/patients", token: "north", body: []byte(ok),
			hdr: []string{"Content-Type", "application/json", "Idempotency-Key", strings.Repeat("k", 300)}, status: 400, detail: "Idempotency-Key: longer than 255 characters"},
		{name: "idempotency key with a tab", method: "POST", path: "/v1/patients", token: "north", body: []byte(ok),
			hdr: []string{"Content-Type", "application/json", "Idempotency-Key", "key\twith\ttabs"}, status: 400, detail: "Idempotency-Key"},
		{name: "idempotency key not ASCII", method: "POST", path: "/v1/patients", token: "north", body: []byte(ok),
			hdr: []string{"Content-Type", "application/json", "Idempotency-Key", "key-\xff\xfe"}, status: 400, detail: "Idempotency-Key"},
		{name: "idempotency key empty", method: "POST", path: "/v1/patients", token: "north", body: []byte(ok),
			hdr: []string{"Content-Type", "application/json", "Idempotency-Key", ""}, status: 400, detail: "Idempotency-Key: is empty"},
		{name: "idempotency key blank on an upload", method: "POST", path: upload, token: "north", body: []byte("x,y,z\n"),
			hdr: []string{"Content-Type", "text/csv", "Idempotency-Key", "   "}, status: 400, detail: "Idempotency-Key: is empty"},
		// Query strings: each parameter once, and on creating routes only
		// the declared ones (none, where a route declares none).
		{name: "eye given twice", method: "POST", path: upload + "&eye=OS", token: "north", body: []byte("x,y,z\n"),
			status: 400, detail: "eye: given more than once"},
		{name: "lensType given twice, same value", method: "POST", path: upload + "&lensType=rgp", token: "north", body: []byte("x,y,z\n"),
			status: 400, detail: "lensType: given more than once"},
		{name: "misspelt upload parameter", method: "POST", path: upload + "&lenstype=orthok", token: "north", body: []byte("x,y,z\n"),
			status: 400, detail: "lenstype: unknown query parameter (this route takes eye, lensType, rx"},
		{name: "upload query not parsable", method: "POST", path: upload + "&rx=%zz", token: "north", body: []byte("x,y,z\n"),
			status: 400, detail: "query: malformed query string"},
		{name: "query on a route that takes none", method: "POST", path: "/v1/patients?name=Ada", token: "north", body: []byte(ok),
			hdr: []string{"Content-Type", "application/json"}, status: 400, detail: "name: unknown query parameter (this route takes none)"},
		{name: "lab jobs status twice", method: "GET", path: "/v1/lab/jobs?status=queued&status=cutting", token: "lab", status: 400,
			detail: "status: given more than once"},
		{name: "locator near twice", method: "GET", path: "/v1/clinics?near=51.5,-0.14&near=0,0", status: 400, detail: "near: given more than once"},
		{name: "repeated parameter on a read", method: "GET", path: "/v1/scans/x?v=1&v=2", token: "north", status: 400, detail: "v: given more than once"},
	}
}

// TestHostileInputs sends the whole corpus, then checks that the stack
// still answers.
func TestHostileInputs(t *testing.T) {
	old := httpkit.BodyTimeout
	// Short enough for the slow-body cases, long enough that a 16 MB upload
	// on a loaded CI machine is not mistaken for one.
	httpkit.BodyTimeout = 4 * time.Second // restored after the stack stops (cleanups run last first)
	t.Cleanup(func() { httpkit.BodyTimeout = old })
	st := start(t, freeAddr(t), t.TempDir())
	t.Cleanup(func() { _ = st.Shutdown() })
	hs := &hostileStack{base: st.URL,
		tokens: map[string]string{"north": st.Tokens["demo-north"], "lab": st.LabToken, "service": st.ServiceToken},
		http: &http.Client{Timeout: 30 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	hs.patient = client{base: st.URL, t: t}.createPatient(hs.tokens["north"])

	cases := slices.Concat(hostileJSONCases(t), hostileScanCases(t), hostileOtherCases())
	answered := 6 // the slow bodies and the requests net/http refuses, below
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			answered++
			status, hdr, body := hs.send(t, tc)
			hostileProblem(t, status, hdr.Get("Content-Type"), body, tc.status, tc.detail)
		})
	}
	// Slow bodies: the headers, then one byte a tenth of a second of a body
	// that never ends, read by the route itself or, with an
	// Idempotency-Key, by the idempotency layer first.
	for _, tc := range []struct{ name, target, headers string }{
		{"slow json body", "/v1/patients", "Content-Type: application/json\r\n"},
		{"slow scan upload", "/v1/patients/" + hs.patient + "/scans?eye=OD&lensType=rgp", "Content-Type: text/csv\r\n"},
		{"slow scan upload with an Idempotency-Key", "/v1/patients/" + hs.patient + "/scans?eye=OD&lensType=rgp",
			"Content-Type: text/csv\r\nIdempotency-Key: slow-1\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, ct, body := hs.raw(t, "POST "+tc.target+" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+hs.tokens["north"]+
				"\r\n"+tc.headers+"Content-Length: 100000\r\n\r\n{", true)
			hostileProblem(t, status, ct, body, http.StatusRequestTimeout, "request body not received in time")
		})
	}
	// Two Idempotency-Key headers: which one would the client expect to count?
	t.Run("idempotency key given twice", func(t *testing.T) {
		answered++
		body := `{"name":"Ada Example","birthDate":"1984-03-02"}`
		status, ct, b := hs.raw(t, "POST /v1/patients HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+hs.tokens["north"]+
			"\r\nContent-Type: application/json\r\nIdempotency-Key: k1\r\nIdempotency-Key: k2\r\nContent-Length: "+
			strconv.Itoa(len(body))+"\r\nConnection: close\r\n\r\n"+body, false)
		hostileProblem(t, status, ct, b, http.StatusBadRequest, "Idempotency-Key: must be given once")
	})
	// Requests net/http refuses itself, before any handler runs: 4xx with
	// its own plain-text body, which no handler can turn into problem+json.
	for _, tc := range []struct {
		name, req string
		status    int
	}{
		{"header over MaxHeaderBytes", "GET /v1/scans/x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + strings.Repeat("A", 80<<10) + "\r\n\r\n", 431},
		{"control character in a header", "POST /v1/patients HTTP/1.1\r\nHost: x\r\nIdempotency-Key: a\x01b\r\nContent-Length: 2\r\n\r\n{}", 400},
		{"NUL in the path", "GET /v1/scans/a\x00b HTTP/1.1\r\nHost: x\r\n\r\n", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, _, body := hs.raw(t, tc.req, false)
			if status != tc.status {
				t.Fatalf("status %d, want %d: %s", status, tc.status, body)
			}
		})
	}
	if s, _, _ := hs.send(t, hostileCase{method: "GET", path: "/healthz"}); s != http.StatusOK {
		t.Fatalf("after the hostile requests /healthz answers %d", s)
	}
	t.Logf("%d hostile requests answered as they should be", answered)
}

// send makes tc's request.
func (hs *hostileStack) send(t *testing.T, tc hostileCase) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(tc.method, hs.base+strings.ReplaceAll(tc.path, "{patient}", hs.patient), bytes.NewReader(tc.body))
	if err != nil {
		t.Fatal(err)
	}
	if tc.token != "" {
		req.Header.Set("Authorization", "Bearer "+hs.tokens[tc.token])
	}
	for i := 0; i+1 < len(tc.hdr); i += 2 {
		req.Header[tc.hdr[i]] = []string{tc.hdr[i+1]} // as is, even where Set would refuse
	}
	resp, err := hs.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", tc.method, tc.path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// raw writes req on a new connection, trickling a byte of body every
// 100 ms after it when trickle is set, and reads the answer.
func (hs *hostileStack) raw(t *testing.T, req string, trickle bool) (int, string, []byte) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(hs.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second)) // a hang fails the case, not the run
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	defer close(done)
	if trickle {
		go func() {
			for {
				select {
				case <-done:
					return
				case <-time.After(100 * time.Millisecond):
					if _, err := conn.Write([]byte(" ")); err != nil {
						return
					}
				}
			}
		}()
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), b
}

// hostileProblem fails unless the answer is status with an RFC 9457 body
// whose detail contains detail.
func hostileProblem(t *testing.T, status int, contentType string, body []byte, want int, detail string) {
	t.Helper()
	if status != want {
		t.Fatalf("status %d, want %d: %.300s", status, want, body)
	}
	if contentType != "application/problem+json" {
		t.Fatalf("content type %q: %.300s", contentType, body)
	}
	var p struct {
		Type, Title, Detail string
		Status              int
	}
	if err := json.Unmarshal(body, &p); err != nil || p.Type == "" || p.Title == "" || p.Status != status || p.Detail == "" {
		t.Fatalf("not a problem document (%v): %.300s", err, body)
	}
	if !strings.Contains(p.Detail, detail) {
		t.Fatalf("detail %q does not say %q", p.Detail, detail)
	}
	if f := strings.SplitN(p.Detail, ": ", 3); len(f) == 3 && f[0] == f[1] {
		t.Fatalf("detail %q names its field twice", p.Detail)
	}
	if len(body) > 2048 {
		t.Fatalf("a %d-byte problem document", len(body))
	}
	for _, phi := range []string{"Ada Example", "1984-03-02", "C-991"} { // the corpus's patient details
		if strings.Contains(string(body), phi) {
			t.Fatalf("the answer repeats %q: %s", phi, body)
		}
	}
}
