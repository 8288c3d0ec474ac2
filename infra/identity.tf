# Identity Platform: clinic users sign in with email and password; the
# functions verify the ID tokens (iss https://securetoken.google.com/PROJECT).
# Clinic and role claims are set per user by the admin tooling.
resource "google_identity_platform_config" "main" {
  project                    = var.project
  authorized_domains         = [var.domain]
  autodelete_anonymous_users = true
  sign_in {
    allow_duplicate_emails = false
    anonymous {
      enabled = false
    }
    email {
      enabled           = true
      password_required = true
    }
  }
  depends_on = [google_project_service.api]
}
