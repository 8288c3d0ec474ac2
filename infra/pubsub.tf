# Pub/Sub: every event a function consumes is a push subscription with OIDC
# (audience = the service URL), a dead-letter topic after max attempts, a
# retry policy and 7-day retention; every dead-letter topic has a pull
# subscription (<dead-letter topic>-sub) for inspection and replay.
locals {
  # The code's subscriptions (go run ./scripts/functions, "event" lines):
  # function dir, topic, subscription, dead-letter topic, max attempts.
  push_subscriptions = {
    "scan-received-to-design"         = { function = "design", topic = "scan-received", dead_letter = "scan-received-to-design-dead-letter", max_attempts = 5 }
    "order-placed-to-manufacturing"   = { function = "manufacturing", topic = "order-placed", dead_letter = "order-placed-to-manufacturing-dead-letter", max_attempts = 5 }
    "job-status-to-notifications"     = { function = "notifications", topic = "job-status", dead_letter = "job-status-to-notifications-dead-letter", max_attempts = 5 }
    "follow-up-due-to-notifications"  = { function = "notifications", topic = "follow-up-due", dead_letter = "follow-up-due-to-notifications-dead-letter", max_attempts = 5 }
    "design-revised-to-notifications" = { function = "notifications", topic = "design-revised", dead_letter = "design-revised-to-notifications-dead-letter", max_attempts = 5 }
    "comment-posted-to-notifications" = { function = "notifications", topic = "comment-posted", dead_letter = "comment-posted-to-notifications-dead-letter", max_attempts = 5 }
    "comment-posted-to-timeline"      = { function = "timeline", topic = "comment-posted", dead_letter = "comment-posted-to-timeline-dead-letter", max_attempts = 5 }
  }
  # Topics are named (known at plan time, so the plan JSON shows the wiring
  # the policy test checks); the references keep the creation order.
  # Pulled by the lab's lathe cell (scripts/lathecell) with its own account.
  pull_subscriptions = {
    "manufacturing-jobs-to-lathe-cell" = { topic = "manufacturing-jobs", dead_letter = "manufacturing-jobs-to-lathe-cell-dead-letter", max_attempts = 5 }
  }
  source_subscriptions = merge(local.push_subscriptions, local.pull_subscriptions)

  # Each topic and the one function that publishes it.
  publishers = {
    "scan-received"      = "scans"
    "order-placed"       = "orders"
    "manufacturing-jobs" = "manufacturing"
    "job-status"         = "lab"
    "follow-up-due"      = "tasks"
    "design-revised"     = "orders"
    "comment-posted"     = "orders"
  }

  event_topics      = toset(concat(keys(local.publishers), [for s in local.source_subscriptions : s.topic]))
  dead_letter_topic = toset([for s in local.source_subscriptions : s.dead_letter])
  topics            = setunion(local.event_topics, local.dead_letter_topic)
}

resource "google_pubsub_topic" "topic" {
  for_each                   = local.topics
  project                    = var.project
  name                       = each.value
  kms_key_name               = google_kms_crypto_key.key["pubsub"].id
  message_retention_duration = "604800s"
  message_storage_policy {
    allowed_persistence_regions = [var.region]
  }
  labels = {
    app         = "lensflow"
    environment = var.environment
  }
  depends_on = [google_kms_crypto_key_iam_member.agent["pubsub"]]
}

# The Tasks function's outbox relay publishes events of every kind that a
# function committed but could not publish at the time.
resource "google_pubsub_topic_iam_member" "outbox_relay" {
  for_each = { for topic, fn in local.publishers : topic => fn if fn != "tasks" }
  project  = var.project
  topic    = google_pubsub_topic.topic[each.key].name
  role     = "roles/pubsub.publisher"
  member   = google_service_account.fn["tasks"].member
}

resource "google_pubsub_topic_iam_member" "publisher" {
  for_each = local.publishers
  project  = var.project
  topic    = google_pubsub_topic.topic[each.key].name
  role     = "roles/pubsub.publisher"
  member   = google_service_account.fn[each.value].member
}

resource "google_pubsub_subscription" "push" {
  for_each                   = local.push_subscriptions
  project                    = var.project
  name                       = each.key
  topic                      = google_pubsub_topic.topic[each.value.topic].name
  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"
  expiration_policy {
    ttl = "" # never expires
  }
  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }
  dead_letter_policy {
    dead_letter_topic     = "projects/${var.project}/topics/${google_pubsub_topic.topic[each.value.dead_letter].name}"
    max_delivery_attempts = each.value.max_attempts
  }
  push_config {
    push_endpoint = "${local.service_url[each.value.function]}/"
    oidc_token {
      service_account_email = google_service_account.push.email
      audience              = local.service_url[each.value.function]
    }
  }
  labels = {
    app         = "lensflow"
    function    = each.value.function
    environment = var.environment
  }
  depends_on = [google_cloud_run_v2_service_iam_member.push]
}

resource "google_pubsub_subscription" "pull" {
  for_each                   = local.pull_subscriptions
  project                    = var.project
  name                       = each.key
  topic                      = google_pubsub_topic.topic[each.value.topic].name
  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"
  expiration_policy {
    ttl = ""
  }
  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }
  dead_letter_policy {
    dead_letter_topic     = "projects/${var.project}/topics/${google_pubsub_topic.topic[each.value.dead_letter].name}"
    max_delivery_attempts = each.value.max_attempts
  }
  labels = {
    app         = "lensflow"
    environment = var.environment
  }
}

# A pull subscription on every dead-letter topic, or dead letters are lost.
resource "google_pubsub_subscription" "dead_letter" {
  for_each                   = local.dead_letter_topic
  project                    = var.project
  name                       = "${each.value}-sub"
  topic                      = google_pubsub_topic.topic[each.value].name
  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"
  expiration_policy {
    ttl = ""
  }
  labels = {
    app         = "lensflow"
    environment = var.environment
  }
}

# The Pub/Sub service agent forwards dead letters: publisher on each
# dead-letter topic, subscriber on each source subscription.
resource "google_pubsub_topic_iam_member" "agent_dead_letter" {
  for_each = local.dead_letter_topic
  project  = var.project
  topic    = google_pubsub_topic.topic[each.value].name
  role     = "roles/pubsub.publisher"
  member   = "serviceAccount:${local.agents.pubsub}"
}

resource "google_pubsub_subscription_iam_member" "agent_source" {
  for_each     = local.source_subscriptions
  project      = var.project
  subscription = each.key
  role         = "roles/pubsub.subscriber"
  member       = "serviceAccount:${local.agents.pubsub}"
  depends_on   = [google_pubsub_subscription.push, google_pubsub_subscription.pull]
}

# The lathe cell authenticates as its own account: subscriber on its one
# subscription, nothing else.
resource "google_service_account" "lathe_cell" {
  project      = var.project
  account_id   = "lensflow-lathe-cell-${local.suffix}"
  display_name = "lensflow lab lathe cell (${var.environment})"
  depends_on   = [google_project_service.api]
}

resource "google_pubsub_subscription_iam_member" "lathe_cell" {
  project      = var.project
  subscription = google_pubsub_subscription.pull["manufacturing-jobs-to-lathe-cell"].name
  role         = "roles/pubsub.subscriber"
  member       = google_service_account.lathe_cell.member
}
