output "api_ip" {
  description = "IP address of the HTTPS load balancer: point the domain's A record here."
  value       = google_compute_global_address.api.address
}

output "api_url" {
  description = "Public API base URL."
  value       = "https://${var.domain}"
}

output "service_urls" {
  description = "Cloud Run URL of each function's service (public ones accept only load-balancer traffic)."
  value       = { for k, s in google_cloud_run_v2_service.fn : k => s.uri }
}

output "service_accounts" {
  description = "Service account of each function."
  value       = { for k, sa in google_service_account.fn : k => sa.email }
}

output "kek_uri" {
  description = "LENSFLOW_KEK_URI of the functions."
  value       = local.kek_uri
}

output "bucket" {
  description = "The scan bucket."
  value       = google_storage_bucket.scans.name
}

output "images_repository" {
  description = "Artifact Registry repository scripts/deploy.sh pushes the function images to."
  value       = "${var.region}-docker.pkg.dev/${var.project}/${google_artifact_registry_repository.images.repository_id}"
}

output "build_service_account" {
  description = "The account image builds and rollouts run as (scripts/deploy.sh, cloudbuild.yaml)."
  value       = google_service_account.build.email
}

output "build_bucket" {
  description = "Where Cloud Build stages the deploy's sources and writes its logs."
  value       = google_storage_bucket.build.name
}
