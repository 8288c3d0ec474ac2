# Copied next to main.tf by scripts/check-infra.sh only, in a scratch copy:
# a fake token so validate and plan run offline without credentials.
provider "google" {
  access_token = "fake"
}
