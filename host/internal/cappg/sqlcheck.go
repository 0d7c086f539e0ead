package cappg

import (
	"fmt"
	"strings"
)

// The statement check is defence in depth: PostgreSQL has no per-statement authorizer
// like SQLite's, so the host tokenizes the plugin's SQL (quotes, comments and dollar
// quotes respected) and refuses what a feature-store plugin never needs. Real isolation
// comes from binding the grant to a role that owns only its schema (README, spec §6.1).

type token struct {
	text   string // keywords and bare identifiers lower-cased; quoted identifiers unquoted
	quoted bool   // a "quoted identifier"
	punct  byte   // for punctuation: the character; 0 otherwise
}

// tokenize splits sql into statements of tokens, dropping literals, comments and
// parameters. It fails on an unterminated quote or comment.
func tokenize(sql string) ([][]token, error) {
	var stmts [][]token
	var cur []token
	i := 0
	for i < len(sql) {
		c := sql[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
			i++
		case c == '-' && i+1 < len(sql) && sql[i+1] == '-':
			for i < len(sql) && sql[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(sql) && sql[i+1] == '*':
			depth := 0
			for {
				if i+1 >= len(sql) {
					return nil, fmt.Errorf("unterminated /* comment")
				}
				if sql[i] == '/' && sql[i+1] == '*' {
					depth++
					i += 2
				} else if sql[i] == '*' && sql[i+1] == '/' {
					depth--
					i += 2
					if depth == 0 {
						break
					}
				} else {
					i++
				}
			}
		case c == '\'':
			// E'…' escapes are covered: a backslash-escaped quote is skipped below only when
			// the literal is an E-string; in standard strings '' is the escape.
			esc := i > 0 && (sql[i-1] == 'e' || sql[i-1] == 'E') && (i < 2 || !isIdent(sql[i-2]))
			if esc && len(cur) > 0 && cur[len(cur)-1].text == "e" {
				cur = cur[:len(cur)-1]
			}
			i++
			for {
				if i >= len(sql) {
					return nil, fmt.Errorf("unterminated string literal")
				}
				if esc && sql[i] == '\\' {
					i += 2
					continue
				}
				if sql[i] == '\'' {
					if i+1 < len(sql) && sql[i+1] == '\'' {
						i += 2
						continue
					}
					i++
					break
				}
				i++
			}
		case c == '"':
			j := i + 1
			var sb strings.Builder
			for {
				if j >= len(sql) {
					return nil, fmt.Errorf("unterminated quoted identifier")
				}
				if sql[j] == '"' {
					if j+1 < len(sql) && sql[j+1] == '"' {
						sb.WriteByte('"')
						j += 2
						continue
					}
					break
				}
				sb.WriteByte(sql[j])
				j++
			}
			cur = append(cur, token{text: sb.String(), quoted: true})
			i = j + 1
		case c == '$' && i+1 < len(sql) && sql[i+1] >= '0' && sql[i+1] <= '9':
			i++
			for i < len(sql) && sql[i] >= '0' && sql[i] <= '9' {
				i++
			}
		case c == '$':
			// $tag$ … $tag$ (dollar quoting): skip the body.
			j := i + 1
			for j < len(sql) && isIdent(sql[j]) {
				j++
			}
			if j >= len(sql) || sql[j] != '$' {
				return nil, fmt.Errorf("stray '$' at offset %d", i)
			}
			tag := sql[i : j+1]
			end := strings.Index(sql[j+1:], tag)
			if end < 0 {
				return nil, fmt.Errorf("unterminated dollar-quoted string %s", tag)
			}
			i = j + 1 + end + len(tag)
		case c == ';':
			if len(cur) > 0 {
				stmts = append(stmts, cur)
			}
			cur = nil
			i++
		case isIdent(c) && !(c >= '0' && c <= '9'):
			j := i
			for j < len(sql) && isIdent(sql[j]) {
				j++
			}
			cur = append(cur, token{text: strings.ToLower(sql[i:j])})
			i = j
		case c >= '0' && c <= '9':
			for i < len(sql) && (isIdent(sql[i]) || sql[i] == '.') {
				i++
			}
		default:
			cur = append(cur, token{punct: c})
			i++
		}
	}
	if len(cur) > 0 {
		stmts = append(stmts, cur)
	}
	return stmts, nil
}

func isIdent(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

// Words that never appear in a plugin's statements: they run code, change the session or
// the server, move files, or reach other databases.
var deniedWords = map[string]bool{
	"copy": true, "call": true, "reset": true, "listen": true, "notify": true,
	"load": true, "grant": true, "revoke": true, "execute": true, "prepare": true, "deallocate": true,
	"vacuum": true, "cluster": true, "reindex": true, "security": true, "role": true,
	"function": true, "procedure": true, "trigger": true, "extension": true, "language": true,
	"rule": true, "policy": true, "server": true, "subscription": true, "publication": true,
	"database": true, "tablespace": true, "lock": true, "checkpoint": true, "discard": true,
	"import": true, "owner": true, "system": true, "begin": true, "commit": true, "rollback": true,
	"savepoint": true, "transaction": true,
}

// Function-name prefixes refused anywhere: server files, large objects, other databases,
// settings, backend signalling.
var deniedFuncPrefixes = []string{"pg_", "lo_", "dblink", "set_config", "current_setting", "query_to_xml",
	"table_to_xml", "cursor_to_xml", "database_to_xml", "schema_to_xml", "txid_", "inet_server", "inet_client", "version"}

// Keywords after which a table (or index) name follows.
var tableIntro = map[string]bool{"from": true, "join": true, "into": true, "update": true, "table": true, "index": true, "exists": true}

// checkStatements validates sql for op: statement kinds, denied words and functions, and
// (when prefix is set) that every table or index it names starts with prefix. It returns
// why it refuses, or "".
func checkStatements(sql string, op uint32, hasParams bool, prefix string) string {
	stmts, err := tokenize(sql)
	if err != nil {
		return "cannot read the statement: " + err.Error()
	}
	if len(stmts) == 0 {
		return "empty statement"
	}
	if op != opDDL && len(stmts) != 1 {
		return fmt.Sprintf("%s takes exactly one statement, got %d", opName(op), len(stmts))
	}
	if op == opDDL && len(stmts) > 1 && hasParams {
		return "several DDL statements cannot take parameters"
	}
	for _, st := range stmts {
		if why := checkKind(st, op); why != "" {
			return why
		}
		if why := checkWords(st, prefix); why != "" {
			return why
		}
	}
	return ""
}

func opName(op uint32) string {
	switch op {
	case opQuery:
		return "QUERY"
	case opExec:
		return "EXEC"
	}
	return "DDL"
}

func checkKind(st []token, op uint32) string {
	first := st[0].text
	var dml bool
	for _, t := range st {
		if !t.quoted && (t.text == "insert" || t.text == "update" || t.text == "delete" || t.text == "merge") {
			dml = true
		}
	}
	ddlWord := func(t token) bool {
		return !t.quoted && (t.text == "create" || t.text == "drop" || t.text == "alter" || t.text == "truncate")
	}
	for _, t := range st {
		if ddlWord(t) && op != opDDL {
			return fmt.Sprintf("%s cannot run %s: schema changes go through DDL, during apply or teardown", opName(op), strings.ToUpper(t.text))
		}
	}
	switch op {
	case opQuery:
		if first != "select" && first != "with" && first != "values" {
			return fmt.Sprintf("QUERY runs SELECT statements, not %s", strings.ToUpper(first))
		}
		if dml {
			return "QUERY cannot modify data: use EXEC"
		}
	case opExec:
		if first != "insert" && first != "update" && first != "delete" && first != "with" {
			return fmt.Sprintf("EXEC runs INSERT, UPDATE or DELETE, not %s", strings.ToUpper(first))
		}
	case opDDL:
		if first != "create" && first != "drop" && first != "alter" {
			return fmt.Sprintf("DDL runs CREATE, DROP or ALTER, not %s", strings.ToUpper(first))
		}
		if len(st) > 1 {
			switch st[1].text {
			case "table", "index", "unique", "schema":
			default:
				return fmt.Sprintf("DDL may create, drop or alter tables, indexes and schemas, not %s", strings.ToUpper(st[1].text))
			}
		}
	}
	return ""
}

func checkWords(st []token, prefix string) string {
	// Names a WITH clause defines are tables of the statement itself.
	ctes := map[string]bool{}
	for i := 1; i+1 < len(st); i++ {
		if st[i].punct == 0 && (st[i+1].text == "as" || st[i+1].punct == '(') && (st[i-1].text == "with" || st[i-1].punct == ',' || st[i-1].text == "recursive") {
			ctes[st[i].text] = true
		}
	}
	createIndex := len(st) > 2 && st[0].text == "create" && (st[1].text == "index" || st[2].text == "index")
	for i, t := range st {
		if t.punct != 0 {
			continue
		}
		// The system catalogs (pg_class, pg_shadow…) sit on every search path.
		if !t.quoted && strings.HasPrefix(t.text, "pg_") || t.text == "information_schema" {
			return fmt.Sprintf("%s is not reachable through this grant", t.text)
		}
		if !t.quoted {
			if deniedWords[t.text] {
				return fmt.Sprintf("%s is not allowed", strings.ToUpper(t.text))
			}
			if i+1 < len(st) && st[i+1].punct == '(' {
				for _, p := range deniedFuncPrefixes {
					if strings.HasPrefix(t.text, p) {
						return fmt.Sprintf("function %s is not allowed", t.text)
					}
				}
			}
		}
		// schema.function(…) reaches functions outside the search path.
		if i+3 < len(st) && st[i+1].punct == '.' && st[i+2].punct == 0 && st[i+3].punct == '(' {
			return fmt.Sprintf("schema-qualified function %s.%s is not allowed", t.text, st[i+2].text)
		}
		intro := tableIntro[t.text] || createIndex && t.text == "on"
		if prefix == "" || t.quoted || !intro || i+1 >= len(st) {
			continue
		}
		if t.text == "update" && !st[i+1].quoted && st[i+1].text == "set" {
			continue // ON CONFLICT … DO UPDATE SET
		}
		// The name after FROM/JOIN/INTO/UPDATE/TABLE/INDEX/EXISTS (skipping IF NOT EXISTS,
		// ONLY, CONCURRENTLY) must carry the prefix unless it is a CTE or a subquery.
		j := i + 1
		for j < len(st) && !st[j].quoted && (st[j].text == "if" || st[j].text == "not" || st[j].text == "only" || st[j].text == "concurrently" || st[j].text == "exists" && t.text != "exists") {
			j++
		}
		if j >= len(st) || st[j].punct != 0 {
			continue
		}
		n := st[j]
		if !n.quoted && (ctes[n.text] || n.text == "lateral" || n.text == "unnest" || n.text == "values" || n.text == "select") {
			continue
		}
		if j+1 < len(st) && st[j+1].punct == '(' && (t.text == "from" || t.text == "join") {
			continue // a function in FROM (unnest(…)): checked by the denylist above
		}
		if j+1 < len(st) && st[j+1].punct == '.' {
			return "schema-qualified table names are not allowed: the grant fixes the schema"
		}
		if !strings.HasPrefix(n.text, prefix) {
			return fmt.Sprintf("table %q is outside this grant (names must start with %q)", n.text, prefix)
		}
		if t.text == "from" {
			// FROM a [AS] x, b …: every table of the list.
			for k := j + 1; k < len(st); {
				if !st[k].quoted && st[k].text == "as" {
					k++
				}
				if k < len(st) && st[k].punct == 0 && !isKeyword(st[k]) {
					k++ // alias
				}
				if k+1 >= len(st) || st[k].punct != ',' || st[k+1].punct != 0 {
					break
				}
				m := st[k+1]
				if !(k+2 < len(st) && st[k+2].punct == '(') && !(!m.quoted && ctes[m.text]) && !strings.HasPrefix(m.text, prefix) {
					return fmt.Sprintf("table %q is outside this grant (names must start with %q)", m.text, prefix)
				}
				k += 2
			}
		}
	}
	return ""
}

// isKeyword reports whether t ends a FROM item rather than naming its alias.
func isKeyword(t token) bool {
	if t.quoted {
		return false
	}
	switch t.text {
	case "where", "join", "left", "right", "inner", "outer", "full", "cross", "natural", "on", "using",
		"group", "order", "limit", "offset", "having", "union", "except", "intersect", "window", "for", "returning", "set", "lateral":
		return true
	}
	return false
}
