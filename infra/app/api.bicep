// The function app: Flex Consumption, Linux, the Go custom handler
// (runtime 'custom' '1.0'), a user-assigned identity for everything it
// reaches. Follows processor.bicep of
// Azure-Samples/functions-quickstart-powershell-azd-eventgrid-blob (the
// same Azure Verified Module, br/public:avm/res/web/site:0.15.1, and the
// same functionAppConfig), with every app setting in one object below.
param name string
@description('Primary location for all resources & Flex Consumption Function App')
param location string = resourceGroup().location
param tags object = {}
param applicationInsightsName string
param appServicePlanId string
param runtimeName string
param runtimeVersion string
param serviceName string = 'api'
param storageAccountName string
param deploymentStorageContainerName string
param virtualNetworkSubnetId string = ''
// 2048 MB instances as in the template; at most 40 of them (the template
// allows 100), which bounds the connections to the one-vCore serverless
// database.
param instanceMemoryMB int = 2048
param maximumInstanceCount int = 40
param identityId string
param identityClientId string
param sqlServerFqdn string
param sqlDatabaseName string
param nightlySchedule string

var kind = 'functionapp,linux'

resource stg 'Microsoft.Storage/storageAccounts@2022-09-01' existing = {
  name: storageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

// app settings: begin
// Every app setting of the function app is in this object, one per line,
// and nothing else in infra/ sets any. internal/deploy's tests read the
// names between the two marker comments and check them against what the
// handler and the Functions host read (the Settings table of the tests): no missing, no
// unused. No value is a secret: storage and SQL are reached with the
// managed identity, and the Application Insights connection string is an
// identifier (local authentication is disabled; the host signs in with
// the identity).
var appSettings = {
  // Storage, identity-based: the host (its own storage, the blob trigger's
  // receipts and poison queue) and the handler (internal/blobstore) connect
  // with the user-assigned identity; there is no connection string.
  AzureWebJobsStorage__blobServiceUri: stg.properties.primaryEndpoints.blob
  AzureWebJobsStorage__queueServiceUri: stg.properties.primaryEndpoints.queue
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  // Application Insights, Microsoft Entra authentication.
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsights.properties.ConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  // Azure SQL through go-mssqldb's Microsoft Entra connector, as the
  // user-assigned identity ("user id" is its client ID).
  TINYHEAD_SQL_DRIVER: 'sqlserver'
  TINYHEAD_SQL_DSN: 'sqlserver://${sqlServerFqdn}?database=${sqlDatabaseName}&fedauth=ActiveDirectoryManagedIdentity&user+id=${identityClientId}&encrypt=true'
  // The NightlyTrain timer's schedule; the host resolves
  // %TINYHEAD_NIGHTLY_SCHEDULE% in functions/NightlyTrain/function.json.
  TINYHEAD_NIGHTLY_SCHEDULE: nightlySchedule
}
// app settings: end

// Create a Flex Consumption Function App to host the API
module api 'br/public:avm/res/web/site:0.15.1' = {
  name: '${serviceName}-flex-consumption'
  params: {
    kind: kind
    name: name
    location: location
    tags: union(tags, { 'azd-service-name': serviceName })
    serverFarmResourceId: appServicePlanId
    managedIdentities: {
      systemAssigned: false
      userAssignedResourceIds: [
        '${identityId}'
      ]
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${stg.properties.primaryEndpoints.blob}${deploymentStorageContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
      runtime: {
        name: runtimeName
        version: runtimeVersion
      }
    }
    siteConfig: {
      alwaysOn: false
    }
    virtualNetworkSubnetId: !empty(virtualNetworkSubnetId) ? virtualNetworkSubnetId : null
    appSettingsKeyValuePairs: appSettings
  }
}

output SERVICE_API_NAME string = api.outputs.name
output SERVICE_API_BASE_URL string = 'https://${api.outputs.defaultHostname}'
