// tinyhead on Azure: a Flex Consumption function app running the Go custom
// handler, its storage (incoming/ and models/ containers, shared keys off),
// the blob trigger's Event Grid system topic, Azure SQL (Microsoft Entra
// authentication only, a serverless database), a user-assigned managed
// identity with least-privilege roles, and Application Insights.
//
// Deploy with `azd up` (azure.yaml; main.parameters.json maps the azd
// environment to the parameters) or with plain
// `az deployment sub create -l <location> -f infra/main.bicep -p environmentName=<name> location=<location>`.
//
// The structure follows Microsoft's Flex Consumption azd quickstart
// Azure-Samples/functions-quickstart-powershell-azd-eventgrid-blob (its
// twins in TypeScript, .NET and Python have the same infra/): the same
// parameters and names, the same Azure Verified Modules and versions, app/
// modules for the function app and the role assignments. The database
// follows Azure-Samples/functions-quickstart-dotnet-azd-sql (infra/app/db.bicep).
// What differs, and why, is commented where it happens. Nothing here holds
// a key or a password.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the environment, used to generate a short unique hash used in all resources.')
param environmentName string

@minLength(1)
@description('Primary location for all resources. It must offer Flex Consumption (az functionapp list-flexconsumption-locations).')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

param apiServiceName string = ''
param apiUserAssignedIdentityName string = ''
param applicationInsightsName string = ''
param appServicePlanName string = ''
param logAnalyticsName string = ''
param resourceGroupName string = ''
param storageAccountName string = ''
param sqlServerName string = ''

@description('Name of the database.')
param sqlDatabaseName string = 'tinyhead'

@description('Blob container that EmbedBlob watches (functions/EmbedBlob/function.json names it too).')
param incomingContainerName string = 'incoming'

@description('Blob container of the trained models.')
param modelsContainerName string = 'models'

@description('NCRONTAB schedule (6 fields, UTC) of the NightlyTrain timer.')
param nightlySchedule string = '0 0 2 * * *'

@description('Object ID of the deploying principal: it becomes the SQL server\'s Microsoft Entra admin (to create the app\'s database user) and may read and write blobs. azd sets AZURE_PRINCIPAL_ID.')
param principalId string = deployer().objectId

@description('Type of the deploying principal.')
@allowed(['User', 'ServicePrincipal'])
param principalType string = 'User'

@description('Login name shown for the SQL server\'s Microsoft Entra admin (the principal is identified by principalId).')
param sqlAdminLogin string = 'tinyhead-deployer'

@description('Object ID of a Microsoft Entra group to make the SQL server\'s admin instead of the deploying principal, for an account that cannot be an Azure SQL admin itself (a personal Microsoft account): the deploying user must be a member, because the postprovision grant runs as that user. azd reads AZURE_SQL_ADMIN_GROUP_ID.')
param sqlAdminGroupId string = ''

@description('Display name of that group.')
param sqlAdminGroupName string = ''

var abbrs = loadJsonContent('./abbreviations.json')
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName }
// Generate a unique function app name if one is not provided.
var functionAppName = !empty(apiServiceName) ? apiServiceName : '${abbrs.webSitesFunctions}api-${resourceToken}'
// Generate a unique container name that will be used for deployments.
var deploymentStorageContainerName = 'app-package-${take(functionAppName, 32)}-${take(toLower(uniqueString(functionAppName, resourceToken)), 7)}'
var incomingSystemTopicName = '${abbrs.eventGridSystemTopics}incoming-${resourceToken}'

// Organize resources in a resource group
resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: !empty(resourceGroupName) ? resourceGroupName : '${abbrs.resourcesResourceGroups}${environmentName}'
  location: location
  tags: tags
}

// User-assigned managed identity of the function app: the host and the
// handler reach storage, SQL and Application Insights with it.
module apiUserAssignedIdentity 'br/public:avm/res/managed-identity/user-assigned-identity:0.4.1' = {
  name: 'apiUserAssignedIdentity'
  scope: rg
  params: {
    location: location
    tags: tags
    name: !empty(apiUserAssignedIdentityName) ? apiUserAssignedIdentityName : '${abbrs.managedIdentityUserAssignedIdentities}api-${resourceToken}'
  }
}

// Flex Consumption plan (FC1, Linux). Flex hosts custom handlers: the app's
// runtime is 'custom' '1.0' (app/api.bicep).
module appServicePlan 'br/public:avm/res/web/serverfarm:0.1.1' = {
  name: 'appserviceplan'
  scope: rg
  params: {
    name: !empty(appServicePlanName) ? appServicePlanName : '${abbrs.webServerFarms}${resourceToken}'
    sku: {
      name: 'FC1'
      tier: 'FlexConsumption'
    }
    reserved: true
    location: location
    tags: tags
  }
}

// The function app. Unlike the template, main.bicep passes no appSettings
// object: every app setting is in one object in app/api.bicep, which the
// tests (internal/deploy) compare with the settings the handler reads.
module api 'app/api.bicep' = {
  name: 'api'
  scope: rg
  params: {
    name: functionAppName
    location: location
    tags: tags
    applicationInsightsName: monitoring.outputs.name
    appServicePlanId: appServicePlan.outputs.resourceId
    runtimeName: 'custom'
    runtimeVersion: '1.0'
    storageAccountName: storage.outputs.name
    deploymentStorageContainerName: deploymentStorageContainerName
    identityId: apiUserAssignedIdentity.outputs.resourceId
    identityClientId: apiUserAssignedIdentity.outputs.clientId
    sqlServerFqdn: db.outputs.fullyQualifiedDomainName
    sqlDatabaseName: db.outputs.databaseName
    nightlySchedule: nightlySchedule
  }
}

// Storage: the host's storage (AzureWebJobsStorage), the deployment
// container, and the app's containers. Shared-key access is disabled, so
// only Microsoft Entra identities with data roles (app/rbac.bicep) get in.
module storage 'br/public:avm/res/storage/storage-account:0.8.3' = {
  name: 'storage'
  scope: rg
  params: {
    name: !empty(storageAccountName) ? storageAccountName : '${abbrs.storageStorageAccounts}${resourceToken}'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false // Disable local authentication methods as per policy
    dnsEndpointType: 'Standard'
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
    blobServices: {
      containers: [
        { name: deploymentStorageContainerName, publicAccess: 'None' }
        { name: incomingContainerName, publicAccess: 'None' }
        { name: modelsContainerName, publicAccess: 'None' }
      ]
    }
    minimumTlsVersion: 'TLS1_2' // Enforcing TLS 1.2 for better security
    location: location
    tags: tags
  }
}

// Which storage services the identity needs (the template's
// storageEndpointConfig): blobs for the host, the trigger and the app;
// queues for the blob trigger's receipts and poison queue; no tables
// (no Durable Functions) and no files.
var storageEndpointConfig = {
  enableBlob: true
  enableQueue: true
  enableTable: false
  enableFiles: false
  allowUserIdentityPrincipal: true // The deploying user may drop files and read models
}

// Consolidated role assignments
module rbac 'app/rbac.bicep' = {
  name: 'rbacAssignments'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    appInsightsName: monitoring.outputs.name
    managedIdentityPrincipalId: apiUserAssignedIdentity.outputs.principalId
    userIdentityPrincipalId: principalId
    userIdentityPrincipalType: principalType
    enableBlob: storageEndpointConfig.enableBlob
    enableQueue: storageEndpointConfig.enableQueue
    enableTable: storageEndpointConfig.enableTable
    allowUserIdentityPrincipal: storageEndpointConfig.allowUserIdentityPrincipal
  }
}

// Azure SQL: a logical server with Microsoft Entra-only authentication
// (the deploying principal is its admin) and a serverless database. The
// app's identity becomes a database user in the postprovision hook
// (infra/hooks/postprovision.sh), because only an Entra admin can create it.
module db 'app/db.bicep' = {
  name: 'database'
  scope: rg
  params: {
    location: location
    tags: tags
    serverName: !empty(sqlServerName) ? sqlServerName : '${abbrs.sqlServers}${resourceToken}'
    databaseName: sqlDatabaseName
    adminPrincipalId: !empty(sqlAdminGroupId) ? sqlAdminGroupId : principalId
    adminPrincipalType: !empty(sqlAdminGroupId) ? 'Group' : (principalType == 'ServicePrincipal' ? 'Application' : 'User')
    adminLogin: !empty(sqlAdminGroupId) ? (!empty(sqlAdminGroupName) ? sqlAdminGroupName : 'tinyhead-sql-admins') : sqlAdminLogin
  }
}

// Monitor application with Azure Monitor - Log Analytics and Application Insights
module logAnalytics 'br/public:avm/res/operational-insights/workspace:0.11.1' = {
  name: '${uniqueString(deployment().name, location)}-loganalytics'
  scope: rg
  params: {
    name: !empty(logAnalyticsName) ? logAnalyticsName : '${abbrs.operationalInsightsWorkspaces}${resourceToken}'
    location: location
    tags: tags
    dataRetention: 30
  }
}

module monitoring 'br/public:avm/res/insights/component:0.6.0' = {
  name: '${uniqueString(deployment().name, location)}-appinsights'
  scope: rg
  params: {
    name: !empty(applicationInsightsName) ? applicationInsightsName : '${abbrs.insightsComponents}${resourceToken}'
    location: location
    tags: tags
    workspaceResourceId: logAnalytics.outputs.resourceId
    disableLocalAuth: true
  }
}

// The blob trigger uses Event Grid (functions/EmbedBlob/function.json:
// "source": "EventGrid"; Flex Consumption has no polling blob trigger).
// This is the storage account's system topic. Its subscription, which
// delivers BlobCreated events of the incoming container to the function,
// is made by the postdeploy hook (infra/hooks/postdeploy.sh): its webhook
// URL needs the blobs_extension system key, which exists only once the
// app's code runs.
module incomingTopic 'br/public:avm/res/event-grid/system-topic:0.6.1' = {
  name: 'incomingtopic'
  scope: rg
  params: {
    name: incomingSystemTopicName
    location: location
    tags: tags
    source: storage.outputs.resourceId
    topicType: 'Microsoft.Storage.StorageAccounts'
  }
}

// Outputs: azd stores them in the environment, where the hooks read them.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = api.outputs.SERVICE_API_NAME
output SERVICE_API_NAME string = api.outputs.SERVICE_API_NAME
output SERVICE_API_BASE_URL string = api.outputs.SERVICE_API_BASE_URL
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output INCOMING_CONTAINER_NAME string = incomingContainerName
output MODELS_CONTAINER_NAME string = modelsContainerName
output INCOMING_SYSTEM_TOPIC_NAME string = incomingSystemTopicName
output AZURE_SQL_SERVER_NAME string = db.outputs.name
output AZURE_SQL_SERVER_FQDN string = db.outputs.fullyQualifiedDomainName
output AZURE_SQL_DATABASE_NAME string = db.outputs.databaseName
output AZURE_APP_IDENTITY_NAME string = apiUserAssignedIdentity.outputs.name
output AZURE_APP_IDENTITY_PRINCIPAL_ID string = apiUserAssignedIdentity.outputs.principalId
output AZURE_APP_IDENTITY_CLIENT_ID string = apiUserAssignedIdentity.outputs.clientId
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.name
