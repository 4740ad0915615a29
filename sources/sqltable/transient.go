package sqltable

import (
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	mysqldriver "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sluicehq/sluice/sources"
)

// connectionFailureTexts are messages of a connection that broke or could not be made, as the drivers
// phrase them without a typed error.
var connectionFailureTexts = []string{
	"connection refused", "connection reset", "broken pipe", "invalid connection", "bad connection",
	"unexpected eof", "server has gone away", "lost connection", "server shutdown", "conn closed",
	"failed to connect", "the database system is starting up", "the database system is shutting down",
	"terminating connection",
}

// transientIfConnection marks err sources.Transient when the connection to the database broke or could
// not be made (the server restarts, the network failed), so that the engine reopens the task at its saved
// position once the server is back. SQL errors (a missing table, a bad query, missing privileges) stay
// permanent. (A poll whose query exceeds QueryTimeout is marked transient by the reader: a server that
// stopped answering is treated like one that went away.)
func transientIfConnection(err error) error {
	if err == nil || sources.IsTransient(err) || !connectionFailure(err) {
		return err
	}
	return sources.Transient(err)
}

func connectionFailure(err error) bool {
	if errors.Is(err, sources.ErrEndOfInput) {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// Class 08: connection exception; 57P01..57P03: admin shutdown, crash shutdown, cannot connect now.
		return strings.HasPrefix(pe.Code, "08") || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03"
	}
	var me *mysqldriver.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1053 // ER_SERVER_SHUTDOWN
	}
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysqldriver.ErrInvalidConn) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	lower := strings.ToLower(err.Error())
	for _, text := range connectionFailureTexts {
		if strings.Contains(lower, text) {
			return true
		}
	}
	return false
}
