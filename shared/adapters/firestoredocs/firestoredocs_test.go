package firestoredocs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"

	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/lensflow/lensflow/shared/emulator"
	"github.com/lensflow/lensflow/shared/errs"
	"github.com/lensflow/lensflow/shared/ports"
	"github.com/lensflow/lensflow/shared/ports/docstest"
)

func TestMain(m *testing.M) { emulator.RunMain(m) }

// ownerCreds is what the client library sends the emulator: full access,
// bypassing security rules.
type ownerCreds struct{}

func (ownerCreds) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer owner"}, nil
}
func (ownerCreds) RequireTransportSecurity() bool { return false }

// openEmulator returns a Store on a fresh project of the Firestore emulator:
// the emulator keeps projects apart, so every call starts empty.
func openEmulator(t *testing.T) *Store {
	t.Helper()
	addr := emulator.Firestore(t)
	conn, err := grpc.NewClient("passthrough:///"+addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(ownerCreds{}))
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	s, err := Open(context.Background(), "test-"+hex.EncodeToString(b), option.WithGRPCConn(conn))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	docstest.Run(t, func(t *testing.T) ports.Documents { return openEmulator(t) })
}

func TestNumbers(t *testing.T) {
	tests := []struct {
		in   string
		want any
	}{
		{"0", int64(0)},
		{"-7", int64(-7)},
		{"9007199254740993", int64(9007199254740993)},
		{"9223372036854775807", int64(9223372036854775807)},
		{"0.1", 0.1},
		{"1e3", int64(1000)},
		{"1.5e300", 1.5e300},
		{"18446744073709551616", 18446744073709551616.0}, // beyond int64
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := encode("test", rawJSON(`{"n":`+tt.in+`}`))
			if err != nil {
				t.Fatal(err)
			}
			if got["n"] != tt.want {
				t.Fatalf("encode(%s) = %#v, want %#v", tt.in, got["n"], tt.want)
			}
		})
	}
}

type rawJSON string

func (r rawJSON) MarshalJSON() ([]byte, error) { return []byte(r), nil }

func TestWhereValue(t *testing.T) {
	tests := []struct {
		name string
		in   any
		want any
		ok   bool
	}{
		{"int", 3, int64(3), true},
		{"uint8", uint8(3), int64(3), true},
		{"float", 2.5, 2.5, true},
		{"float32", float32(0.5), 0.5, true},
		{"string", "x", "x", true},
		{"bool", true, true, true},
		{"nil", nil, nil, false},
		{"struct", struct{}{}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := whereValue(tt.in)
			if ok != tt.ok || (ok && got != tt.want) {
				t.Fatalf("whereValue(%#v) = %#v, %v; want %#v, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	s := openEmulator(t)
	ctx := context.Background()
	// A real AlreadyExists from Firestore, outside RunTransaction's wrapper.
	ref := s.client.Collection("c").Doc("d")
	if _, err := ref.Create(ctx, map[string]any{"a": 1}); err != nil {
		t.Fatal(err)
	}
	_, err := ref.Create(ctx, map[string]any{"a": 1})
	if got := errs.KindOf(classify("test", err)); got != errs.Exists {
		t.Fatalf("AlreadyExists classified as %v", got)
	}
	_, err = s.client.Collection("c").Doc("missing").Get(ctx)
	if got := errs.KindOf(classify("test", err)); got != errs.NotFound {
		t.Fatalf("NotFound classified as %v", got)
	}
}
