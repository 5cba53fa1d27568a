// Command sqlgrant makes the function app's managed identity a user of the
// Azure SQL database with the roles the handler needs (see package
// sqlgrant). infra/hooks/postprovision.sh runs it after `azd provision`,
// signed in as the server's Microsoft Entra admin (azd's sign-in, else the
// Azure CLI's, in the tenant -tenant names):
//
//	go run ./internal/deploy/cmd/sqlgrant -tenant <tenant ID> -server <name>.database.windows.net -database tinyhead \
//	    -identity-name <identity name> -identity-object-id <identity principal ID>
//
// Exit status: 0 done (or nothing to do); 3 the server's firewall turned
// this machine away, and stdout's last line is "client-ip=<address>" (the
// hook then opens the firewall for that address and runs it again); 1 any
// other failure. It needs no cgo, so `go run` works on any machine.
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/tinyhead/tinyhead/internal/deploy/sqlgrant"
)

const exitFirewall = 3

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	code, err := run(ctx, os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "sqlgrant:", err)
	}
	os.Exit(code)
}

func run(ctx context.Context, args []string) (int, error) {
	fs := flag.NewFlagSet("sqlgrant", flag.ContinueOnError)
	server := fs.String("server", "", "the logical server's host name (<name>.database.windows.net)")
	database := fs.String("database", "", "the database")
	name := fs.String("identity-name", "", "the managed identity's name (the database user's name)")
	objectID := fs.String("identity-object-id", "", "the managed identity's object (principal) ID")
	tenant := fs.String("tenant", os.Getenv("AZURE_TENANT_ID"), "the Microsoft Entra tenant to sign in to (default $AZURE_TENANT_ID, which azd sets)")
	wait := fs.Duration("wait", 3*time.Minute, "how long to retry while the database resumes from auto-pause or is busy")
	if err := fs.Parse(args); err != nil {
		return 1, err
	}
	if _, err := sqlgrant.Args(*name, *objectID); err != nil {
		return 1, err
	}
	dsn, err := sqlgrant.DSN(*server, *database)
	if err != nil {
		return 1, err
	}
	cred, err := sqlgrant.Credential(*tenant)
	if err != nil {
		return 1, err
	}
	connector, err := sqlgrant.Connector(dsn, cred)
	if err != nil {
		return 1, err
	}
	db := sql.OpenDB(connector)
	defer db.Close()

	deadline := time.Now().Add(*wait)
	for attempt := 1; ; attempt++ {
		err = sqlgrant.Grant(ctx, db, *name, *objectID)
		if err == nil {
			fmt.Printf("%s is a user of %s/%s with roles %v\n", *name, *server, *database, sqlgrant.Roles)
			return 0, nil
		}
		if ip := sqlgrant.FirewallDeniedIP(err); ip != "" {
			fmt.Printf("client-ip=%s\n", ip)
			return exitFirewall, fmt.Errorf("the server's firewall does not admit %s", ip)
		}
		if !sqlgrant.Transient(err) || time.Now().After(deadline) {
			return 1, err
		}
		fmt.Fprintf(os.Stderr, "sqlgrant: attempt %d: %v; retrying (a paused serverless database takes about a minute to resume)\n", attempt, err)
		select {
		case <-ctx.Done():
			return 1, errors.Join(err, ctx.Err())
		case <-time.After(10 * time.Second):
		}
	}
}
