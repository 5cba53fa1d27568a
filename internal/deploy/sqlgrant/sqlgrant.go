// Package sqlgrant makes the function app's managed identity a user of the
// Azure SQL database, with the roles the handler needs and no others.
//
// The app cannot do this itself: creating a user for a Microsoft Entra
// identity takes a principal that may alter the database's users — the
// server's Entra admin, which infra/ makes the deploying user. So this runs
// once per provisioning, as that user, from the azd postprovision hook
// (infra/hooks/postprovision.sh, through cmd/sqlgrant). It is idempotent:
// running it again changes nothing.
//
// The identity gets three fixed database roles:
//
//   - db_datareader and db_datawriter: the handler reads and writes its
//     tables (documents, labels, ingests, models);
//   - db_ddladmin: the handler creates and migrates its own schema at
//     start-up (internal/sqlstore, CREATE TABLE / CREATE INDEX under
//     sp_getapplock), and its bulk copies (INSERT BULK into #temp tables)
//     need ALTER on the target.
//
// It gets no server-level permission, is not db_owner, and cannot manage
// users or permissions.
package sqlgrant

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	mssql "github.com/microsoft/go-mssqldb"
	"github.com/microsoft/go-mssqldb/msdsn"
)

// Roles are the database roles the app's identity is added to.
var Roles = []string{"db_datareader", "db_datawriter", "db_ddladmin"}

// Statement is the idempotent T-SQL batch. Every name travels as a
// parameter (@p1 the user name, @p2 the identity's object ID, @p3… the
// roles) and reaches the dynamic DDL through QUOTENAME, so no value is
// ever spliced into SQL text:
//
//   - a principal of that name that is not a Microsoft Entra user or group
//     (type E or X) stops the batch: granting roles to it would be wrong;
//   - CREATE USER … FROM EXTERNAL PROVIDER WITH OBJECT_ID runs only if the
//     user is missing (OBJECT_ID pins the identity, so a second identity
//     with the same display name cannot be picked up);
//   - ALTER ROLE … ADD MEMBER runs only for roles it is not yet in.
func Statement(roles int) string {
	var b strings.Builder
	b.WriteString(`SET XACT_ABORT ON;
DECLARE @name sysname = @p1, @oid nvarchar(36) = @p2, @role sysname;
IF EXISTS (SELECT 1 FROM sys.database_principals WHERE name = @name AND type NOT IN ('E', 'X'))
    THROW 50000, N'a database principal with the identity''s name exists and is not a Microsoft Entra user', 1;
IF NOT EXISTS (SELECT 1 FROM sys.database_principals WHERE name = @name)
    EXEC (N'CREATE USER ' + QUOTENAME(@name) + N' FROM EXTERNAL PROVIDER WITH OBJECT_ID = ' + QUOTENAME(@oid, ''''));
`)
	for i := 0; i < roles; i++ {
		fmt.Fprintf(&b, `SET @role = @p%d;
IF NOT EXISTS (SELECT 1 FROM sys.database_role_members AS rm
        JOIN sys.database_principals AS r ON r.principal_id = rm.role_principal_id
        JOIN sys.database_principals AS m ON m.principal_id = rm.member_principal_id
        WHERE r.name = @role AND m.name = @name)
    EXEC (N'ALTER ROLE ' + QUOTENAME(@role) + N' ADD MEMBER ' + QUOTENAME(@name));
`, i+3)
	}
	return b.String()
}

var guid = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// Args validates the identity and returns the batch's arguments: the user
// name (the managed identity's name, as Azure SQL lists Entra users), its
// object (principal) ID, and Roles.
func Args(name, objectID string) ([]any, error) {
	switch {
	case strings.TrimSpace(name) == "":
		return nil, errors.New("the identity's name is empty")
	case !utf8.ValidString(name) || utf8.RuneCountInString(name) > 128:
		return nil, fmt.Errorf("the identity's name %q is not a valid sysname (at most 128 characters)", name)
	case !guid.MatchString(objectID):
		return nil, fmt.Errorf("the identity's object ID %q is not a GUID", objectID)
	}
	args := []any{name, strings.ToLower(objectID)}
	for _, r := range Roles {
		args = append(args, r)
	}
	return args, nil
}

// Grant runs the batch in one transaction.
func Grant(ctx context.Context, db *sql.DB, name, objectID string) error {
	args, err := Args(name, objectID)
	if err != nil {
		return err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("connect to the database: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, Statement(len(Roles)), args...); err != nil {
		return fmt.Errorf("create the database user %s and add it to %s: %w", name, strings.Join(Roles, ", "), err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// DSN is the go-mssqldb connection string of the grant: the server and
// database, encrypted. How it signs in is the Connector's.
func DSN(serverFQDN, database string) (string, error) {
	if serverFQDN == "" || strings.ContainsAny(serverFQDN, "/?#@ ") {
		return "", fmt.Errorf("server %q: want a host name such as myserver.database.windows.net", serverFQDN)
	}
	if database == "" {
		return "", errors.New("the database name is empty")
	}
	q := url.Values{}
	q.Set("database", database)
	q.Set("encrypt", "true")
	u := url.URL{Scheme: "sqlserver", Host: serverFQDN, RawQuery: q.Encode()}
	return u.String(), nil
}

// Credential is the deploying user's Microsoft Entra sign-in in the tenant
// azd deploys to (AZURE_TENANT_ID): azd's (`azd auth login`), else the
// Azure CLI's (`az login`). Naming the tenant matters: without it each
// tool would answer for its own default tenant, which need not be the one
// the server trusts.
func Credential(tenantID string) (azcore.TokenCredential, error) {
	if !guid.MatchString(tenantID) {
		return nil, fmt.Errorf("the tenant ID %q is not a GUID (azd sets AZURE_TENANT_ID)", tenantID)
	}
	azd, err := azidentity.NewAzureDeveloperCLICredential(&azidentity.AzureDeveloperCLICredentialOptions{TenantID: tenantID})
	if err != nil {
		return nil, fmt.Errorf("azd sign-in: %w", err)
	}
	az, err := azidentity.NewAzureCLICredential(&azidentity.AzureCLICredentialOptions{TenantID: tenantID})
	if err != nil {
		return nil, fmt.Errorf("az (Azure CLI) sign-in: %w", err)
	}
	chain, err := azidentity.NewChainedTokenCredential([]azcore.TokenCredential{azd, az}, nil)
	if err != nil {
		return nil, fmt.Errorf("sign-in: %w", err)
	}
	return chain, nil
}

// Connector returns a connector for dsn that signs in to Azure SQL with a
// Microsoft Entra token from cred, for the resource the server names in its
// login response (go-mssqldb's federated authentication).
func Connector(dsn string, cred azcore.TokenCredential) (*mssql.Connector, error) {
	cfg, err := msdsn.Parse(dsn)
	if err != nil {
		return nil, fmt.Errorf("connection string: %w", err)
	}
	return mssql.NewActiveDirectoryTokenConnector(cfg, mssql.FedAuthADALWorkflowPassword,
		func(ctx context.Context, serverSPN, _ string) (string, error) {
			tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{TokenScope(serverSPN)}})
			if err != nil {
				return "", fmt.Errorf("get a Microsoft Entra token for %s: %w", serverSPN, err)
			}
			return tok.Token, nil
		})
}

// TokenScope is the token scope of the server's SPN, as go-mssqldb's azuread
// package forms it: "https://database.windows.net/" becomes
// "https://database.windows.net//.default".
func TokenScope(serverSPN string) string {
	if strings.HasSuffix(serverSPN, "/.default") {
		return serverSPN
	}
	return serverSPN + "/.default"
}

// sqlError is what go-mssqldb's errors (mssql.Error) provide.
type sqlError interface {
	SQLErrorNumber() int32
	SQLErrorMessage() string
}

// firewallDenied matches Azure SQL's error 40615: "Cannot open server '…'
// requested by the login. Client with IP address '203.0.113.7' is not
// allowed to access the server. …"
var firewallDenied = regexp.MustCompile(`Client with IP address '([0-9A-Fa-f:.]+)' is not allowed to access the server`)

// FirewallDeniedIP returns the client address Azure SQL's firewall turned
// away (error 40615), or "" if err is not that.
func FirewallDeniedIP(err error) string {
	if err == nil {
		return ""
	}
	msg := err.Error()
	var se sqlError
	if errors.As(err, &se) {
		if se.SQLErrorNumber() != 40615 {
			return ""
		}
		msg = se.SQLErrorMessage()
	}
	if m := firewallDenied.FindStringSubmatch(msg); m != nil {
		return m[1]
	}
	return ""
}

// Transient reports whether err is an Azure SQL error that goes away by
// itself: mostly a serverless database resuming from auto-pause (40613),
// or a busy or reconfiguring service.
func Transient(err error) bool {
	var se sqlError
	if !errors.As(err, &se) {
		return false
	}
	switch se.SQLErrorNumber() {
	case 40613, // database not currently available (resuming)
		40197,               // error processing the request (reconfiguration)
		40501,               // service is busy
		49918, 49919, 49920, // not enough resources / too many operations
		10928, 10929, // resource limits
		4221: // login to a read-secondary failed during redo
		return true
	}
	return false
}
