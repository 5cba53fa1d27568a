#!/bin/sh
# postdeploy.sh — publish the package to the Flex Consumption app, then
# subscribe EmbedBlob to the incoming container's BlobCreated events and
# BlobDeleted to its BlobDeleted events. azd
# runs it after `azd deploy` (and in `azd up`, after provisioning, the SQL
# grant of postprovision.sh and the build of the predeploy hook,
# scripts/package.sh, which writes dist/tinyhead.zip).
#
# 1. Publish. azure.yaml declares no azd service: azd's `language: custom`
#    is an alpha feature, and Microsoft's Flex Consumption quickstarts for
#    code azd cannot build publish from a hook too. `az functionapp
#    deployment source config-zip` detects a Flex Consumption app and uses
#    its deployment endpoint (one deploy: the zip goes to the app's
#    deployment container, and the app runs from it), then waits for the
#    host. Right after the first provisioning the app identity's role on
#    that container may not have propagated yet (a 403 from storage), so a
#    failed publish is retried for a few minutes.
# 2. Subscribe. functions/EmbedBlob/function.json declares
#    "source": "EventGrid": the host does not poll the container; Event Grid
#    pushes each BlobCreated event to
#      https://<app>/runtime/webhooks/blobs?functionName=Host.Functions.EmbedBlob&code=<blobs_extension key>
#    That system key only exists once the published app has started with
#    the trigger, so the subscription is made here and not in infra/ (which
#    holds no key). The key goes from az straight into the subscription; it
#    is never printed. Re-running updates the subscription.
# 3. Subscribe deletions. functions/BlobDeleted/function.json is an Event
#    Grid trigger: Event Grid pushes each BlobDeleted event of the same
#    system topic and container to
#      https://<app>/runtime/webhooks/eventgrid?functionName=BlobDeleted&code=<eventgrid_extension key>
#    a system key the host creates once it has loaded that trigger. The
#    handler deletes the blob's rows; NightlyTrain repairs any deletion
#    whose event was lost.
#
# Every az call names the subscription azd deploys to (AZURE_SUBSCRIPTION_ID).
#
# Needs: az (signed in). Reads (azd sets them; with plain `az deployment`,
# export them — see README):
#   AZURE_SUBSCRIPTION_ID RESOURCE_GROUP AZURE_FUNCTION_APP_NAME
#   INCOMING_CONTAINER_NAME INCOMING_SYSTEM_TOPIC_NAME
set -eu

: "${AZURE_SUBSCRIPTION_ID:?}" "${RESOURCE_GROUP:?}" "${AZURE_FUNCTION_APP_NAME:?}"
: "${INCOMING_CONTAINER_NAME:?}" "${INCOMING_SYSTEM_TOPIC_NAME:?}"

command -v az >/dev/null || {
	echo "postdeploy: the Azure CLI (az) is required (see README, Deploy to Azure)" >&2
	exit 1
}

cd "$(dirname "$0")/../.."
zip=dist/tinyhead.zip
function_name=EmbedBlob
subscription=embedblob-incoming
delete_function=BlobDeleted
delete_subscription=blobdeleted-incoming
errors=$(mktemp)
trap 'rm -f "$errors"' EXIT

[ -f "$zip" ] || {
	echo "postdeploy: $zip is missing: run scripts/package.sh first (azd's predeploy hook does)" >&2
	exit 1
}

# 1. Publish, up to 5 times, 60 s apart.
tries=0
until az functionapp deployment source config-zip --subscription "$AZURE_SUBSCRIPTION_ID" \
	--resource-group "$RESOURCE_GROUP" --name "$AZURE_FUNCTION_APP_NAME" --src "$zip" --output none; do
	tries=$((tries + 1))
	if [ "$tries" -ge 5 ]; then
		cat >&2 <<EOF
postdeploy: publishing $zip to $AZURE_FUNCTION_APP_NAME failed $tries times (az's errors are above).
  A 403 (AuthorizationFailure, BlobUploadFailedException) right after the first provisioning means the
  app identity's role on the storage account has not propagated yet: wait a few minutes, then run
  azd deploy again. Anything else: see the app's deployment log in the portal (Deployment Center).
EOF
		exit 1
	fi
	echo "postdeploy: the publish failed ($tries/5); retrying in 60 s (new role assignments take minutes to apply)"
	sleep 60
done
echo "postdeploy: published $zip to $AZURE_FUNCTION_APP_NAME"

# system_key NAME prints the app's system key NAME once the host has created
# it (it does when it first loads a trigger that needs it), waiting up to 5
# minutes. While the new package starts, az may fail: its error is shown
# with each wait.
system_key() {
	tries=0
	while :; do
		if k=$(az functionapp keys list --subscription "$AZURE_SUBSCRIPTION_ID" \
			--resource-group "$RESOURCE_GROUP" --name "$AZURE_FUNCTION_APP_NAME" \
			--query "systemKeys.$1" --output tsv 2>"$errors"); then
			if [ -n "$k" ]; then
				printf '%s' "$k"
				return 0
			fi
			reason="the host has not created it yet"
		else
			reason="az: $(tr '\n' ' ' <"$errors")"
		fi
		tries=$((tries + 1))
		if [ "$tries" -ge 30 ]; then
			cat >&2 <<EOF
postdeploy: the app has no $1 key after 5 minutes ($reason).
  The host creates it once the handler has started and the functions' triggers are loaded. Look at the
  app's logs (Application Insights: traces and exceptions of the last minutes) for why it did not
  start, fix it, and run azd deploy again.
EOF
			return 1
		fi
		echo "postdeploy: waiting for the app's $1 key ($tries/30): $reason" >&2
		sleep 10
	done
}

host=$(az functionapp show --subscription "$AZURE_SUBSCRIPTION_ID" --resource-group "$RESOURCE_GROUP" \
	--name "$AZURE_FUNCTION_APP_NAME" --query defaultHostName --output tsv)

# 2. BlobCreated → EmbedBlob, through the blobs extension's webhook, which
# answers the subscription's validation handshake.
key=$(system_key blobs_extension) || exit 1
endpoint="https://$host/runtime/webhooks/blobs?functionName=Host.Functions.$function_name&code=$key"
az eventgrid system-topic event-subscription create --subscription "$AZURE_SUBSCRIPTION_ID" \
	--resource-group "$RESOURCE_GROUP" --system-topic-name "$INCOMING_SYSTEM_TOPIC_NAME" \
	--name "$subscription" --endpoint-type webhook --endpoint "$endpoint" \
	--included-event-types Microsoft.Storage.BlobCreated \
	--subject-begins-with "/blobServices/default/containers/$INCOMING_CONTAINER_NAME/" \
	--output none
echo "postdeploy: Event Grid delivers BlobCreated events of $INCOMING_CONTAINER_NAME/ to $function_name ($subscription)"

# 3. BlobDeleted → BlobDeleted, through the Event Grid extension's webhook,
# which answers the subscription's validation handshake.
key=$(system_key eventgrid_extension) || exit 1
endpoint="https://$host/runtime/webhooks/eventgrid?functionName=$delete_function&code=$key"
az eventgrid system-topic event-subscription create --subscription "$AZURE_SUBSCRIPTION_ID" \
	--resource-group "$RESOURCE_GROUP" --system-topic-name "$INCOMING_SYSTEM_TOPIC_NAME" \
	--name "$delete_subscription" --endpoint-type webhook --endpoint "$endpoint" \
	--included-event-types Microsoft.Storage.BlobDeleted \
	--subject-begins-with "/blobServices/default/containers/$INCOMING_CONTAINER_NAME/" \
	--output none
echo "postdeploy: Event Grid delivers BlobDeleted events of $INCOMING_CONTAINER_NAME/ to $delete_function ($delete_subscription)"
