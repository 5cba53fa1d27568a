package testenv

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	_ "github.com/microsoft/go-mssqldb" // the "sqlserver" driver
)

// MSSQLDSN names the DSN of a SQL Server database the tests may use
// (scripts/test.sh starts Babelfish and sets it; without it the SQL
// Server side of a test skips).
const MSSQLDSN = "TINYHEAD_TEST_MSSQL_DSN"

// MSSQL returns $MSSQLDSN, skipping the test when it is not set.
func MSSQL(tb testing.TB) string {
	tb.Helper()
	dsn := os.Getenv(MSSQLDSN)
	if dsn == "" {
		tb.Skip("set " + MSSQLDSN + "=sqlserver://... (scripts/test.sh starts Babelfish and sets it)")
	}
	return dsn
}

// FreshMSSQLDatabase creates an empty database next to dsn's for this
// test alone (other packages' tests use dsn's own at the same time),
// dropped when the test ends, and returns its DSN. prefix starts its name
// (letters, digits and underscores).
func FreshMSSQLDatabase(tb testing.TB, dsn, prefix string) string {
	tb.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		tb.Fatalf("%s: %v", MSSQLDSN, err)
	}
	admin, err := sql.Open("sqlserver", dsn)
	if err != nil {
		tb.Fatal(err)
	}
	// CREATE DATABASE takes no parameters; the name is made here.
	name := fmt.Sprintf("%s_%d", prefix, time.Now().UnixNano())
	if _, err := admin.ExecContext(context.Background(), "CREATE DATABASE "+name); err != nil {
		admin.Close()
		tb.Fatalf("create a database next to %s's (the login needs CREATE DATABASE): %v", MSSQLDSN, err)
	}
	tb.Cleanup(func() {
		defer admin.Close()
		if _, err := admin.ExecContext(context.Background(), "DROP DATABASE "+name); err != nil {
			tb.Errorf("drop database %s: %v", name, err)
		}
	})
	q := u.Query()
	q.Set("database", name)
	u.RawQuery = q.Encode()
	return u.String()
}
