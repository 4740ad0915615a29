package mysql

import (
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"regexp"
	"strings"
	"syscall"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	mysqldriver "github.com/go-sql-driver/mysql"

	"github.com/sluicehq/sluice/sources"
)

// MySQL/MariaDB error numbers that mean the connection, not the request, failed.
const (
	errServerShutdown = 1053 // ER_SERVER_SHUTDOWN: "Server shutdown in progress"
	errServerGone     = 2006 // CR_SERVER_GONE_ERROR: "MySQL server has gone away"
	errServerLost     = 2013 // CR_SERVER_LOST: "Lost connection to MySQL server during query"
)

// connectionFailureTexts are the messages, as go-mysql and go-sql-driver phrase them (often without a
// typed error to match), of a connection that broke or could not be made.
var connectionFailureTexts = []string{
	gomysql.ErrBadConn.Error(), // "connection was bad": go-mysql's packet layer lost the connection
	"connection refused",
	"connection reset",
	"broken pipe",
	"invalid connection", // go-sql-driver's ErrInvalidConn
	"bad connection",     // database/sql/driver.ErrBadConn
	"unexpected EOF",
	"server has gone away",
	"lost connection",
	"server shutdown",
}

// permanentCodeText finds a purged position (1236) or a duplicate server_id (4052) in an error flattened to
// text, as go-mysql ("ERROR 1236 (HY000): ...") and the driver ("Error 1236 (HY000): ...") print them; a
// bare number would also match a port such as 40523.
var permanentCodeText = regexp.MustCompile(`(?i)\berror (1236|4052)\b`)

// transientIfConnection marks err sources.Transient when it says that the connection to the server broke
// or could not be made (the server restarts, the network failed): the engine then reopens the task at its
// saved position once the server is back. A purged position (1236), another replica with the same
// server_id (4052), missing grants, bad configuration and any other error stay as they are: permanent.
func transientIfConnection(err error) error {
	if err == nil || sources.IsTransient(err) || !connectionFailure(err) {
		return err
	}
	return sources.Transient(err)
}

// connectionFailure reports whether err is a connection-level failure (see transientIfConnection).
func connectionFailure(err error) bool {
	if errors.Is(err, ErrPositionPurged) || errors.Is(err, sources.ErrEndOfInput) {
		return false
	}
	var me *mysqldriver.MySQLError
	if errors.As(err, &me) {
		return me.Number == errServerShutdown
	}
	var ge *gomysql.MyError
	if errors.As(err, &ge) {
		return ge.Code == errServerShutdown || ge.Code == errServerGone || ge.Code == errServerLost
	}
	msg := err.Error()
	if permanentCodeText.MatchString(msg) {
		return false
	}
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysqldriver.ErrInvalidConn) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, gomysql.ErrBadConn) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	lower := strings.ToLower(msg)
	for _, text := range connectionFailureTexts {
		if strings.Contains(lower, strings.ToLower(text)) {
			return true
		}
	}
	return false
}
