#!/usr/bin/env bash
# The guard of destroy.yml and rollback.yml: the stack typed twice, and prod only with allow-prod.
set -euo pipefail
if [ "$CONFIRM" != "$STACK" ]; then
  echo "::error::confirm must repeat the stack name ($STACK); nothing was $ACTION"
  exit 1
fi
if [ "$STACK" = "prod" ] && [ "$ALLOW_PROD" != "true" ]; then
  echo "::error::prod also needs allow-prod; nothing was $ACTION"
  exit 1
fi
