package registry

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/larder-dev/larder/host/feast"
)

// SchemaVersion is the registry_schema_version Feast writes.
const SchemaVersion = "1"

// FileStore keeps a registry in one file, in Feast's file-registry format (the
// serialized Registry message, no framing), so `feast apply` and Larder can share it.
type FileStore struct {
	path string
	now  func() time.Time
}

// NewFileStore returns a store for the registry file at path (e.g. data/registry.db).
func NewFileStore(path string) *FileStore {
	return &FileStore{path: path, now: time.Now}
}

// Path is the registry file's path.
func (s *FileStore) Path() string { return s.path }

// Load reads and decodes the registry. A missing file is reported with an error that
// matches fs.ErrNotExist, so callers can start from an empty registry.
func (s *FileStore) Load() (*Registry, error) {
	b, err := os.ReadFile(s.path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("registry not found at %s (run apply first): %w", s.path, err)
		}
		return nil, fmt.Errorf("reading registry: %w", err)
	}
	r, err := Unmarshal(b)
	if err != nil {
		return nil, fmt.Errorf("registry %s: %w", s.path, err)
	}
	return r, nil
}

// Save stamps r as Feast does on every commit (a new version_id UUID, last_updated =
// now, schema version "1" if unset) and replaces the file atomically: the bytes go to
// a temporary file in the same directory, are fsynced, and renamed over the old file,
// so a reader or a crash sees either the old registry or the new one, never a mix.
func (s *FileStore) Save(r *Registry) error {
	id, err := newUUID()
	if err != nil {
		return fmt.Errorf("saving registry: %w", err)
	}
	r.VersionID = id
	now := feast.TimestampOf(s.now())
	r.LastUpdated = &now
	if r.RegistrySchemaVersion == "" {
		r.RegistrySchemaVersion = SchemaVersion
	}
	return writeFileAtomic(s.path, r.Marshal())
}

func writeFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("saving registry: creating %s: %w", dir, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("saving registry: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("saving registry: writing %s: %w", tmp.Name(), err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("saving registry: syncing %s: %w", tmp.Name(), err)
	}
	if err = tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("saving registry: %w", err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("saving registry: closing %s: %w", tmp.Name(), err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("saving registry: replacing %s: %w", path, err)
	}
	// The rename is durable only once the directory entry is.
	if d, derr := os.Open(dir); derr == nil {
		derr = d.Sync()
		d.Close()
		if derr != nil {
			return fmt.Errorf("saving registry: syncing directory %s: %w", dir, derr)
		}
	}
	return nil
}

// newUUID returns a random (version 4) UUID string, as Feast's uuid.uuid4().
func newUUID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generating version id: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
}
