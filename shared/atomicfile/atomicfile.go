// Package atomicfile replaces a file so that a crash at any moment leaves
// either the old content or the new, never a mix: the data goes to a temp
// file in the same directory, is synced, renamed over the target, and the
// directory is synced so that the rename itself survives a power loss.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
)

// Write replaces the file at path with data.
func Write(path string, data []byte, perm os.FileMode) error {
	f, err := Create(path, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Abort()
		return err
	}
	return f.Commit()
}

// File is the new content of a file, written in parts; Commit puts it in
// place of the file, Abort drops it. For content too large to build in
// memory first.
type File struct {
	f    *os.File
	path string
}

// Create starts the new content of the file at path, with mode perm.
func Create(path string, perm os.FileMode) (*File, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("atomicfile: %w", err)
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("atomicfile: write %s: %w", path, err)
	}
	return &File{f: f, path: path}, nil
}

// Write appends p to the new content.
func (f *File) Write(p []byte) (int, error) {
	n, err := f.f.Write(p)
	if err != nil {
		err = fmt.Errorf("atomicfile: write %s: %w", f.path, err)
	}
	return n, err
}

// Abort drops the new content; the file stays as it was.
func (f *File) Abort() {
	f.f.Close()
	os.Remove(f.f.Name())
}

// Commit syncs the new content and renames it over the file, then syncs
// the directory. On error the file stays as it was.
func (f *File) Commit() error {
	tmp := f.f.Name()
	defer os.Remove(tmp) // a no-op once renamed
	err := f.f.Sync()
	if cerr := f.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, f.path)
	}
	if err != nil {
		return fmt.Errorf("atomicfile: write %s: %w", f.path, err)
	}
	dir := filepath.Dir(f.path)
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("atomicfile: sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("atomicfile: sync %s: %w", dir, err)
	}
	return nil
}
