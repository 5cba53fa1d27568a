#!/bin/sh
# postprovision.sh — make the function app's managed identity a user of the
# Azure SQL database, with db_datareader, db_datawriter and db_ddladmin
# (internal/deploy/sqlgrant says why these). azd runs it after every
# `azd provision` / `azd up`, before the code is deployed (the handler
# creates its schema at start-up, as that user); it is idempotent.
#
# Why a hook and not a start-up step of the app: creating a database user
# for a Microsoft Entra identity needs the server's Entra admin, which is
# the deploying user (infra/app/db.bicep); the app's identity cannot grant
# itself anything. The grant runs as you: azd's sign-in (else the Azure
# CLI's) in azd's tenant, AZURE_TENANT_ID. It connects to the server on TCP
# port 1433, so this machine needs outbound 1433.
#
# The server's firewall admits Azure services only. If it turns this
# machine away, the grant prints this machine's address; the hook then adds
# a firewall rule for that one address, retries (a new rule can take a few
# minutes to apply), and removes the rule when it is done.
#
# Every az call names the subscription azd deploys to (AZURE_SUBSCRIPTION_ID).
#
# Needs: go, az (signed in). Reads (azd sets them; with plain
# `az deployment`, export them — see README):
#   AZURE_SUBSCRIPTION_ID AZURE_TENANT_ID RESOURCE_GROUP AZURE_SQL_SERVER_NAME AZURE_SQL_SERVER_FQDN
#   AZURE_SQL_DATABASE_NAME AZURE_APP_IDENTITY_NAME AZURE_APP_IDENTITY_PRINCIPAL_ID
set -eu

: "${AZURE_SUBSCRIPTION_ID:?}" "${AZURE_TENANT_ID:?}" "${RESOURCE_GROUP:?}"
: "${AZURE_SQL_SERVER_NAME:?}" "${AZURE_SQL_SERVER_FQDN:?}" "${AZURE_SQL_DATABASE_NAME:?}"
: "${AZURE_APP_IDENTITY_NAME:?}" "${AZURE_APP_IDENTITY_PRINCIPAL_ID:?}"

for cmd in go az; do
	command -v "$cmd" >/dev/null || {
		echo "postprovision: $cmd is required (see README, Deploy to Azure)" >&2
		exit 1
	}
done

cd "$(dirname "$0")/../.."
rule=tinyhead-deployer

grant() {
	go run ./internal/deploy/cmd/sqlgrant -tenant "$AZURE_TENANT_ID" \
		-server "$AZURE_SQL_SERVER_FQDN" -database "$AZURE_SQL_DATABASE_NAME" \
		-identity-name "$AZURE_APP_IDENTITY_NAME" -identity-object-id "$AZURE_APP_IDENTITY_PRINCIPAL_ID"
}

# failed explains what to do when the grant fails, then exits.
failed() {
	cat >&2 <<EOF
postprovision: the database grant failed (status $1; its error is above). What to check:
  - this machine reaches $AZURE_SQL_SERVER_FQDN on TCP port 1433 (a corporate network may block it:
    run the deployment from another network, or a Cloud Shell / dev container in Azure);
  - you are signed in to tenant $AZURE_TENANT_ID as the user who ran the deployment
    (azd auth login --tenant-id $AZURE_TENANT_ID; az login --tenant $AZURE_TENANT_ID): that user is
    the server's Microsoft Entra admin. A personal Microsoft account (outlook.com, hotmail.com) may be
    refused as an Azure SQL admin: use a work or school account of the tenant (see README).
Then run the grant again: azd provision (or: azd hooks run postprovision).
EOF
	exit 1
}

status=0
out=$(grant) || status=$?
[ -n "$out" ] && printf '%s\n' "$out"
[ "$status" -eq 0 ] && exit 0
[ "$status" -eq 3 ] || failed "$status"

ip=$(printf '%s\n' "$out" | sed -n 's/^client-ip=//p' | tail -n 1)
[ -n "$ip" ] || {
	echo "postprovision: the firewall turned this machine away, but the grant did not print its address" >&2
	failed "$status"
}

remove_rule() {
	az sql server firewall-rule delete --subscription "$AZURE_SUBSCRIPTION_ID" --resource-group "$RESOURCE_GROUP" \
		--server "$AZURE_SQL_SERVER_NAME" --name "$rule" --output none || {
		echo "postprovision: the firewall rule $rule ($ip) is still open; remove it with:" >&2
		echo "  az sql server firewall-rule delete --subscription $AZURE_SUBSCRIPTION_ID --resource-group $RESOURCE_GROUP --server $AZURE_SQL_SERVER_NAME --name $rule" >&2
		return 1
	}
}

echo "postprovision: opening the SQL firewall for $ip for the grant"
az sql server firewall-rule create --subscription "$AZURE_SUBSCRIPTION_ID" --resource-group "$RESOURCE_GROUP" \
	--server "$AZURE_SQL_SERVER_NAME" --name "$rule" --start-ip-address "$ip" --end-ip-address "$ip" --output none
trap 'remove_rule || exit 1' EXIT

tries=0
while :; do
	status=0
	out=$(grant) || status=$?
	[ -n "$out" ] && printf '%s\n' "$out"
	[ "$status" -eq 0 ] && exit 0
	tries=$((tries + 1))
	if [ "$status" -ne 3 ] || [ "$tries" -ge 10 ]; then
		failed "$status"
	fi
	echo "postprovision: waiting for the firewall rule to apply ($tries/10)"
	sleep 30
done
