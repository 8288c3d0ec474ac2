// Command adduser gives a person access to a deployed lensflow: it creates
// (or finds) their Identity Platform account by email, sets the two custom
// claims the API authorizes by (clinic_id and role, see shared/auth), and
// prints a one-time link with which they choose their password.
//
//	go run ./scripts/adduser -project PROJECT -email EMAIL -role practitioner -clinic CLINIC_ID [-continue-url URL]
//	go run ./scripts/adduser -project PROJECT -email EMAIL -role lab [-clinic CLINIC_ID]
//
// It runs with your Application Default Credentials (gcloud auth
// application-default login), which need the Identity Platform admin role
// (roles/identitytoolkit.admin) on the project. Running it again for the
// same email changes the claims and prints a new link; tokens already
// issued keep their old claims until they expire (at most an hour).
// A practitioner is bound to one clinic; lab staff may have none. Nothing
// here can make a service: those are Google service accounts, allow-listed
// by Terraform.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/mail"
	"os"

	identitytoolkit "google.golang.org/api/identitytoolkit/v1"
	"google.golang.org/api/option"

	"github.com/lensflow/lensflow/shared/auth"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "adduser:", err)
		os.Exit(2)
	}
}

// claims are the custom claims lensflow reads from an Identity Platform
// token.
type claims struct {
	ClinicID string `json:"clinic_id,omitempty"`
	Role     string `json:"role"`
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("adduser", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	project := fs.String("project", os.Getenv("GOOGLE_CLOUD_PROJECT"), "the Google Cloud project (default $GOOGLE_CLOUD_PROJECT)")
	email := fs.String("email", "", "the person's email address, which they sign in with")
	role := fs.String("role", "", "practitioner (a clinic's) or lab (the lab's staff)")
	clinic := fs.String("clinic", "", "the clinic id (required for a practitioner)")
	continueURL := fs.String("continue-url", "", "where the password page sends them afterwards (for example the portal)")
	endpoint := fs.String("endpoint", "", "Identity Toolkit API endpoint (default Google's; for tests)")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w (usage: adduser -project P -email E -role practitioner|lab [-clinic ID] [-continue-url URL])", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q: every input is a flag", fs.Arg(0))
	}
	c, err := check(*project, *email, *role, *clinic)
	if err != nil {
		return err
	}
	attrs, _ := json.Marshal(c)

	opts := []option.ClientOption{}
	if *endpoint != "" {
		opts = append(opts, option.WithEndpoint(*endpoint), option.WithoutAuthentication())
	}
	svc, err := identitytoolkit.NewService(ctx, opts...)
	if err != nil {
		return fmt.Errorf("identity toolkit client: %w", err)
	}
	accounts := identitytoolkit.NewProjectsAccountsService(svc)
	found, err := accounts.Lookup(*project, &identitytoolkit.GoogleCloudIdentitytoolkitV1GetAccountInfoRequest{
		Email: []string{*email}, TargetProjectId: *project}).Context(ctx).Do()
	if err != nil {
		return fmt.Errorf("looking up %s: %w", *email, err)
	}
	var id, before string
	switch len(found.Users) {
	case 0:
		made, err := svc.Projects.Accounts(*project, &identitytoolkit.GoogleCloudIdentitytoolkitV1SignUpRequest{
			Email: *email, TargetProjectId: *project}).Context(ctx).Do()
		if err != nil {
			return fmt.Errorf("creating %s: %w", *email, err)
		}
		id = made.LocalId
		fmt.Fprintf(out, "created %s (uid %s)\n", *email, id)
	case 1:
		id, before = found.Users[0].LocalId, found.Users[0].CustomAttributes
		fmt.Fprintf(out, "found %s (uid %s)\n", *email, id)
	default:
		return fmt.Errorf("%d accounts have the email %s; resolve that in the console first", len(found.Users), *email)
	}
	if id == "" {
		return errors.New("the API answered without a user id")
	}
	if _, err := accounts.Update(*project, &identitytoolkit.GoogleCloudIdentitytoolkitV1SetAccountInfoRequest{
		LocalId: id, CustomAttributes: string(attrs), TargetProjectId: *project}).Context(ctx).Do(); err != nil {
		return fmt.Errorf("setting the claims of %s: %w", *email, err)
	}
	if before != "" && before != string(attrs) {
		fmt.Fprintf(out, "claims %s -> %s\n", before, attrs)
	} else {
		fmt.Fprintf(out, "claims %s\n", attrs)
	}
	link, err := accounts.SendOobCode(*project, &identitytoolkit.GoogleCloudIdentitytoolkitV1GetOobCodeRequest{
		RequestType: "PASSWORD_RESET", Email: *email, ReturnOobLink: true, ContinueUrl: *continueURL, TargetProjectId: *project}).Context(ctx).Do()
	if err != nil {
		return fmt.Errorf("making the password link for %s: %w", *email, err)
	}
	fmt.Fprintf(out, "send this one-time link to %s to choose a password:\n%s\n", *email, link.OobLink)
	return nil
}

// check validates the flags and returns the claims they make.
func check(project, email, role, clinic string) (claims, error) {
	if project == "" {
		return claims{}, errors.New("-project: required (or set GOOGLE_CLOUD_PROJECT)")
	}
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email {
		return claims{}, fmt.Errorf("-email: %q is not an email address", email)
	}
	switch auth.Role(role) {
	case auth.RolePractitioner:
		if clinic == "" {
			return claims{}, errors.New("-clinic: a practitioner belongs to one clinic; give its id")
		}
	case auth.RoleLab:
	case auth.RoleService:
		return claims{}, errors.New("-role: services are Google service accounts allow-listed by Terraform, not users")
	default:
		return claims{}, fmt.Errorf("-role: %q is not practitioner or lab", role)
	}
	if clinic != "" && !auth.ValidClinicID(clinic) {
		return claims{}, fmt.Errorf("-clinic: %q is not a valid clinic id", clinic)
	}
	return claims{ClinicID: clinic, Role: role}, nil
}
