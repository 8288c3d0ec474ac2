package auth_test

import (
	"fmt"
	"net/http/httptest"

	"github.com/lensflow/lensflow/shared/auth"
)

// A handler authenticates a request with BearerToken and Verify, and keeps
// the principal in the context.
func ExampleBearerToken() {
	r := httptest.NewRequest("GET", "/orders", nil)
	r.Header.Set("Authorization", "Bearer eyJhbGciOiJFUzI1NiJ9.e30.c2ln")
	token, err := auth.BearerToken(r)
	fmt.Println(token, err)

	r.Header.Del("Authorization")
	_, err = auth.BearerToken(r)
	fmt.Println(auth.Reason(err))
	// Output:
	// eyJhbGciOiJFUzI1NiJ9.e30.c2ln <nil>
	// missing bearer token
}
