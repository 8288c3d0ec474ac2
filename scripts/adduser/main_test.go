package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// fakeToolkit answers the four Identity Toolkit admin calls adduser makes,
// for one project, keeping its accounts in memory.
type fakeToolkit struct {
	mu       sync.Mutex
	users    map[string]map[string]string // email -> localId, customAttributes
	requests []string
}

func (f *fakeToolkit) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var body map[string]any
	_ = json.NewDecoder(r.Body).Decode(&body)
	f.requests = append(f.requests, r.Method+" "+r.URL.Path)
	answer := func(v any) { _ = json.NewEncoder(w).Encode(v) }
	switch r.URL.Path {
	case "/v1/projects/demo/accounts:lookup":
		var users []map[string]string
		for _, e := range body["email"].([]any) {
			if u, ok := f.users[e.(string)]; ok {
				users = append(users, map[string]string{"localId": u["localId"], "email": e.(string), "customAttributes": u["customAttributes"]})
			}
		}
		answer(map[string]any{"users": users})
	case "/v1/projects/demo/accounts":
		email := body["email"].(string)
		f.users[email] = map[string]string{"localId": "uid-" + email}
		answer(map[string]string{"localId": "uid-" + email})
	case "/v1/projects/demo/accounts:update":
		for _, u := range f.users {
			if u["localId"] == body["localId"] {
				u["customAttributes"] = body["customAttributes"].(string)
			}
		}
		answer(map[string]string{"localId": body["localId"].(string)})
	case "/v1/projects/demo/accounts:sendOobCode":
		if body["requestType"] != "PASSWORD_RESET" || body["returnOobLink"] != true {
			http.Error(w, `{"error":{"code":400,"message":"bad oob request"}}`, http.StatusBadRequest)
			return
		}
		answer(map[string]string{"oobLink": "https://demo.firebaseapp.com/__/auth/action?mode=resetPassword&oobCode=CODE", "email": body["email"].(string)})
	default:
		http.Error(w, `{"error":{"code":404,"message":"no such call"}}`, http.StatusNotFound)
	}
}

// TestAddUserSetsClaimsAndPrintsALink: a new practitioner is created with
// the claims the API reads and gets a password link; running it again
// for the same email changes the claims of the same account.
func TestAddUserSetsClaimsAndPrintsALink(t *testing.T) {
	fake := &fakeToolkit{users: map[string]map[string]string{}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	var out strings.Builder
	args := []string{"-project", "demo", "-email", "dr.ito@clinic.example", "-role", "practitioner", "-clinic", "clinic-42", "-endpoint", srv.URL + "/"}
	if err := run(context.Background(), args, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	u := fake.users["dr.ito@clinic.example"]
	if u == nil || u["customAttributes"] != `{"clinic_id":"clinic-42","role":"practitioner"}` {
		t.Fatalf("account %v, want the practitioner claims", u)
	}
	if !strings.Contains(out.String(), "created dr.ito@clinic.example") || !strings.Contains(out.String(), "oobCode=CODE") {
		t.Errorf("output does not say it created the account and give the link:\n%s", out.String())
	}
	out.Reset()
	args = []string{"-project", "demo", "-email", "dr.ito@clinic.example", "-role", "lab", "-endpoint", srv.URL + "/"}
	if err := run(context.Background(), args, &out); err != nil {
		t.Fatalf("second run: %v", err)
	}
	if got := fake.users["dr.ito@clinic.example"]["customAttributes"]; got != `{"role":"lab"}` || len(fake.users) != 1 {
		t.Fatalf("after the second run: %d accounts, claims %s; want the same account with the lab claims", len(fake.users), got)
	}
	if !strings.Contains(out.String(), "found dr.ito@clinic.example") || !strings.Contains(out.String(), `-> {"role":"lab"}`) {
		t.Errorf("output does not show the account was found and its claims changed:\n%s", out.String())
	}
}

// TestAddUserRefusesBadFlags names the flag at fault and calls nothing.
func TestAddUserRefusesBadFlags(t *testing.T) {
	fake := &fakeToolkit{users: map[string]map[string]string{}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-email", "a@b.example", "-role", "lab"}, "-project"},
		{[]string{"-project", "demo", "-email", "not an email", "-role", "lab"}, "-email"},
		{[]string{"-project", "demo", "-email", "a@b.example", "-role", "practitioner"}, "-clinic"},
		{[]string{"-project", "demo", "-email", "a@b.example", "-role", "service"}, "-role"},
		{[]string{"-project", "demo", "-email", "a@b.example", "-role", "admin"}, "-role"},
		{[]string{"-project", "demo", "-email", "a@b.example", "-role", "lab", "-clinic", "bad/clinic id"}, "-clinic"},
		{[]string{"-project", "demo", "-email", "a@b.example", "-role", "lab", "extra"}, "unexpected argument"},
	} {
		t.Setenv("GOOGLE_CLOUD_PROJECT", "")
		err := run(context.Background(), append(tc.args, "-endpoint", srv.URL+"/"), &strings.Builder{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one naming %s", tc.args, err, tc.want)
		}
	}
	if len(fake.requests) > 0 {
		t.Errorf("bad flags still called the API: %v", fake.requests)
	}
}
