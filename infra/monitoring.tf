# Alerts (issue 8), each emailed to var.alert_email with a runbook in its
# documentation:
#   dead letters            an event dead-lettered on a lensflow subscription
#   dead letters waiting    a dead-letter subscription not drained for an hour
#   5xx rate                a Cloud Run service answering > 2 % 5xx (5 min)
#   designs failing         lensflow.designs.failed > 0 in 5 min
#   notifications failing   lensflow.notifications.failed > 0 in 15 min
#   event deliveries        lensflow.events.failed > 10 in 10 min, per
#                           function and event type
#
# The lensflow.* metrics are the application's OpenTelemetry metrics
# (LENSFLOW_METRICS=otlp), sent over OTLP to the Telemetry API, which keeps
# them in Cloud Monitoring as Prometheus time series under their own names,
# one label per attribute: PromQL {"lensflow.designs.failed", reason="..."}.
# Their alerts are PromQL conditions; no metric descriptor is declared, as
# PromQL conditions do not need the metric to exist yet. Exported but not
# alerted (dashboards, Metrics Explorer): lensflow.scans.received,
# lensflow.designs.produced, lensflow.design.latency (histogram, seconds from
# upload to design), lensflow.jobs.transitions {status}, lensflow.jobs.active
# {status} (gauge), lensflow.notifications.sent {channel},
# lensflow.events.dead_lettered {function, event_type}. Spans go the same way
# to Cloud Trace (LENSFLOW_TRACING=otlp), the audit records to the log
# lensflow-audit (audit.tf).
locals {
  # Cloud Monitoring closes an incident whose series stopped reporting (an
  # instance scaled to zero) after this long.
  alert_auto_close = "1800s"

  # Subscriptions consuming events, and the pull subscriptions on their
  # dead-letter topics (pubsub.tf).
  alert_source_subscriptions      = sort(keys(local.source_subscriptions))
  alert_dead_letter_subscriptions = sort([for t in local.dead_letter_topic : "${t}-sub"])
  alert_cloud_run_services        = sort(values(local.service_name))

  one_of = {
    source_subscriptions      = join(", ", [for s in local.alert_source_subscriptions : "\"${s}\""])
    dead_letter_subscriptions = join(", ", [for s in local.alert_dead_letter_subscriptions : "\"${s}\""])
    cloud_run_services        = join(", ", [for s in local.alert_cloud_run_services : "\"${s}\""])
  }
}

resource "google_monitoring_notification_channel" "email" {
  project      = var.project
  display_name = "lensflow on-call (${var.environment})"
  type         = "email"
  labels = {
    email_address = var.alert_email
  }
  user_labels = {
    app         = "lensflow"
    environment = var.environment
  }
  depends_on = [google_project_service.api]
}

resource "google_monitoring_alert_policy" "dead_letters" {
  project               = var.project
  display_name          = "lensflow dead letters (${var.environment})"
  combiner              = "OR"
  severity              = "ERROR"
  notification_channels = [google_monitoring_notification_channel.email.id]
  conditions {
    display_name = "Messages dead-lettered in 5 minutes"
    condition_threshold {
      filter          = "resource.type=\"pubsub_subscription\" AND metric.type=\"pubsub.googleapis.com/subscription/dead_letter_message_count\" AND resource.label.project_id=\"${var.project}\" AND resource.label.subscription_id=one_of(${local.one_of.source_subscriptions})"
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["resource.label.subscription_id"]
      }
      trigger {
        count = 1
      }
    }
  }
  alert_strategy {
    auto_close = local.alert_auto_close
  }
  documentation {
    mime_type = "text/markdown"
    subject   = "lensflow ${var.environment}: dead letters on $${resource.label.subscription_id}"
    content   = <<-EOT
      ## An event was dead-lettered

      Pub/Sub gave up on a message of subscription
      `$${resource.label.subscription_id}` after its maximum delivery attempts (5)
      and moved it to `$${resource.label.subscription_id}-dead-letter`. The
      function never handled that event: a scan without a design, an order not
      sent to manufacturing, a clinic not notified.

      **First check** the consuming function's errors: Cloud Run logs of its
      service (`lensflow-<function>-${var.environment}`, severity >= ERROR) around
      the alert time; each delivery's log lines carry its trace, so Cloud Trace
      shows the failing span. The application's `lensflow.events.failed` and
      `lensflow.events.dead_lettered` metrics count them by function and event type.

      Then inspect the message without acknowledging it:
      `gcloud pubsub subscriptions pull $${resource.label.subscription_id}-dead-letter-sub --project ${var.project} --limit 5`.
      Once the cause is fixed, republish it to the subscription's topic and
      acknowledge it on the dead-letter subscription.
    EOT
  }
  user_labels = {
    app         = "lensflow"
    environment = var.environment
  }
}

resource "google_monitoring_alert_policy" "dead_letter_backlog" {
  project               = var.project
  display_name          = "lensflow dead letters waiting (${var.environment})"
  combiner              = "OR"
  severity              = "WARNING"
  notification_channels = [google_monitoring_notification_channel.email.id]
  conditions {
    display_name = "Dead-letter subscription not drained for an hour"
    condition_threshold {
      filter          = "resource.type=\"pubsub_subscription\" AND metric.type=\"pubsub.googleapis.com/subscription/num_undelivered_messages\" AND resource.label.project_id=\"${var.project}\" AND resource.label.subscription_id=one_of(${local.one_of.dead_letter_subscriptions})"
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "3600s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_MAX"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["resource.label.subscription_id"]
      }
      trigger {
        count = 1
      }
    }
  }
  alert_strategy {
    auto_close = local.alert_auto_close
  }
  documentation {
    mime_type = "text/markdown"
    subject   = "lensflow ${var.environment}: dead letters waiting on $${resource.label.subscription_id}"
    content   = <<-EOT
      ## Dead letters have been waiting for an hour

      `$${resource.label.subscription_id}` holds messages nobody replayed or
      acknowledged. Pub/Sub drops them after 7 days (message retention): the
      events are then lost.

      **First check** whether the "lensflow dead letters" incident for the
      source subscription was handled and its cause fixed (the function's
      errors in Cloud Run logs and Cloud Trace). Then inspect the messages
      without acknowledging them
      (`gcloud pubsub subscriptions pull $${resource.label.subscription_id} --project ${var.project} --limit 5`),
      republish each to its topic and acknowledge it here.
    EOT
  }
  user_labels = {
    app         = "lensflow"
    environment = var.environment
  }
}

resource "google_monitoring_alert_policy" "http_5xx" {
  project               = var.project
  display_name          = "lensflow 5xx rate (${var.environment})"
  combiner              = "OR"
  severity              = "CRITICAL"
  notification_channels = [google_monitoring_notification_channel.email.id]
  conditions {
    display_name = "More than 2% of a service's requests answered 5xx over 5 minutes"
    condition_threshold {
      filter             = "resource.type=\"cloud_run_revision\" AND metric.type=\"run.googleapis.com/request_count\" AND metric.label.response_code_class=\"5xx\" AND resource.label.service_name=one_of(${local.one_of.cloud_run_services})"
      denominator_filter = "resource.type=\"cloud_run_revision\" AND metric.type=\"run.googleapis.com/request_count\" AND resource.label.service_name=one_of(${local.one_of.cloud_run_services})"
      comparison         = "COMPARISON_GT"
      threshold_value    = 0.02
      duration           = "0s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["resource.label.service_name"]
      }
      denominator_aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["resource.label.service_name"]
      }
      trigger {
        count = 1
      }
    }
  }
  alert_strategy {
    auto_close = local.alert_auto_close
  }
  documentation {
    mime_type = "text/markdown"
    subject   = "lensflow ${var.environment}: 5xx on $${resource.label.service_name}"
    content   = <<-EOT
      ## A service is failing requests

      More than 2 % of the requests to `$${resource.label.service_name}` over
      the last 5 minutes were answered with a 5xx status (Cloud Run's
      request_count, which includes 503s of overload protection, instance
      start-up failures and timeouts as well as the application's 500s).

      **First check** the service's Cloud Run logs at severity >= ERROR: the
      application logs each 5xx with its problem type and trace id; open the
      trace in Cloud Trace to see which dependency failed (Firestore, Cloud
      Storage, KMS, Pub/Sub). A burst right after a deploy points at the new
      revision: roll traffic back to the previous one
      (`gcloud run services update-traffic $${resource.label.service_name} --to-revisions PREVIOUS=100 --region ${var.region} --project ${var.project}`).
    EOT
  }
  user_labels = {
    app         = "lensflow"
    environment = var.environment
  }
}

resource "google_monitoring_alert_policy" "designs_failed" {
  project               = var.project
  display_name          = "lensflow designs failing (${var.environment})"
  combiner              = "OR"
  severity              = "ERROR"
  notification_channels = [google_monitoring_notification_channel.email.id]
  conditions {
    display_name = "lensflow.designs.failed > 0 in 5 minutes"
    condition_prometheus_query_language {
      query               = "sum by (reason) (increase({\"lensflow.designs.failed\"}[5m])) > 0"
      duration            = "0s"
      evaluation_interval = "60s"
    }
  }
  alert_strategy {
    auto_close = local.alert_auto_close
  }
  documentation {
    mime_type = "text/markdown"
    subject   = "lensflow ${var.environment}: designs failing ($${metric.label.reason})"
    content   = <<-EOT
      ## Designs are failing

      The Design function gave up on the design of an uploaded scan (error
      kind `$${metric.label.reason}`): the clinic's scan has no lens design.

      **First check** the reason: `invalid` is a scan the engine cannot use
      (the clinic has to rescan); any other kind (`unavailable`, `internal`,
      ...) is ours. Look at the Cloud Run logs of `lensflow-design-${var.environment}`
      at severity >= ERROR around the alert time and open the failing
      delivery's trace in Cloud Trace.
    EOT
  }
  user_labels = {
    app         = "lensflow"
    environment = var.environment
  }
}

resource "google_monitoring_alert_policy" "notifications_failed" {
  project               = var.project
  display_name          = "lensflow notifications failing (${var.environment})"
  combiner              = "OR"
  severity              = "WARNING"
  notification_channels = [google_monitoring_notification_channel.email.id]
  conditions {
    display_name = "lensflow.notifications.failed > 0 in 15 minutes"
    condition_prometheus_query_language {
      query               = "sum by (channel) (increase({\"lensflow.notifications.failed\"}[15m])) > 0"
      duration            = "0s"
      evaluation_interval = "60s"
    }
  }
  alert_strategy {
    auto_close = local.alert_auto_close
  }
  documentation {
    mime_type = "text/markdown"
    subject   = "lensflow ${var.environment}: $${metric.label.channel} notifications failing"
    content   = <<-EOT
      ## Clinic notifications are failing

      Sending a `$${metric.label.channel}` notification failed in the last 15
      minutes. Failed notifications stay pending and the Tasks function
      retries them every 5 minutes (Cloud Scheduler job
      lensflow-notifications-${var.environment}), so a clinic may be told late.

      **First check**, for `webhook`: the Cloud Run logs of
      `lensflow-notifications-${var.environment}` and `lensflow-tasks-${var.environment}`
      for the failing clinic's webhook status (a clinic endpoint down or
      rejecting the signature is the clinic's to fix). For `email`: the SMTP
      server (`LENSFLOW_SMTP_ADDR`) and the password in Secret Manager
      (`lensflow-smtp-password-${var.environment}`).
    EOT
  }
  user_labels = {
    app         = "lensflow"
    environment = var.environment
  }
}

resource "google_monitoring_alert_policy" "events_failed" {
  project               = var.project
  display_name          = "lensflow event deliveries failing (${var.environment})"
  combiner              = "OR"
  severity              = "WARNING"
  notification_channels = [google_monitoring_notification_channel.email.id]
  conditions {
    display_name = "lensflow.events.failed > 10 in 10 minutes"
    condition_prometheus_query_language {
      query               = "sum by (function, event_type) (increase({\"lensflow.events.failed\"}[10m])) > 10"
      duration            = "0s"
      evaluation_interval = "60s"
    }
  }
  alert_strategy {
    auto_close = local.alert_auto_close
  }
  documentation {
    mime_type = "text/markdown"
    subject   = "lensflow ${var.environment}: $${metric.label.function} failing $${metric.label.event_type} events"
    content   = <<-EOT
      ## Event deliveries are failing

      The `$${metric.label.function}` function failed more than 10 deliveries
      of `$${metric.label.event_type}` events in 10 minutes. Pub/Sub redelivers
      them with backoff; after 5 attempts each becomes a dead letter (the
      "lensflow dead letters" alert follows).

      **First check** the Cloud Run logs of
      `lensflow-$${metric.label.function}-${var.environment}` at severity >=
      ERROR and the failing deliveries' traces in Cloud Trace: a dependency
      down (Firestore, Cloud Storage, KMS) fails every event, a bad event fails
      only its own. Fix before the attempts run out.
    EOT
  }
  user_labels = {
    app         = "lensflow"
    environment = var.environment
  }
}
