# Every function registered in the code (go run ./scripts/functions) is its
# own Cloud Run service lensflow-<dir>-<env>, built from functions/<dir>/cmd,
# running as its own service account lensflow-<dir>-<env>. The policy test
# (infra/policy) checks this map against the code: a function added there
# without a counterpart here fails CI.
locals {
  functions = {
    clinic = {
      kind = "http", public = true, kek = true, bucket = "", mail = true
      # PUT/GET /v1/clinic/notifications
      paths = ["/v1/clinic/notifications"]
    }
    clinics = {
      kind  = "http", public = true, kek = false, bucket = "", mail = false
      paths = ["/v1/clinics"]
    }
    design = {
      kind  = "event", public = false, kek = true, bucket = "admin", mail = false
      paths = [], memory = "1Gi", timeout = "300s"
    }
    lab = {
      kind = "http", public = true, kek = true, bucket = "admin", mail = false
      # /v1/lab/jobs, /v1/lab/jobs/{jobId}/files/{name}, /v1/lab/jobs/{jobId}/status
      paths = ["/v1/lab/jobs", "/v1/lab/jobs/*"]
    }
    manufacturing = {
      kind  = "event", public = false, kek = true, bucket = "admin", mail = false
      paths = [], memory = "1Gi", timeout = "300s"
    }
    notifications = {
      kind  = "event", public = false, kek = true, bucket = "", mail = true
      paths = []
      # A clinic's comment on an order is emailed to the lab.
      env = { LENSFLOW_LAB_EMAILS = join(",", var.lab_emails) }
    }
    orders = {
      # Assessments revise a design from the stored scan: read-only on the bucket.
      kind = "http", public = true, kek = true, bucket = "viewer", mail = false
      # /v1/orders, /v1/orders/{orderId}, /v1/orders/{orderId}/assessments, /v1/follow-ups
      paths = ["/v1/orders", "/v1/orders/*", "/v1/follow-ups"]
    }
    patients = {
      kind = "http", public = true, kek = true, bucket = "", mail = false
      # POST and GET /v1/patients only: everything beneath a patient belongs to Scans.
      paths = ["/v1/patients"]
    }
    portal = {
      # The clinic portal's static page and its sign-in configuration: no
      # data, no token, so neither the key nor the bucket.
      kind = "http", public = true, kek = false, bucket = "", mail = false
      # GET /portal/, /portal/{file...}, /portal/config.json
      paths = ["/portal/*"]
      env   = { LENSFLOW_IDENTITY_API_KEY = var.identity_api_key }
    }
    scans = {
      kind = "http", public = true, kek = true, bucket = "admin", mail = false
      # /v1/patients/{patientId}/scans, /v1/scans/{scanId}, /v1/scans/{scanId}/design, /v1/scans/{scanId}/map
      paths = ["/v1/patients/*", "/v1/scans/*"]
    }
    tasks = {
      # HTTP, but not public: only Cloud Scheduler calls it (OIDC).
      kind  = "http", public = false, kek = false, bucket = "", mail = true
      paths = []
      # The notification retry task retries the lab's deliveries too.
      env = { LENSFLOW_LAB_EMAILS = join(",", var.lab_emails) }
    }
    timeline = {
      # Notes comments (comment-posted) on the order's timeline: Firestore
      # documents only, no sealed data, no scan, no mail.
      kind  = "event", public = false, kek = false, bucket = "", mail = false
      paths = []
    }
  }

  public_functions = { for k, f in local.functions : k => f if f.public }
  event_functions  = { for k, f in local.functions : k => f if f.kind == "event" }

  service_name = { for k, _ in local.functions : k => "lensflow-${k}-${local.suffix}" }
  # Deterministic Cloud Run URLs (https://SERVICE-PROJECT_NUMBER.REGION.run.app):
  # known at plan time, so a service can name its own URL as the OIDC audience
  # without a dependency cycle.
  service_url = { for k, n in local.service_name : k => "https://${n}-${var.project_number}.${var.region}.run.app" }

  kek_uri = "gcp-kms://${google_kms_crypto_key.key["scans"].id}"

  # Who may call each non-public service with a Google OIDC token.
  callers = merge(
    { for k, _ in local.event_functions : k => [google_service_account.push.email] },
    { tasks = [google_service_account.scheduler.email] },
  )

  common_env = {
    LENSFLOW_PROFILE            = "gcp"
    GOOGLE_CLOUD_PROJECT        = var.project
    LENSFLOW_BUCKET             = google_storage_bucket.scans.name
    LENSFLOW_KEK_URI            = local.kek_uri
    LENSFLOW_FIRESTORE_DATABASE = google_firestore_database.main.name
    LENSFLOW_PUBLIC_URL         = "https://${var.domain}"
    # Telemetry (the gcp profile's defaults, spelled out): spans and
    # OpenTelemetry metrics over OTLP to the Telemetry API
    # (telemetry.googleapis.com:443, into Cloud Trace and Cloud Monitoring),
    # audit records through the Cloud Logging API to the log lensflow-audit
    # (routed by audit.tf).
    LENSFLOW_TRACING   = "otlp"
    LENSFLOW_METRICS   = "otlp"
    LENSFLOW_AUDIT_LOG = "cloudlogging"
  }
  smtp_env = {
    LENSFLOW_SMTP_ADDR     = var.smtp_addr
    LENSFLOW_SMTP_FROM     = var.smtp_from
    LENSFLOW_SMTP_USERNAME = var.smtp_username
  }
  function_env = {
    for k, f in local.functions : k => merge(
      local.common_env,
      f.mail ? local.smtp_env : {},
      lookup(f, "env", {}),
      # The memory the code budgets uploads and designs against (the
      # container's own limit wins if it is smaller), and the requests in
      # flight its per-clinic shares divide: the service's concurrency.
      {
        LENSFLOW_MEMORY_LIMIT = lookup(f, "memory", "512Mi")
        LENSFLOW_MAX_INFLIGHT = f.kind == "http" ? "40" : "10"
      },
      f.public ? { LENSFLOW_AUTH_ISSUERS = "identity-platform" } : {
        LENSFLOW_AUTH_ISSUERS            = "google-oidc"
        LENSFLOW_SERVICE_ACCOUNTS        = join(",", local.callers[k])
        LENSFLOW_SERVICE_AUDIENCES       = local.service_url[k]
      },
    )
  }
}

resource "google_service_account" "fn" {
  for_each     = local.functions
  project      = var.project
  account_id   = local.service_name[each.key]
  display_name = "lensflow ${each.key} function (${var.environment})"
  depends_on   = [google_project_service.api]
}

# Firestore IAM has no per-database or per-collection grant for data access:
# roles/datastore.user on the project is unavoidable. Tenant isolation is in
# the application (clinic from the verified token), and every access is in
# the Data Access audit log.
resource "google_project_iam_member" "fn_datastore" {
  for_each = local.functions
  project  = var.project
  role     = "roles/datastore.user"
  member   = google_service_account.fn[each.key].member
}

# Telemetry: spans and metrics through the Telemetry API (OTLP), and the
# audit log (Cloud Logging). None of these has resource-level IAM: the
# write-only roles exist only on the project. They grant no read of traces,
# metrics or logs.
locals {
  telemetry_roles = ["roles/telemetry.tracesWriter", "roles/telemetry.metricsWriter", "roles/logging.logWriter"]
  fn_telemetry = {
    for pair in setproduct(keys(local.functions), local.telemetry_roles) :
    "${pair[0]} ${pair[1]}" => { function = pair[0], role = pair[1] }
  }
}

resource "google_project_iam_member" "fn_telemetry" {
  for_each = local.fn_telemetry
  project  = var.project
  role     = each.value.role
  member   = google_service_account.fn[each.value.function].member
}

resource "google_storage_bucket_iam_member" "fn_bucket" {
  for_each = { for k, f in local.functions : k => f if f.bucket != "" }
  bucket   = google_storage_bucket.scans.name
  role     = each.value.bucket == "admin" ? "roles/storage.objectAdmin" : "roles/storage.objectViewer"
  member   = google_service_account.fn[each.key].member
}

# The application's key-encryption key (envelope encryption with Tink), only
# for functions that seal or unseal.
resource "google_kms_crypto_key_iam_member" "fn_kek" {
  for_each      = { for k, f in local.functions : k => f if f.kek }
  crypto_key_id = google_kms_crypto_key.key["scans"].id
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = google_service_account.fn[each.key].member
}

resource "google_secret_manager_secret_iam_member" "fn_smtp" {
  for_each  = { for k, f in local.functions : k => f if f.mail }
  secret_id = google_secret_manager_secret.smtp_password.id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.fn[each.key].member
}

# The functions' images: scripts/deploy.sh builds one per function and
# deploy, pushes it here and rolls the service out to it by digest, the one
# setting of a service Terraform leaves to the code deploy (see the
# service's lifecycle). Images hold code, never patient data.
resource "google_artifact_registry_repository" "images" {
  project       = var.project
  location      = var.region
  repository_id = "lensflow-${var.environment}"
  format        = "DOCKER"
  description   = "lensflow function images (scripts/deploy.sh)"
  labels = {
    app         = "lensflow"
    environment = var.environment
  }
  # Keep the images of the last 20 deploys of each function; a rollback
  # to any of them is one gcloud run services update --image.
  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = 20
    }
  }
  cleanup_policies {
    id     = "delete-old"
    action = "DELETE"
    condition {
      older_than = "7776000s" # 90 days
    }
  }
  depends_on = [google_project_service.api]
}

resource "google_cloud_run_v2_service" "fn" {
  for_each            = local.functions
  project             = var.project
  name                = local.service_name[each.key]
  location            = var.region
  deletion_protection = var.deletion_protection
  # Public API: only through the HTTPS load balancer. Event and task
  # functions: only Pub/Sub push and Cloud Scheduler (internal traffic).
  ingress = each.value.public ? "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER" : "INGRESS_TRAFFIC_INTERNAL_ONLY"
  labels = {
    app         = "lensflow"
    function    = each.key
    environment = var.environment
  }

  template {
    service_account                  = google_service_account.fn[each.key].email
    timeout                          = lookup(each.value, "timeout", "60s")
    max_instance_request_concurrency = tonumber(local.function_env[each.key].LENSFLOW_MAX_INFLIGHT)
    scaling {
      min_instance_count = 0
      max_instance_count = 20
    }
    containers {
      image = lookup(var.images, each.key, var.placeholder_image)
      resources {
        limits = {
          cpu    = "1"
          memory = lookup(each.value, "memory", "512Mi")
        }
        cpu_idle = true
      }
      dynamic "env" {
        for_each = local.function_env[each.key]
        content {
          name  = env.key
          value = env.value
        }
      }
      dynamic "env" {
        for_each = each.value.mail ? [1] : []
        content {
          name = "LENSFLOW_SMTP_PASSWORD"
          value_source {
            secret_key_ref {
              secret  = google_secret_manager_secret.smtp_password.secret_id
              version = "latest"
            }
          }
        }
      }
      startup_probe {
        http_get {
          path = "/healthz"
        }
      }
      liveness_probe {
        http_get {
          path = "/healthz"
        }
        period_seconds = 30
      }
    }
  }

  lifecycle {
    # The image is the code deploy's (scripts/deploy.sh rolls each service
    # out to a new image by digest and changes nothing else); every other
    # setting is Terraform's.
    ignore_changes = [
      template[0].containers[0].image,
      template[0].revision,
      template[0].labels,
      client,
      client_version,
    ]
  }

  depends_on = [
    google_project_iam_member.fn_datastore,
    google_project_iam_member.fn_telemetry,
    google_kms_crypto_key_iam_member.fn_kek,
    google_secret_manager_secret_iam_member.fn_smtp,
  ]
}

# Public API services: the application verifies every Identity Platform
# token itself, and ingress admits only the load balancer, so allUsers may
# invoke. Never on event or task services (the policy test checks).
resource "google_cloud_run_v2_service_iam_member" "public" {
  for_each = local.public_functions
  project  = var.project
  location = var.region
  name     = google_cloud_run_v2_service.fn[each.key].name
  role     = "roles/run.invoker"
  member   = "allUsers"
}

# Pub/Sub pushes to event services with OIDC tokens of this account.
resource "google_service_account" "push" {
  project      = var.project
  account_id   = "lensflow-push-${local.suffix}"
  display_name = "lensflow Pub/Sub push (${var.environment})"
  depends_on   = [google_project_service.api]
}

resource "google_cloud_run_v2_service_iam_member" "push" {
  for_each = local.event_functions
  project  = var.project
  location = var.region
  name     = google_cloud_run_v2_service.fn[each.key].name
  role     = "roles/run.invoker"
  member   = google_service_account.push.member
}

# The Pub/Sub service agent mints the push OIDC tokens.
resource "google_service_account_iam_member" "push_token_creator" {
  service_account_id = google_service_account.push.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = "serviceAccount:${local.agents.pubsub}"
}
