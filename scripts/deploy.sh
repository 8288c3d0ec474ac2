#!/usr/bin/env bash
# Rolls lensflow's code out to Cloud Run, and nothing else. For each
# function it builds one image from the function's own main
# (functions/<name>/cmd) with Google Cloud's Go buildpack on Cloud Build,
# pushes it to the environment's Artifact Registry repository, and points
# the function's Cloud Run service at that image by digest: one build and
# one revision per function and deploy.
#
# Terraform (infra/) owns every other setting of the services: memory, CPU,
# timeout, concurrency, scaling, environment, service account, audiences,
# ingress, invokers, topics and subscriptions. This script passes none of
# them (a test in scripts/functions checks its dry run), so a code deploy
# never undoes an apply. Apply the Terraform first.
#
# It runs as the build account Terraform creates (infra/build.tf): set
# CLOUDSDK_AUTH_IMPERSONATE_SERVICE_ACCOUNT to its email (terraform output
# build_service_account) if you are one of var.deployers; Cloud Build runs
# it as that account itself (cloudbuild.yaml).
#
# Usage: scripts/deploy.sh [--dry-run] [FUNCTION...]     (default: all)
# Environment:
#   PROJECT      Google Cloud project (default: gcloud's configured project)
#   REGION       Cloud Run and Artifact Registry region (default: europe-west1)
#   ENVIRONMENT  environment suffix of every resource (default: dev)
#   TAG          image tag (default: the commit, git rev-parse --short HEAD)
#   FUNCTIONS_FILE  output of `go run ./scripts/functions` (default: run it)
set -euo pipefail
cd "$(dirname "$0")/.."

DRY=0
if [[ "${1:-}" == "--dry-run" ]]; then DRY=1; shift; fi
run() { if ((DRY)); then printf '+ %q' "$1"; shift; printf ' %q' "$@"; echo; else "$@"; fi; }

PROJECT=${PROJECT:-$(gcloud config get-value project 2>/dev/null || true)}
REGION=${REGION:-europe-west1}
ENVIRONMENT=${ENVIRONMENT:-dev}
TAG=${TAG:-$(git rev-parse --short HEAD 2>/dev/null || echo manual)}
[[ -n "$PROJECT" ]] || { echo "deploy: set PROJECT or 'gcloud config set project ...'" >&2; exit 2; }
# What Terraform creates for deploys (infra/functions.tf, infra/build.tf;
# outputs images_repository, build_service_account, build_bucket): the
# images repository, the account builds run as, and the bucket holding
# their staged sources and logs. The policy test checks these names.
REPOSITORY="$REGION-docker.pkg.dev/$PROJECT/lensflow-$ENVIRONMENT"
BUILD_ACCOUNT="projects/$PROJECT/serviceAccounts/lensflow-build-$ENVIRONMENT@$PROJECT.iam.gserviceaccount.com"
BUILD_BUCKET="gs://$PROJECT-lensflow-build-$ENVIRONMENT"

# The function list comes from the code (platform registry); Cloud Build
# passes it in a file because its deploy step has no Go toolchain.
if [[ -n "${FUNCTIONS_FILE:-}" ]]; then mapfile -t FUNCS <"$FUNCTIONS_FILE"; else mapfile -t FUNCS < <(go run ./scripts/functions); fi
want=("$@")
selected() { ((${#want[@]} == 0)) && return 0; for w in "${want[@]}"; do [[ "${w,,}" == "$1" ]] && return 0; done; return 1; }

# The Go release the services are built with: the one CI tests and
# govulncheck checks (go.mod's toolchain line).
GO_VERSION=${GO_VERSION:-$(sed -n 's/^toolchain go//p' go.mod)}
GO_VERSION=${GO_VERSION:-$(sed -n 's/^go //p' go.mod)}

declare -A done_dirs=()
for line in "${FUNCS[@]}"; do
  read -r dir name _ <<<"$line"
  selected "$dir" || continue
  [[ -z "${done_dirs[$dir]:-}" ]] || continue # a function consuming several topics is listed once per topic
  done_dirs[$dir]=1
  service="lensflow-$dir-$ENVIRONMENT"
  image="$REPOSITORY/$dir:$TAG"
  echo "== $name: build $image, then roll $service out to it"
  run gcloud builds submit . --project "$PROJECT" --region "$REGION" --quiet \
    --service-account "$BUILD_ACCOUNT" --gcs-source-staging-dir "$BUILD_BUCKET/source" --gcs-log-dir "$BUILD_BUCKET/logs" \
    --pack "^|^image=$image|env=GOOGLE_BUILDABLE=./functions/$dir/cmd,GOOGLE_GO_VERSION=$GO_VERSION"
  if ((DRY)); then
    digest="sha256:dry-run"
  else
    digest=$(gcloud artifacts docker images describe "$image" --project "$PROJECT" --format 'value(image_summary.digest)')
  fi
  run gcloud run services update "$service" --project "$PROJECT" --region "$REGION" --quiet \
    --image "$REPOSITORY/$dir@$digest"
done
