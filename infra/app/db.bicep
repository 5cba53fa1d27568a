// Azure SQL: a logical server that accepts Microsoft Entra authentication
// only (no SQL logins, so no password exists anywhere), with the deploying
// principal as its Entra admin, and one serverless General Purpose database.
// Follows infra/app/db.bicep of Azure-Samples/functions-quickstart-dotnet-azd-sql
// (Entra-only server, GP_S_Gen5 database), written with plain resources, and
// with two deliberate differences:
//   - the firewall admits Azure services only (the 0.0.0.0 rule), not the
//     template's 0.0.0.1–255.255.255.254 range (the whole internet). The
//     postprovision hook opens the deploying machine's address for the
//     grant and closes it again.
//   - the app's database user is created by the postprovision hook
//     (infra/hooks/postprovision.sh) instead of a deployment script with a
//     second, admin identity.
// Without a virtual network, "Azure services" means any Azure tenant's
// services can reach the server's login (authentication still requires an
// Entra identity that is a user of the database); a VNet-integrated app
// with a private endpoint is the stricter set-up.
param location string
param tags object = {}
param serverName string
param databaseName string
@description('Object ID of the Microsoft Entra admin.')
param adminPrincipalId string
@allowed(['User', 'Group', 'Application'])
param adminPrincipalType string = 'User'
@description('Display name of the Microsoft Entra admin.')
param adminLogin string

resource sqlServer 'Microsoft.Sql/servers@2021-11-01' = {
  name: serverName
  location: location
  tags: tags
  properties: {
    minimalTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
    administrators: {
      administratorType: 'ActiveDirectory'
      azureADOnlyAuthentication: true
      login: adminLogin
      sid: adminPrincipalId
      principalType: adminPrincipalType
      tenantId: tenant().tenantId
    }
  }
}

// "Allow Azure services and resources to access this server": the Flex
// Consumption app's outbound addresses are not fixed.
resource allowAzureServices 'Microsoft.Sql/servers/firewallRules@2021-11-01' = {
  parent: sqlServer
  name: 'AllowAllWindowsAzureIps'
  properties: {
    startIpAddress: '0.0.0.0'
    endIpAddress: '0.0.0.0'
  }
}

// Serverless: 0.5–1 vCore, pauses after an hour without connections. The
// first connection after a pause waits about a minute for the resume.
resource database 'Microsoft.Sql/servers/databases@2021-11-01' = {
  parent: sqlServer
  name: databaseName
  location: location
  tags: tags
  sku: {
    name: 'GP_S_Gen5'
    tier: 'GeneralPurpose'
    family: 'Gen5'
    capacity: 1
  }
  properties: {
    collation: 'SQL_Latin1_General_CP1_CI_AS'
    maxSizeBytes: 34359738368
    zoneRedundant: false
    autoPauseDelay: 60
    minCapacity: json('0.5')
    requestedBackupStorageRedundancy: 'Local'
  }
}

output name string = sqlServer.name
output fullyQualifiedDomainName string = sqlServer.properties.fullyQualifiedDomainName
output databaseName string = database.name
