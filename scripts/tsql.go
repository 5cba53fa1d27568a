//go:build ignore

// tsql runs T-SQL batches against a SQL Server (or a TDS engine such as
// Babelfish) and prints the first column of every row they return. The
// scripts use it where sqlcmd would do, so that no SQL Server client tools
// are needed:
//
//	go run scripts/tsql.go -dsn 'sqlserver://…?database=master' 'SELECT @@VERSION'
//
// Each argument is one batch, sent without parameters.
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"os"
	"time"

	_ "github.com/microsoft/go-mssqldb"
)

func main() {
	dsn := flag.String("dsn", "", "sqlserver:// DSN")
	wait := flag.Duration("wait", 30*time.Second, "how long to retry the first connection")
	flag.Parse()
	if err := run(*dsn, *wait, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "tsql:", err)
		os.Exit(1)
	}
}

func run(dsn string, wait time.Duration, batches []string) error {
	if dsn == "" {
		return fmt.Errorf("-dsn is required")
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait+5*time.Minute)
	defer cancel()
	db, err := sql.Open("sqlserver", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := ping(ctx, db, wait); err != nil {
		return err
	}
	for _, b := range batches {
		if err := query(ctx, db, b); err != nil {
			return fmt.Errorf("%q: %w", b, err)
		}
	}
	return nil
}

// ping retries the first connection: a server that has just opened its
// port may not take logins yet.
func ping(ctx context.Context, db *sql.DB, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		err := db.PingContext(ctx)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func query(ctx context.Context, db *sql.DB, batch string) error {
	rows, err := db.QueryContext(ctx, batch)
	if err != nil {
		return err
	}
	defer rows.Close()
	for {
		cols, err := rows.Columns()
		if err != nil {
			return err
		}
		for rows.Next() {
			vals := make([]any, len(cols))
			for i := range vals {
				vals[i] = new(any)
			}
			if err := rows.Scan(vals...); err != nil {
				return err
			}
			fmt.Println(*vals[0].(*any))
		}
		if !rows.NextResultSet() {
			break
		}
	}
	return rows.Err()
}
