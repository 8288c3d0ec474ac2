#!/usr/bin/env bash
# Offline check of the Terraform in infra/ with the real Google provider:
#   1. builds terraform-provider-google from the Go module proxy once (about
#      3 minutes; cached in $LENSFLOW_CACHE/tfprovider) and installs it into a
#      filesystem mirror (dev_overrides would break init);
#   2. terraform fmt -check, init (local backend), validate, and plan with a
#      fake access token (infra/checks/check_override.tf, copied into a
#      scratch copy of infra/ under the cache so the repository stays clean)
#      and example variables (infra/checks/check.tfvars); no API calls;
#   3. terraform show -json of the plan into $PLAN_JSON, then the policy test
#      (go test ./infra/policy) against it.
# Reruns reuse the provider, the mirror and the initialized scratch dir
# (about 20 s).
#
# Usage: scripts/check-infra.sh
# Environment:
#   LENSFLOW_CACHE  cache directory (default $HOME/.cache/lensflow)
#   PLAN_JSON       where to write the plan JSON (default $LENSFLOW_CACHE/plan.json)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

PROVIDER_MODULE=github.com/hashicorp/terraform-provider-google
PROVIDER_PSEUDO=v1.20.1-0.20260828184646-f3721fb45fa3 # provider 8.0.0
PROVIDER_VERSION=8.0.0

cache=${LENSFLOW_CACHE:-$HOME/.cache/lensflow}
provdir=$cache/tfprovider
bin=$provdir/bin/terraform-provider-google
mirror=$provdir/mirror
mirror_bin=$mirror/registry.terraform.io/hashicorp/google/$PROVIDER_VERSION/linux_amd64/terraform-provider-google_v$PROVIDER_VERSION
work=$cache/tfcheck
PLAN_JSON=${PLAN_JSON:-$cache/plan.json}
mkdir -p "$provdir" "$work"

step() { echo "== infra: $*"; }
command -v terraform >/dev/null || { echo "check-infra: terraform not installed" >&2; exit 1; }

step "provider $PROVIDER_VERSION"
if [[ ! -x "$bin" ]]; then
  echo "building $PROVIDER_MODULE@$PROVIDER_PSEUDO (about 3 minutes, once per machine)"
  GOBIN=$provdir/bin GOFLAGS=-buildvcs=false go install "$PROVIDER_MODULE@$PROVIDER_PSEUDO"
fi
if [[ ! -x "$mirror_bin" ]] || ! cmp -s "$bin" "$mirror_bin"; then
  mkdir -p "$(dirname "$mirror_bin")"
  ln -f "$bin" "$mirror_bin" 2>/dev/null || cp "$bin" "$mirror_bin"
fi
cli_config=$provdir/terraformrc
cat >"$cli_config.tmp" <<CFG
provider_installation {
  filesystem_mirror {
    path    = "$mirror"
    include = ["registry.terraform.io/hashicorp/google"]
  }
  direct {
    exclude = ["registry.terraform.io/hashicorp/google"]
  }
}
CFG
mv "$cli_config.tmp" "$cli_config"
# TF_CLI_CONFIG_FILE is preset to a missing file on these machines: set it
# for every terraform command.
tf() { TF_CLI_CONFIG_FILE=$cli_config TF_IN_AUTOMATION=1 TF_INPUT=0 CHECKPOINT_DISABLE=1 terraform "$@"; }

step "fmt"
tf fmt -check -recursive infra

step "scratch copy in $work"
find "$work" -maxdepth 1 -name '*.tf' -delete
cp infra/*.tf "$work"/
cp infra/checks/check_override.tf "$work"/check_override.tf
cp infra/checks/check.tfvars "$work"/check.tfvars

step "init"
# The lock file records the mirror binary's hash: recompute it each run, so a
# rebuilt provider never fails init.
rm -f "$work/.terraform.lock.hcl"
tf -chdir="$work" init -reconfigure -input=false -no-color >"$work/init.log" 2>&1 || { cat "$work/init.log"; exit 1; }

step "validate"
tf -chdir="$work" validate -no-color

step "plan (fake token, no API calls)"
tf -chdir="$work" plan -input=false -no-color -lock=false -refresh=false \
  -var-file=check.tfvars -out=check.tfplan >"$work/plan.log" 2>&1 || { cat "$work/plan.log"; exit 1; }
grep -E '^Plan:' "$work/plan.log"
mkdir -p "$(dirname "$PLAN_JSON")"
tf -chdir="$work" show -json check.tfplan >"$PLAN_JSON.tmp"
mv "$PLAN_JSON.tmp" "$PLAN_JSON"
echo "plan JSON: $PLAN_JSON"

step "policy test"
cd "$root"
LENSFLOW_PLAN_JSON=$PLAN_JSON go test -count=1 ./infra/policy
