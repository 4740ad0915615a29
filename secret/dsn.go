package secret

import (
	"net/url"
	"regexp"
	"strings"
)

var (
	// scheme://user:password@ (any URL with a password in its userinfo).
	urlUserinfo = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s"']*):([^@/\s"']+)@`)
	// go-sql-driver/mysql: user:password@tcp(host)/db, @unix(...)/, @(host)/, @/db.
	mysqlUserinfo = regexp.MustCompile(`([^\s:@"'/=(]+):([^\s"']+)@((?:tcp6?|unix)?\(|/)`)
	// libpq key=value: password=secret or password='se cret'.
	keywordPassword = regexp.MustCompile(`(?i)(\b(?:ssl)?password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s"']+)`)
)

// redactPatterns masks the passwords of DSNs and URLs found anywhere in s.
func redactPatterns(s string) string {
	if strings.Contains(s, "@") {
		s = urlUserinfo.ReplaceAllString(s, "${1}:"+Mask+"@")
		s = mysqlUserinfo.ReplaceAllStringFunc(s, func(m string) string {
			sub := mysqlUserinfo.FindStringSubmatch(m)
			if sub[2] == Mask {
				return m
			}
			return sub[1] + ":" + Mask + "@" + sub[3]
		})
	}
	if strings.Contains(strings.ToLower(s), "password") {
		s = keywordPassword.ReplaceAllString(s, "${1}"+Mask)
	}
	return s
}

// RedactDSN returns a data source name or URL printable without its password: "user:****@tcp(host)/db"
// (go-sql-driver/mysql), "postgres://user:****@host/db" (any URL with userinfo), "host=h password=****"
// (libpq key=value); registered secrets are masked too (see Redact). A DSN without a password is
// returned as it is.
func RedactDSN(dsn string) string {
	if strings.Contains(dsn, "://") {
		if u, err := url.Parse(dsn); err == nil && u.User != nil {
			if _, has := u.User.Password(); has {
				u.User = url.UserPassword(u.User.Username(), "xxxxxxxx")
				dsn = strings.Replace(u.String(), ":xxxxxxxx@", ":"+Mask+"@", 1)
			}
		}
		return Redact(dsn)
	}
	if !strings.Contains(dsn, "=") || strings.Contains(dsn, "@") {
		// go-sql-driver/mysql: [user[:password]@][net[(addr)]]/dbname[?params]; the password ends at the
		// last '@' before the last '/'.
		slash := strings.LastIndex(dsn, "/")
		if slash < 0 {
			slash = len(dsn)
		}
		if at := strings.LastIndex(dsn[:slash], "@"); at >= 0 {
			if colon := strings.Index(dsn[:at], ":"); colon >= 0 {
				dsn = dsn[:colon+1] + Mask + dsn[at:]
			}
		}
	}
	return Redact(dsn)
}
