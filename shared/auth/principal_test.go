package auth

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/lensflow/lensflow/shared/errs"
)

func TestBearerToken(t *testing.T) {
	tests := []struct {
		name    string
		headers []string
		want    string
		wantErr error
	}{
		{name: "bearer", headers: []string{"Bearer abc.def.ghi"}, want: "abc.def.ghi"},
		{name: "scheme case-insensitive", headers: []string{"bearer abc.def.ghi"}, want: "abc.def.ghi"},
		{name: "padding allowed", headers: []string{"Bearer abc=="}, want: "abc=="},
		{name: "no header", wantErr: ErrMissingToken},
		{name: "empty header", headers: []string{""}, wantErr: ErrMissingToken},
		{name: "scheme only", headers: []string{"Bearer"}, wantErr: ErrMalformedHeader},
		{name: "scheme and space", headers: []string{"Bearer "}, wantErr: ErrMissingToken},
		{name: "basic", headers: []string{"Basic dXNlcjpwYXNz"}, wantErr: ErrMalformedHeader},
		{name: "token with space", headers: []string{"Bearer abc def"}, wantErr: ErrMalformedHeader},
		{name: "token with quote", headers: []string{`Bearer "abc"`}, wantErr: ErrMalformedHeader},
		{name: "padding in the middle", headers: []string{"Bearer ab=c"}, wantErr: ErrMalformedHeader},
		{name: "two headers", headers: []string{"Bearer a.b.c", "Bearer d.e.f"}, wantErr: ErrMalformedHeader},
		{name: "oversized", headers: []string{"Bearer " + string(make([]byte, maxTokenLen+1))}, wantErr: ErrMalformedHeader},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/orders", nil)
			for _, h := range tc.headers {
				r.Header.Add("Authorization", h)
			}
			got, err := BearerToken(r)
			if tc.wantErr == nil {
				if err != nil || got != tc.want {
					t.Fatalf("BearerToken = %q, %v; want %q", got, err, tc.want)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) || !errs.Is(errs.Unauthenticated, err) {
				t.Fatalf("err = %v, want unauthenticated %q", err, tc.wantErr)
			}
			if got != "" {
				t.Fatalf("token on failure = %q", got)
			}
		})
	}
}

func TestPrincipalContext(t *testing.T) {
	if _, ok := PrincipalFrom(context.Background()); ok {
		t.Fatal("empty context has a principal")
	}
	p := Principal{Subject: "u", ClinicID: "c", Role: RolePractitioner, Issuer: "i"}
	got, ok := PrincipalFrom(WithPrincipal(context.Background(), p))
	if !ok || got != p {
		t.Fatalf("PrincipalFrom = %+v, %v", got, ok)
	}
}

func TestRole(t *testing.T) {
	for r, want := range map[Role]bool{
		RolePractitioner: true, RoleLab: true, RoleService: true, "": false, "admin": false, "Lab": false,
	} {
		if r.Valid() != want {
			t.Errorf("Role(%q).Valid() = %v", r, !want)
		}
	}
}

func TestReason(t *testing.T) {
	if Reason(nil) != "" || Reason(errors.New("other")) != "" {
		t.Fatal("Reason of a foreign error is not empty")
	}
	err := errs.E("x", errs.Unauthenticated, ErrExpired)
	if Reason(err) != "token expired" {
		t.Fatalf("Reason = %q", Reason(err))
	}
}

func TestPrincipalActor(t *testing.T) {
	p := Principal{Subject: "u1", Email: "dr@north.example", ClinicID: "north", Role: RolePractitioner, Issuer: "dev"}
	want := Actor{Subject: "u1", Role: RolePractitioner, ClinicID: "north", RequestID: "r1"}
	if got := p.Actor("r1"); got != want {
		t.Fatalf("%+v, want %+v", got, want)
	}
}
