# PHI stores: Firestore and the scan bucket, both with customer-managed keys
# (CMEK) in the same region, under the application's own envelope
# encryption (Tink, key-encryption key "scans").
locals {
  kms_keys = {
    scans     = "Key-encryption key of the application's envelope encryption (LENSFLOW_KEK_URI)"
    firestore = "CMEK of the Firestore database"
    storage   = "CMEK of the scan bucket"
    pubsub    = "CMEK of the Pub/Sub topics"
  }
  # Service agents that encrypt with each CMEK key, granted before the
  # resources using the key are created (depends_on).
  kms_agents = {
    firestore = local.agents.firestore
    storage   = local.agents.storage
    pubsub    = local.agents.pubsub
  }
}

resource "google_kms_key_ring" "main" {
  project    = var.project
  name       = "lensflow-${local.suffix}"
  location   = var.region
  depends_on = [google_project_service.api]
}

resource "google_kms_crypto_key" "key" {
  for_each        = local.kms_keys
  name            = each.key
  key_ring        = google_kms_key_ring.main.id
  purpose         = "ENCRYPT_DECRYPT"
  rotation_period = "7776000s" # 90 days
  labels = {
    app         = "lensflow"
    environment = var.environment
  }
  lifecycle {
    prevent_destroy = true
  }
}

resource "google_kms_crypto_key_iam_member" "agent" {
  for_each      = local.kms_agents
  crypto_key_id = google_kms_crypto_key.key[each.key].id
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = "serviceAccount:${each.value}"
}

resource "google_firestore_database" "main" {
  project                           = var.project
  name                              = var.firestore_database
  location_id                       = var.region
  type                              = "FIRESTORE_NATIVE"
  concurrency_mode                  = "OPTIMISTIC"
  point_in_time_recovery_enablement = "POINT_IN_TIME_RECOVERY_ENABLED"
  delete_protection_state           = "DELETE_PROTECTION_ENABLED"
  deletion_policy                   = "ABANDON"
  # CMEK is set only at creation, with a key in the database's location.
  cmek_config {
    kms_key_name = google_kms_crypto_key.key["firestore"].id
  }
  depends_on = [google_kms_crypto_key_iam_member.agent["firestore"]]
}

resource "google_storage_bucket" "scans" {
  project                     = var.project
  name                        = "${var.project}-lensflow-scans-${local.suffix}"
  location                    = upper(var.region)
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false
  encryption {
    default_kms_key_name = google_kms_crypto_key.key["storage"].id
  }
  # Deleted objects stay recoverable for 30 days. No retention lock: locks are
  # irreversible and would keep PHI past a legitimate erasure; no versioning
  # either (soft delete covers accidental deletes).
  soft_delete_policy {
    retention_duration_seconds = 2592000
  }
  versioning {
    enabled = false
  }
  labels = {
    app         = "lensflow"
    environment = var.environment
  }
  depends_on = [google_kms_crypto_key_iam_member.agent["storage"]]
}

# SMTP password for notification emails. The value is added out of band
# (gcloud secrets versions add lensflow-smtp-password-<env> --data-file=-)
# so it never enters the Terraform state. Clinics' webhook signing secrets
# are per clinic and live in Firestore, sealed by the application with the
# KEK (shared/notifications), so they need no Secret Manager secret.
resource "google_secret_manager_secret" "smtp_password" {
  project   = var.project
  secret_id = "lensflow-smtp-password-${local.suffix}"
  replication {
    user_managed {
      replicas {
        location = var.region
      }
    }
  }
  labels = {
    app         = "lensflow"
    environment = var.environment
  }
  depends_on = [google_project_service.api]
}

# Composite indexes of the queries the code issues: equality filters with an
# order on another field (the list routes, paged by AIP-158 cursors).
# Derived from shared/ports/firestoreindex.Shapes by its Required rules; the
# policy test (infra/policy) fails on an index missing here or one here that
# no query needs. Firestore appends __name__ in the last field's direction.
locals {
  firestore_indexes = {
    "assessments-by-order"      = { collection = "assessments", fields = [["orderId", "ASCENDING"], ["created", "ASCENDING"]] }
    "comments-by-order"         = { collection = "order-comments", fields = [["orderId", "ASCENDING"], ["created", "ASCENDING"]] }
    "jobs-by-status"            = { collection = "jobs", fields = [["status", "ASCENDING"], ["created", "ASCENDING"]] }
    "orders-by-clinic"          = { collection = "orders", fields = [["clinicId", "ASCENDING"], ["created", "DESCENDING"]] }
    "orders-by-clinic-dispatch" = { collection = "orders", fields = [["clinicId", "ASCENDING"], ["dispatched", "ASCENDING"]] }
    "patients-by-clinic"        = { collection = "patients", fields = [["clinicId", "ASCENDING"], ["created", "DESCENDING"]] }
    "scans-by-patient"          = { collection = "scans", fields = [["clinicId", "ASCENDING"], ["patientId", "ASCENDING"], ["received", "DESCENDING"]] }
  }
}

resource "google_firestore_index" "query" {
  for_each    = local.firestore_indexes
  project     = var.project
  database    = google_firestore_database.main.name
  collection  = each.value.collection
  query_scope = "COLLECTION"
  dynamic "fields" {
    for_each = each.value.fields
    content {
      field_path = fields.value[0]
      order      = fields.value[1]
    }
  }
}
