#!/usr/bin/env bash
# Deploy the evaluate-prescription Edge Function to a Supabase project (research tool, not for clinical use).
#
#   GROQ_API_KEY=gsk_... scripts/deploy_supabase.sh --project-ref abcdefghijklmnopqrst
#   scripts/deploy_supabase.sh --project-ref abcdefghijklmnopqrst --dry-run     # print the commands only
#
# Steps: check the supabase CLI and a login, link the project, set the GROQ_API_KEY secret (read from the
# environment, passed through a private temporary env file, never printed), deploy the function, print its URL
# and a curl example. See docs/deploy_supabase.md.
set -euo pipefail

FUNCTION=evaluate-prescription
usage() {
  cat <<'EOF'
Usage: scripts/deploy_supabase.sh --project-ref REF [--dry-run] [--no-verify-jwt]

Deploy supabase/functions/evaluate-prescription to the Supabase project REF.

  --project-ref REF   the project's reference id (also read from SUPABASE_PROJECT_REF)
  --dry-run           print each command instead of running it (secrets masked)
  --no-verify-jwt     let callers in without a Supabase JWT (default: the anon or service key is required)
  -h, --help          this help

Environment:
  GROQ_API_KEY            required: stored as the function's secret, never printed
  AMR_GRPO_JUDGE_MODEL    optional: judge model id stored as a secret (default llama-3.3-70b-versatile)
  SUPABASE_ACCESS_TOKEN   optional: a token instead of `supabase login` (CI)
  SUPABASE_DB_PASSWORD    optional: the database password `supabase link` may ask for

Research tool, not for clinical use.
EOF
}

die() {
  echo "deploy_supabase: $1" >&2
  [ -n "${2:-}" ] && echo "  hint: $2" >&2
  exit 2
}

REF="${SUPABASE_PROJECT_REF:-}"
DRY_RUN=0
VERIFY_JWT=1
while [ $# -gt 0 ]; do
  case "$1" in
    --project-ref) [ $# -ge 2 ] || die "--project-ref needs a value"; REF="$2"; shift 2 ;;
    --project-ref=*) REF="${1#*=}"; shift ;;
    --dry-run) DRY_RUN=1; shift ;;
    --no-verify-jwt) VERIFY_JWT=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option '$1'" "run with --help" ;;
  esac
done

[ -n "$REF" ] || die "no project given" "pass --project-ref REF (Project Settings > General > Reference ID)"
[[ "$REF" =~ ^[a-z0-9]{20}$ ]] || die "project ref '$REF' is not 20 lower-case letters and digits" \
  "copy it from Project Settings > General > Reference ID"
[ -n "${GROQ_API_KEY:-}" ] || die "GROQ_API_KEY is not set" "export GROQ_API_KEY=... (from console.groq.com/keys)"

cd "$(dirname "$0")/.."
[ -f "supabase/functions/$FUNCTION/index.ts" ] || die "supabase/functions/$FUNCTION/index.ts not found"

# run CMD...: print it (dry run) or run it. Arguments are shown shell-quoted.
run() {
  if [ "$DRY_RUN" = 1 ]; then
    printf '+'; printf ' %q' "$@"; printf '\n'
  else
    "$@"
  fi
}

if [ "$DRY_RUN" = 1 ]; then
  echo "+ command -v supabase"
  echo "+ supabase projects list   # fails unless logged in (supabase login or SUPABASE_ACCESS_TOKEN)"
else
  command -v supabase >/dev/null 2>&1 || die "the supabase CLI is not installed" \
    "npm install -g supabase, or see https://supabase.com/docs/guides/cli"
  supabase projects list >/dev/null 2>&1 || die "the supabase CLI is not logged in" \
    "run 'supabase login' or export SUPABASE_ACCESS_TOKEN"
fi

run supabase link --project-ref "$REF"

# The key goes through a 0600 temporary file so that it never appears in a process list or in this output.
SECRETS_FILE="$(mktemp "${TMPDIR:-/tmp}/amr-grpo-secrets.XXXXXX")"
trap 'rm -f "$SECRETS_FILE"' EXIT
chmod 600 "$SECRETS_FILE"
if [ "$DRY_RUN" = 1 ]; then
  echo "  ($SECRETS_FILE would hold GROQ_API_KEY=****${AMR_GRPO_JUDGE_MODEL:+ and AMR_GRPO_JUDGE_MODEL=$AMR_GRPO_JUDGE_MODEL})"
else
  printf 'GROQ_API_KEY=%s\n' "$GROQ_API_KEY" >"$SECRETS_FILE"
  if [ -n "${AMR_GRPO_JUDGE_MODEL:-}" ]; then
    printf 'AMR_GRPO_JUDGE_MODEL=%s\n' "$AMR_GRPO_JUDGE_MODEL" >>"$SECRETS_FILE"
  fi
fi
run supabase secrets set --project-ref "$REF" --env-file "$SECRETS_FILE"

deploy=(supabase functions deploy "$FUNCTION" --project-ref "$REF")
if [ "$VERIFY_JWT" = 0 ]; then deploy+=(--no-verify-jwt); fi
run "${deploy[@]}"

URL="https://$REF.supabase.co/functions/v1/$FUNCTION"
AUTH_HEADER="-H \"Authorization: Bearer \$SUPABASE_ANON_KEY\" "
if [ "$VERIFY_JWT" = 0 ]; then AUTH_HEADER=""; fi
cat <<EOF

Function URL: $URL
Try it (research tool, not for clinical use):
  curl -sS -X POST '$URL' ${AUTH_HEADER}-H 'Content-Type: application/json' \\
    -d '{"patient_case": "F 28y, uncomplicated cystitis, no allergies", "model_output": "Step 1 - ...\nDecision: Approve", "metrics": "priority"}'
Logs: https://supabase.com/dashboard/project/$REF/functions/$FUNCTION/logs (Dashboard > Edge Functions > $FUNCTION > Logs)
EOF
