# The identity code deploys run as. scripts/deploy.sh submits each function's
# image build to Cloud Build as lensflow-build-<env>, with the source staged
# and the build log written in the build bucket; the build pushes the image
# to the images repository. cloudbuild.yaml runs as the same account (its
# trigger, or `gcloud builds submit --service-account`), and its deploy step
# runs deploy.sh, so the account also submits those builds and rolls each
# service out to its new image. It can do nothing else: no data, no keys, no
# other setting of a service (Terraform's), and it reads no logs.
#
# Names follow deploy.sh's convention (lensflow-build-<env>@<project>,
# bucket <project>-lensflow-build-<env>); the policy test checks both.
resource "google_service_account" "build" {
  project      = var.project
  account_id   = "lensflow-build-${local.suffix}"
  display_name = "lensflow image builds and rollouts (${var.environment})"
}

resource "google_storage_bucket" "build" {
  project                     = var.project
  name                        = "${var.project}-lensflow-build-${local.suffix}"
  location                    = upper(var.region)
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = true # sources and logs of builds, no patient data
  encryption {
    default_kms_key_name = google_kms_crypto_key.key["storage"].id
  }
  # Staged sources and build logs are kept 30 days.
  lifecycle_rule {
    condition {
      age = 30
    }
    action {
      type = "Delete"
    }
  }
  labels = {
    app         = "lensflow"
    environment = var.environment
  }
  depends_on = [google_kms_crypto_key_iam_member.agent["storage"]]
}

resource "google_storage_bucket_iam_member" "build_bucket" {
  bucket = google_storage_bucket.build.name
  role   = "roles/storage.objectAdmin"
  member = google_service_account.build.member
}

resource "google_artifact_registry_repository_iam_member" "build_push" {
  project    = var.project
  location   = google_artifact_registry_repository.images.location
  repository = google_artifact_registry_repository.images.name
  role       = "roles/artifactregistry.writer"
  member     = google_service_account.build.member
}

# Rolling a service out to a new image: run.developer on that service, and
# acting as the service's own account, which the new revision runs as.
resource "google_cloud_run_v2_service_iam_member" "build_rollout" {
  for_each = local.functions
  project  = var.project
  location = var.region
  name     = google_cloud_run_v2_service.fn[each.key].name
  role     = "roles/run.developer"
  member   = google_service_account.build.member
}

resource "google_service_account_iam_member" "build_acts_as_function" {
  for_each           = local.functions
  service_account_id = google_service_account.fn[each.key].name
  role               = "roles/iam.serviceAccountUser"
  member             = google_service_account.build.member
}

# cloudbuild.yaml's deploy step submits the image builds as this same account.
resource "google_service_account_iam_member" "build_acts_as_itself" {
  service_account_id = google_service_account.build.name
  role               = "roles/iam.serviceAccountUser"
  member             = google_service_account.build.member
}

# Builds exist only at project level (Cloud Build has no narrower grant), and
# cloudbuild.yaml logs to Cloud Logging (options.logging CLOUD_LOGGING_ONLY).
resource "google_project_iam_member" "build" {
  for_each = toset(["roles/cloudbuild.builds.editor", "roles/logging.logWriter"])
  project  = var.project
  role     = each.key
  member   = google_service_account.build.member
}

# People (and CI outside Cloud Build) deploy by impersonating the build
# account: scripts/deploy.sh with
# CLOUDSDK_AUTH_IMPERSONATE_SERVICE_ACCOUNT=lensflow-build-<env>@<project>.iam.gserviceaccount.com.
resource "google_service_account_iam_member" "deployers" {
  for_each           = toset(var.deployers)
  service_account_id = google_service_account.build.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = each.key
}
