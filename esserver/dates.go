package esserver

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// dynamicDateFormats is Elasticsearch's default dynamic_date_formats: a string that parses with one of
// them gets a date mapping (the second with its format recorded in the mapping).
var dynamicDateFormats = []string{"strict_date_optional_time", "yyyy/MM/dd HH:mm:ss Z||yyyy/MM/dd Z"}

var isoLayouts = []string{
	"2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02T15", "2006-01-02", "2006-01", "2006",
}

var isoZones = []string{"", "Z07:00", "Z0700", "Z07"}

// parseDate parses value with an Elasticsearch format expression ("a||b"). Named formats supported:
// strict_date_optional_time, date_optional_time, strict_date, date, epoch_millis, epoch_second; any other
// is read as a Java DateTimeFormatter pattern using the letters y M d H m s S Z X and quoted literals.
func parseDate(value, format string) (time.Time, bool) {
	if format == "" {
		format = defaultDateFormat
	}
	for _, f := range strings.Split(format, "||") {
		if t, ok := parseDateOne(strings.TrimSpace(value), strings.TrimSpace(f)); ok {
			return t, true
		}
	}
	return time.Time{}, false
}

func parseDateOne(v, f string) (time.Time, bool) {
	switch f {
	case "strict_date_optional_time", "date_optional_time", "strict_date_optional_time_nanos",
		"strict_date", "date", "strict_date_time", "date_time":
		for _, l := range isoLayouts {
			for _, z := range isoZones {
				if t, err := time.Parse(l+z, v); err == nil {
					return t.UTC(), true
				}
			}
		}
		return time.Time{}, false
	case "epoch_millis", "epoch_second":
		n, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsInf(n, 0) || math.IsNaN(n) || strings.ContainsAny(v, "eE") {
			return time.Time{}, false
		}
		if f == "epoch_second" {
			n *= 1000
		}
		return time.UnixMilli(int64(n)).UTC(), true
	}
	t, err := time.Parse(javaToGoLayout(f), v)
	if err != nil {
		// Elasticsearch's formatters accept a value without the trailing zone ("2015/09/02" matches
		// "yyyy/MM/dd Z", as the date_detection documentation shows).
		if trimmed, ok := strings.CutSuffix(f, " Z"); ok {
			return parseDateOne(v, trimmed)
		}
		return time.Time{}, false
	}
	return t.UTC(), true
}

// javaToGoLayout translates the common subset of java.time patterns to a Go layout.
func javaToGoLayout(p string) string {
	repl := []struct{ java, goLayout string }{
		{"yyyy", "2006"}, {"uuuu", "2006"}, {"yy", "06"}, {"MMM", "Jan"}, {"MM", "01"}, {"dd", "02"},
		{"HH", "15"}, {"hh", "03"}, {"mm", "04"}, {"ss", "05"}, {"SSSSSSSSS", "000000000"},
		{"SSSSSS", "000000"}, {"SSS", "000"}, {"XXX", "Z07:00"}, {"XX", "Z0700"}, {"X", "Z07"},
		{"ZZZZZ", "-07:00"}, {"Z", "-0700"}, {"a", "PM"},
	}
	var b strings.Builder
	for i := 0; i < len(p); {
		if p[i] == '\'' {
			j := strings.IndexByte(p[i+1:], '\'')
			if j < 0 {
				b.WriteString(p[i+1:])
				break
			}
			b.WriteString(p[i+1 : i+1+j])
			i += j + 2
			continue
		}
		matched := false
		for _, r := range repl {
			if strings.HasPrefix(p[i:], r.java) {
				b.WriteString(r.goLayout)
				i += len(r.java)
				matched = true
				break
			}
		}
		if !matched {
			b.WriteByte(p[i])
			i++
		}
	}
	return b.String()
}

// detectDate reports whether a string value would be mapped as a date by date detection, and the
// format to record in the mapping ("" for the default).
func detectDate(v string) (format string, ok bool) {
	if _, ok := parseDate(v, dynamicDateFormats[0]); ok {
		return "", true
	}
	if _, ok := parseDate(v, dynamicDateFormats[1]); ok {
		return dynamicDateFormats[1], true
	}
	return "", false
}
