#!/bin/sh
# postprovision.sh — make the function app's managed identity a user of the
# Azure SQL database, with db_datareader, db_datawriter and db_ddladmin
# (internal/deploy/sqlgrant says why these). azd runs it after every
# `azd provision` / `azd up`; it is idempotent.
#
# Why a hook and not a start-up step of the app: creating a database user
# for a Microsoft Entra identity needs the server's Entra admin, which is
# the deploying user (infra/app/db.bicep); the app's identity cannot grant
# itself anything. The grant runs as you, through the az / azd sign-in.
#
# The server's firewall admits Azure services only. If it turns this
# machine away, the grant prints this machine's address; the hook then adds
# a firewall rule for that one address, retries (a new rule can take a few
# minutes to apply), and removes the rule when it is done.
#
# Needs: go, az (signed in). Reads (azd sets them from main.bicep's
# outputs; with plain `az deployment`, export them — see README):
#   RESOURCE_GROUP AZURE_SQL_SERVER_NAME AZURE_SQL_SERVER_FQDN
#   AZURE_SQL_DATABASE_NAME AZURE_APP_IDENTITY_NAME AZURE_APP_IDENTITY_PRINCIPAL_ID
set -eu

: "${RESOURCE_GROUP:?}" "${AZURE_SQL_SERVER_NAME:?}" "${AZURE_SQL_SERVER_FQDN:?}"
: "${AZURE_SQL_DATABASE_NAME:?}" "${AZURE_APP_IDENTITY_NAME:?}" "${AZURE_APP_IDENTITY_PRINCIPAL_ID:?}"

for cmd in go az; do
	command -v "$cmd" >/dev/null 2>&1 || {
		echo "postprovision: $cmd is required (see README, Deploy to Azure)" >&2
		exit 1
	}
done

cd "$(dirname "$0")/../.."
rule=tinyhead-deployer

grant() {
	go run ./internal/deploy/cmd/sqlgrant \
		-server "$AZURE_SQL_SERVER_FQDN" -database "$AZURE_SQL_DATABASE_NAME" \
		-identity-name "$AZURE_APP_IDENTITY_NAME" -identity-object-id "$AZURE_APP_IDENTITY_PRINCIPAL_ID"
}

status=0
out=$(grant) || status=$?
[ -n "$out" ] && printf '%s\n' "$out"
[ "$status" -eq 0 ] && exit 0
[ "$status" -eq 3 ] || exit "$status"

ip=$(printf '%s\n' "$out" | sed -n 's/^client-ip=//p' | tail -n 1)
[ -n "$ip" ] || {
	echo "postprovision: the firewall turned this machine away, but its address is unknown" >&2
	exit 1
}
echo "postprovision: opening the SQL firewall for $ip for the grant"
az sql server firewall-rule create --resource-group "$RESOURCE_GROUP" --server "$AZURE_SQL_SERVER_NAME" \
	--name "$rule" --start-ip-address "$ip" --end-ip-address "$ip" --output none
trap 'az sql server firewall-rule delete --resource-group "$RESOURCE_GROUP" --server "$AZURE_SQL_SERVER_NAME" --name "$rule" --output none || true' EXIT

tries=0
while :; do
	status=0
	out=$(grant) || status=$?
	[ -n "$out" ] && printf '%s\n' "$out"
	[ "$status" -eq 0 ] && exit 0
	tries=$((tries + 1))
	if [ "$status" -ne 3 ] || [ "$tries" -ge 10 ]; then
		echo "postprovision: the grant failed (status $status)" >&2
		exit 1
	fi
	echo "postprovision: waiting for the firewall rule to apply ($tries/10)"
	sleep 30
done
