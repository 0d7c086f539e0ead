package capsql

import (
	"strconv"
	"strings"

	"github.com/mattn/go-sqlite3"
)

// Authorizer modes: the operation being prepared or run on the connection. The host's
// own statements (BEGIN, COMMIT) run in modeHost.
const (
	modeHost  = 0
	modeQuery = int(opQuery)
	modeExec  = int(opExec)
	modeDDL   = int(opDDL)
)

const sqliteRecursive = 33 // SQLITE_RECURSIVE, commented out in the driver's constants

// authorize is the SQLite authorizer of a session's connection (sqlite3_set_authorizer).
// SQLite calls it while preparing a statement (and when re-preparing after a schema
// change), so the decision reflects s.mode at that moment. It enforces the table
// prefix and refuses everything a plugin must not do, recording why in s.denied.
func (s *session) authorize(action int, arg1, arg2, db string) int {
	if s.mode == modeHost {
		return sqlite3.SQLITE_OK
	}
	switch action {
	case sqlite3.SQLITE_SELECT, sqliteRecursive:
		return sqlite3.SQLITE_OK
	case sqlite3.SQLITE_READ:
		if isSchemaTable(arg1) {
			return sqlite3.SQLITE_OK // lets plugins check whether their tables exist
		}
		return s.table(arg1, "read")
	case sqlite3.SQLITE_INSERT, sqlite3.SQLITE_UPDATE, sqlite3.SQLITE_DELETE:
		if isSchemaTable(arg1) {
			// SQLite records schema changes as writes to its schema table.
			if s.mode == modeDDL {
				return sqlite3.SQLITE_OK
			}
			return s.deny("writing the schema table " + arg1 + " is not allowed")
		}
		return s.table(arg1, "write")
	case sqlite3.SQLITE_FUNCTION:
		switch strings.ToLower(arg2) {
		case "load_extension", "fts3_tokenizer", "readfile", "writefile", "edit":
			return s.deny("function " + arg2 + " is not allowed")
		}
		return sqlite3.SQLITE_OK
	case sqlite3.SQLITE_CREATE_TABLE, sqlite3.SQLITE_CREATE_TEMP_TABLE,
		sqlite3.SQLITE_DROP_TABLE, sqlite3.SQLITE_DROP_TEMP_TABLE,
		sqlite3.SQLITE_CREATE_VIEW, sqlite3.SQLITE_CREATE_TEMP_VIEW,
		sqlite3.SQLITE_DROP_VIEW, sqlite3.SQLITE_DROP_TEMP_VIEW, sqlite3.SQLITE_ANALYZE:
		return s.ddl(arg1)
	case sqlite3.SQLITE_CREATE_INDEX, sqlite3.SQLITE_CREATE_TEMP_INDEX,
		sqlite3.SQLITE_DROP_INDEX, sqlite3.SQLITE_DROP_TEMP_INDEX:
		// arg1 is the index, arg2 the table it belongs to: both must carry the prefix.
		if r := s.ddl(arg2); r != sqlite3.SQLITE_OK {
			return r
		}
		return s.ddl(arg1)
	case sqlite3.SQLITE_ALTER_TABLE:
		return s.ddl(arg2) // arg1 is the database name
	case sqlite3.SQLITE_REINDEX:
		return s.ddl("")
	case sqlite3.SQLITE_PRAGMA:
		return s.deny("PRAGMA " + arg1 + " is reserved to the host")
	case sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH:
		return s.deny("attaching or detaching databases is not allowed")
	case sqlite3.SQLITE_TRANSACTION, sqlite3.SQLITE_SAVEPOINT:
		return s.deny("transactions are managed by the host (EXEC runs all rows in one transaction)")
	case sqlite3.SQLITE_CREATE_TRIGGER, sqlite3.SQLITE_CREATE_TEMP_TRIGGER,
		sqlite3.SQLITE_DROP_TRIGGER, sqlite3.SQLITE_DROP_TEMP_TRIGGER:
		return s.deny("triggers are not allowed")
	case sqlite3.SQLITE_CREATE_VTABLE, sqlite3.SQLITE_DROP_VTABLE:
		return s.deny("virtual tables are not allowed")
	}
	return s.deny("operation " + strconv.Itoa(action) + " is not allowed")
}

func (s *session) ddl(name string) int {
	if s.mode != modeDDL {
		return s.deny("schema changes are allowed only through the DDL operation during apply or teardown")
	}
	if name == "" || strings.HasPrefix(strings.ToLower(name), "sqlite_autoindex_") {
		return sqlite3.SQLITE_OK // SQLite names the indexes behind UNIQUE and PRIMARY KEY itself
	}
	return s.table(name, "change")
}

// table enforces the grant's table prefix; SQLite names are case-insensitive.
func (s *session) table(name, verb string) int {
	if strings.HasPrefix(strings.ToLower(name), "pragma_") {
		return s.deny("PRAGMA table " + name + " is reserved to the host")
	}
	if strings.HasPrefix(strings.ToLower(name), "sqlite_") {
		return s.deny("cannot " + verb + " SQLite's internal table " + name)
	}
	if s.p.prefix != "" && !strings.HasPrefix(strings.ToLower(name), s.p.prefix) {
		return s.deny("table " + name + " is outside the granted prefix " + s.p.opts.TablePrefix)
	}
	return sqlite3.SQLITE_OK
}

func (s *session) deny(why string) int {
	if s.denied == "" {
		s.denied = why
	}
	return sqlite3.SQLITE_DENY
}

func isSchemaTable(name string) bool {
	switch strings.ToLower(name) {
	case "sqlite_master", "sqlite_schema", "sqlite_temp_master", "sqlite_temp_schema":
		return true
	}
	return false
}
