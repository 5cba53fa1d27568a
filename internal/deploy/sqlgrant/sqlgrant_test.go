package sqlgrant_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	mssql "github.com/microsoft/go-mssqldb"
	"github.com/microsoft/go-mssqldb/msdsn"

	"github.com/tinyhead/tinyhead/internal/deploy/sqlgrant"
)

// No SQL Server is reachable here, so these tests check what can be
// checked without one: the batch's parameters and guards, the arguments'
// validation, the DSN, and the reading of Azure SQL's errors.

func TestStatement(t *testing.T) {
	stmt := sqlgrant.Statement(len(sqlgrant.Roles))
	// Every parameter the arguments provide is used, and no other.
	used := map[string]bool{}
	for _, m := range regexp.MustCompile(`@p(\d+)\b`).FindAllString(stmt, -1) {
		used[m] = true
	}
	args, err := sqlgrant.Args("id-api-abc", "3F2504E0-4F89-11D3-9A0C-0305E82C3301")
	if err != nil {
		t.Fatal(err)
	}
	for i := range args {
		if !used[fmt.Sprintf("@p%d", i+1)] {
			t.Errorf("argument @p%d is not used", i+1)
		}
	}
	if len(used) != len(args) {
		t.Errorf("the batch uses %d parameters, the arguments are %d", len(used), len(args))
	}
	// Names reach the dynamic SQL only through QUOTENAME.
	execs := regexp.MustCompile(`EXEC \((.*)\);`).FindAllStringSubmatch(stmt, -1)
	if len(execs) != 1+len(sqlgrant.Roles) {
		t.Errorf("%d dynamic statements, want %d (CREATE USER and one ALTER ROLE per role)", len(execs), 1+len(sqlgrant.Roles))
	}
	for _, exec := range execs {
		for _, v := range regexp.MustCompile(`@\w+`).FindAllString(exec[1], -1) {
			if !strings.Contains(exec[1], "QUOTENAME("+v) {
				t.Errorf("%s reaches dynamic SQL without QUOTENAME: %s", v, exec[1])
			}
		}
	}
	// Idempotent: each change is guarded by a check of the catalog.
	if got := strings.Count(stmt, "IF NOT EXISTS"); got != 1+len(sqlgrant.Roles) {
		t.Errorf("%d guarded statements, want %d (the user and each role)", got, 1+len(sqlgrant.Roles))
	}
	for _, want := range []string{"FROM EXTERNAL PROVIDER WITH OBJECT_ID", "ADD MEMBER", "type NOT IN ('E', 'X')", "THROW"} {
		if !strings.Contains(stmt, want) {
			t.Errorf("the batch lacks %q", want)
		}
	}
	// The literal values never appear in the SQL text.
	if strings.Contains(stmt, "id-api-abc") || strings.Contains(strings.ToLower(stmt), "3f2504e0") {
		t.Error("an argument's value is in the SQL text")
	}
}

func TestRoles(t *testing.T) {
	// Least privilege: read, write, and the DDL of the handler's own
	// schema migrations. Never owner or security administration.
	want := []string{"db_datareader", "db_datawriter", "db_ddladmin"}
	if !slices.Equal(sqlgrant.Roles, want) {
		t.Errorf("roles %v, want %v", sqlgrant.Roles, want)
	}
}

func TestArgs(t *testing.T) {
	tests := []struct {
		name, oid string
		ok        bool
	}{
		{"id-api-abc123", "3f2504e0-4f89-11d3-9a0c-0305e82c3301", true},
		{"id-api]; DROP TABLE documents; --", "3f2504e0-4f89-11d3-9a0c-0305e82c3301", true}, // quoted, not rejected
		{"", "3f2504e0-4f89-11d3-9a0c-0305e82c3301", false},
		{"   ", "3f2504e0-4f89-11d3-9a0c-0305e82c3301", false},
		{strings.Repeat("x", 129), "3f2504e0-4f89-11d3-9a0c-0305e82c3301", false},
		{"id", "not-a-guid", false},
		{"id", "3f2504e0-4f89-11d3-9a0c-0305e82c3301'; --", false},
		{"id", "{3f2504e0-4f89-11d3-9a0c-0305e82c3301}", false},
	}
	for _, tt := range tests {
		args, err := sqlgrant.Args(tt.name, tt.oid)
		if (err == nil) != tt.ok {
			t.Errorf("Args(%q, %q): %v, want ok=%v", tt.name, tt.oid, err, tt.ok)
			continue
		}
		if tt.ok && (args[0] != tt.name || args[1] != strings.ToLower(tt.oid) || len(args) != 2+len(sqlgrant.Roles)) {
			t.Errorf("Args(%q, %q) = %v", tt.name, tt.oid, args)
		}
	}
}

func TestDSN(t *testing.T) {
	dsn, err := sqlgrant.DSN("sql-abc.database.windows.net", "tinyhead")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := msdsn.Parse(dsn)
	if err != nil {
		t.Fatalf("msdsn.Parse(%q): %v", dsn, err)
	}
	if cfg.Host != "sql-abc.database.windows.net" || cfg.Database != "tinyhead" || cfg.Encryption != msdsn.EncryptionRequired {
		t.Errorf("DSN %q parses to host %q, database %q, encryption %v", dsn, cfg.Host, cfg.Database, cfg.Encryption)
	}
	if _, err := sqlgrant.Connector(dsn, fakeCredential{}); err != nil {
		t.Errorf("Connector(%q): %v", dsn, err)
	}
	for _, bad := range []string{"", "sql-abc.database.windows.net/db", "user@sql-abc", "a b"} {
		if _, err := sqlgrant.DSN(bad, "tinyhead"); err == nil {
			t.Errorf("DSN(%q) accepted", bad)
		}
	}
	if _, err := sqlgrant.DSN("sql-abc.database.windows.net", ""); err == nil {
		t.Error("DSN accepted an empty database")
	}
}

type fakeCredential struct{}

func (fakeCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: "t"}, nil
}

func TestCredential(t *testing.T) {
	tests := []struct {
		tenant string
		ok     bool
	}{
		{"11111111-2222-3333-4444-555555555555", true},
		{"", false},
		{"contoso.onmicrosoft.com", false},
	}
	for _, tt := range tests {
		if _, err := sqlgrant.Credential(tt.tenant); (err == nil) != tt.ok {
			t.Errorf("Credential(%q) error %v, want ok=%v", tt.tenant, err, tt.ok)
		}
	}
}

func TestTokenScope(t *testing.T) {
	tests := []struct{ spn, want string }{
		{"https://database.windows.net/", "https://database.windows.net//.default"},
		{"https://database.windows.net", "https://database.windows.net/.default"},
		{"https://database.windows.net//.default", "https://database.windows.net//.default"},
	}
	for _, tt := range tests {
		if got := sqlgrant.TokenScope(tt.spn); got != tt.want {
			t.Errorf("TokenScope(%q) = %q, want %q", tt.spn, got, tt.want)
		}
	}
}

func TestFirewallDeniedIP(t *testing.T) {
	denied := mssql.Error{Number: 40615, Class: 14, Message: "Cannot open server 'sql-abc' requested by the login. " +
		"Client with IP address '203.0.113.7' is not allowed to access the server.  To enable access, use the Azure " +
		"Management Portal or run sp_set_firewall_rule on the master database to create a firewall rule for this IP " +
		"address or address range.  It may take up to five minutes for this change to take effect."}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"40615", denied, "203.0.113.7"},
		{"wrapped", fmt.Errorf("login: %w", denied), "203.0.113.7"},
		{"other number", mssql.Error{Number: 18456, Message: denied.Message}, ""},
		{"text only", errors.New("mssql: " + denied.Message), "203.0.113.7"},
		{"unrelated", errors.New("connection refused"), ""},
		{"nil", nil, ""},
	}
	for _, tt := range tests {
		if got := sqlgrant.FirewallDeniedIP(tt.err); got != tt.want {
			t.Errorf("%s: FirewallDeniedIP = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestTransient(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{mssql.Error{Number: 40613, Message: "Database 'tinyhead' on server 'sql-abc' is not currently available."}, true},
		{fmt.Errorf("grant: %w", mssql.Error{Number: 40501}), true},
		{mssql.Error{Number: 40615}, false},                 // firewall: needs a rule, not patience
		{mssql.Error{Number: 18456}, false},                 // login failed
		{mssql.Error{Number: 15247}, false},                 // no permission
		{errors.New("dial tcp: connection refused"), false}, // not an SQL error
	}
	for _, tt := range tests {
		if got := sqlgrant.Transient(tt.err); got != tt.want {
			t.Errorf("Transient(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}
