#!/usr/bin/env bash
# The run command: sets everything up and starts the bot. With no TELEGRAM_BOT_TOKEN (in the
# environment or .env) it explains how to get one and runs the offline demo instead.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh
exec .venv/bin/labelbot run "$@"
