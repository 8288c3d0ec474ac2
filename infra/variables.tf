variable "project" {
  description = "Google Cloud project id."
  type        = string
}

variable "project_number" {
  description = "Google Cloud project number (gcloud projects describe PROJECT --format 'value(projectNumber)'): service agents and deterministic Cloud Run URLs derive from it."
  type        = string
  validation {
    condition     = can(regex("^[0-9]+$", var.project_number))
    error_message = "project_number is the numeric project number."
  }
}

variable "region" {
  description = "Region for Cloud Run, Firestore, Storage, Pub/Sub persistence and KMS (one location, as Firestore CMEK needs)."
  type        = string
  default     = "europe-west1"
}

variable "environment" {
  description = "Environment suffix of every resource (dev, staging, prod). At most 7 characters: service account ids are limited to 30."
  type        = string
  default     = "dev"
  validation {
    condition     = can(regex("^[a-z][a-z0-9]{0,6}$", var.environment))
    error_message = "environment: 1-7 lowercase letters or digits, starting with a letter."
  }
}

variable "domain" {
  description = "Public API domain (managed certificate, Identity Platform authorized domain), e.g. api.lensflow.example."
  type        = string
}

variable "images" {
  description = "Container image per function directory (functions/<dir>). Only used at creation: scripts/deploy.sh rolls out new images by digest and Terraform ignores image changes."
  type        = map(string)
  default     = {}
}

variable "placeholder_image" {
  description = "Image for services not listed in var.images, replaced by the first gcloud deploy."
  type        = string
  default     = "us-docker.pkg.dev/cloudrun/container/hello"
}

variable "firestore_database" {
  description = "Firestore database id."
  type        = string
  default     = "(default)"
}

variable "smtp_addr" {
  description = "SMTP submission server host:port for notification emails (STARTTLS required). Empty disables email."
  type        = string
  default     = ""
}

variable "smtp_from" {
  description = "From address of notification emails."
  type        = string
  default     = ""
}

variable "smtp_username" {
  description = "SMTP user name. The password lives in Secret Manager (secret lensflow-smtp-password-<env>), added with gcloud secrets versions add."
  type        = string
  default     = ""
}

variable "rate_limit_per_minute" {
  description = "Cloud Armor: requests per minute per client IP before throttling with 429."
  type        = number
  default     = 600
}

variable "scheduler_time_zone" {
  description = "Time zone of the daily follow-up job."
  type        = string
  default     = "Etc/UTC"
}

variable "deletion_protection" {
  description = "Deletion protection on Cloud Run services."
  type        = bool
  default     = true
}

variable "identity_api_key" {
  description = "Identity Platform web API key (APIs & Services > Credentials, restricted to the Identity Toolkit API and https://<domain>/portal/*) that the clinic portal gives browsers to sign in with. Public by design: every sign-in page carries it."
  type        = string
  default     = ""
}

variable "alert_email" {
  description = "Email address (an on-call list, not a person) that receives the alerts of monitoring.tf: dead letters, 5xx rate, failing designs, notifications and event deliveries."
  type        = string
  validation {
    condition     = can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alert_email))
    error_message = "alert_email must be an email address."
  }
}

variable "lab_emails" {
  description = "The lab's addresses told of clinics' comments on orders (LENSFLOW_LAB_EMAILS of the Notifications and Tasks functions). Empty: nobody at the lab is emailed."
  type        = list(string)
  default     = []
  validation {
    condition     = alltrue([for e in var.lab_emails : can(regex("^[^@\\s,]+@[^@\\s,]+\\.[^@\\s,]+$", e))])
    error_message = "lab_emails must be email addresses (no commas or spaces)."
  }
}

variable "deployers" {
  description = "Who may run scripts/deploy.sh by impersonating the build account (IAM members, e.g. \"user:ops@example.com\" or \"group:lensflow-deployers@example.com\"). They need no other role for a code deploy."
  type        = list(string)
  default     = []
  validation {
    condition     = alltrue([for m in var.deployers : can(regex("^(user|group|serviceAccount):[^@\\s]+@[^@\\s]+$", m))])
    error_message = "deployers must be IAM members: user:EMAIL, group:EMAIL or serviceAccount:EMAIL."
  }
}
