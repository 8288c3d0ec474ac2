# Audit: Data Access logs for the services holding PHI, and the
# application's own audit records (shared/audit: jsonPayload.audit, label
# log=lensflow-audit), kept six years (HIPAA 164.316) in a locked bucket.
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
    "(resource.type=\"cloud_run_revision\" AND (labels.log=\"lensflow-audit\" OR jsonPayload.audit:*))",
  ])
  unique_writer_identity = true
}
