#!/usr/bin/env bash
# Deploys lensflow's functions to Cloud Run from the repository root, one
# Cloud Run service per function, each built by Google Cloud's Go buildpack
# from its own main (functions/<name>/cmd), so every function drains
# in-flight requests on SIGTERM.
#
# Usage: scripts/deploy.sh [--dry-run] [FUNCTION...]     (default: all)
# Environment:
#   PROJECT      Google Cloud project (default: gcloud's configured project)
#   REGION       Cloud Run region (default: europe-west1)
#   ENVIRONMENT  environment suffix of every resource (default: dev)
#   KEK_URI      key-encryption key, gcp-kms://projects/P/locations/L/keyRings/R/cryptoKeys/K
#                (default: the lensflow-<env> key ring's "scans" key in REGION)
#   BUCKET       scan bucket (default: <project>-lensflow-scans-<env>)
#   FUNCTIONS_FILE  output of `go run ./scripts/functions` (default: run it)
#
# The service accounts (lensflow-<function>-<env>), topics, subscriptions,
# scheduler jobs and load balancer come from Terraform (infra/, see
# infra/README.md); apply it first. This script builds and deploys code: it
# only adds or updates the environment variables it names (--update-env-vars),
# so what Terraform set stays; where a topic or subscription is missing (a
# project without the Terraform yet) it creates it.
set -euo pipefail
cd "$(dirname "$0")/.."

DRY=0
if [[ "${1:-}" == "--dry-run" ]]; then DRY=1; shift; fi
run() { if ((DRY)); then printf '+ %q' "$1"; shift; printf ' %q' "$@"; echo; else "$@"; fi; }

PROJECT=${PROJECT:-$( ((DRY)) && echo dry-run-project || gcloud config get-value project 2>/dev/null)}
REGION=${REGION:-europe-west1}
ENVIRONMENT=${ENVIRONMENT:-dev}
KEK_URI=${KEK_URI:-gcp-kms://projects/$PROJECT/locations/$REGION/keyRings/lensflow-$ENVIRONMENT/cryptoKeys/scans}
BUCKET=${BUCKET:-$PROJECT-lensflow-scans-$ENVIRONMENT}
[[ -n "$PROJECT" ]] || { echo "deploy: set PROJECT or 'gcloud config set project ...'" >&2; exit 2; }
PROJECT_NUMBER=${PROJECT_NUMBER:-$( ((DRY)) && echo 123456789 || gcloud projects describe "$PROJECT" --format 'value(projectNumber)')}
# A service answers on https://<service>-<project number>.<region>.run.app (what Terraform and the push
# subscriptions use as the token audience) and on the URL gcloud reports; functions accept either.
audiences() { echo "https://$1-$PROJECT_NUMBER.$REGION.run.app,$2"; }

# The function list comes from the code (platform registry); Cloud Build
# passes it in a file because its deploy step has no Go toolchain.
if [[ -n "${FUNCTIONS_FILE:-}" ]]; then mapfile -t FUNCS <"$FUNCTIONS_FILE"; else mapfile -t FUNCS < <(go run ./scripts/functions); fi
want=("$@")
selected() { ((${#want[@]} == 0)) && return 0; for w in "${want[@]}"; do [[ "${w,,}" == "$1" ]] && return 0; done; return 1; }

sa() { echo "lensflow-$1-$ENVIRONMENT@$PROJECT.iam.gserviceaccount.com"; }
push_sa=$(sa push)
base_env="LENSFLOW_PROFILE=gcp,GOOGLE_CLOUD_PROJECT=$PROJECT,LENSFLOW_BUCKET=$BUCKET,LENSFLOW_KEK_URI=$KEK_URI"
common_env="$base_env,LENSFLOW_SERVICE_ACCOUNTS=$push_sa"
tasks_env="$base_env,LENSFLOW_SERVICE_ACCOUNTS=$(sa scheduler)" # Cloud Scheduler calls the task routes

# The Go release the services are built with: the one CI tests and
# govulncheck checks (go.mod's toolchain line).
GO_VERSION=${GO_VERSION:-$(sed -n 's/^toolchain go//p' go.mod)}
GO_VERSION=${GO_VERSION:-$(sed -n 's/^go //p' go.mod)}

declare -A deployed=()
for line in "${FUNCS[@]}"; do
  read -r dir name kind rest <<<"$line"
  selected "$dir" || continue
  service="lensflow-$dir-$ENVIRONMENT"
  flags=(--project "$PROJECT" --region "$REGION" --source .
    --set-build-env-vars "GOOGLE_BUILDABLE=./functions/$dir/cmd,GOOGLE_GO_VERSION=$GO_VERSION"
    --service-account "$(sa "$dir")" --min-instances 0 --max-instances 20
    --cpu 1 --memory 512Mi --timeout 60s --quiet)
  if [[ -z "${deployed[$service]:-}" ]]; then echo "== $name -> Cloud Run service $service ($kind)"; fi
  if [[ "$kind" == http && "$dir" == tasks ]]; then
    # Scheduled tasks: private, called by Cloud Scheduler with an OIDC token.
    run gcloud run deploy "$service" "${flags[@]}" --concurrency 10 \
      --ingress internal --no-allow-unauthenticated \
      --update-env-vars "$tasks_env,LENSFLOW_AUTH_ISSUERS=google-oidc,LENSFLOW_SERVICE_AUDIENCES=https://$service.pending"
    url=$( ((DRY)) && echo "https://$service-dry-run.a.run.app" || gcloud run services describe "$service" --project "$PROJECT" --region "$REGION" --format 'value(status.url)')
    run gcloud run services update "$service" --project "$PROJECT" --region "$REGION" --quiet \
      --update-env-vars "^;^LENSFLOW_SERVICE_AUDIENCES=$(audiences "$service" "$url")"
  elif [[ "$kind" == http ]]; then
    # Public API functions sit behind the HTTPS load balancer; the app
    # verifies every bearer token itself.
    run gcloud run deploy "$service" "${flags[@]}" --concurrency 40 \
      --ingress internal-and-cloud-load-balancing --allow-unauthenticated \
      --update-env-vars "$common_env,LENSFLOW_AUTH_ISSUERS=identity-platform"
  else
    read -r topic sub dlq attempts <<<"$rest"
    if [[ -z "${deployed[$service]:-}" ]]; then
      run gcloud run deploy "$service" "${flags[@]}" --concurrency 10 \
        --ingress internal --no-allow-unauthenticated \
        --update-env-vars "$common_env,LENSFLOW_AUTH_ISSUERS=google-oidc,LENSFLOW_SERVICE_AUDIENCES=https://$service.pending"
      # The push token's audience is the service URL: tell the function.
      url=$( ((DRY)) && echo "https://$service-dry-run.a.run.app" || gcloud run services describe "$service" --project "$PROJECT" --region "$REGION" --format 'value(status.url)')
      run gcloud run services update "$service" --project "$PROJECT" --region "$REGION" --quiet \
        --update-env-vars "^;^LENSFLOW_SERVICE_AUDIENCES=$(audiences "$service" "$url")"
      run gcloud run services add-iam-policy-binding "$service" --project "$PROJECT" --region "$REGION" \
        --member "serviceAccount:$push_sa" --role roles/run.invoker --quiet
    fi
    url=$( ((DRY)) && echo "https://$service-dry-run.a.run.app" || gcloud run services describe "$service" --project "$PROJECT" --region "$REGION" --format 'value(status.url)')
    for t in "$topic" "$dlq"; do
      if ((DRY)) || ! gcloud pubsub topics describe "$t" --project "$PROJECT" >/dev/null 2>&1; then
        run gcloud pubsub topics create "$t" --project "$PROJECT" --message-retention-duration 7d
      fi
    done
    if ((DRY)) || ! gcloud pubsub subscriptions describe "$sub" --project "$PROJECT" >/dev/null 2>&1; then
      run gcloud pubsub subscriptions create "$sub" --project "$PROJECT" --topic "$topic" \
        --push-endpoint "$url/" --push-auth-service-account "$push_sa" --push-auth-token-audience "$url" \
        --dead-letter-topic "$dlq" --max-delivery-attempts "$attempts" \
        --min-retry-delay 10s --max-retry-delay 600s --ack-deadline 60 --message-retention-duration 7d
      run gcloud pubsub subscriptions create "$dlq-sub" --project "$PROJECT" --topic "$dlq" --message-retention-duration 7d
    fi
  fi
  deployed[$service]=1
done
