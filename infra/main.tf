# lensflow infrastructure: everything deployed for one environment of the
# lens lab's cloud backend (issue 5). One file per area:
#   functions.tf  Cloud Run services, one service account per function
#   pubsub.tf     topics, push and pull subscriptions, dead letters
#   data.tf       KMS, Firestore, the scan bucket, secrets
#   lb.tf         the one public entry point: HTTPS LB, Cloud Armor
#   audit.tf      Data Access audit logs, the locked six-year log bucket
#   scheduler.tf  Cloud Scheduler jobs calling the Tasks function
#   identity.tf   Identity Platform for clinic sign-in
#   monitoring.tf alert policies (dead letters, 5xx, failing designs,
#                 notifications and event deliveries), their email channel
#   build.tf      the account code deploys build and roll out as, its bucket
#
# Code deploys go through gcloud (scripts/deploy.sh, cloudbuild.yaml):
# Terraform creates each service with a placeholder image (or var.images)
# and then ignores image changes. Checked offline by scripts/check-infra.sh.
terraform {
  required_version = ">= 1.11"
  # State in a bucket of the project (infra/README.md, step 4):
  # terraform init -backend-config="bucket=P-tfstate" -backend-config="prefix=lensflow/ENV"
  backend "gcs" {}
  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 8.0, < 9.0"
    }
  }
}

provider "google" {
  project = var.project
  region  = var.region
}

# APIs the deployment uses. Disabling them on destroy would break other
# users of the project, so they stay enabled.
resource "google_project_service" "api" {
  for_each = toset([
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudkms.googleapis.com",
    "cloudscheduler.googleapis.com",
    "cloudtrace.googleapis.com",
    "compute.googleapis.com",
    "firestore.googleapis.com",
    "iam.googleapis.com",
    "identitytoolkit.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
    "telemetry.googleapis.com",
  ])
  project            = var.project
  service            = each.value
  disable_on_destroy = false
}

locals {
  suffix = var.environment
  # Google-managed service agents, derived from the project number so the
  # plan needs no API call (data sources would).
  agents = {
    pubsub    = "service-${var.project_number}@gcp-sa-pubsub.iam.gserviceaccount.com"
    storage   = "service-${var.project_number}@gs-project-accounts.iam.gserviceaccount.com"
    firestore = "service-${var.project_number}@gcp-sa-firestore.iam.gserviceaccount.com"
    run       = "service-${var.project_number}@serverless-robot-prod.iam.gserviceaccount.com"
    artifacts = "service-${var.project_number}@gcp-sa-artifactregistry.iam.gserviceaccount.com"
  }
}
