# Audit: Data Access logs for the services holding PHI, and the
# application's own audit records (shared/audit, LENSFLOW_AUDIT_LOG=cloudlogging:
# written through the Cloud Logging API to the log lensflow-audit; a line on
# stdout lands in run.googleapis.com/stdout and cannot pass for a record),
# kept six years (HIPAA 164.316) in a locked bucket.
locals {
  audit_log_name = "projects/${var.project}/logs/lensflow-audit"
}

resource "google_project_iam_audit_config" "phi" {
  for_each = toset(["datastore.googleapis.com", "storage.googleapis.com", "cloudkms.googleapis.com"])
  project  = var.project
  service  = each.value
  audit_log_config {
    log_type = "DATA_READ"
  }
  audit_log_config {
    log_type = "DATA_WRITE"
  }
}

resource "google_logging_project_bucket_config" "audit" {
  project        = var.project
  location       = var.region
  bucket_id      = "lensflow-audit-${local.suffix}"
  description    = "lensflow audit log: Data Access logs and application audit records (six years, locked)."
  retention_days = 2192
  # Irreversible: the bucket cannot be deleted or its retention shortened.
  locked     = true
  depends_on = [google_project_service.api]
}

resource "google_logging_project_sink" "audit" {
  project     = var.project
  name        = "lensflow-audit-${local.suffix}"
  destination = "logging.googleapis.com/${google_logging_project_bucket_config.audit.id}"
  filter = join(" OR ", [
    "logName:\"cloudaudit.googleapis.com%2Fdata_access\"",
    "logName:\"cloudaudit.googleapis.com%2Factivity\"",
    "logName=\"${local.audit_log_name}\"",
  ])
  unique_writer_identity = true
}

# The application's audit records only in the locked bucket: the _Default
# sink (30-day _Default bucket, readable by every logs viewer of the project)
# leaves them out. Exclusions created with this API apply to the _Default
# sink only, never to the sink above or to _Required. Created after the sink
# so no record is dropped in between.
resource "google_logging_project_exclusion" "audit_from_default" {
  project     = var.project
  name        = "lensflow-audit-${local.suffix}"
  description = "lensflow audit records go only to the locked bucket ${google_logging_project_bucket_config.audit.bucket_id} (sink ${google_logging_project_sink.audit.name})."
  filter      = "logName=\"${local.audit_log_name}\""
}
