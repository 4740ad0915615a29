package secret_test

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/sluicehq/sluice/secret"
)

// A connector setting written as a reference is resolved at New; the value is then hidden everywhere.
func ExampleResolve() {
	os.Setenv("EXAMPLE_DB_PASSWORD", "s3cr3t-pw")
	dsn, err := secret.Resolve("cdc:${env:EXAMPLE_DB_PASSWORD}@tcp(db:3306)/")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(dsn == "cdc:s3cr3t-pw@tcp(db:3306)/")
	fmt.Println(secret.Redact("connecting with s3cr3t-pw"))

	_, err = secret.Resolve("${env:EXAMPLE_UNSET}")
	fmt.Println(err)
	// Output:
	// true
	// connecting with ****
	// ${env:EXAMPLE_UNSET} is not set
}

func ExampleRedactDSN() {
	fmt.Println(secret.RedactDSN("cdc:pw@ss@tcp(db:3306)/shop"))
	fmt.Println(secret.RedactDSN("postgres://cdc:pw@db:5432/shop?sslmode=require"))
	fmt.Println(secret.RedactDSN("host=db user=cdc password=pw dbname=shop"))
	// Output:
	// cdc:****@tcp(db:3306)/shop
	// postgres://cdc:****@db:5432/shop?sslmode=require
	// host=db user=cdc password=**** dbname=shop
}

// The pipeline's logger wraps its handler like this; so can any program that logs connector settings.
func ExampleNewHandler() {
	secret.Register("api-key-123456")
	log := slog.New(secret.NewHandler(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}})))
	log.Info("connecting", "key", "api-key-123456", "dsn", "u:pw1@tcp(h:3306)/")
	// Output:
	// level=INFO msg=connecting key=**** dsn=u:****@tcp(h:3306)/
}
