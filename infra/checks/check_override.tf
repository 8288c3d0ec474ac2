# Copied next to main.tf by scripts/check-infra.sh only, in a scratch copy:
# a fake token so validate and plan run offline without credentials.
provider "google" {
  access_token = "fake"
}

# The real configuration keeps its state in a gcs backend; the offline check
# plans against an empty local state instead.
terraform {
  backend "local" {}
}
