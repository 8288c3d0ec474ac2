# The one public entry point: a global external HTTPS load balancer routing
# the public API paths to each function's serverless NEG, with a managed
# certificate for var.domain and Cloud Armor rate limiting. Path rules: an
# exact "/a/b" matches only that path, "/a/b/*" everything beneath it; the
# longest match wins. The policy test routes every public route of the code
# through these rules.
locals {
  backend_id = { for k, _ in local.public_functions : k => "projects/${var.project}/global/backendServices/${local.service_name[k]}-backend" }
}

resource "google_compute_global_address" "api" {
  project    = var.project
  name       = "lensflow-api-${local.suffix}"
  depends_on = [google_project_service.api]
}

resource "google_compute_managed_ssl_certificate" "api" {
  project = var.project
  name    = "lensflow-api-${local.suffix}"
  managed {
    domains = [var.domain]
  }
  lifecycle {
    create_before_destroy = true
  }
}

resource "google_compute_security_policy" "api" {
  project     = var.project
  name        = "lensflow-api-${local.suffix}"
  description = "Per-client-IP rate limiting of the public API."
  type        = "CLOUD_ARMOR"

  rule {
    action      = "throttle"
    priority    = 1000
    description = "Rate limit per client IP: 429 beyond the limit."
    match {
      versioned_expr = "SRC_IPS_V1"
      config {
        src_ip_ranges = ["*"]
      }
    }
    rate_limit_options {
      conform_action = "allow"
      exceed_action  = "deny(429)"
      enforce_on_key = "IP"
      rate_limit_threshold {
        count        = var.rate_limit_per_minute
        interval_sec = 60
      }
    }
  }

  rule {
    action      = "allow"
    priority    = 2147483647
    description = "Default rule."
    match {
      versioned_expr = "SRC_IPS_V1"
      config {
        src_ip_ranges = ["*"]
      }
    }
  }
}

resource "google_compute_region_network_endpoint_group" "fn" {
  for_each              = local.public_functions
  project               = var.project
  name                  = "${local.service_name[each.key]}-neg"
  region                = var.region
  network_endpoint_type = "SERVERLESS"
  cloud_run {
    service = google_cloud_run_v2_service.fn[each.key].name
  }
}

resource "google_compute_backend_service" "fn" {
  for_each              = local.public_functions
  project               = var.project
  name                  = "${local.service_name[each.key]}-backend"
  protocol              = "HTTPS"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  security_policy       = google_compute_security_policy.api.id
  backend {
    # Ids spelled out (not referenced) so the plan shows the routing and the
    # policy test can follow it; depends_on keeps the order.
    group = "projects/${var.project}/regions/${var.region}/networkEndpointGroups/${local.service_name[each.key]}-neg"
  }
  log_config {
    enable      = true
    sample_rate = 1
  }
  depends_on = [google_compute_region_network_endpoint_group.fn]
}

resource "google_compute_url_map" "api" {
  project = var.project
  name    = "lensflow-api-${local.suffix}"
  # Unknown paths reach the public clinic locator, which answers 404.
  default_service = local.backend_id["clinics"]

  host_rule {
    hosts        = [var.domain]
    path_matcher = "api"
  }

  path_matcher {
    name            = "api"
    default_service = local.backend_id["clinics"]
    dynamic "path_rule" {
      for_each = local.public_functions
      content {
        paths   = path_rule.value.paths
        service = local.backend_id[path_rule.key]
      }
    }
  }
  depends_on = [google_compute_backend_service.fn]
}

resource "google_compute_target_https_proxy" "api" {
  project          = var.project
  name             = "lensflow-api-${local.suffix}"
  url_map          = google_compute_url_map.api.id
  ssl_certificates = [google_compute_managed_ssl_certificate.api.id]
}

resource "google_compute_global_forwarding_rule" "https" {
  project               = var.project
  name                  = "lensflow-api-https-${local.suffix}"
  target                = google_compute_target_https_proxy.api.id
  ip_address            = google_compute_global_address.api.id
  port_range            = "443"
  load_balancing_scheme = "EXTERNAL_MANAGED"
}

# Plain HTTP only redirects to HTTPS.
resource "google_compute_url_map" "redirect" {
  project = var.project
  name    = "lensflow-api-redirect-${local.suffix}"
  default_url_redirect {
    https_redirect         = true
    redirect_response_code = "MOVED_PERMANENTLY_DEFAULT"
    strip_query            = false
  }
}

resource "google_compute_target_http_proxy" "redirect" {
  project = var.project
  name    = "lensflow-api-redirect-${local.suffix}"
  url_map = google_compute_url_map.redirect.id
}

resource "google_compute_global_forwarding_rule" "http" {
  project               = var.project
  name                  = "lensflow-api-http-${local.suffix}"
  target                = google_compute_target_http_proxy.redirect.id
  ip_address            = google_compute_global_address.api.id
  port_range            = "80"
  load_balancing_scheme = "EXTERNAL_MANAGED"
}
