package capsql

import (
	"strings"
)

// scanStatements returns the leading keyword (upper case) of every statement in sql. It
// skips comments, string literals and quoted identifiers, so a ';' inside them does not
// split. It is a lexical first line of defence; the SQLite authorizer is the second.
func scanStatements(sql string) (keywords []string, unterminated bool) {
	i, n := 0, len(sql)
	atStart := true
	for i < n {
		c := sql[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			i++
		case c == '-' && i+1 < n && sql[i+1] == '-':
			for i < n && sql[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < n && sql[i+1] == '*':
			end := strings.Index(sql[i+2:], "*/")
			if end < 0 {
				return keywords, true
			}
			i += 2 + end + 2
		case c == '\'' || c == '"' || c == '`':
			j := i + 1
			for {
				if j >= n {
					return keywords, true
				}
				if sql[j] == c {
					if j+1 < n && sql[j+1] == c { // doubled quote escapes itself
						j += 2
						continue
					}
					break
				}
				j++
			}
			i = j + 1
			atStart = false
		case c == '[':
			end := strings.IndexByte(sql[i:], ']')
			if end < 0 {
				return keywords, true
			}
			i += end + 1
			atStart = false
		case c == ';':
			i++
			atStart = true
		default:
			if atStart {
				j := i
				for j < n && isWordByte(sql[j]) {
					j++
				}
				if j == i {
					keywords = append(keywords, string(c))
					i++
				} else {
					keywords = append(keywords, strings.ToUpper(sql[i:j]))
					i = j
				}
				atStart = false
				continue
			}
			i++
		}
	}
	return keywords, false
}

func isWordByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// Statement kinds by leading keyword.
var (
	dataKeywords = map[string]bool{"SELECT": true, "WITH": true, "VALUES": true,
		"INSERT": true, "REPLACE": true, "UPDATE": true, "DELETE": true}
	ddlKeywords = map[string]bool{"CREATE": true, "DROP": true, "ALTER": true,
		"REINDEX": true, "ANALYZE": true}
)

// checkStatements validates the statement kinds of sql for op and returns a reason when
// it is refused.
func checkStatements(sql string, op uint32, hasParams bool) string {
	kws, unterminated := scanStatements(sql)
	if unterminated {
		return "unterminated string, identifier or comment in SQL"
	}
	if len(kws) == 0 {
		return "empty SQL statement"
	}
	if len(kws) > 1 && (op != opDDL || hasParams) {
		return "several statements in one request are allowed only for DDL without parameters"
	}
	for _, kw := range kws {
		switch {
		case dataKeywords[kw]:
		case ddlKeywords[kw]:
			if op != opDDL {
				return kw + " is a schema change, allowed only through the DDL operation during apply or teardown"
			}
		default:
			return "statement " + kw + " is not allowed (ATTACH, PRAGMA, transactions, VACUUM and extensions are reserved to the host)"
		}
	}
	return ""
}
