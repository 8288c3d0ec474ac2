# Example variables for the offline check (scripts/check-infra.sh).
project        = "lensflow-check"
project_number = "123456789012"
region         = "europe-west1"
environment    = "check"
domain         = "api.lensflow.example"
images = {
  scans = "europe-west1-docker.pkg.dev/lensflow-check/lensflow/scans:check"
}
smtp_addr     = "smtp.example.com:587"
smtp_from     = "lab@lensflow.example"
smtp_username = "lensflow"
alert_email   = "oncall@lensflow.example"
lab_emails    = ["lab@lensflow.example", "orders@lensflow.example"]
deployers     = ["group:lensflow-deployers@lensflow.example"]
