package postgres

import (
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sluicehq/sluice/sources"
)

// transientIfConnection marks err sources.Transient when the connection to the server broke or could not
// be made, or the server is shutting down or restarting (SQLSTATE class 08, 57P01-57P03), or the slot is
// still held by a connection being terminated (55006): the engine then reopens the task at its saved
// position. Configuration, permission and data errors stay permanent.
func transientIfConnection(err error) error {
	if err == nil || sources.IsTransient(err) || errors.Is(err, sources.ErrEndOfInput) || !connectionFailure(err) {
		return err
	}
	return sources.Transient(err)
}

func connectionFailure(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return strings.HasPrefix(pe.Code, "08") || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03" || pe.Code == "55006"
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) || pgconn.Timeout(err) || pgconn.SafeToRetry(err) {
		return true
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	msg := strings.ToLower(err.Error())
	for _, text := range []string{"connection refused", "connection reset", "broken pipe", "unexpected eof", "conn closed", "connection lost", "failed to connect"} {
		if strings.Contains(msg, text) {
			return true
		}
	}
	return false
}
