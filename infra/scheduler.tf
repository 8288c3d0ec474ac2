# Cloud Scheduler calls the (private) Tasks function with OIDC tokens of its
# own account, which may invoke the Tasks service and nothing else.
locals {
  scheduler_jobs = {
    follow-ups    = { schedule = "0 6 * * *", path = "/v1/tasks/follow-ups", description = "Daily follow-up reminders (publishes follow-up-due)." }
    notifications = { schedule = "*/5 * * * *", path = "/v1/tasks/notifications", description = "Retries pending notifications and webhooks every 5 minutes." }
    outbox        = { schedule = "* * * * *", path = "/v1/tasks/outbox", description = "Publishes events left in the outbox when the publish after their commit failed." }
    census        = { schedule = "*/5 * * * *", path = "/v1/tasks/census", description = "Counts manufacturing jobs by status for the jobs.active metric." }
  }
}

resource "google_service_account" "scheduler" {
  project      = var.project
  account_id   = "lensflow-scheduler-${local.suffix}"
  display_name = "lensflow Cloud Scheduler (${var.environment})"
  depends_on   = [google_project_service.api]
}

resource "google_cloud_run_v2_service_iam_member" "scheduler" {
  project  = var.project
  location = var.region
  name     = google_cloud_run_v2_service.fn["tasks"].name
  role     = "roles/run.invoker"
  member   = google_service_account.scheduler.member
}

resource "google_cloud_scheduler_job" "tasks" {
  for_each         = local.scheduler_jobs
  project          = var.project
  region           = var.region
  name             = "lensflow-${each.key}-${local.suffix}"
  description      = each.value.description
  schedule         = each.value.schedule
  time_zone        = var.scheduler_time_zone
  attempt_deadline = "320s"
  retry_config {
    retry_count          = 3
    min_backoff_duration = "10s"
    max_backoff_duration = "300s"
  }
  http_target {
    http_method = "POST"
    uri         = "${local.service_url["tasks"]}${each.value.path}"
    oidc_token {
      service_account_email = google_service_account.scheduler.email
      audience              = local.service_url["tasks"]
    }
  }
  depends_on = [google_cloud_run_v2_service_iam_member.scheduler]
}
