#!/usr/bin/env bash
# Run a command with a private D-Bus session and an unlocked gnome-keyring Secret Service,
# e.g. for tests/records/test_key_store_secret_service.py on a machine without a desktop:
#   tests/records/with_secret_service.sh python -m pytest tests/records/test_key_store_secret_service.py
# Needs: apt-get install -y gnome-keyring dbus  (dbus-run-session, gnome-keyring-daemon).
# The keyring lives in a throw-away HOME and runtime folder, unlocked with a throw-away password.
set -euo pipefail
if [ "${SCANGATE_IN_SECRET_SERVICE_SESSION:-}" != 1 ]; then
    export SCANGATE_IN_SECRET_SERVICE_SESSION=1
    exec dbus-run-session -- "$0" "$@"
fi
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
export HOME="$scratch/home" XDG_RUNTIME_DIR="$scratch/run" XDG_DATA_HOME="$scratch/home/.local/share"
mkdir -p "$HOME" "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
printf 'throw-away-keyring-password' | gnome-keyring-daemon --unlock --components=secrets >/dev/null
"$@"
