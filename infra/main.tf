# lensflow infrastructure. This is the skeleton the full description grows
# from (issue: "Infrastructure as code"): until then scripts/deploy.sh
# deploys the functions with gcloud and creates the topics they need.
terraform {
  required_version = ">= 1.11"
  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 8.0"
    }
  }
}

variable "project" {
  description = "Google Cloud project id."
  type        = string
}

variable "region" {
  description = "Region for Cloud Run, Firestore, Storage and KMS."
  type        = string
  default     = "europe-west1"
}

variable "environment" {
  description = "Environment suffix of every resource (dev, staging, prod)."
  type        = string
  default     = "dev"
}

provider "google" {
  project = var.project
  region  = var.region
}
