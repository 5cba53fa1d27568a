#!/bin/sh
# postdeploy.sh — subscribe EmbedBlob to the incoming container's
# BlobCreated events, as the Flex Consumption Event Grid blob trigger
# quickstarts do in their post-up.sh
# (Azure-Samples/functions-quickstart-powershell-azd-eventgrid-blob).
#
# functions/EmbedBlob/function.json declares "source": "EventGrid": the host
# does not poll the container; Event Grid pushes each BlobCreated event to
#   https://<app>/runtime/webhooks/blobs?functionName=Host.Functions.EmbedBlob&code=<blobs_extension key>
# That system key only exists once the deployed app has started with the
# trigger, so the subscription is made here, after `azd deploy`, and not in
# infra/ (which holds no key). The key goes from az straight into the
# subscription; it is never printed. Re-running updates the subscription.
#
# Needs: az (signed in). Reads (azd sets them from main.bicep's outputs):
#   RESOURCE_GROUP AZURE_FUNCTION_APP_NAME INCOMING_CONTAINER_NAME INCOMING_SYSTEM_TOPIC_NAME
set -eu

: "${RESOURCE_GROUP:?}" "${AZURE_FUNCTION_APP_NAME:?}" "${INCOMING_CONTAINER_NAME:?}" "${INCOMING_SYSTEM_TOPIC_NAME:?}"

command -v az >/dev/null 2>&1 || {
	echo "postdeploy: the Azure CLI (az) is required (see README, Deploy to Azure)" >&2
	exit 1
}

function_name=EmbedBlob
subscription=embedblob-incoming

# Wait for the host to create the blobs_extension key (it does when it
# first loads an Event Grid blob trigger), up to 5 minutes.
key=
tries=0
while [ -z "$key" ]; do
	key=$(az functionapp keys list --resource-group "$RESOURCE_GROUP" --name "$AZURE_FUNCTION_APP_NAME" \
		--query systemKeys.blobs_extension --output tsv 2>/dev/null || true)
	[ -n "$key" ] && break
	tries=$((tries + 1))
	if [ "$tries" -ge 30 ]; then
		echo "postdeploy: the app has no blobs_extension key after 5 minutes; is the package deployed and the host running?" >&2
		exit 1
	fi
	echo "postdeploy: waiting for the app's blobs_extension key ($tries/30)"
	sleep 10
done

host=$(az functionapp show --resource-group "$RESOURCE_GROUP" --name "$AZURE_FUNCTION_APP_NAME" \
	--query defaultHostName --output tsv)
endpoint="https://$host/runtime/webhooks/blobs?functionName=Host.Functions.$function_name&code=$key"

# The webhook's validation handshake is answered by the app's blobs extension.
az eventgrid system-topic event-subscription create \
	--resource-group "$RESOURCE_GROUP" --system-topic-name "$INCOMING_SYSTEM_TOPIC_NAME" \
	--name "$subscription" --endpoint-type webhook --endpoint "$endpoint" \
	--included-event-types Microsoft.Storage.BlobCreated \
	--subject-begins-with "/blobServices/default/containers/$INCOMING_CONTAINER_NAME/" \
	--output none

echo "postdeploy: Event Grid delivers BlobCreated events of $INCOMING_CONTAINER_NAME/ to $function_name ($subscription)"
